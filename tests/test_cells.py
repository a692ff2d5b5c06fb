"""Cell names: (family, denoising, stp, alpha) and back, refused when malformed."""

import pytest

from aedefense.plan.cells import Cell, cell_from_name, format_number


def test_cell_names_round_trip():
    cell = Cell("vae", True, 0.4, 0.001)
    assert cell.name == "vae_d1_stp0.4_a0.001"
    assert cell_from_name(cell.name) == cell
    assert Cell("ae", False, 0.0, 1.0).name == "ae_d0_stp0_a1"
    assert format_number(0.30000000000000004) == "0.30000000000000004"


def test_denoising_without_noise_is_the_plain_model():
    assert Cell("ae", True, 0.0, 0.0).canonical() == Cell("ae", False, 0.0, 0.0)
    assert Cell("ae", True, 0.1, 0.0).canonical() == Cell("ae", True, 0.1, 0.0)


def test_bad_cell_names():
    with pytest.raises(ValueError, match="not a cell name"):
        cell_from_name("cae_d0_stp0.1_a0")


def test_cell_names_of_large_or_tiny_alphas_read_back():
    import re

    from aedefense.plan.cells import CELL_REGEX, Cell, cell_from_name

    for alpha in (1e16, 1e-7, 0.001, 1.0):  # repr writes 1e+16 and 1e-07
        cell = Cell("ae", False, 0.1, alpha)
        assert cell_from_name(cell.name) == cell and re.fullmatch(CELL_REGEX, cell.name)
