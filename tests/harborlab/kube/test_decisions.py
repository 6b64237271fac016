"""The emulator's pure decisions, table-driven: selectors, scheduling, rollout steps, volume
matching, NodePort allocation, the store's no-op and history rules."""

from __future__ import annotations

from collections import Counter

import pytest

from harborlab.kube import selectors
from harborlab.kube.controllers.deployments import RsCount, plan, resolve, template_hash
from harborlab.kube.controllers.scheduler import choose, failure_message, tolerates, why_not
from harborlab.kube.controllers.services import allocate_node_ports
from harborlab.kube.controllers.volumes import matches, quantity
from harborlab.kube.status import ApiError
from harborlab.kube.store import Store

LABELS = {"app": "web", "tier": "front"}


@pytest.mark.parametrize("text,expected", [
    ("app=web", True), ("app==web", True), ("app!=web", False), ("app in (web,db)", True),
    ("app notin (web)", False), ("tier", True), ("!tier", False), ("missing!=x", True),
    ("app=web,tier=back", False), ("app in (db), tier", False), ("", True),
], ids=["eq", "eqeq", "neq", "in", "notin", "exists", "not-exists", "neq-absent", "and-fails",
        "in-fails", "empty"])
def test_label_selector(text, expected):
    assert selectors.labels_match(selectors.parse_labels(text), LABELS) is expected


@pytest.mark.parametrize("text", ["app in (web", "=x", "app=we b", "-bad=x"], ids=["open-paren", "no-key",
                                                                                 "space-value", "bad-key"])
def test_bad_label_selector_is_400(text):
    with pytest.raises(ApiError) as exc:
        selectors.parse_labels(text)
    assert exc.value.code == 400


NODE = {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1", "disk": "ssd"}},
        "spec": {}, "status": {"allocatable": {"pods": "2"}}}
PRESSURE = {**NODE, "spec": {"taints": [{"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"}]}}


def pod(**spec) -> dict:
    return {"metadata": {"name": "p", "namespace": "d", "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


@pytest.mark.parametrize("the_pod,node,count,reason", [
    (pod(), NODE, 0, None),
    (pod(nodeSelector={"disk": "ssd"}), NODE, 0, None),
    (pod(nodeSelector={"disk": "hdd"}), NODE, 0, "node(s) didn't match Pod's node affinity/selector"),
    (pod(), PRESSURE, 0, "node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }"),
    (pod(tolerations=[{"key": "node.kubernetes.io/disk-pressure", "operator": "Exists"}]), PRESSURE, 0, None),
    (pod(), {**NODE, "spec": {"unschedulable": True}}, 0, "node(s) were unschedulable"),
    (pod(), NODE, 2, "Too many pods"),
], ids=["fits", "selector-match", "selector-mismatch", "taint", "tolerated", "cordoned", "full"])
def test_why_not(the_pod, node, count, reason):
    assert why_not(the_pod, node, count) == reason


@pytest.mark.parametrize("tol,ok", [
    ({"key": "k", "operator": "Exists"}, True), ({"operator": "Exists"}, True),
    ({"key": "k", "value": "v"}, True), ({"key": "k", "value": "w"}, False),
    ({"key": "k", "operator": "Exists", "effect": "NoExecute"}, False)],
    ids=["exists", "wildcard", "equal", "other-value", "other-effect"])
def test_tolerates(tol, ok):
    assert tolerates({"key": "k", "value": "v", "effect": "NoSchedule"}, [tol]) is ok


def test_failure_message_in_the_real_wording():
    msg = failure_message(3, Counter({"node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }": 1,
                                      "node(s) didn't match Pod's node affinity/selector": 2}))
    assert msg == ("0/3 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, "
                   "1 node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }. preemption: "
                   "0/3 nodes are available: 3 Preemption is not helpful for scheduling.")


def test_choose_prefers_the_emptier_node_and_reports_when_nothing_fits():
    n2 = {**NODE, "metadata": {**NODE["metadata"], "name": "n2"}}
    assert choose(pod(), [NODE, n2], {"n1": [pod()]}) == ("n2", "")
    node, message = choose(pod(nodeSelector={"disk": "hdd"}), [NODE], {})
    assert node is None and message.startswith("0/1 nodes are available: 1 node(s) didn't match")


@pytest.mark.parametrize("value,total,up,expected", [("25%", 3, True, 1), ("25%", 3, False, 0), (2, 3, True, 2),
                                                     ("100%", 4, False, 4), (None, 3, True, 0)],
                         ids=["surge-3", "unavail-3", "int", "all", "none"])
def test_resolve(value, total, up, expected):
    assert resolve(value, total, up) == expected


ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}


@pytest.mark.parametrize("new,olds,expected", [
    (RsCount("new", 0, 0, 0), [RsCount("old", 3, 3, 3)], {"new": 1, "old": 3}),
    (RsCount("new", 1, 1, 1), [RsCount("old", 3, 3, 3)], {"new": 1, "old": 2}),
    (RsCount("new", 1, 0, 1), [RsCount("old", 3, 3, 3)], {"new": 1, "old": 3}),
    (RsCount("new", 3, 3, 3), [RsCount("old", 0, 0, 0)], {"new": 3, "old": 0}),
    (RsCount("new", 0, 0, 0), [RsCount("old", 3, 0, 3)], {"new": 1, "old": 0}),
    (RsCount("new", 0, 0, 0), [], {"new": 3}),
], ids=["surge-first", "old-down-after-ready", "wait-for-ready", "done", "unready-old-goes", "fresh"])
def test_rolling_plan(new, olds, expected):
    assert plan(3, ROLLING, new, olds) == expected


def test_recreate_waits_for_old_pods_to_go():
    assert plan(3, {"type": "Recreate"}, RsCount("new", 0, 0, 0), [RsCount("old", 3, 3, 3)]) == {"new": 0, "old": 0}
    assert plan(3, {"type": "Recreate"}, RsCount("new", 0, 0, 0), [RsCount("old", 0, 0, 0)]) == {"new": 3, "old": 0}


def test_template_hash_is_stable_and_template_sensitive():
    a = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    b = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "y"}]}}
    assert template_hash(a) == template_hash(dict(a)) != template_hash(b)
    assert set(template_hash(a)) <= set("bcdfghjklmnpqrstvwxz2456789")


