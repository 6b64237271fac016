"""Patch semantics as pure functions: merge, strategic merge, JSON patch, server-side apply."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from harborlab.kube import patch
from harborlab.kube.status import ApiError

POD = {"spec": {"containers": [
    {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
     "ports": [{"containerPort": 80}], "volumeMounts": [{"name": "v", "mountPath": "/etc/x"}]},
    {"name": "b", "image": "b:1"}],
    "volumes": [{"name": "v", "emptyDir": {}}], "tolerations": [{"key": "k"}]}}

STRATEGIC = [
    ("container-by-name", {"spec": {"containers": [{"name": "b", "image": "b:2"}]}},
     lambda r: [c["image"] for c in r["spec"]["containers"]] == ["a:1", "b:2"]),
    ("new-container-appended", {"spec": {"containers": [{"name": "c", "image": "c:1"}]}},
     lambda r: [c["name"] for c in r["spec"]["containers"]] == ["a", "b", "c"]),
    ("env-by-name", {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "3"}]}]}},
     lambda r: r["spec"]["containers"][0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}]),
    ("ports-by-containerPort", {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}]}},
     lambda r: r["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "name": "http"}]),
    ("volumeMounts-by-mountPath", {"spec": {"containers": [{"name": "a", "volumeMounts": [
        {"name": "w", "mountPath": "/etc/y"}]}]}},
     lambda r: [m["mountPath"] for m in r["spec"]["containers"][0]["volumeMounts"]] == ["/etc/x", "/etc/y"]),
    ("volumes-by-name", {"spec": {"volumes": [{"name": "v", "configMap": {"name": "c"}}]}},
     lambda r: r["spec"]["volumes"] == [{"name": "v", "emptyDir": {}, "configMap": {"name": "c"}}]),
    ("delete-directive", {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}},
     lambda r: [c["name"] for c in r["spec"]["containers"]] == ["a"]),
    ("unkeyed-list-replaced", {"spec": {"tolerations": [{"key": "z"}]}},
     lambda r: r["spec"]["tolerations"] == [{"key": "z"}]),
    ("null-removes", {"spec": {"volumes": None}}, lambda r: "volumes" not in r["spec"]),
]


@pytest.mark.parametrize("body,check", [(b, c) for _, b, c in STRATEGIC], ids=[i for i, _, _ in STRATEGIC])
def test_strategic_merge(body, check):
    result = patch.strategic_merge(POD, body)
    assert check(result)
    assert POD["spec"]["containers"][1]["image"] == "b:1"   # input untouched


def test_merge_patch_replaces_lists_whole():
    result = patch.merge_patch(POD, {"spec": {"containers": [{"name": "b", "image": "b:2"}]}})
    assert result["spec"]["containers"] == [{"name": "b", "image": "b:2"}]


@pytest.mark.parametrize("ops,expected", [
    ([{"op": "add", "path": "/a/c", "value": 3}], {"a": {"b": 1, "c": 3}, "l": [1, 2]}),
    ([{"op": "remove", "path": "/a/b"}], {"a": {}, "l": [1, 2]}),
    ([{"op": "replace", "path": "/l/0", "value": 9}], {"a": {"b": 1}, "l": [9, 2]}),
    ([{"op": "add", "path": "/l/-", "value": 3}], {"a": {"b": 1}, "l": [1, 2, 3]}),
    ([{"op": "move", "from": "/a/b", "path": "/x"}], {"a": {}, "l": [1, 2], "x": 1}),
], ids=["add", "remove", "replace-index", "append", "move"])
def test_json_patch(ops, expected):
    assert patch.json_patch({"a": {"b": 1}, "l": [1, 2]}, ops) == expected


@pytest.mark.parametrize("ops", [[{"op": "remove", "path": "/missing"}],
                                 [{"op": "test", "path": "/a/b", "value": 2}], {"op": "add"}],
                         ids=["remove-missing", "test-fails", "not-a-list"])
def test_json_patch_errors(ops):
    with pytest.raises(ApiError):
        patch.json_patch({"a": {"b": 1}}, ops)


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}


def test_apply_twice_is_identical():
    once = patch.apply(None, CM, "me", False, "t1")
    twice = patch.apply(once, CM, "me", False, "t2")
    assert once == twice


def test_apply_removes_fields_the_manager_dropped_but_keeps_others():
    once = patch.apply(None, CM, "me", False, "t1")
    once["data"]["other"] = "kept"          # set by someone else (not an applier)
    again = patch.apply(once, {**CM, "data": {"a": "1"}}, "me", False, "t2")
    assert again["data"] == {"a": "1", "other": "kept"}


def deployment(config_mount: str) -> dict:
    mounts = [{"name": "config", "mountPath": config_mount}, {"name": "data", "mountPath": "/storage"}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "registry"},
            "spec": {"template": {"spec": {"containers": [{"name": "registry", "image": "r", "volumeMounts": mounts}]}}}}


def test_apply_moves_a_list_item_whose_merge_key_changed():
    # The 2017 layout and back: the config mount's mountPath (its merge key) changes between applies.
    once = patch.apply(None, deployment("/etc/registry"), "me", False, "t1")
    moved = patch.apply(once, deployment("/etc/docker/registry"), "me", False, "t2")
    mounts = moved["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert sorted(m["mountPath"] for m in mounts) == ["/etc/docker/registry", "/storage"]
    assert all(m.get("name") for m in mounts), "no item stripped of its fields is left behind"
    back = patch.apply(moved, deployment("/etc/registry"), "me", False, "t3")
    assert sorted(m["mountPath"] for m in back["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]) == \
        ["/etc/registry", "/storage"]


def test_apply_conflict_with_another_manager_unless_forced():
    mine = patch.apply(None, CM, "me", False, "t1")
    theirs = {**CM, "data": {"a": "changed"}}
    with pytest.raises(ApiError) as exc:
        patch.apply(mine, theirs, "them", False, "t2")
    assert exc.value.code == 409 and "conflict" in exc.value.message
    forced = patch.apply(mine, theirs, "them", True, "t2")
    assert forced["data"]["a"] == "changed"


def test_apply_same_value_by_two_managers_is_no_conflict():
    mine = patch.apply(None, CM, "me", False, "t1")
    shared = patch.apply(mine, CM, "them", False, "t2")
    assert {e["manager"] for e in shared["metadata"]["managedFields"]} == {"me", "them"}


json_like = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                         lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                         max_leaves=12)
objects = st.dictionaries(st.text(max_size=5), json_like, max_size=4)


@given(target=objects, change=objects)
def test_merge_patch_is_idempotent(target, change):
    once = patch.merge_patch(target, change)
    assert patch.merge_patch(once, change) == once


@given(target=objects)
def test_empty_patches_change_nothing(target):
    assert patch.merge_patch(target, {}) == target
    assert patch.strategic_merge(target, {}) == target
    assert patch.json_patch(target, []) == target


@given(target=objects, change=objects)
def test_strategic_merge_never_raises_on_arbitrary_objects(target, change):
    result = patch.strategic_merge(target, change)
    assert isinstance(result, dict)
