"""Finding the project folder (runbooks/, params/) without assuming an editable install."""

from __future__ import annotations

import pytest

from harborbook import home
from harborbook.errors import HarborbookError


def project(folder):
    (folder / "runbooks").mkdir(parents=True)
    (folder / "runbooks" / "00-preflight.ipynb").write_text("{}")
    return folder


def test_found_from_the_current_directory_or_above(tmp_path):
    root = project(tmp_path / "clone")
    deep = root / "runs" / "x"
    deep.mkdir(parents=True)
    assert home.find_home(cwd=deep, environ={}) == root.resolve()


def test_the_environment_variable_wins_and_must_point_at_a_project(tmp_path):
    root = project(tmp_path / "elsewhere")
    assert home.find_home(cwd=tmp_path, environ={home.ENV: str(root)}) == root.resolve()
    assert home.find_home(cwd=root, environ={home.ENV: str(tmp_path)}) is None


def test_outside_any_project_the_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(home.ENV, str(tmp_path))
    with pytest.raises(HarborbookError, match="cannot find the harborbook project") as info:
        home.home()
    assert home.ENV in info.value.hint


def test_this_checkout_is_a_project(root):
    assert home.find_home(cwd=root, environ={}) == root.resolve()
