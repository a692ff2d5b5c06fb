"""The factory of the median purifier: images in [0, 1] -> their median-filtered copies."""

from .filters import median_filter


def median_purifier(size: int = 3):
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd number of pixels, not {size}")

    def purify(x):
        return median_filter(x, size)

    return purify
