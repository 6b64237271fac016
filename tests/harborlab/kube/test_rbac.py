"""RBAC stored and enforced: the kubeconfig's harborbook-operator user, service accounts through
their tokens, the reviews answered from the bindings, and the apiserver's 403 messages."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, config

from .conftest import raw_request

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


def as_context(server, context: str) -> client.ApiClient:
    return config.new_client_from_config(str(server.kubeconfig), context=context)


def as_token(server, token: str) -> client.ApiClient:
    loaded = config.new_client_from_config(str(server.kubeconfig)).configuration
    configuration = client.Configuration(host=loaded.host, api_key={"BearerToken": token},
                                         api_key_prefix={"BearerToken": "Bearer"})
    configuration.ssl_ca_cert = loaded.ssl_ca_cert
    return client.ApiClient(configuration)


def forbidden(call) -> str:
    with pytest.raises(client.ApiException) as err:
        call()
    assert err.value.status == 403, err.value.body
    body = json.loads(err.value.body)
    assert body["reason"] == "Forbidden"
    return body["message"]


def ssar(api, verb, resource, group="", namespace=None, subresource=None) -> bool:
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(verb=verb, resource=resource, group=group,
                                                        namespace=namespace, subresource=subresource)))
    return client.AuthorizationV1Api(api).create_self_subject_access_review(review).status.allowed


def test_the_operator_may_do_what_the_runbooks_do_and_nothing_more(kube_server, namespace):
    api = as_context(kube_server, "harborbook-operator")
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "ok"}})
    assert apps.list_namespaced_deployment(namespace).items == []
    message = forbidden(lambda: core.delete_namespace(namespace))
    assert message == (f'namespaces "{namespace}" is forbidden: User "harborbook-operator" cannot delete resource '
                       f'"namespaces" in API group "" in the namespace "{namespace}"')
    message = forbidden(lambda: client.RbacAuthorizationV1Api(api).create_cluster_role(
        {"metadata": {"name": "mine"}, "rules": []}))
    assert message == ('clusterroles.rbac.authorization.k8s.io is forbidden: User "harborbook-operator" cannot '
                       'create resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope')
    cfg = json.loads(kube_server.kubeconfig.read_text())
    code, body = raw_request(kube_server, "GET", "/metrics", token=cfg["users"][1]["user"]["token"])
    assert (code, body["message"]) == (403, 'forbidden: User "harborbook-operator" cannot get path "/metrics"')
    api.close()


@pytest.mark.parametrize("profile,operator_node_proxy,default_node_proxy", [
    ("article", False, False), ("modern", True, True)])
def test_node_proxy_rights_follow_the_profiles_bindings(server_factory, profile, operator_node_proxy,
                                                        default_node_proxy):
    server = server_factory("--profile", profile)
    operator, default = as_context(server, "harborbook-operator"), server.api()
    assert ssar(operator, "get", "nodes", subresource="proxy") is operator_node_proxy
    assert ssar(default, "get", "nodes", subresource="proxy") is default_node_proxy
    assert ssar(operator, "patch", "deployments", "apps", "default") is True
    assert ssar(operator, "delete", "nodes") is False
    if not default_node_proxy:
        message = forbidden(lambda: client.CoreV1Api(default).connect_get_node_proxy_with_path("lab-node-1", "configz"))
        assert message == ('nodes "lab-node-1" is forbidden: User "harborlab-operator" cannot get resource '
                           '"nodes/proxy" in API group "" at the cluster scope')
    operator.close()
    default.close()


def test_removing_a_rule_denies_it(server_factory):
    server = server_factory("--profile", "modern")
    admin, operator = server.api(), as_context(server, "harborbook-operator")
    assert ssar(operator, "patch", "deployments", "apps", "default")
    rbac = client.RbacAuthorizationV1Api(admin)
    role = rbac.read_cluster_role("harborbook-operator")
    role.rules = [r for r in role.rules if "deployments" not in (r.resources or [])]
    rbac.replace_cluster_role("harborbook-operator", role)
    assert not ssar(operator, "patch", "deployments", "apps", "default")
    assert ssar(operator, "patch", "configmaps", "", "default")
    admin.close()
    operator.close()


def test_a_role_binding_grants_a_service_account_named_objects_in_its_namespace(kube_server, core, namespace):
    admin = kube_server.api()
    rbac = client.RbacAuthorizationV1Api(admin)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "read-a"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a"]}]})
    rbac.create_namespaced_role_binding(namespace, {"metadata": {"name": "reader-read-a"},
                                                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                                "kind": "Role", "name": "read-a"},
                                                    "subjects": [{"kind": "ServiceAccount", "name": "reader",
                                                                  "namespace": namespace}]})
    for name in ("a", "b"):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name}})
    token = core.create_namespaced_service_account_token("reader", namespace, {"spec": {}}).status.token
    sa = as_token(kube_server, token)
    sa_core = client.CoreV1Api(sa)
    assert sa_core.read_namespaced_config_map("a", namespace).metadata.name == "a"
    user = f"system:serviceaccount:{namespace}:reader"
    assert forbidden(lambda: sa_core.read_namespaced_config_map("b", namespace)) == (
        f'configmaps "b" is forbidden: User "{user}" cannot get resource "configmaps" in API group "" '
        f'in the namespace "{namespace}"')
    assert forbidden(lambda: sa_core.list_namespaced_config_map(namespace)).startswith("configmaps is forbidden: ")
    rules = client.AuthorizationV1Api(sa).create_self_subject_rules_review(
        {"spec": {"namespace": namespace}}).status.resource_rules
    assert any(r.resource_names == ["a"] and r.verbs == ["get"] for r in rules)
    # TokenReview (asked by the admin) names the service account; a deleted account's token is dead.
    review = client.AuthenticationV1Api(admin).create_token_review({"spec": {"token": token}})
    assert review.status.authenticated and review.status.user.username == user
    assert f"system:serviceaccounts:{namespace}" in review.status.user.groups
    bogus = client.AuthenticationV1Api(admin).create_token_review({"spec": {"token": "x.y.z"}})
    assert not bogus.status.authenticated and bogus.status.error
    core.delete_namespaced_service_account("reader", namespace)
    with pytest.raises(client.ApiException) as err:
        sa_core.read_namespaced_config_map("a", namespace)
    assert err.value.status == 401
    sa.close()
    admin.close()


def test_the_operator_may_not_review_tokens(kube_server):
    api = as_context(kube_server, "harborbook-operator")
    assert forbidden(lambda: client.AuthenticationV1Api(api).create_token_review({"spec": {"token": "t"}})) == (
        'tokenreviews.authentication.k8s.io is forbidden: User "harborbook-operator" cannot create resource '
        '"tokenreviews" in API group "authentication.k8s.io" at the cluster scope')
    api.close()
