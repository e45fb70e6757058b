"""The README's Python examples run as written."""

import pytest
from _markdown import ROOT, python_blocks, run_block

BLOCKS = python_blocks(ROOT / "README.md")


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
    namespace = run_block(BLOCKS[index], f"README block {index}", {})
    if "accuracy" in namespace:  # the Keras example
        assert namespace["accuracy"] >= 0.95
        assert namespace["probabilities"].shape == (359, 10)
