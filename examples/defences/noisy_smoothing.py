"""A randomised purifier: Gaussian noise on the input, then a fixed 3 x 3 mean filter. It
samples fresh noise on every call, so one forward pass is a single draw of the defence; an
attack needs EOT (the expectation over draws) to follow its average gradient.

    defences:
      noisy-smoothing:
        callable: examples/defences/noisy_smoothing.py:noisy_smoothing
        returns: purifier
        datasets: [mnist, fashion-mnist]
        settings: {sigma: 0.3}
        stochastic: auto # the contract check finds that it samples
        differentiable: true
"""

import torch
import torch.nn.functional as F


def noisy_smoothing(sigma: float = 0.3, kernel: int = 3):
    def purify(x: torch.Tensor) -> torch.Tensor:
        noisy = (x + sigma * torch.randn_like(x)).clamp(0, 1)
        return F.avg_pool2d(noisy, kernel, stride=1, padding=kernel // 2, count_include_pad=False)

    return purify


if __name__ == "__main__":  # a defence to name in a config file, not a program: say how
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).print_help()
