"""Service endpoint tables: the lab's stand-in for cluster DNS plus kube-proxy. Pure functions.

Programs in the lab name Services the way they would in a cluster (``registry:5000``,
``ui``); :func:`service_table` maps every such name, in each DNS form a pod could use, to the
ready endpoint addresses behind that Service port. :func:`node_port_table` is what kube-proxy
forwards for NodePort Services.
"""

from __future__ import annotations

from dataclasses import dataclass


def _ready_addresses(endpoints: dict | None, port: dict) -> list[str]:
    """``ip:targetPort`` of the ready addresses serving Service port ``port``."""
    out: list[str] = []
    for subset in (endpoints or {}).get("subsets") or []:
        ports = subset.get("ports") or []
        match = next((p for p in ports if p.get("name", "") == port.get("name", "")), None)
        if match is None and len(ports) == 1 and not port.get("name"):
            match = ports[0]
        if match is None:
            continue
        out += [f"{a['ip']}:{match['port']}" for a in subset.get("addresses") or []]
    return sorted(out)


def dns_names(name: str, namespace: str) -> tuple[str, ...]:
    return (name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local")


def service_table(services: list[dict], endpoints: list[dict], namespace: str) -> dict[str, list[str]]:
    """``"<name>:<port>"`` -> ready ``ip:port`` list for the Services a pod in ``namespace`` sees.

    Short names resolve only within the pod's namespace (as the pod's DNS search path does);
    qualified names (``name.ns``, ``name.ns.svc[.cluster.local]``) resolve everywhere.
    """
    by_key = {(e["metadata"].get("namespace"), e["metadata"]["name"]): e for e in endpoints}
    table: dict[str, list[str]] = {}
    for svc in services:
        meta = svc["metadata"]
        ns, name = meta.get("namespace", "default"), meta["name"]
        found = by_key.get((ns, name))
        for port in svc["spec"].get("ports") or []:
            addresses = _ready_addresses(found, port)
            names = dns_names(name, ns) if ns == namespace else dns_names(name, ns)[1:]
            for dns in names:
                table[f"{dns}:{port['port']}"] = addresses
    return table


@dataclass(frozen=True)
class NodePort:
    port: int
    service: str        # "namespace/name:portname" for messages
    protocol: str


def node_port_table(services: list[dict], endpoints: list[dict]) -> dict[NodePort, list[str]]:
    """Every TCP nodePort -> the ready endpoints behind it."""
    by_key = {(e["metadata"].get("namespace"), e["metadata"]["name"]): e for e in endpoints}
    table: dict[NodePort, list[str]] = {}
    for svc in services:
        if svc["spec"].get("type") not in ("NodePort", "LoadBalancer"):
            continue
        meta = svc["metadata"]
        found = by_key.get((meta.get("namespace"), meta["name"]))
        for port in svc["spec"].get("ports") or []:
            if not port.get("nodePort") or port.get("protocol", "TCP") != "TCP":
                continue
            label = f"{meta.get('namespace')}/{meta['name']}:{port.get('name') or port['port']}"
            table[NodePort(int(port["nodePort"]), label, "TCP")] = _ready_addresses(found, port)
    return table
