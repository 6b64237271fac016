"""RBAC, stored and enforced: Roles, ClusterRoles and their bindings decide every request of an
identity, as the apiserver's RBAC authorizer does (rules allow; nothing denies), and answer
SelfSubjectAccessReview, SelfSubjectRulesReview and TokenReview.

Identities (authenticated by bearer token in server.py):
* the kubeconfig's default user: on ``modern`` kubeadm's ``kubernetes-admin`` (group
  ``kubeadm:cluster-admins``, bound to ``cluster-admin``); on ``article`` the era's operator
  ``harborlab-operator``, bound to a ClusterRole with every served resource except
  ``nodes/proxy`` — the right that operator did not have;
* ``harborbook-operator``, the kubeconfig's second user, bound to ``harborbook-operator``: what
  the runbooks use (on ``article`` without ``nodes/proxy``);
* service accounts, by their tokens (tokens.py).

The 403 message is the apiserver's (responsewriters.forbiddenMessage through NewForbidden).
"""

from __future__ import annotations

import copy
import json as _json
from contextvars import ContextVar
from dataclasses import dataclass

from .cluster import Cluster
from .resources import RESOURCES, by_key
from .status import ApiError, details

ROLES, CLUSTERROLES = by_key("rbac.authorization.k8s.io/roles"), by_key("rbac.authorization.k8s.io/clusterroles")
ROLEBINDINGS = by_key("rbac.authorization.k8s.io/rolebindings")
CLUSTERROLEBINDINGS = by_key("rbac.authorization.k8s.io/clusterrolebindings")
RBAC_GROUP = "rbac.authorization.k8s.io"
BOOTSTRAP = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
ADMIN, ARTICLE_OPERATOR, OPERATOR = "kubernetes-admin", "harborlab-operator", "harborbook-operator"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    uid: str = ""
    extra: tuple = ()


@dataclass(frozen=True)
class Attributes:
    verb: str
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""          # non-resource requests only

    @property
    def resource_request(self) -> bool:
        return bool(self.resource)


def default_user(profile_name: str) -> User:
    if profile_name == "article":
        return User(ARTICLE_OPERATOR, ("system:authenticated",))
    return User(ADMIN, ("kubeadm:cluster-admins", "system:authenticated"))


# --- the bootstrap policy --------------------------------------------------------------------

def _rule(groups, resources, verbs, names=None) -> dict:
    rule = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        rule["resourceNames"] = list(names)
    return rule


def _all_but_node_proxy() -> list[dict]:
    by_group: dict[str, list[str]] = {}
    for res in RESOURCES:
        names = by_group.setdefault(res.group, [])
        names.append(res.plural)
        names += [f"{res.plural}/{sub}" for sub in res.subresources if (res.plural, sub) != ("nodes", "proxy")]
    return [_rule([group], names, ["*"]) for group, names in by_group.items()] + \
        [{"verbs": ["*"], "nonResourceURLs": ["*"]}]


def operator_rules(node_proxy: bool) -> list[dict]:
    """What the runbooks use (00 checks these with SelfSubjectAccessReviews)."""
    rules = [
        _rule([""], ["namespaces"], ["get", "list", "watch", "create", "patch"]),
        _rule([""], ["secrets", "configmaps", "services", "persistentvolumeclaims", "endpoints"],
              ["get", "list", "watch", "create", "update", "patch"]),
        _rule([""], ["persistentvolumes"], ["get", "list", "watch", "create", "update", "patch"]),
        _rule([""], ["pods"], ["get", "list", "watch", "delete"]),
        _rule([""], ["pods/log", "pods/proxy"], ["get"]),
        _rule([""], ["pods/exec", "pods/portforward"], ["get", "create"]),
        _rule([""], ["events"], ["get", "list", "watch"]),
        _rule([""], ["nodes"], ["get", "list", "watch"]),
        _rule(["apps"], ["deployments", "replicasets"], ["get", "list", "watch", "create", "update", "patch"]),
        _rule(["apps"], ["deployments/scale"], ["get", "update", "patch"]),
        _rule([""], ["secrets", "configmaps", "services", "persistentvolumeclaims", "persistentvolumes"],
              ["delete"]),
        _rule(["apps"], ["deployments"], ["delete"]),
        _rule(["storage.k8s.io"], ["storageclasses", "csidrivers"], ["get", "list", "watch"]),
    ]
    if node_proxy:
        rules.append(_rule([""], ["nodes/proxy"], ["get"]))
    return rules


