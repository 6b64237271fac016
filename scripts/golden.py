#!/usr/bin/env python3
"""Regenerate the golden outputs of the runbooks: execute each in place against the lab.

    make golden          # = lab up, this script, jupytext --sync

The committed .ipynb files then carry the outputs of a lab run: rendered documentation, and the
reference nbval compares a fresh run with (tests/nbval-sanitize.cfg).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import papermill as pm

ROOT = Path(__file__).resolve().parents[1]


def tidy(book: Path) -> None:
    """Drop what papermill adds that is not documentation (empty tags, timings), for clean diffs."""
    nb = nbformat.read(book, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
        for key in ("papermill", "execution"):
            cell.metadata.pop(key, None)
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, book)


def main(names: list[str]) -> int:
    books = sorted((ROOT / "runbooks").glob("[0-9][0-9]-*.ipynb"))
    if names:
        books = [b for b in books if b.stem in names or b.stem[:2] in names]
    for book in books:
        print(f"executing {book.name}", flush=True)
        # No parameters are injected: the golden notebook must be the one an operator opens.
        pm.execute_notebook(str(book), str(book), cwd=str(book.parent), progress_bar=False,
                            kernel_name="python3", execution_timeout=900)
        tidy(book)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
