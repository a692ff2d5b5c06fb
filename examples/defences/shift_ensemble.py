"""A whole model that wraps the workflow's own trained classifier: the mean of the
classifier's logits over copies of the image shifted by up to `shift` pixels each way (a
deterministic, differentiable ensemble over small translations).

`classifier: true` makes each job call the factory with the dataset's trained classifier
(a torch module in evaluation mode; one per training seed), so the model needs no path to a
file that exists only after the workflow has run:

    defences:
      shift-ensemble:
        callable: examples/defences/shift_ensemble.py:shift_ensemble
        returns: model
        classifier: true
        datasets: [mnist, fashion-mnist]
        settings: {shift: 1}
        stochastic: false
        differentiable: true
"""

import torch


class ShiftEnsemble(torch.nn.Module):
    def __init__(self, classifier: torch.nn.Module, shift: int):
        super().__init__()
        self.classifier = classifier
        self.offsets = [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = [self.classifier(torch.roll(x, offset, dims=(2, 3))) for offset in self.offsets]
        return torch.stack(logits).mean(0)


def shift_ensemble(classifier: torch.nn.Module, shift: int = 1) -> torch.nn.Module:
    return ShiftEnsemble(classifier, shift)


if __name__ == "__main__":  # a defence to name in a config file, not a program: say how
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).print_help()