@pytest.mark.parametrize("text,value", [("1Gi", 2**30), ("500M", 5e8), ("1.5Gi", 1.5 * 2**30), ("100", 100),
                                        ("bogus", 0)], ids=["Gi", "M", "fraction", "plain", "bogus"])
def test_quantity(text, value):
    assert quantity(text) == value


CLAIM = {"metadata": {"name": "c", "namespace": "d"}, "spec": {
    "accessModes": ["ReadWriteMany"], "storageClassName": "", "resources": {"requests": {"storage": "5Gi"}},
    "selector": {"matchLabels": {"app": "registry"}}}}
VOLUME = {"metadata": {"name": "v", "labels": {"app": "registry"}}, "spec": {
    "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "capacity": {"storage": "10Gi"}, "storageClassName": ""}}


@pytest.mark.parametrize("change,ok", [
    ({}, True),
    ({"metadata": {"name": "v", "labels": {"app": "other"}}}, False),
    ({"spec": {**VOLUME["spec"], "capacity": {"storage": "1Gi"}}}, False),
    ({"spec": {**VOLUME["spec"], "accessModes": ["ReadWriteOnce"]}}, False),
    ({"spec": {**VOLUME["spec"], "storageClassName": "fast"}}, False),
], ids=["match", "label", "capacity", "access-mode", "class"])
def test_volume_matches(change, ok):
    assert matches(CLAIM, {**VOLUME, **change}) is ok


def test_node_port_allocation():
    ports = [{"port": 80, "nodePort": 30080}, {"port": 443}]
    assert allocate_node_ports(ports, {30000}, []) == []
    assert ports[1]["nodePort"] == 30001
    clash = [{"port": 80, "nodePort": 30080}]
    [(index, message)] = allocate_node_ports(clash, {30080}, [])
    assert index == 0 and message == "Invalid value: 30080: provided port is already allocated"
    [(_, message)] = allocate_node_ports([{"port": 80, "nodePort": 80}], set(), [])
    assert "not in the valid range" in message
    kept = [{"port": 443}]
    allocate_node_ports(kept, set(), [{"port": 443, "nodePort": 31000}])
    assert kept[0]["nodePort"] == 31000


def test_store_no_op_write_keeps_the_resource_version():
    store = Store()
    obj = store.create("/configmaps", {"metadata": {"name": "a", "namespace": "d"}, "data": {"x": "1"}})
    same = store.update("/configmaps", {**obj, "metadata": dict(obj["metadata"])})
    assert same["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
    changed = store.update("/configmaps", {**obj, "data": {"x": "2"}})
    assert int(changed["metadata"]["resourceVersion"]) > int(obj["metadata"]["resourceVersion"])


def test_store_history_answers_410_when_too_old():
    store = Store(history=3)
    start = store.rv
    for i in range(5):
        store.create("/configmaps", {"metadata": {"name": f"c{i}", "namespace": "d"}})
    with pytest.raises(ApiError) as exc:
        store.changes_since(start, "/configmaps")
    assert exc.value.code == 410
    assert [c.obj["metadata"]["name"] for c in store.changes_since(store.rv - 2, "/configmaps")] == ["c3", "c4"]


def test_garbage_collector_keeps_objects_with_a_living_owner():
    from harborlab.kube.cluster import Cluster
    from harborlab.kube.controllers.gc import GarbageCollector
    from harborlab.kube.profiles import profile
    from harborlab.kube.resources import by_key
    cluster = Cluster(profile("article"))
    cms = by_key("/configmaps")
    cluster.create(by_key("/namespaces"), "", {"metadata": {"name": "d"}}, internal=True)
    owner = cluster.create(cms, "d", {"metadata": {"name": "owner"}}, internal=True)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    cluster.create(cms, "d", {"metadata": {"name": "child", "ownerReferences": [ref]}}, internal=True)
    cluster.create(cms, "d", {"metadata": {"name": "foreign", "ownerReferences": [
        {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "u"}]}}, internal=True)
    gc = GarbageCollector(cluster)
    gc.sync(0)
    assert {o["metadata"]["name"] for o in cluster.store.list(cms.key)} == {"owner", "child", "foreign"}
    cluster.delete(cms, "d", "owner")
    gc.sync(0)
    assert {o["metadata"]["name"] for o in cluster.store.list(cms.key)} == {"foreign"}


def test_required_anti_affinity_filters_nodes_with_a_matching_pod():
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "x"}}}]}}
    n2 = {**NODE, "metadata": {**NODE["metadata"], "name": "n2"}}
    assert choose(pod(affinity=anti), [NODE, n2], {"n1": [pod()]}) == ("n2", "")
    node, message = choose(pod(affinity=anti), [NODE], {"n1": [pod()]})
    assert node is None and "1 node(s) didn't match pod anti-affinity rules" in message
    assert choose(pod(), [NODE], {"n1": [pod()]}) == ("n1", "")


def test_an_unknown_selector_operator_matches_nothing_instead_of_failing():
    reqs = selectors.from_label_selector({"matchExpressions": [{"key": "app", "operator": "Like", "values": ["w"]}]})
    assert selectors.labels_match(reqs, {"app": "w"}) is False
