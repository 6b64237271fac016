"""RBAC escalation prevention (issue 15): a Role/ClusterRole granting rights its writer does not hold
is refused unless the writer may ``escalate`` it; a binding needs ``bind`` on its role or every
right of that role — with the apiserver's 403 (pkg/registry/rbac/escalation_check.go,
validation/rule.go ConfirmNoEscalation, policy_comparator.go). The rule algebra in-process; the
whole path through the server with a ServiceAccount's token."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from harborlab.kube import rbac
from harborlab.kube.cluster import Cluster
from harborlab.kube.controllers.registry import build_controllers
from harborlab.kube.profiles import profile
from harborlab.kube.resources import by_key
from harborlab.kube.status import ApiError

NAMESPACES = by_key("/namespaces")


def rule(groups, resources, verbs, names=None, urls=None) -> dict:
    out = {"verbs": verbs}
    if groups is not None:
        out["apiGroups"], out["resources"] = groups, resources
    if names:
        out["resourceNames"] = names
    if urls:
        out["nonResourceURLs"] = urls
    return out


# -- the comparator ---------------------------------------------------------------------------------
@pytest.mark.parametrize("owner,wanted,covered", [
    (rule(["*"], ["*"], ["*"]), rule(["apps"], ["deployments"], ["delete"]), True),
    (rule([""], ["pods"], ["get", "list"]), rule([""], ["pods"], ["get"]), True),
    (rule([""], ["pods"], ["get"]), rule([""], ["pods"], ["delete"]), False),
    (rule([""], ["pods"], ["get"]), rule(["apps"], ["pods"], ["get"]), False),          # group matters
    (rule([""], ["*/status"], ["get"]), rule([""], ["pods/status"], ["get"]), True),
    (rule([""], ["pods"], ["get"]), rule([""], ["pods/log"], ["get"]), False),
    (rule([""], ["configmaps"], ["get"], names=["a"]), rule([""], ["configmaps"], ["get"], names=["a"]), True),
    (rule([""], ["configmaps"], ["get"], names=["a"]), rule([""], ["configmaps"], ["get"]), False),
    (rule(None, None, ["get"], urls=["/healthz*"]), rule(None, None, ["get"], urls=["/healthz/etcd"]), True),
    (rule(None, None, ["get"], urls=["/healthz"]), rule(None, None, ["get"], urls=["/metrics"]), False),
    (rule([""], ["pods"], ["get"]), rule(None, None, ["get"], urls=["/healthz"]), False),
])
def test_rule_covers(owner, wanted, covered):
    assert (rbac.uncovered([owner], [wanted]) == []) is covered


def test_the_message_lists_the_missing_rights_compacted_and_sorted():
    user = rbac.User("jane", ("dev", "system:authenticated"))
    missing = rbac.uncovered([rule([""], ["pods"], ["get"])],
                             [rule(["", "apps"], ["pods", "deployments"], ["get", "delete", "create"])])
    assert rbac.escalation_message(user, missing) == (
        'user "jane" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently '
        'held:\n'
        '{APIGroups:[""], Resources:["deployments"], Verbs:["get" "delete" "create"]}\n'
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete" "create"]}\n'
        '{APIGroups:["apps"], Resources:["deployments"], Verbs:["get" "delete" "create"]}\n'
        '{APIGroups:["apps"], Resources:["pods"], Verbs:["get" "delete" "create"]}')


# -- admission, in-process ---------------------------------------------------------------------------
@pytest.fixture
def cluster():
    cluster = Cluster(profile("modern"))
    build_controllers(cluster)
    rbac.bootstrap(cluster, article=False)
    cluster.create(NAMESPACES, "", {"metadata": {"name": "team"}}, internal=True)
    # "writer" may write Roles and RoleBindings in team, and read pods there.
    cluster.create(rbac.ROLES, "team", {"metadata": {"name": "writer"}, "rules": [
        rule([rbac.RBAC_GROUP], ["roles", "rolebindings"], ["create", "update", "get"]),
        rule([""], ["pods"], ["get", "list"])]}, internal=True)
    cluster.create(rbac.ROLEBINDINGS, "team", binding("writer", "Role", "writer"), internal=True)
    return cluster


def binding(name: str, kind: str, role: str, user: str = "writer") -> dict:
    return {"metadata": {"name": name}, "roleRef": {"apiGroup": rbac.RBAC_GROUP, "kind": kind, "name": role},
            "subjects": [{"apiGroup": rbac.RBAC_GROUP, "kind": "User", "name": user}]}


def as_user(name: str, *groups: str):
    return rbac.User(name, (*groups, "system:authenticated"))


def write(cluster, res, body, user):
    token = rbac.REQUESTER.set(user)
    try:
        return cluster.create(res, "team", body)
    finally:
        rbac.REQUESTER.reset(token)


def refused(call) -> str:
    with pytest.raises(ApiError) as err:
        call()
    assert err.value.code == 403 and err.value.reason == "Forbidden"
    return err.value.message


WRITER = as_user("writer")


def test_a_role_within_the_writers_rights_is_accepted_one_beyond_is_refused(cluster):
    write(cluster, rbac.ROLES, {"metadata": {"name": "reader"}, "rules": [rule([""], ["pods"], ["get"])]}, WRITER)
    message = refused(lambda: write(cluster, rbac.ROLES, {"metadata": {"name": "deleter"}, "rules": [
        rule([""], ["pods"], ["get", "delete"])]}, WRITER))
    assert message == (
        'roles.rbac.authorization.k8s.io "deleter" is forbidden: user "writer" (groups=["system:authenticated"]) '
        'is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], '
        'Verbs:["delete"]}')
    assert cluster.store.get(rbac.ROLES.key, "team", "deleter") is None      # nothing half-done


def test_escalate_lets_a_writer_grant_more(cluster):
    cluster.create(rbac.ROLES, "team", {"metadata": {"name": "escalator"}, "rules": [
        rule([rbac.RBAC_GROUP], ["roles"], ["escalate"])]}, internal=True)
    cluster.create(rbac.ROLEBINDINGS, "team", binding("escalator", "Role", "escalator"), internal=True)
    write(cluster, rbac.ROLES, {"metadata": {"name": "deleter"}, "rules": [rule([""], ["pods"], ["delete"])]}, WRITER)


def test_a_binding_needs_bind_or_the_roles_rights(cluster):
    cluster.create(rbac.ROLES, "team", {"metadata": {"name": "pod-deleter"}, "rules": [
        rule([""], ["pods"], ["delete"])]}, internal=True)
    cluster.create(rbac.ROLES, "team", {"metadata": {"name": "pod-reader"}, "rules": [
        rule([""], ["pods"], ["list"])]}, internal=True)
    write(cluster, rbac.ROLEBINDINGS, binding("ok", "Role", "pod-reader", "bob"), WRITER)   # rights held
    message = refused(lambda: write(cluster, rbac.ROLEBINDINGS, binding("nope", "Role", "pod-deleter", "bob"), WRITER))
    assert message.startswith('rolebindings.rbac.authorization.k8s.io "nope" is forbidden: user "writer" ')
    assert message.endswith('{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}')
    # bind on that very role (resourceNames) is enough.
    cluster.create(rbac.ROLES, "team", {"metadata": {"name": "binder"}, "rules": [
        rule([rbac.RBAC_GROUP], ["roles"], ["bind"], names=["pod-deleter"])]}, internal=True)
    cluster.create(rbac.ROLEBINDINGS, "team", binding("binder", "Role", "binder"), internal=True)
    write(cluster, rbac.ROLEBINDINGS, binding("now", "Role", "pod-deleter", "bob"), WRITER)


def test_binding_a_missing_role_is_not_found(cluster):
    with pytest.raises(ApiError) as err:
        write(cluster, rbac.ROLEBINDINGS, binding("ghost", "ClusterRole", "no-such-role", "bob"), WRITER)
    assert err.value.code == 404


def test_system_masters_and_the_servers_own_writes_are_exempt(cluster):
    write(cluster, rbac.ROLES, {"metadata": {"name": "all"}, "rules": [rule(["*"], ["*"], ["*"])]},
          as_user("root", "system:masters"))
    cluster.create(rbac.ROLES, "team", {"metadata": {"name": "all2"}, "rules": [rule(["*"], ["*"], ["*"])]})


def test_an_update_is_checked_too(cluster):
    role = write(cluster, rbac.ROLES, {"metadata": {"name": "r"}, "rules": [rule([""], ["pods"], ["get"])]}, WRITER)
    role["rules"] = [rule([""], ["secrets"], ["get"])]
    token = rbac.REQUESTER.set(WRITER)
    try:
        message = refused(lambda: cluster.update(rbac.ROLES, "team", "r", role))
    finally:
        rbac.REQUESTER.reset(token)
    assert message.endswith('{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}')


# -- through the server ------------------------------------------------------------------------------
@pytest.mark.emulator
def test_a_service_account_cannot_grant_itself_more_through_the_api(kube_server, core, namespace):
    from .test_rbac import as_token
    admin = kube_server.api()
    api = client.RbacAuthorizationV1Api(admin)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "deployer"}})
    api.create_namespaced_role(namespace, {"metadata": {"name": "rbac-writer"}, "rules": [
        rule([rbac.RBAC_GROUP], ["roles", "rolebindings"], ["create"]), rule([""], ["configmaps"], ["get"])]})
    api.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "deployer"}, "roleRef": {"apiGroup": rbac.RBAC_GROUP, "kind": "Role", "name": "rbac-writer"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}]})
    token = core.create_namespaced_service_account_token("deployer", namespace, {"spec": {}}).status.token
    sa = client.RbacAuthorizationV1Api(as_token(kube_server, token))
    sa.create_namespaced_role(namespace, {"metadata": {"name": "cm-reader"}, "rules": [rule([""], ["configmaps"], ["get"])]})
    with pytest.raises(client.ApiException) as err:
        sa.create_namespaced_role(namespace, {"metadata": {"name": "secret-reader"}, "rules": [
            rule([""], ["secrets"], ["get", "list"])]})
    body = json.loads(err.value.body)
    user = f"system:serviceaccount:{namespace}:deployer"
    assert err.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        f'roles.rbac.authorization.k8s.io "secret-reader" is forbidden: user "{user}" (groups=['
        f'"system:serviceaccounts" "system:serviceaccounts:{namespace}" "system:authenticated"]) is attempting to '
        'grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}')
    assert body["details"] == {"name": "secret-reader", "group": rbac.RBAC_GROUP, "kind": "roles"}
    with pytest.raises(client.ApiException) as err:
        sa.create_namespaced_role_binding(namespace, {
            "metadata": {"name": "self-admin"}, "roleRef": {"apiGroup": rbac.RBAC_GROUP, "kind": "ClusterRole",
                                                            "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}]})
    assert err.value.status == 403 and "is attempting to grant RBAC permissions not currently held" in err.value.body
    admin.close()
