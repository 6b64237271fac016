"""The sandbox labs the runbooks run on: slot A is the one the default params point at (.lab
beside the repository, the lab's default ports); slot B is a second lab beside it (.lab-b, every
lab port moved by 3000 and the NodePorts by 100) with params files rewritten to match, so two
groups of modules can run at the same time (`make test` runs them on two pytest-xdist workers,
tests/conftest.py). Each slot holds a file lock while its lab exists: two processes never share
a slot, whatever the scheduling. A lab a developer left running in a slot is purged first.

These tests run the real runbooks with `harborbook run` and papermill, the way an operator does.

A lab takes about half a minute to start, so modules whose needs allow it hand one on
(`shared_lab`): 00 in the browser and the golden notebooks want an article lab nobody deployed
on, the faults want one deployed — in that order (`pytest_collection_modifyitems`) they share a
single lab, and the faults reuse the golden run's deployment. Tests that must see a lab nobody
touched (the whole procedure twice, a cluster of another version) get a fresh one (`sandbox_lab`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from harborlab.lab import Lab, why_unavailable

from tests.support.slots import A, Slot, slot_of  # noqa: F401 (slot_of: for the modules)

ROOT = Path(__file__).resolve().parents[2]
STATE = A.state
SANDBOX = A.params


HERE = Path(__file__).resolve().parent
# Modules that share one article lab, in the order they use it (see the docstring).
SHARING_ORDER = ("test_browser.py", "test_golden.py", "test_faults.py")


def pytest_collection_modifyitems(items):
    """Put the modules sharing a lab first among this folder's tests, in SHARING_ORDER; every other
    test keeps its place."""
    slots = [i for i, item in enumerate(items) if item.path.parent == HERE]
    rank = {name: n for n, name in enumerate(SHARING_ORDER)}
    ordered = sorted((items[i] for i in slots), key=lambda item: rank.get(item.path.name, len(rank)))
    for slot, item in zip(slots, ordered):
        items[slot] = item


def _start(profile: str, slot: Slot = A, **options) -> Lab:
    """A new lab in the slot (whatever ran there purged first)."""
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    slot.lock()
    _purge(slot, profile)
    slot.state.mkdir(exist_ok=True)
    os.chmod(slot.state, 0o755)  # mariadbd runs as mysql and must traverse it
    lab = Lab(slot.state, profile, ports=slot.ports, kubelet_housekeeping=1.0, kubelet_transition=3.0, **options)
    try:
        lab.up()
    except BaseException:
        _purge(slot, profile)
        raise
    return lab


def _purge(slot: Slot, profile: str) -> None:
    Lab(slot.state, profile, ports=slot.ports).down(purge=True)


# The lab handed from module to module: which one (profile and options), whether a module ran
# runbooks that change it ("touched"), and whether such a run deployed Harbor successfully.
_shared: dict = {"lab": None, "key": None, "touched": False, "deployed": False}


def _drop_shared() -> None:
    if _shared["lab"] is not None:
        _purge(A, _shared["lab"].profile)
    _shared.update(lab=None, key=None, touched=False, deployed=False)


def shared_lab(profile: str = "article", *, undeployed: bool = False, **options) -> Lab:
    """The lab of ``profile`` (and lab ``options``) this session already runs, or a new one; a new
    one too when ``undeployed`` is asked and a module touched the running one. A module that runs
    runbooks which change the lab says so with ``mark_deployed``. Purged when the session ends."""
    key = (profile, tuple(sorted(options.items())))
    if _shared["key"] != key or (undeployed and _shared["touched"]):
        _drop_shared()
        _shared.update(lab=_start(profile, **options), key=key)
    return _shared["lab"]


def mark_deployed(succeeded: bool = False) -> None:
    """Runbooks changed the shared lab (a later ``undeployed`` gets a new lab); ``succeeded``: they
    deployed Harbor completely, and a module needing a deployed lab may reuse it."""
    _shared["touched"] = True
    _shared["deployed"] = _shared["deployed"] or succeeded


def shared_deployed() -> bool:
    """Whether runbooks deployed Harbor completely on the shared lab (``mark_deployed(True)``)."""
    return bool(_shared["deployed"])


@pytest.fixture(scope="session", autouse=True)
def _purge_the_shared_lab_at_the_end():
    yield
    _drop_shared()


@contextlib.contextmanager
def sandbox_lab(profile: str = "article", slot: Slot = A, **options) -> Iterator[Lab]:
    """A fresh lab in the slot (purged before and after), for tests that must see a lab nobody
    touched. The shared lab (slot A) goes first: one lab fewer running in this process."""
    _drop_shared()
    lab = _start(profile, slot, **options)
    try:
        yield lab
    finally:
        _purge(slot, profile)


def harborbook(*args: str, timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harborbook.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **env})


def run_dir_of(output: str) -> Path:
    line = next(l for l in output.splitlines() if l.startswith("report: "))
    return Path(line.split(": ", 1)[1]).parent


@pytest.fixture(scope="module")
def article_lab():
    with sandbox_lab("article") as lab:
        yield lab
