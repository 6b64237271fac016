#!/usr/bin/env python3
"""Regenerate the golden outputs of the runbooks: execute each in place against the lab.

    make golden          # = lab up, this script, jupytext --sync

The committed .ipynb files then carry the outputs of a lab run: rendered documentation, and the
reference nbval compares a fresh run with (tests/nbval-sanitize.cfg).
"""

from __future__ import annotations

import sys
from pathlib import Path

import papermill as pm

ROOT = Path(__file__).resolve().parents[1]


def main(names: list[str]) -> int:
    books = sorted((ROOT / "runbooks").glob("[0-9][0-9]-*.ipynb"))
    if names:
        books = [b for b in books if b.stem in names or b.stem[:2] in names]
    for book in books:
        print(f"executing {book.name}", flush=True)
        # No parameters are injected: the golden notebook must be the one an operator opens.
        pm.execute_notebook(str(book), str(book), cwd=str(book.parent), progress_bar=False,
                            kernel_name="python3", execution_timeout=900)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
