"""Bit-depth reduction (Xu et al. 2018, "feature squeezing"): each pixel rounded to one of
2**bits levels. Its gradient is zero almost everywhere, so a gradient attack learns nothing
from it; attacked through BPDA (the identity on the backward pass) it falls.

    defences:
      bitdepth:
        callable: examples/defences/bitdepth.py:bit_depth
        returns: purifier
        datasets: [mnist, fashion-mnist]
        settings: {bits: 2}
        stochastic: false
        differentiable: false # BPDA; `true` leaves the attacks with zero gradients
"""

import torch


def bit_depth(bits: int = 2):
    levels = 2**bits - 1

    def squeeze(x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * levels) / levels

    return squeeze


if __name__ == "__main__":  # a defence to name in a config file, not a program: say how
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).print_help()
