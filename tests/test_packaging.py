"""pyproject.toml lists every package of the tree (the list is written by hand)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _listed() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^packages = \[(.*?)\]", text, re.S | re.M)
    assert block, "pyproject.toml: no [tool.setuptools] packages list"
    return set(re.findall(r'"([\w.]+)"', block.group(1)))


def test_every_package_is_listed():
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("numdl", "benchmarks")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert found - _listed() == set(), "add these to pyproject.toml's packages"
    assert "numdl.examples" in _listed()


def test_examples_ship_as_numdl_examples():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^"numdl.examples" = "examples"$', text, re.M)
    assert (ROOT / "examples" / "mnist_cnn.py").is_file()
