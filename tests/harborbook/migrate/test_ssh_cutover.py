"""The cut-over over SSH opens one connection for the final inventory and the delta copy together.

Inside the write window every connection is an authentication (about 0.2 s); the cut-over step
opens it, the delta copy reads through it and closes it, also when the copy fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from harborbook import params as params_mod
from harborbook.errors import HarborbookError
from harborbook.migrate import sshsource
from harborbook.runbook import Status
from harborbook.steps import migrate as steps

from .sshd import Sshd
from .test_registry_probe import registry
from .test_steps_migrate import make_params
from .trees import push

pytestmark = pytest.mark.lab  # needs root and Debian's openssh-server and docker-registry


@pytest.fixture
def connections(monkeypatch) -> list[sshsource.SshSource]:
    """Every SshSource that connected, in order."""
    opened: list[sshsource.SshSource] = []
    connect = sshsource.SshSource._connect

    def counted(self: sshsource.SshSource) -> None:
        connect(self)
        opened.append(self)

    monkeypatch.setattr(sshsource.SshSource, "_connect", counted)
    return opened


def frozen_migration(server: Sshd, tmp_path: Path):
    """08 over SSH after its bulk copy, with a tag pushed since, and the cut-over step done on a
    read-only old registry: (params, state, cut-over result)."""
    old = tmp_path / "old"
    push(old, "library/alpine", "3.6", "a", b"base" * 10000)
    push(old, "project1/app", "v1", "b", os.urandom(500_000))
    (tmp_path / "cephfs" / "apps" / "harbor-k8s" / "registry").mkdir(parents=True)
    make_params(tmp_path, cutover="execute")
    doc = yaml.safe_load((tmp_path / "params.yaml").read_text())
    doc["migrate"]["source"].update(registry=server.url(old), ssh_key=f"file:{server.key}",
                                    known_hosts=str(server.known_hosts))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    p = params_mod.load(tmp_path / "params.yaml")
    found = steps.inventory(p)
    assert steps.bulk_copy(found.value, p.storage, False).status is Status.CHANGED
    push(old, "project1/app", "v2", "c", os.urandom(200_000))
    with registry(old, tmp_path, readonly=True) as url:
        doc["migrate"]["source"]["url"] = url
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
        p = params_mod.load(tmp_path / "params.yaml")
        found.value.section = p.migrate
        return p, found.value, steps.cutover(found.value, p.storage, False)


def source_changed(tmp_path: Path, **source):
    """The migrate section again, from params.yaml with ``source`` keys changed (the cell's params edited)."""
    doc = yaml.safe_load((tmp_path / "params.yaml").read_text())
    doc["migrate"]["source"].update(source)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    return params_mod.load(tmp_path / "params.yaml").migrate


def closed(source: sshsource.SshSource) -> bool:
    return not source._dir.exists() and (source._master is None or source._master.poll() is not None)


def test_the_final_inventory_and_the_delta_copy_share_one_connection(server: Sshd, tmp_path: Path,
                                                                     connections) -> None:
    p, state, cut = frozen_migration(server, tmp_path)
    assert cut.status is Status.OK and len(state.final.tags()) == 3
    before = len(connections)
    delta = steps.delta_copy(state, p.storage, False)
    assert delta.status is Status.CHANGED and delta.data["counts"].get("copied", 0) >= 2
    assert len(connections) == before, "the delta copy opened a connection of its own"
    kept = connections[-1]
    assert state.connection is None and closed(kept), "the delta copy left the cut-over's connection open"


def test_a_failed_delta_copy_still_closes_the_connection(server: Sshd, tmp_path: Path, connections) -> None:
    p, state, cut = frozen_migration(server, tmp_path)
    assert cut.status is Status.OK and state.connection is not None
    kept = state.connection
    (tmp_path / "cephfs" / "apps" / "harbor-k8s" / "registry").rename(tmp_path / "moved-away")
    with pytest.raises(HarborbookError, match="does not exist on the CephFS mount"):
        steps.delta_copy(state, p.storage, False)
    assert state.connection is None and closed(kept)


def test_running_the_cut_over_cell_again_closes_the_first_connection(server: Sshd, tmp_path: Path,
                                                                     connections) -> None:
    p, state, cut = frozen_migration(server, tmp_path)
    first = state.connection
    with registry(tmp_path / "old", tmp_path, readonly=True) as url:
        state.section = source_changed(tmp_path, url=url)
        again = steps.cutover(state, p.storage, False)
    assert again.status is Status.OK and first is not None and closed(first)
    assert state.connection is not first and not closed(state.connection)
    state.connection.close()


def test_a_cut_over_run_again_that_cannot_reconnect_keeps_no_closed_connection(server: Sshd, tmp_path: Path,
                                                                              connections) -> None:
    p, state, cut = frozen_migration(server, tmp_path)
    first = state.connection
    with registry(tmp_path / "old", tmp_path, readonly=True) as url:
        state.section = source_changed(tmp_path, url=url, known_hosts=str(tmp_path / "no-such-known-hosts"))
        with pytest.raises(HarborbookError, match="known_hosts file .* does not exist"):
            steps.cutover(state, p.storage, False)
    assert first is not None and closed(first)
    assert state.connection is None, "the delta copy would read through a closed connection"
