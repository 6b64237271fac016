"""Services: clusterIP and NodePort allocation (admission, with the real conflict errors) and the
endpoints controller that keeps each selector Service's Endpoints equal to its pods' addresses."""

from __future__ import annotations

import copy
import ipaddress

from ..cluster import Cluster
from ..resources import by_key
from ..selectors import from_map, labels_match
from ..status import cause, invalid
from .common import PODS, is_ready

SERVICES, ENDPOINTS = by_key("/services"), by_key("/endpoints")
NODE_PORTS = range(30000, 32768)
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")


def used_node_ports(services: list[dict], skip_uid: str | None) -> set[int]:
    return {p["nodePort"] for s in services if s["metadata"].get("uid") != skip_uid
            for p in s["spec"].get("ports") or [] if p.get("nodePort")}


def used_cluster_ips(services: list[dict], skip_uid: str | None) -> set[str]:
    return {s["spec"]["clusterIP"] for s in services if s["metadata"].get("uid") != skip_uid
            and s["spec"].get("clusterIP") not in (None, "", "None")}


def allocate_node_ports(ports: list[dict], used: set[int], old_ports: list[dict]) -> list[tuple[int, str]]:
    """Fill in nodePorts in place; returns (index, error) for requested ports that cannot be had."""
    errors, taken = [], set(used)
    previous = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old_ports if p.get("nodePort")}
    for i, port in enumerate(ports):
        wanted = port.get("nodePort")
        if wanted:
            if wanted not in NODE_PORTS:
                errors.append((i, f"Invalid value: {wanted}: provided port is not in the valid range. "
                                  f"The range of valid ports is {NODE_PORTS.start}-{NODE_PORTS.stop - 1}"))
            elif wanted in taken:
                errors.append((i, f"Invalid value: {wanted}: provided port is already allocated"))
            taken.add(wanted)
            continue
        kept = previous.get((port.get("port"), port.get("protocol", "TCP")))
        if kept and kept not in taken:
            port["nodePort"] = kept
        else:
            port["nodePort"] = next(n for n in NODE_PORTS if n not in taken)
        taken.add(port["nodePort"])
    return errors


def allocate_cluster_ip(used: set[str]) -> str:
    for offset in range(10, SERVICE_CIDR.num_addresses - 1):
        ip = str(SERVICE_CIDR.network_address + offset)
        if ip not in used:
            return ip
    raise RuntimeError("service CIDR exhausted")


def admit_service(cluster: Cluster, old: dict | None, svc: dict, dry_run: bool) -> None:
    spec = svc.setdefault("spec", {})
    others = cluster.store.list(SERVICES.key)
    uid = (old or {}).get("metadata", {}).get("uid")
    old_spec = (old or {}).get("spec") or {}
    if not spec.get("clusterIP") and old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
    if not spec.get("clusterIP"):
        spec["clusterIP"] = allocate_cluster_ip(used_cluster_ips(others, uid))
    elif spec["clusterIP"] != "None" and old is None and spec["clusterIP"] in used_cluster_ips(others, uid):
        raise invalid(SERVICES, svc["metadata"]["name"], [cause(
            "spec.clusterIPs", f"Invalid value: []string{{\"{spec['clusterIP']}\"}}: failed to allocate IP "
            f"{spec['clusterIP']}: provided IP is already allocated")])
    if spec["clusterIP"] != "None":
        spec["clusterIPs"] = [spec["clusterIP"]]
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        errors = allocate_node_ports(spec.get("ports") or [], used_node_ports(others, uid), old_spec.get("ports") or [])
        if errors:
            raise invalid(SERVICES, svc["metadata"]["name"],
                          [cause(f"spec.ports[{i}].nodePort", message) for i, message in errors])
    else:
        for port in spec.get("ports") or []:
            port.pop("nodePort", None)


def _target_port(port: dict, pod: dict) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in pod["spec"].get("containers", []):
        for cport in container.get("ports") or []:
            if cport.get("name") == target:
                return cport.get("containerPort")
    return None


def endpoints_for(svc: dict, pods: list[dict]) -> list[dict]:
    """The subsets of a Service's Endpoints: pods grouped by their resolved port list."""
    reqs = from_map(svc["spec"].get("selector"))
    groups: dict[tuple, dict] = {}
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or pod["metadata"]["namespace"] != svc["metadata"]["namespace"] \
                or not labels_match(reqs, pod["metadata"].get("labels")) or pod["metadata"].get("deletionTimestamp"):
            continue
        ports = []
        for port in svc["spec"].get("ports") or []:
            number = _target_port(port, pod)
            if number is not None:
                entry = {"port": number, "protocol": port.get("protocol", "TCP")}
                if port.get("name"):
                    entry["name"] = port["name"]
                ports.append(entry)
        if svc["spec"].get("ports") and not ports:
            continue        # no port of this pod answers to the Service's targetPorts
        key = tuple((p.get("name", ""), p["port"], p["protocol"]) for p in ports)
        subset = groups.setdefault(key, {"addresses": [], "notReadyAddresses": [], "ports": ports})
        address = {"ip": ip, "nodeName": pod["spec"].get("nodeName"),
                   "targetRef": {"kind": "Pod", "namespace": pod["metadata"]["namespace"],
                                 "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}}
        subset["addresses" if is_ready(pod) else "notReadyAddresses"].append(address)
    subsets = []
    for subset in groups.values():
        for key in ("addresses", "notReadyAddresses"):
            subset[key].sort(key=lambda a: a["ip"])
            if not subset[key]:
                del subset[key]
        subsets.append(subset)
    return subsets


class EndpointsController:
    name = "endpoints"
    watches = frozenset({SERVICES.key, PODS.key})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    def sync(self, now: float) -> float | None:
        store = self.cluster.store
        pods = store.list(PODS.key)
        for svc in store.list(SERVICES.key):
            if not svc["spec"].get("selector"):
                continue          # selectorless Services keep the Endpoints their owner writes
            meta = svc["metadata"]
            current = store.get(ENDPOINTS.key, meta["namespace"], meta["name"])
            wanted = {"apiVersion": "v1", "kind": "Endpoints",
                      "metadata": copy.deepcopy(current["metadata"]) if current else
                      {"name": meta["name"], "namespace": meta["namespace"], "labels": dict(meta.get("labels") or {})},
                      "subsets": endpoints_for(svc, pods)}
            if not wanted["subsets"]:
                del wanted["subsets"]
            if current is None or {k: v for k, v in current.items() if k != "metadata"} != \
                    {k: v for k, v in wanted.items() if k != "metadata"}:
                self.cluster.put(ENDPOINTS, wanted)
        return None