def bootstrap(cluster: Cluster, article: bool) -> None:
    """The policy a cluster starts with (kubeadm's, plus the lab's operators)."""
    roles = {
        "cluster-admin": [_rule(["*"], ["*"], ["*"]), {"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "system:discovery": [{"verbs": ["get"], "nonResourceURLs": [
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
            "/version", "/version/"]}],
        "system:basic-user": [_rule(["authorization.k8s.io"], ["selfsubjectaccessreviews",
                                                                "selfsubjectrulesreviews"], ["create"])],
        "system:public-info-viewer": [{"verbs": ["get"], "nonResourceURLs": [
            "/healthz", "/livez", "/readyz", "/version", "/version/"]}],
        "view": [_rule(["", "apps"], ["pods", "services", "configmaps", "endpoints", "persistentvolumeclaims",
                                      "deployments", "replicasets", "replicationcontrollers", "events"],
                       ["get", "list", "watch"])],
        ARTICLE_OPERATOR: _all_but_node_proxy(),
        OPERATOR: operator_rules(node_proxy=not article),
    }
    bindings = {
        "cluster-admin": ("cluster-admin", [("Group", "system:masters")]),
        "kubeadm:cluster-admins": ("cluster-admin", [("Group", "kubeadm:cluster-admins")]),
        "system:discovery": ("system:discovery", [("Group", "system:authenticated")]),
        "system:basic-user": ("system:basic-user", [("Group", "system:authenticated")]),
        "system:public-info-viewer": ("system:public-info-viewer", [("Group", "system:authenticated"),
                                                                    ("Group", "system:unauthenticated")]),
        OPERATOR: (OPERATOR, [("User", OPERATOR)]),
    }
    if article:
        bindings[ARTICLE_OPERATOR] = (ARTICLE_OPERATOR, [("User", ARTICLE_OPERATOR)])
    store = cluster.store
    for name, rules in roles.items():
        if store.get(CLUSTERROLES.key, "", name) is None:
            cluster.create(CLUSTERROLES, "", {"metadata": {"name": name, "annotations": dict(BOOTSTRAP),
                                                           "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}
                                                           if name.startswith(("system:", "cluster-admin", "view"))
                                                           else {}}, "rules": rules}, internal=True)
    for name, (role, subjects) in bindings.items():
        if store.get(CLUSTERROLEBINDINGS.key, "", name) is None:
            cluster.create(CLUSTERROLEBINDINGS, "", {
                "metadata": {"name": name, "annotations": dict(BOOTSTRAP)},
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": RBAC_GROUP, "kind": kind, "name": who} for kind, who in subjects]},
                internal=True)


# --- evaluation ------------------------------------------------------------------------------

def _subject_matches(subject: dict, user: User, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        return user.name == f"system:serviceaccount:{subject.get('namespace') or binding_ns}:{name}"
    return False


def _has(values: list | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)


def rule_allows(rule: dict, attrs: Attributes) -> bool:
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        for url in rule.get("nonResourceURLs") or []:
            if url == "*" or url == attrs.path or (url.endswith("*") and attrs.path.startswith(url[:-1])):
                return True
        return False
    if not _has(rule.get("apiGroups"), attrs.group):
        return False
    resources = rule.get("resources") or []
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if not ("*" in resources or combined in resources or
            (attrs.subresource and f"*/{attrs.subresource}" in resources)):
        return False
    names = rule.get("resourceNames")
    return not names or (bool(attrs.name) and attrs.name in names)


def _role_rules(cluster: Cluster, ref: dict, namespace: str) -> list[dict]:
    if ref.get("kind") == "ClusterRole":
        role = cluster.store.get(CLUSTERROLES.key, "", ref.get("name", ""))
    else:
        role = cluster.store.get(ROLES.key, namespace, ref.get("name", ""))
    return (role or {}).get("rules") or []


def applicable(cluster: Cluster, user: User, namespace: str):
    """(binding description, rules) for every binding of ``user`` that applies in ``namespace``."""
    for binding in cluster.store.list(CLUSTERROLEBINDINGS.key):
        if any(_subject_matches(s, user, "") for s in binding.get("subjects") or []):
            ref = binding.get("roleRef") or {}
            yield (f'ClusterRoleBinding "{binding["metadata"]["name"]}" of ClusterRole "{ref.get("name")}"',
                   _role_rules(cluster, ref, ""))
    if namespace:
        for binding in cluster.store.list(ROLEBINDINGS.key, namespace):
            if any(_subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
                ref = binding.get("roleRef") or {}
                yield (f'RoleBinding "{binding["metadata"]["name"]}/{namespace}" of {ref.get("kind")} '
                       f'"{ref.get("name")}"', _role_rules(cluster, ref, namespace))


def authorize(cluster: Cluster, user: User, attrs: Attributes) -> tuple[bool, str]:
    """(allowed, reason) as the RBAC authorizer decides."""
    for where, rules in applicable(cluster, user, attrs.namespace):
        if any(rule_allows(rule, attrs) for rule in rules):
            subject = f'User "{user.name}"'
            return True, f"RBAC: allowed by {where} to {subject}"
    return False, ""


def forbidden_error(user: User, attrs: Attributes) -> ApiError:
    if not attrs.resource_request:
        return ApiError(403, "Forbidden", f'forbidden: User "{user.name}" cannot {attrs.verb} path "{attrs.path}"',
                        {})
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    why = f'User "{user.name}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.group}" {scope}'
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    head = f'{qualified} "{attrs.name}" is forbidden' if attrs.name else f"{qualified} is forbidden"
    return ApiError(403, "Forbidden", f"{head}: {why}", details(attrs.name, attrs.group, attrs.resource))


# --- reviews ---------------------------------------------------------------------------------

def access_review(cluster: Cluster, user: User, review: dict) -> dict:
    spec = review.get("spec") or {}
    resource = spec.get("resourceAttributes")
    if resource:
        attrs = Attributes(resource.get("verb") or "", resource.get("namespace") or "", resource.get("group") or "",
                           resource.get("resource") or "", resource.get("subresource") or "",
                           resource.get("name") or "")
    else:
        non = spec.get("nonResourceAttributes") or {}
        attrs = Attributes(non.get("verb") or "", path=non.get("path") or "")
    allowed, reason = authorize(cluster, user, attrs)
    review["status"] = {"allowed": allowed, **({"reason": reason} if reason else {})}
    return review


def rules_review(cluster: Cluster, user: User, review: dict) -> dict:
    namespace = (review.get("spec") or {}).get("namespace") or ""
    resource_rules, non_resource = [], []
    for _, rules in applicable(cluster, user, namespace):
        for rule in rules:
            if rule.get("nonResourceURLs"):
                non_resource.append({"verbs": rule["verbs"], "nonResourceURLs": rule["nonResourceURLs"]})
            else:
                resource_rules.append(copy.deepcopy(rule))
    review["status"] = {"resourceRules": resource_rules, "nonResourceRules": non_resource, "incomplete": False}
    return review


def token_review(server, review: dict) -> dict:
    spec = review.get("spec") or {}
    user, audiences, error = server.identify(spec.get("token") or "", spec.get("audiences") or None)
    if user is None:
        review["status"] = {"user": {}, "error": error or "invalid bearer token"}
        return review
    info = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = dict(user.extra)
    review["status"] = {"authenticated": True, "user": info, "audiences": audiences}
    return review


# --- escalation prevention -------------------------------------------------------------------
# The apiserver's RBAC storage (pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/
# policybased, escalation_check.go, validation/rule.go and policy_comparator.go): writing a Role or
# ClusterRole needs every right it grants to be held already, unless the requester may `escalate`
# that role (or is in system:masters); writing a binding needs `bind` on the role it refers to, or
# again every right of that role. The requester of the current request is set by the server;
# writes without one (controllers, bootstrap) are the server's own.

REQUESTER: ContextVar["User | None"] = ContextVar("harborlab_requester", default=None)
PRIVILEGED_GROUP = "system:masters"
FULL_AUTHORITY = [_rule(["*"], ["*"], ["*"]), {"verbs": ["*"], "nonResourceURLs": ["*"]}]


def breakdown(rule: dict) -> list[dict]:
    """One rule per group x resource x verb (x resourceName), and per nonResourceURL x verb."""
    out = []
    verbs, names = rule.get("verbs") or [], rule.get("resourceNames") or []
    for group in rule.get("apiGroups") or []:
        for resource in rule.get("resources") or []:
            for verb in verbs:
                if names:
                    out += [{"apiGroups": [group], "resources": [resource], "verbs": [verb], "resourceNames": [n]}
                            for n in names]
                else:
                    out.append({"apiGroups": [group], "resources": [resource], "verbs": [verb]})
    for url in rule.get("nonResourceURLs") or []:
        out += [{"nonResourceURLs": [url], "verbs": [verb]} for verb in verbs]
    return out


def _has_all(owner: list, wanted: list) -> bool:
    return all(w in owner for w in wanted)


def _resources_cover(owner: list, wanted: list) -> bool:
    if "*" in owner or _has_all(owner, wanted):
        return True
    for path in wanted:
        if path in owner:
            continue
        if "/" not in path or f"*/{path.split('/', 1)[1]}" not in owner:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def rule_covers(owner: dict, sub: dict) -> bool:
    """policy_comparator.go ruleCovers."""
    o_verbs, o_groups = owner.get("verbs") or [], owner.get("apiGroups") or []
    o_names, s_names = owner.get("resourceNames") or [], sub.get("resourceNames") or []
    return (("*" in o_verbs or _has_all(o_verbs, sub.get("verbs") or []))
            and ("*" in o_groups or _has_all(o_groups, sub.get("apiGroups") or []))
            and _resources_cover(owner.get("resources") or [], sub.get("resources") or [])
            and all(any(_url_covers(o, p) for o in owner.get("nonResourceURLs") or [])
                    for p in sub.get("nonResourceURLs") or [])
            and (not o_names or (bool(s_names) and _has_all(o_names, s_names))))


def uncovered(owner_rules: list[dict], rules: list[dict]) -> list[dict]:
    """The broken-down rights in ``rules`` that no owner rule covers (validation.Covers)."""
    return [sub for rule in rules for sub in breakdown(rule) if not any(rule_covers(o, sub) for o in owner_rules)]


def compact(rules: list[dict]) -> list[dict]:
    """CompactRules: simple rules (one group, one resource, at most one name) merged by verbs."""
    out, simple = [], {}
    for rule in rules:
        names = rule.get("resourceNames") or []
        if not rule.get("nonResourceURLs") and len(rule.get("apiGroups") or []) == 1 \
                and len(rule.get("resources") or []) == 1 and len(names) <= 1:
            key = (rule["apiGroups"][0], rule["resources"][0], tuple(names))
            if key in simple:
                simple[key]["verbs"] = simple[key]["verbs"] + list(rule.get("verbs") or [])
            else:
                simple[key] = copy.deepcopy(rule)
        else:
            out.append(rule)
    return out + list(simple.values())


def _go_q(values: list[str]) -> str:
    # fmt's %q of a []string: ["a" "b"]
    return "[" + " ".join(_json.dumps(v) for v in values) + "]"


def compact_string(rule: dict) -> str:
    """rbacv1helpers.CompactString."""
    parts = [f"{label}:{_go_q(rule[key])}" for label, key in (
        ("APIGroups", "apiGroups"), ("Resources", "resources"), ("NonResourceURLs", "nonResourceURLs"),
        ("ResourceNames", "resourceNames"), ("Verbs", "verbs")) if rule.get(key)]
    return "{" + ", ".join(parts) + "}"


def escalation_message(user: User, missing: list[dict]) -> str:
    lines = sorted({compact_string(rule) for rule in compact(missing)})
    return (f'user "{user.name}" (groups={_go_q(list(user.groups))}) is attempting to grant RBAC permissions '
            "not currently held:\n" + "\n".join(lines))


def admit_escalation(cluster: Cluster, old: dict | None, obj: dict, dry_run: bool) -> None:
    """Admission for Roles, ClusterRoles and their bindings (create and update)."""
    user = REQUESTER.get()
    if user is None or PRIVILEGED_GROUP in user.groups:
        return
    from .status import not_found
    meta = obj.get("metadata") or {}
    namespace, name, kind = meta.get("namespace") or "", meta.get("name") or "", obj.get("kind")
    if kind in ("Role", "ClusterRole"):
        res = ROLES if kind == "Role" else CLUSTERROLES
        if authorize(cluster, user, Attributes("escalate", namespace, RBAC_GROUP, res.plural, "", name))[0]:
            return
        rules = FULL_AUTHORITY if obj.get("aggregationRule") else obj.get("rules") or []
    else:
        res = ROLEBINDINGS if kind == "RoleBinding" else CLUSTERROLEBINDINGS
        ref = obj.get("roleRef") or {}
        target = CLUSTERROLES if ref.get("kind") == "ClusterRole" else ROLES
        if ref.get("kind") not in ("ClusterRole", "Role"):
            return      # validation refuses it
        if authorize(cluster, user, Attributes("bind", namespace, ref.get("apiGroup") or "", target.plural, "",
                                               ref.get("name") or ""))[0]:
            return
        role = cluster.store.get(target.key, "" if target is CLUSTERROLES else namespace, ref.get("name") or "")
        if role is None:
            raise not_found(target, ref.get("name") or "")
        rules = role.get("rules") or []
    owner = [rule for _, held in applicable(cluster, user, namespace) for rule in held]
    missing = uncovered(owner, rules)
    if missing:
        raise ApiError(403, "Forbidden", f'{res.plural}.{RBAC_GROUP} "{name}" is forbidden: '
                       + escalation_message(user, missing), details(name, RBAC_GROUP, res.plural))


def install_escalation_checks(cluster: Cluster) -> None:
    for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
        cluster.admission.setdefault(kind, []).append(admit_escalation)
