"""The package's public names: `from aedefense import ...` as its docstring shows."""

import textwrap

import pytest


def test_the_packages_public_names_import_and_its_example_runs():
    import aedefense

    for name in aedefense.__all__:
        assert getattr(aedefense, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        aedefense.nosuch  # noqa: B018
    doc = aedefense.__doc__
    start = doc.index("    import torch")
    example = textwrap.dedent(doc[start : doc.index("\n\nAn attack", start)])
    namespace = {}
    exec(example, namespace)  # the docstring's example, as a user would paste it
    assert 0.0 <= namespace["low"] <= namespace["accuracy"] <= namespace["high"] <= 1.0


@pytest.mark.parametrize(
    "module",
    [
        "aedefense.report.results",
        "aedefense.report.health",
        "aedefense.core.defences",
        "aedefense.core.models",
        "aedefense.core.attacks",
        "aedefense.core.apgd",
        "aedefense.core.square",
        "aedefense.core.box",
        "aedefense.core.attack_specs",
        "aedefense.report.figures",
    ],
)
def test_the_examples_in_the_public_docstrings_run(module):
    import doctest
    import importlib

    failed, tried = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failed == 0
