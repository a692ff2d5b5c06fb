"""The tidy rows' statistics."""

import pytest

from aedefense.results import wilson_interval


@pytest.mark.parametrize(
    ("p", "n", "low", "high"),
    [(0.5, 100, 0.4038, 0.5962), (0.0, 100, 0.0, 0.0370), (1.0, 100, 0.9630, 1.0), (0.9, 1000, 0.8798, 0.9171)],
)
def test_wilson_interval_matches_published_values(p, n, low, high):
    assert wilson_interval(p, n) == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_narrows_with_more_images():
    small, large = wilson_interval(0.3, 100), wilson_interval(0.3, 10_000)
    assert small[0] < large[0] < 0.3 < large[1] < small[1]
