"""How a pod spec becomes a container's environment and files (pure functions, no root)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from harborlab.podrunner.environment import container_env, expand, field_value
from harborlab.podrunner.volumes import Backing, mount_table, plan_volumes, pv_directory


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


OBJECTS = {
    ("ConfigMap", "ns", "cm"): {"kind": "ConfigMap", "metadata": {"name": "cm"},
                               "data": {"A": "from-cm", "B": "b", "bad-name!": "x", "app.conf": "appname = x\n"},
                               "binaryData": {"bin": b64("raw")}},
    ("Secret", "ns", "sec"): {"kind": "Secret", "metadata": {"name": "sec"},
                             "data": {"A": b64("from-secret"), "PWD": b64("s3cret"), "private_key.pem": b64("KEY")}},
    ("Secret", "ns", "key"): {"kind": "Secret", "metadata": {"name": "key"}, "data": {"key": b64("0123456789abcdef")}},
    ("PersistentVolumeClaim", "ns", "bound"): {"metadata": {"name": "bound"}, "spec": {"volumeName": "pv-ceph"},
                                              "status": {"phase": "Bound"}},
    ("PersistentVolumeClaim", "ns", "csi"): {"metadata": {"name": "csi"}, "spec": {"volumeName": "pv-csi"},
                                            "status": {"phase": "Bound"}},
    ("PersistentVolumeClaim", "ns", "pending"): {"metadata": {"name": "pending"}, "spec": {},
                                                "status": {"phase": "Pending"}},
    ("PersistentVolumeClaim", "ns", "nfs"): {"metadata": {"name": "nfs"}, "spec": {"volumeName": "pv-nfs"},
                                            "status": {"phase": "Bound"}},
    ("PersistentVolume", "", "pv-ceph"): {"metadata": {"name": "pv-ceph"},
                                         "spec": {"cephfs": {"path": "/apps/harbor-k8s/registry"}}},
    ("PersistentVolume", "", "pv-csi"): {"metadata": {"name": "pv-csi"}, "spec": {"csi": {
        "driver": "cephfs.csi.ceph.com", "volumeAttributes": {"rootPath": "/apps/harbor-k8s/log"}}}},
    ("PersistentVolume", "", "pv-nfs"): {"metadata": {"name": "pv-nfs"}, "spec": {"nfs": {"path": "/x"}}},
}


def get(kind: str, namespace: str, name: str):
    return OBJECTS.get((kind, namespace, name))


def pod(containers=None, volumes=None) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"name": "ui-apps"}},
            "spec": {"nodeName": "lab-node-1", "containers": containers or [{"name": "c"}], "volumes": volumes or []},
            "status": {"podIP": "127.77.0.9"}}


ENV_CASES = [
    ("envFrom-configmap", {"envFrom": [{"configMapRef": {"name": "cm"}}]}, {"A": "from-cm", "B": "b"}, []),
    ("envFrom-later-source-wins", {"envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "sec"}}]},
     {"A": "from-secret", "B": "b", "PWD": "s3cret"}, []),
    ("envFrom-prefix", {"envFrom": [{"prefix": "X_", "secretRef": {"name": "key"}}]}, {"X_key": "0123456789abcdef"}, []),
    ("env-overrides-envFrom", {"envFrom": [{"configMapRef": {"name": "cm"}}], "env": [{"name": "A", "value": "lit"}]},
     {"A": "lit"}, []),
    ("expansion", {"env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "$(X)-$$(X)-$(NOPE)"}]},
     {"Y": "1-$(X)-$(NOPE)"}, []),
    ("secretKeyRef", {"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "PWD"}}}]},
     {"P": "s3cret"}, []),
    ("configMapKeyRef", {"env": [{"name": "P", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "B"}}}]},
     {"P": "b"}, []),
    ("missing-key", {"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "NO"}}}]},
     {}, ["couldn't find key NO in Secret ns/sec"]),
    ("missing-secret", {"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "K"}}}]},
     {}, ['secret "gone" not found']),
    ("optional-missing", {"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "K",
                                                                              "optional": True}}}]}, {}, []),
    ("missing-envFrom", {"envFrom": [{"configMapRef": {"name": "gone"}}]}, {}, ['configmap "gone" not found']),
    ("fieldRef", {"env": [{"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                          {"name": "L", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['name']"}}}]},
     {"IP": "127.77.0.9", "L": "ui-apps"}, []),
    ("unsupported", {"env": [{"name": "R", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]},
     {}, ["env R: valueFrom ['resourceFieldRef'] is not supported by the lab"]),
]


@pytest.mark.parametrize(("container", "expected", "errors"), [c[1:] for c in ENV_CASES], ids=[c[0] for c in ENV_CASES])
def test_container_env(container, expected, errors):
    result = container_env(pod(), {"name": "c", **container}, get)
    for key, value in expected.items():
        assert result.env[key] == value
    assert result.errors == errors
    assert "s3cret" not in repr(result)


def test_invalid_envfrom_names_are_skipped_and_reported():
    result = container_env(pod(), {"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}}]}, get)
    assert "bad-name!" not in result.env and result.skipped == ["bad-name!"]


@pytest.mark.parametrize(("text", "expected"), [("$(A)", "x"), ("$$(A)", "$(A)"), ("$(B)", "$(B)"), ("a$b", "a$b")],
                         ids=["known", "escaped", "unknown", "plain-dollar"])
def test_expand(text, expected):
    assert expand(text, {"A": "x"}) == expected


@pytest.mark.parametrize(("path", "expected"), [("metadata.name", "p"), ("metadata.namespace", "ns"),
                                                ("spec.nodeName", "lab-node-1"), ("metadata.labels['nope']", ""),
                                                ("spec.bogus", None)], ids=["name", "ns", "node", "no-label", "bogus"])
def test_field_value(path, expected):
    assert field_value(pod(), path) == expected


@pytest.fixture
def backing(tmp_path) -> Backing:
    (tmp_path / "cephfs/apps/harbor-k8s/registry").mkdir(parents=True)
    (tmp_path / "cephfs/apps/harbor-k8s/log").mkdir(parents=True)
    return Backing(tmp_path / "cephfs", tmp_path / "hostpath", tmp_path / "pod" / "emptydir")


def test_configmap_items_choose_keys_paths_and_modes(backing):
    vol = {"name": "config", "configMap": {"name": "cm", "defaultMode": 0o600,
                                           "items": [{"key": "app.conf", "path": "sub/app.conf"},
                                                     {"key": "B", "path": "b", "mode": 0o400}]}}
    plan = plan_volumes(pod(volumes=[vol]), get, backing)
    assert plan.problems == []
    assert plan.files["config"] == {"sub/app.conf": (b"appname = x\n", 0o600), "b": (b"b", 0o400)}


def test_configmap_without_items_has_every_key_binary_too(backing):
    plan = plan_volumes(pod(volumes=[{"name": "v", "configMap": {"name": "cm"}}]), get, backing)
    assert set(plan.files["v"]) == {"A", "B", "bad-name!", "app.conf", "bin"}
    assert plan.files["v"]["bin"] == (b"raw", 0o644)


def test_projected_volume_is_the_union_of_its_sources(backing):
    vol = {"name": "config", "projected": {"sources": [
        {"configMap": {"name": "cm", "items": [{"key": "app.conf", "path": "app.conf"}]}},
        {"secret": {"name": "sec", "items": [{"key": "private_key.pem", "path": "private_key.pem"}]}},
        {"secret": {"name": "key", "items": [{"key": "key", "path": "key"}]}}]}}
    plan = plan_volumes(pod(volumes=[vol]), get, backing)
    assert {k: v[0] for k, v in plan.files["config"].items()} == {
        "app.conf": b"appname = x\n", "private_key.pem": b"KEY", "key": b"0123456789abcdef"}
    assert "KEY" not in repr(plan)


PROBLEM_CASES = [
    ("missing-configmap", {"configMap": {"name": "gone"}}, 'configmap "gone" not found'),
    ("missing-item-key", {"secret": {"secretName": "sec", "items": [{"key": "NO", "path": "x"}]}},
     "non-existent secret key: NO"),
    ("dotdot-item", {"configMap": {"name": "cm", "items": [{"key": "B", "path": "../escape"}]}}, "invalid path"),
    ("pending-claim", {"persistentVolumeClaim": {"claimName": "pending"}}, 'persistentvolumeclaim "pending" is not bound'),
    ("unknown-claim", {"persistentVolumeClaim": {"claimName": "nope"}}, 'persistentvolumeclaim "nope" is not bound'),
    ("nfs-pv", {"persistentVolumeClaim": {"claimName": "nfs"}}, "is not backed by the lab"),
    ("unsupported-source", {"iscsi": {}}, "volume source ['iscsi'] is not supported"),
]


@pytest.mark.parametrize(("source", "message"), [c[1:] for c in PROBLEM_CASES], ids=[c[0] for c in PROBLEM_CASES])
def test_volume_problems(source, message, backing):
    plan = plan_volumes(pod(volumes=[{"name": "v", **source}]), get, backing)
    assert len(plan.problems) == 1 and message in plan.problems[0]
    assert plan.problems[0].startswith('MountVolume.SetUp failed for volume "v"')


def test_optional_missing_objects_are_no_problem(backing):
    plan = plan_volumes(pod(volumes=[{"name": "v", "configMap": {"name": "gone", "optional": True}}]), get, backing)
    assert plan.problems == [] and plan.files["v"] == {}


def test_claims_resolve_to_the_cephfs_mount(backing):
    vols = [{"name": "storage", "persistentVolumeClaim": {"claimName": "bound"}},
            {"name": "log", "persistentVolumeClaim": {"claimName": "csi"}}]
    plan = plan_volumes(pod(volumes=vols), get, backing)
    assert plan.problems == []
    assert plan.dirs == {"storage": backing.cephfs_mount / "apps/harbor-k8s/registry",
                         "log": backing.cephfs_mount / "apps/harbor-k8s/log"}


def test_a_missing_cephfs_directory_or_mount_fails_the_mount(backing):
    missing = Backing(backing.cephfs_mount / "elsewhere", backing.hostpath_root, backing.emptydir_root)
    plan = plan_volumes(pod(volumes=[{"name": "s", "persistentVolumeClaim": {"claimName": "bound"}}]), get, missing)
    assert "no such directory" in plan.problems[0]
    unmounted = Backing(None, backing.hostpath_root, backing.emptydir_root)
    directory, problem = pv_directory(OBJECTS[("PersistentVolume", "", "pv-ceph")], unmounted)
    assert directory is None and "CephFS is not mounted" in problem


def test_hostpath_and_emptydir_stay_inside_the_lab(backing):
    vols = [{"name": "h", "hostPath": {"path": "/var/log/../../etc"}}, {"name": "e", "emptyDir": {}}]
    plan = plan_volumes(pod(volumes=vols), get, backing)
    assert plan.create["h"] == backing.hostpath_root / "var/log/etc"
    assert plan.create["e"] == backing.emptydir_root / "e"


@pytest.mark.parametrize(("mount", "expected", "problem"), [
    ({"name": "v", "mountPath": "/etc/registry"}, Path("/host/v"), None),
    ({"name": "v", "mountPath": "/etc/registry/config.yml", "subPath": "config.yml"}, Path("/host/v/config.yml"), None),
    ({"name": "v", "mountPath": "/x", "subPath": "../../etc"}, None, "subPath"),
    ({"name": "nope", "mountPath": "/x"}, None, "names no volume"),
], ids=["dir", "subpath-file", "subpath-escape", "unknown-volume"])
def test_mount_table(mount, expected, problem):
    table, problems = mount_table({"volumeMounts": [mount]}, {"v": Path("/host/v")})
    if expected is None:
        assert table == {} and problem in problems[0]
    else:
        assert table == {mount["mountPath"]: expected} and problems == []
