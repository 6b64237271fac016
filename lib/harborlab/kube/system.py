"""What every cluster has, whoever installed it: per namespace the ``default`` ServiceAccount
(the serviceaccounts controller) and the ``kube-root-ca.crt`` ConfigMap (the root CA publisher);
in ``default`` the ``kubernetes`` Service; in ``kube-system`` the control plane as static mirror
pods on the first lab node, CoreDNS as a Deployment behind the ``kube-dns`` Service, and
kube-proxy as a DaemonSet (its pods from the daemonset controller) — the images of the profile's era, which a
kubeadm node has preloaded, so they run (emulated) instead of failing to pull.

Pod admission here is the apiserver's for every pod create: ServiceAccount (serviceAccountName,
the projected ``kube-api-access-*`` token volume mounted at
/var/run/secrets/kubernetes.io/serviceaccount), DefaultTolerationSeconds (not-ready/unreachable
NoExecute for 300 s), Priority (0, or the system classes' values) — plus enableServiceLinks, which
is defaulting.
"""

from __future__ import annotations

import copy
import hashlib
import random

from .cluster import Cluster
from .resources import by_key
from .status import forbidden

NAMESPACES, SERVICEACCOUNTS, CONFIGMAPS = by_key("/namespaces"), by_key("/serviceaccounts"), by_key("/configmaps")
SERVICES, ENDPOINTS, PODS, NODES = by_key("/services"), by_key("/endpoints"), by_key("/pods"), by_key("/nodes")
DEPLOYMENTS, DAEMONSETS = by_key("apps/deployments"), by_key("apps/daemonsets")
PRIORITYCLASSES = by_key("scheduling.k8s.io/priorityclasses")
MIRROR = "kubernetes.io/config.mirror"
TOKEN_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA = "kube-root-ca.crt"
KUBERNETES_IP, DNS_IP = "10.96.0.1", "10.96.0.10"
PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
_GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def era_images(api_version: str, kubelet_version: str) -> dict[str, str]:
    """component -> image for a kubeadm control plane of ``api_version`` and nodes of ``kubelet_version``."""
    minor = int(api_version.lstrip("v").split(".")[1])
    etcd, coredns = ("3.5.12-0", "v1.11.1") if minor >= 30 else ("3.5.6-0", "v1.9.3")
    node_minor = int(kubelet_version.lstrip("v").split(".")[1])
    proxy = (f"registry.k8s.io/kube-proxy:{kubelet_version}" if node_minor >= 25 else
             f"gcr.io/google_containers/kube-proxy-amd64:{kubelet_version}")
    return {"etcd": f"registry.k8s.io/etcd:{etcd}",
            "kube-apiserver": f"registry.k8s.io/kube-apiserver:{api_version}",
            "kube-controller-manager": f"registry.k8s.io/kube-controller-manager:{api_version}",
            "kube-scheduler": f"registry.k8s.io/kube-scheduler:{api_version}",
            "coredns": f"registry.k8s.io/coredns/coredns:{coredns}", "kube-proxy": proxy}


def preloaded(image: str) -> bool:
    """Whether a kubeadm node has ``image`` without pulling (its own control-plane images)."""
    return image.startswith(("registry.k8s.io/kube-", "registry.k8s.io/etcd:", "registry.k8s.io/coredns/",
                             "registry.k8s.io/pause:", "gcr.io/google_containers/kube-proxy-amd64:"))


# --- admission -------------------------------------------------------------------------------

def _has_toleration(tolerations: list[dict], key: str) -> bool:
    return any((t.get("operator") == "Exists" and not t.get("key")) or
               (t.get("key") == key and t.get("effect") in (None, "", "NoExecute")) for t in tolerations)


