"""Python code blocks of Markdown files, executed by tests so docs never drift.

Used by ``test_readme.py`` (each README block on its own) and
``test_docs.py`` (each guide's blocks in order, in one namespace, as a reader
would type them).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"```python\n(.*?)```", flags=re.S)


def python_blocks(path: Path) -> list[str]:
    """The fenced ```python blocks of a Markdown file, in order."""
    return find_python_blocks(Path(path).read_text())


def find_python_blocks(text: str) -> list[str]:
    """The fenced ```python blocks of Markdown text (other languages skipped).

    >>> find_python_blocks("Text\\n```python\\nx = 1\\n```\\n```bash\\nls\\n```\\n")
    ['x = 1\\n']
    """
    return _BLOCK.findall(text)


def run_block(code: str, label: str, namespace: dict) -> dict:
    """Execute one block in ``namespace`` (errors name ``label``); return it."""
    exec(compile(code, label, "exec"), namespace)
    return namespace
