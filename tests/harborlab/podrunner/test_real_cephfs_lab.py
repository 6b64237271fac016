"""The registry's PVC on the lab's real CephFS (a single-host Ceph and its ceph-fuse mount,
started here on ports of their own): a push through the NodePort writes the blob there, and
the runner refuses a plain directory in place of the mount."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harborbook.registry import RegistryClient
from harborlab.lab import PORTS, Lab, why_unavailable
from harborlab.podrunner.runner import cephfs_mount
from harborlab.ui.fixtures import ADMIN_PASSWORD

from .conftest import credentials, deploy, harbor_params, start_emulator, stop_emulator, wait_rolled_out
from .test_harbor_lab import REPLICAS, _free_node_port, blob_file, unique_image, wait_nodeport

pytestmark = [pytest.mark.lab, pytest.mark.slow]
PORT_SHIFT = int(os.environ.get("HARBORLAB_PODRUNNER_PORT_SHIFT", "2000"))


@pytest.fixture(scope="module")
def ceph_lab():
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    from harborlab.ceph import Ceph

    state = Path(tempfile.mkdtemp(prefix="hb-podrunner-ceph-"))
    state.chmod(0o755)
    lab = Lab(state, "article", components=[Ceph()], ports={k: v + PORT_SHIFT for k, v in PORTS.items()})
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
        shutil.rmtree(state, ignore_errors=True)


def test_cephfs_mount_is_taken_from_lab_json_only_when_mounted(ceph_lab, tmp_path):
    point = Path(ceph_lab.details["ceph"]["mountpoint"])
    assert cephfs_mount(ceph_lab.state, allow_plain=False) == point
    (tmp_path / "plain").mkdir()
    (tmp_path / "lab.json").write_text(json.dumps({"ceph": {"mountpoint": str(tmp_path / "plain")}}))
    assert cephfs_mount(tmp_path, allow_plain=False) is None        # not a ceph mount: refused
    assert cephfs_mount(tmp_path, allow_plain=True) == tmp_path / "plain"


def test_a_push_lands_on_the_real_cephfs(ceph_lab, backing, generated):
    db, redis = backing
    mount = Path(ceph_lab.details["ceph"]["mountpoint"])
    port = _free_node_port()
    emulator = start_emulator(ceph_lab.state, mount, plain_cephfs=False)
    try:
        params = harbor_params(ceph_lab.state, db, redis, port)
        deploy(emulator, params, generated, credentials(db, redis))
        wait_rolled_out(emulator, REPLICAS)
        wait_nodeport(port, emulator)
        image = unique_image()
        client = RegistryClient(f"http://127.0.0.1:{port}", "admin", ADMIN_PASSWORD)
        client.push("library/oncephfs", "v1", image)
        storage = mount / params.storage.root.lstrip("/") / "registry"
        assert blob_file(storage, image.layer.digest).read_bytes() == image.layer.data
    finally:
        stop_emulator(emulator.proc)
