"""Every guide in docs/ runs as written: its Python blocks, in order, in one
namespace (as a reader would type them), in a temporary folder."""

import pytest
from _markdown import ROOT, python_blocks, run_block

GUIDES = sorted((ROOT / "docs").glob("guide-*.md"))
EXPECTED = [
    "guide-layers-models.md",
    "guide-performance.md",
    "guide-plots-diagnostics.md",
    "guide-tensors-autograd.md",
    "guide-training-callbacks.md",
]


def test_every_topic_has_a_guide_with_code():
    assert [g.name for g in GUIDES] == EXPECTED
    for guide in GUIDES:
        assert len(python_blocks(guide)) >= 2, guide.name


@pytest.mark.parametrize("guide", GUIDES, ids=lambda g: g.stem)
def test_guide_runs(guide, tmp_path, monkeypatch, capsys, cpu):
    """The guides are written for the default backend, NumPy (their asserts
    compute with NumPy on what numdl returns), also in a CuPy run."""
    monkeypatch.chdir(tmp_path)  # files the guide writes land here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {}
    for i, block in enumerate(python_blocks(guide)):
        run_block(block, f"{guide.name} block {i + 1}", namespace)
    import matplotlib.pyplot as plt

    plt.close("all")
