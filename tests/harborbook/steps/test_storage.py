"""CephFS storage: mount detection, key handling, PV/PVC manifests, backend vs version."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from harborbook import cephfs as storage, params
from harborbook.steps import storage as storage_steps
from harborbook.errors import RunbookError

MOUNTINFO = """\
22 1 8:1 / / rw,relatime - ext4 /dev/vda rw
40 22 0:35 / /work/main/.lab/cephfs rw,nosuid,nodev,relatime - fuse.ceph-fuse ceph-fuse rw,user_id=0
41 22 0:36 / /mnt/kernel\\040ceph rw - ceph 10.0.0.1:6789:/ rw,name=admin
42 22 0:37 / /srv/nfs rw - nfs4 host:/export rw
"""


@pytest.mark.parametrize(
    "path,expected",
    [
        ("/work/main/.lab/cephfs", ("/work/main/.lab/cephfs", "fuse.ceph-fuse")),
        ("/work/main/.lab/cephfs/apps/x", ("/work/main/.lab/cephfs", "fuse.ceph-fuse")),
        ("/mnt/kernel ceph", ("/mnt/kernel ceph", "ceph")),
        ("/work/main/.lab/cephfsX", ("/", "ext4")),
        ("/srv/nfs/a", ("/srv/nfs", "nfs4")),
    ],
    ids=["fuse-root", "below-fuse", "kernel-escaped-space", "prefix-is-not-inside", "nfs"],
)
def test_mount_of(path, expected):
    assert storage.mount_of(Path(path), MOUNTINFO) == expected


@pytest.mark.parametrize(
    "mount,ok,detail",
    [
        ("/", False, "is on / (ext4), not CephFS"),
        ("/proc", False, "not CephFS"),
    ],
    ids=["plain-disk", "procfs"],
)
def test_check_cephfs_mount_refuses_other_filesystems(mount, ok, detail):
    result = storage.check_cephfs_mount(Path(mount))
    assert result[0] is ok and detail in result[1]


def test_check_cephfs_mount_accepts_both_fstypes(tmp_path):
    for fstype in ("ceph", "fuse.ceph-fuse"):
        info = f"50 22 0:40 / {tmp_path} rw - {fstype} src rw\n"
        assert storage.check_cephfs_mount(tmp_path, info) == (True, f"{tmp_path} is CephFS ({fstype})")
    below = tmp_path / "sub"
    below.mkdir()
    ok, detail = storage.check_cephfs_mount(below, f"50 22 0:40 / {tmp_path} rw - ceph src rw\n")
    assert not ok and "below the CephFS mount" in detail


def test_require_cephfs_writes_nothing_when_unmounted(tmp_path):
    with pytest.raises(RunbookError, match="CephFS is not mounted") as info:
        storage_steps.require_cephfs(tmp_path)
    assert "storage.mount" in info.value.hint
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def sandbox(tmp_path, root):
    folder = tmp_path / "params"
    folder.mkdir()
    (folder / "p.yaml").write_text((root / "params" / "sandbox.yaml").read_text()
                                   .replace("file:../.lab/secrets/ceph-admin-key", f"file:{tmp_path}/key"))
    return params.load(folder / "p.yaml"), tmp_path / "key"


KEY = "AQBq2kRlAAAAABAAxE0L0nJvJNk7JdZ5qkLx5g=="


@pytest.mark.parametrize(
    "content",
    [KEY + "\n", f"[client.admin]\n\tkey = {KEY}\n\tcaps mds = \"allow *\"\n"],
    ids=["bare-key", "keyring"],
)
def test_admin_key_from_key_or_keyring(sandbox, content):
    loaded, key_file = sandbox
    key_file.write_text(content)
    assert storage.admin_key(loaded.storage) == KEY


def test_admin_key_rejects_garbage_without_echoing(sandbox):
    loaded, key_file = sandbox
    key_file.write_text("not a key at all!")
    with pytest.raises(RunbookError) as info:
        storage.admin_key(loaded.storage)
    assert "not a key" not in str(info.value) and "file:" in str(info.value)


def test_manifests_in_tree(sandbox):
    loaded, key_file = sandbox
    key_file.write_text(KEY)
    secret = storage.secret_manifest(loaded.storage, "harbor")
    assert base64.b64decode(secret["data"]["key"]).decode() == KEY
    pv = storage.pv_manifest(loaded.storage, "harbor", "registry")
    assert pv["metadata"]["labels"]["type"] == "registry"
    assert pv["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["capacity"]["storage"] == "5Gi"
    assert pv["spec"]["cephfs"] == {"monitors": ["127.0.0.1:16789"], "path": "/apps/harbor-k8s/registry",
                                    "user": "admin", "secretRef": {"name": "ceph-secret", "namespace": "harbor"},
                                    "readOnly": False}
    pvc = storage.pvc_manifest(loaded.storage, "harbor", "log")
    assert pvc["metadata"]["name"] == "log-pvc" and pvc["spec"]["selector"] == {"matchLabels": {"type": "log"}}
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_manifests_csi(sandbox):
    loaded, key_file = sandbox
    key_file.write_text(KEY)
    csi = loaded.storage.model_copy(update={"backend": "cephfs-csi"})
    secret = storage.secret_manifest(csi, "harbor")
    assert set(secret["data"]) == {"userID", "userKey"}
    spec = storage.pv_manifest(csi, "harbor", "log")["spec"]
    assert "cephfs" not in spec
    assert spec["csi"]["driver"] == "cephfs.csi.ceph.com"
    assert spec["csi"]["volumeAttributes"]["rootPath"] == "/apps/harbor-k8s/log"
    assert spec["csi"]["volumeAttributes"]["staticVolume"] == "true"


@pytest.mark.parametrize(
    "pv,expected",
    [
        (None, None),
        ({"spec": {}}, None),
        ({"spec": {"claimRef": {"namespace": "harbor", "name": "registry-pvc"}}}, None),
        ({"spec": {"claimRef": {"namespace": "other", "name": "registry-pvc"}}}, "other/registry-pvc"),
        ({"spec": {"claimRef": {"namespace": "harbor", "name": "data"}}}, "harbor/data"),
    ],
    ids=["absent", "unbound", "ours", "other-namespace", "other-claim"],
)
def test_foreign_claim(pv, expected):
    assert storage.foreign_claim(pv, "harbor", "registry") == expected


@pytest.mark.parametrize(
    "backend,version,csi,status",
    [
        ("cephfs", (1, 7), False, "ok"),
        ("cephfs", (1, 25), False, "ok"),
        ("cephfs", (1, 30), False, "warning"),
        ("cephfs", (1, 31), True, "failed"),
        ("cephfs-csi", (1, 31), True, "ok"),
        ("cephfs-csi", (1, 31), False, "failed"),
    ],
    ids=["article-era", "1.25", "deprecated", "removed", "csi-ok", "csi-missing-driver"],
)
def test_backend_fits(backend, version, csi, status):
    got, detail, hint = storage.backend_fits(backend, version, csi)
    assert got == status
    if status == "failed" and backend == "cephfs":
        assert hint == "set storage.backend: cephfs-csi (and install ceph-csi)"
