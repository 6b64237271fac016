"""The table of resources the emulator serves: policy as data.

Everything that differs between resources (group, kind, scope, subresources, short names, which
field selectors they accept) lives in this one table; the server, discovery and the store read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
COMMON_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class Resource:
    group: str              # "" for core
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    fields: tuple[str, ...] = COMMON_FIELDS   # field selectors accepted
    categories: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Store key: "<group>/<plural>" ("/pods" for core)."""
        return f"{self.group}/{self.plural}"

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """The name real error messages use: "pods", "deployments.apps"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_POD_FIELDS = COMMON_FIELDS + ("spec.nodeName", "status.phase", "spec.restartPolicy",
                               "spec.schedulerName", "spec.serviceAccountName", "status.podIP")
_EVENT_FIELDS = COMMON_FIELDS + ("involvedObject.kind", "involvedObject.name",
                                 "involvedObject.namespace", "involvedObject.uid",
                                 "involvedObject.apiVersion", "involvedObject.resourceVersion",
                                 "involvedObject.fieldPath", "reason", "source", "type")

RESOURCES: list[Resource] = [
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",), ("status", "finalize"),
             fields=COMMON_FIELDS + ("status.phase",)),
    Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "secrets", "Secret", True, fields=COMMON_FIELDS + ("type",)),
    Resource("", "v1", "services", "Service", True, ("svc",), ("status", "proxy"), categories=("all",)),
    Resource("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    Resource("", "v1", "pods", "Pod", True, ("po",), ("status", "log", "proxy", "binding", "eviction", "exec", "portforward"),
             fields=_POD_FIELDS, categories=("all",)),
    Resource("", "v1", "replicationcontrollers", "ReplicationController", True, ("rc",),
             ("status", "scale"), fields=COMMON_FIELDS + ("status.replicas",), categories=("all",)),
    Resource("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",), ("status",)),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), ("status",)),
    Resource("", "v1", "nodes", "Node", False, ("no",), ("status", "proxy"),
             fields=COMMON_FIELDS + ("spec.unschedulable",)),
    Resource("", "v1", "events", "Event", True, ("ev",), fields=_EVENT_FIELDS),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",), ("token",)),
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("status", "scale"),
             categories=("all",)),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("status", "scale"),
             fields=COMMON_FIELDS + ("status.replicas",), categories=("all",)),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("status",), categories=("all",)),
    # Stored and served (no controller acts on them yet): what charts and tools expect to find.
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("status", "scale"), categories=("all",)),
    Resource("batch", "v1", "jobs", "Job", True, (), ("status",), categories=("all",)),
    Resource("batch", "v1", "cronjobs", "CronJob", True, ("cj",), ("status",), categories=("all",)),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), ("status",)),
    Resource("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), ("status",)),
    Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",)),
    Resource("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest", False,
             ("csr",), ("status",)),
    Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
             ("crd", "crds"), ("status",)),
    Resource("apiregistration.k8s.io", "v1", "apiservices", "APIService", False, (), ("status",)),
    Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",)),
    Resource("storage.k8s.io", "v1", "csidrivers", "CSIDriver", False),
    Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
             False, verbs=("create",)),
    Resource("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview",
             False, verbs=("create",)),
    Resource("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False, verbs=("create",)),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
]

# Subresources that hold an object body of another kind (the rest are the parent's kind).
SUBRESOURCE_KINDS = {"scale": ("autoscaling/v1", "Scale"), "binding": ("v1", "Binding"),
                     "token": ("authentication.k8s.io/v1", "TokenRequest"),
                     "eviction": ("policy/v1", "Eviction")}


@dataclass
class ResourceIndex:
    by_path: dict[tuple[str, str, str], Resource] = field(default_factory=dict)
    by_kind: dict[tuple[str, str], Resource] = field(default_factory=dict)
    by_key: dict[str, Resource] = field(default_factory=dict)


def build_index(resources: list[Resource] = RESOURCES) -> ResourceIndex:
    index = ResourceIndex()
    for res in resources:
        index.by_path[(res.group, res.version, res.plural)] = res
        index.by_kind[(res.group_version, res.kind)] = res
        index.by_key[res.key] = res
    return index


INDEX = build_index()
BUILTIN_KEYS = frozenset(r.key for r in RESOURCES)
GENERATION = [0]     # bumped when the served set changes (CRDs), for caches of derived documents


def register(res: Resource) -> None:
    """Serve ``res`` (a custom resource version) from now on; replaces one at the same path."""
    unregister_path(res.group, res.version, res.plural)
    RESOURCES.append(res)
    INDEX.by_path[(res.group, res.version, res.plural)] = res
    INDEX.by_kind[(res.group_version, res.kind)] = res
    INDEX.by_key[res.key] = res
    GENERATION[0] += 1


def unregister_path(group: str, version: str, plural: str) -> None:
    old = INDEX.by_path.pop((group, version, plural), None)
    if old is None or old.key in BUILTIN_KEYS:
        return
    RESOURCES.remove(old)
    INDEX.by_kind.pop((old.group_version, old.kind), None)
    others = [r for r in RESOURCES if r.key == old.key]
    if others:
        INDEX.by_key[old.key] = others[-1]
    else:
        INDEX.by_key.pop(old.key, None)
    GENERATION[0] += 1


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return INDEX.by_path.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    return INDEX.by_kind.get((api_version, kind))


def by_key(key: str) -> Resource:
    return INDEX.by_key[key]


def groups() -> dict[str, list[str]]:
    """group -> versions (named groups only; the core group is served under /api)."""
    out: dict[str, list[str]] = {}
    for res in RESOURCES:
        if res.group and res.version not in out.setdefault(res.group, []):
            out[res.group].append(res.version)
    return out