def admit_pod(cluster: Cluster, old: dict | None, pod: dict, dry_run: bool) -> None:
    if old is not None:
        return          # these plugins act on create; a pod's spec is then immutable
    spec, meta = pod["spec"], pod["metadata"]
    spec.setdefault("enableServiceLinks", True)
    priority_class = spec.get("priorityClassName")
    found = cluster.store.get(PRIORITYCLASSES.key, "", priority_class) if priority_class else None
    if priority_class and found is None:
        raise forbidden(f'pods "{meta.get("name", "")}" is forbidden: no PriorityClass with name '
                        f"{priority_class} was found")
    spec.setdefault("priority", found.get("value", 0) if found else 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not _has_toleration(tolerations, key):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    if MIRROR in (meta.get("annotations") or {}):
        return          # mirror pods may not use service accounts
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = name
    ns = meta["namespace"]
    account = cluster.store.get(SERVICEACCOUNTS.key, ns, name)
    if account is None and name == "default" and not dry_run:
        # The plugin waits for the controller to create "default" in a new namespace.
        namespace_basics(cluster, ns)
        account = cluster.store.get(SERVICEACCOUNTS.key, ns, name)
    if account is None and not (dry_run and name == "default"):
        raise forbidden(f'pods "{meta.get("name", "")}" is forbidden: error looking up service account '
                        f'{ns}/{name}: serviceaccount "{name}" not found')
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = (account or {}).get("automountServiceAccountToken", True)
    containers = spec.get("initContainers", []) + spec.get("containers", [])
    if not automount or any(m.get("mountPath") == TOKEN_MOUNT for c in containers for m in c.get("volumeMounts") or []):
        return
    volume = "kube-api-access-" + "".join(random.choices(_GEN_CHARS, k=5))
    spec.setdefault("volumes", []).append({"name": volume, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": ROOT_CA, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                      "fieldPath": "metadata.namespace"}}]}}]}})
    for c in containers:
        c.setdefault("volumeMounts", []).append({"name": volume, "readOnly": True, "mountPath": TOKEN_MOUNT})


# --- the controllers -------------------------------------------------------------------------

def namespace_basics(cluster: Cluster, ns: str) -> None:
    """The default ServiceAccount and the root CA ConfigMap of namespace ``ns``."""
    namespace = cluster.store.get(NAMESPACES.key, "", ns)
    if namespace is None or namespace["metadata"].get("deletionTimestamp"):
        return
    if cluster.store.get(SERVICEACCOUNTS.key, ns, "default") is None:
        cluster.create(SERVICEACCOUNTS, ns, {"metadata": {"name": "default"}}, internal=True)
    ca = getattr(cluster, "ca_pem", "")
    if ca and cluster.store.get(CONFIGMAPS.key, ns, ROOT_CA) is None:
        cluster.create(CONFIGMAPS, ns, {"metadata": {"name": ROOT_CA, "annotations": {
            "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver "
                                         "when using internal endpoints such as the internal service IP or "
                                         "kubernetes.default.svc. No other usage is guaranteed across "
                                         "distributions of Kubernetes clusters."}},
                                          "data": {"ca.crt": ca}}, internal=True)


class NamespaceBasics:
    """serviceaccounts-controller and root-ca-cert-publisher: recreate what is missing."""
    name = "namespace-basics"
    watches = frozenset({NAMESPACES.key, SERVICEACCOUNTS.key, CONFIGMAPS.key})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    def sync(self, now: float) -> float | None:
        for ns in self.cluster.store.list(NAMESPACES.key):
            namespace_basics(self.cluster, ns["metadata"]["name"])
        return None


def _mirror_pod(component: str, image: str, node: dict, command: list[str]) -> dict:
    name = node["metadata"]["name"]
    digest = hashlib.md5(f"{component}/{image}".encode()).hexdigest()   # noqa: S324 (a config hash, as the kubelet's)
    return {"metadata": {"name": f"{component}-{name}", "namespace": "kube-system",
                         "labels": {"component": component, "tier": "control-plane"},
                         "annotations": {MIRROR: digest, "kubernetes.io/config.hash": digest,
                                         "kubernetes.io/config.source": "file"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                                              "uid": node["metadata"]["uid"], "controller": True}]},
            "spec": {"nodeName": name, "hostNetwork": True, "priorityClassName": "system-node-critical",
                     "containers": [{"name": component, "image": image, "command": command}],
                     "tolerations": [{"operator": "Exists", "effect": "NoExecute"}]}}


def _node_ip(node: dict) -> str:
    return next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                 if a["type"] == "InternalIP"), "")


