"""Where the project is: the folder holding ``runbooks/`` (and beside it ``params/``, ``runs/``).

The runbooks are a project's files, not part of the installed package: they open their params
with paths relative to ``runbooks/``, and an operator edits and commits them. So the folder is
found, not derived from where Python installed this module: ``$HARBORBOOK_HOME``, else the
current directory or one of its parents, else the source checkout of an editable install.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import HarborbookError

ENV = "HARBORBOOK_HOME"
MARKER = Path("runbooks") / "00-preflight.ipynb"


def _is_home(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def find_home(cwd: Path | None = None, environ: dict[str, str] | None = None) -> Path | None:
    """The project folder, or None when none can be found."""
    env = os.environ if environ is None else environ
    if env.get(ENV):
        folder = Path(env[ENV]).expanduser().resolve()
        return folder if _is_home(folder) else None
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_home(folder):
            return folder
    checkout = Path(__file__).resolve().parents[2]  # lib/harborbook/home.py in a source checkout
    return checkout if _is_home(checkout) else None


def home() -> Path:
    """The project folder; a clear error when there is none."""
    found = find_home()
    if found is None:
        shown = os.environ.get(ENV)
        where = f"{ENV}={shown} holds no {MARKER}" if shown else f"no {MARKER} in the current directory or above"
        raise HarborbookError(f"cannot find the harborbook project: {where}",
                              hint=f"run harborbook from the project's folder (the clone), or set {ENV} to it")
    return found
