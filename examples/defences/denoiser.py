"""A purifier trained outside the workflow: a small convolutional denoiser whose weights are
in a checkpoint file (a state dict, loaded with weights_only=True). Train one with:

    python examples/defences/denoiser.py results/mnist/data/train.pt denoiser.pt

(the workflow's prepared MNIST training split; any uint8 images N x H x W or N x C x H x W
will do), then name it in the config:

    defences:
      denoiser:
        callable: examples/defences/denoiser.py:load_denoiser
        returns: purifier
        datasets: [mnist]
        checkpoint: denoiser.pt # relative to the workflow's directory, or absolute
        stochastic: false
        differentiable: true
"""

import torch
from torch import nn


class Denoiser(nn.Module):
    def __init__(self, channels: int = 1, width: int = 32):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, channels, 3, padding=1),
        )

    def forward(self, x):
        return torch.sigmoid(self.layers(x))


def load_denoiser(checkpoint: str, channels: int = 1, width: int = 32) -> Denoiser:
    model = Denoiser(channels, width)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return model


def train(images: torch.Tensor, epochs: int = 2, sigma: float = 0.3, seed: int = 0, width: int = 32) -> Denoiser:
    """Noisy images in, clean images out (mean squared error, Adam)."""
    torch.manual_seed(seed)
    x = images.float().div(255)
    x = x.unsqueeze(1) if x.dim() == 3 else x
    model = Denoiser(x.shape[1], width)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for batch in x[torch.randperm(len(x))].split(100):
            noisy = (batch + sigma * torch.randn_like(batch)).clamp(0, 1)
            loss = nn.functional.mse_loss(model(noisy), batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "source", help="prepared training images (a .pt with `images`), e.g. results/mnist/data/train.pt"
    )
    parser.add_argument("destination", help="the checkpoint to write (the denoiser's state dict)")
    args = parser.parse_args()
    source, destination = args.source, args.destination
    prepared = torch.load(source, weights_only=True)
    torch.save(train(prepared["images"]).state_dict(), destination)
    print(f"wrote {destination}")