class KubeSystem:
    """Seeds kube-system once the lab nodes exist, and keeps the mirror pods reported Running."""
    name = "kube-system"
    watches = frozenset({NODES.key, PODS.key})

    def __init__(self, cluster: Cluster, nodes: tuple[str, ...], advertise: tuple[str, int] | None = None):
        self.cluster, self.nodes, self.advertise = cluster, nodes, advertise
        self.seeded = False

    @staticmethod
    def wants(change) -> bool:
        return change.rkey == NODES.key or MIRROR in (change.obj["metadata"].get("annotations") or {})

    def sync(self, now: float) -> float | None:
        store = self.cluster.store
        nodes = [n for n in (store.get(NODES.key, "", name) for name in self.nodes) if n is not None]
        if not nodes:
            return None
        if not self.seeded:
            self.seeded = True
            self._seed(nodes)
        for pod in store.list(PODS.key, "kube-system"):
            if MIRROR in (pod["metadata"].get("annotations") or {}) and \
                    (pod.get("status") or {}).get("phase") != "Running":
                self._report_running(pod, store.get(NODES.key, "", pod["spec"]["nodeName"]))
        return None

    def _report_running(self, pod: dict, node: dict | None) -> None:
        from .controllers.pods import running_status
        ip = _node_ip(node or {})
        status = running_status(pod, node, ip, True, self.cluster.now(), self.cluster.profile.container_runtime)
        status["qosClass"] = "Burstable"
        self.cluster.put(PODS, {**copy.deepcopy(pod), "status": status})

    def _put_missing(self, res, ns: str, obj: dict) -> None:
        if self.cluster.store.get(res.key, ns, obj["metadata"]["name"]) is None:
            self.cluster.create(res, ns, obj, internal=True)

    def _seed(self, nodes: list[dict]) -> None:
        profile = self.cluster.profile
        images = era_images(profile.version, profile.kubelet_version)
        first = nodes[0]
        commands = {"etcd": ["etcd", "--data-dir=/var/lib/etcd"],
                    "kube-apiserver": ["kube-apiserver", "--secure-port=6443", "--authorization-mode=Node,RBAC",
                                       "--max-requests-inflight=400", "--max-mutating-requests-inflight=200"],
                    "kube-controller-manager": ["kube-controller-manager", "--use-service-account-credentials=true"],
                    "kube-scheduler": ["kube-scheduler", "--kubeconfig=/etc/kubernetes/scheduler.conf"]}
        for component, command in commands.items():
            self._put_missing(PODS, "kube-system", _mirror_pod(component, images[component], first, command))
        for sa in ("coredns", "kube-proxy"):
            self._put_missing(SERVICEACCOUNTS, "kube-system", {"metadata": {"name": sa}})
        self._put_missing(CONFIGMAPS, "kube-system", {"metadata": {"name": "coredns"}, "data": {"Corefile": (
            ".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n"
            "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n"
            "       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }\n    prometheus :9153\n"
            "    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n    cache 30\n    loop\n"
            "    reload\n    loadbalance\n}\n")}})
        self._put_missing(CONFIGMAPS, "kube-system", {"metadata": {"name": "kube-proxy", "labels": {"app": "kube-proxy"}},
                                                      "data": {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
                                                               "kind: KubeProxyConfiguration\nmode: iptables\n"}})
        dns_labels = {"k8s-app": "kube-dns"}
        self._put_missing(DEPLOYMENTS, "kube-system", {"metadata": {"name": "coredns", "labels": dns_labels}, "spec": {
            "replicas": 2, "selector": {"matchLabels": dns_labels},
            "template": {"metadata": {"labels": dns_labels}, "spec": {
                "serviceAccountName": "coredns", "priorityClassName": "system-cluster-critical",
                "dnsPolicy": "Default", "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                "containers": [{"name": "coredns", "image": images["coredns"], "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                          {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                          {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}],
                                "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": True}]}],
                "volumes": [{"name": "config-volume", "configMap": {"name": "coredns",
                                                                    "items": [{"key": "Corefile", "path": "Corefile"}]}}]}}}})
        self._put_missing(SERVICES, "kube-system", {"metadata": {"name": "kube-dns", "labels": {
            **dns_labels, "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}}, "spec": {
            "selector": dns_labels, "clusterIP": DNS_IP, "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}})
        proxy_labels = {"k8s-app": "kube-proxy"}
        template = {"metadata": {"labels": proxy_labels}, "spec": {
            "serviceAccountName": "kube-proxy", "hostNetwork": True, "priorityClassName": "system-node-critical",
            "nodeSelector": {"kubernetes.io/os": "linux"}, "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "kube-proxy", "image": images["kube-proxy"],
                            "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                                        "--hostname-override=$(NODE_NAME)"],
                            "securityContext": {"privileged": True}}]}}
        self._put_missing(DAEMONSETS, "kube-system", {"metadata": {"name": "kube-proxy", "labels": proxy_labels},
                                                      "spec": {"selector": {"matchLabels": proxy_labels},
                                                               "template": template}})
        # Its pods: the daemonset controller (controllers/daemonsets.py).


def priority_classes(cluster: Cluster) -> None:
    """The two system PriorityClasses every apiserver creates at start."""
    for name, value in PRIORITY_CLASSES.items():
        if cluster.store.get(PRIORITYCLASSES.key, "", name) is None:
            cluster.create(PRIORITYCLASSES, "", {
                "metadata": {"name": name}, "value": value, "preemptionPolicy": "PreemptLowerPriority",
                "description": "Used for system critical pods that must run in the cluster, but can be moved "
                               "to another node if necessary." if value < 2000001000 else
                               "Used for system critical pods that must not be moved from their current node."},
                internal=True)


def kubernetes_service(cluster: Cluster, address: tuple[str, int]) -> None:
    """The ``kubernetes`` Service in ``default`` and its Endpoints: the API server itself."""
    host, port = address
    if cluster.store.get(SERVICES.key, "default", "kubernetes") is None:
        cluster.create(SERVICES, "default", {"metadata": {"name": "kubernetes", "labels": {
            "component": "apiserver", "provider": "kubernetes"}}, "spec": {
            "clusterIP": KUBERNETES_IP, "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                                   "targetPort": port}]}}, internal=True)
    endpoints = {"metadata": {"name": "kubernetes", "namespace": "default",
                              "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                 "subsets": [{"addresses": [{"ip": host}], "ports": [{"name": "https", "port": port,
                                                                       "protocol": "TCP"}]}]}
    cluster.put(ENDPOINTS, endpoints)
