"""Server-side printing: the ``meta.k8s.io/v1`` Table a client gets when it asks for
``application/json;as=Table;v=v1;g=meta.k8s.io`` (what ``kubectl get`` sends), with the columns of
the apiserver's printers for the kinds the lab runs, and ``Name``/``Created At`` for the rest.

Cells follow the printers' wording (pod status reasons, node roles and ``SchedulingDisabled``,
service ports, ``<none>``) and ages use apimachinery's HumanDuration.
"""

from __future__ import annotations

import calendar
import time
from typing import Callable

from .resources import Resource

ACCEPT_TABLE = "as=table"
_NAME = {"name": "Name", "type": "string", "format": "name", "priority": 0,
         "description": "Name must be unique within a namespace."}


def wants_table(accept: str) -> bool:
    return any(ACCEPT_TABLE in part.replace(" ", "").lower() and "g=meta.k8s.io" in part.lower()
               for part in accept.split(","))


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def _since(stamp: str | None, now: float) -> str:
    if not stamp:
        return "<unknown>"
    try:
        then = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "<unknown>"
    return human_duration(now - then)


def _col(name: str, kind: str = "string", priority: int = 0, description: str = "") -> dict:
    return {"name": name, "type": kind, "format": "", "description": description or name, "priority": priority}


def _age(obj: dict, now: float) -> str:
    return _since(obj["metadata"].get("creationTimestamp"), now)


def _pod(pod: dict, now: float) -> list:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    containers = pod["spec"].get("containers") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for c in statuses:
        state = c.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated"):
            terminated = state["terminated"]
            reason = terminated.get("reason") or (f"Signal:{terminated['signal']}" if terminated.get("signal")
                                                  else f"ExitCode:{terminated.get('exitCode', 0)}")
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    return [pod["metadata"]["name"], f"{ready}/{len(containers)}", reason, restarts, _age(pod, now),
            status.get("podIP") or "<none>", pod["spec"].get("nodeName") or "<none>", "<none>", "<none>"]


def _node(node: dict, now: float) -> list:
    status = node.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    text = "Ready" if ready == "True" else "NotReady" if ready == "False" else "Unknown"
    if (node.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    info = status.get("nodeInfo") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return [node["metadata"]["name"], text, ",".join(roles) or "<none>", _age(node, now),
            info.get("kubeletVersion", ""), addresses.get("InternalIP", "<none>"),
            addresses.get("ExternalIP", "<none>"), info.get("osImage", "<unknown>"),
            info.get("kernelVersion", "<unknown>"), info.get("containerRuntimeVersion", "<unknown>")]


def _ports(svc: dict) -> str:
    out = []
    for p in (svc.get("spec") or {}).get("ports") or []:
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        out.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _selector(selector: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((selector or {}).items())) or "<none>"


def _service(svc: dict, now: float) -> list:
    spec = svc.get("spec") or {}
    external = ",".join(spec.get("externalIPs") or []) or "<none>"
    return [svc["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", external,
            _ports(svc), _age(svc, now), _selector(spec.get("selector"))]


def _deployment(d: dict, now: float) -> list:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    containers = (spec.get("template") or {}).get("spec", {}).get("containers") or []
    return [d["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(d, now),
            ",".join(c["name"] for c in containers), ",".join(c.get("image", "") for c in containers),
            _selector((spec.get("selector") or {}).get("matchLabels"))]


def _replicaset(rs: dict, now: float) -> list:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    return [rs["metadata"]["name"], spec.get("replicas", 1), status.get("replicas", 0),
            status.get("readyReplicas", 0), _age(rs, now)]


def _daemonset(ds: dict, now: float) -> list:
    status = ds.get("status") or {}
    selector = ((ds.get("spec") or {}).get("template") or {}).get("spec", {}).get("nodeSelector")
    return [ds["metadata"]["name"], status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0),
            status.get("numberAvailable", 0), _selector(selector), _age(ds, now)]


def _pvc(pvc: dict, now: float) -> list:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    return [pvc["metadata"]["name"], status.get("phase", ""), spec.get("volumeName", ""),
            (status.get("capacity") or {}).get("storage", ""), _modes(status.get("accessModes")),
            spec.get("storageClassName", ""), _age(pvc, now), spec.get("volumeMode", "Filesystem")]


def _modes(modes: list | None) -> str:
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    return ",".join(short.get(m, m) for m in modes or [])


def _pv(pv: dict, now: float) -> list:
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    ref = spec.get("claimRef") or {}
    claim = f"{ref.get('namespace')}/{ref.get('name')}" if ref else ""
    return [pv["metadata"]["name"], (spec.get("capacity") or {}).get("storage", ""), _modes(spec.get("accessModes")),
            spec.get("persistentVolumeReclaimPolicy", ""), status.get("phase", ""), claim,
            spec.get("storageClassName", ""), status.get("reason", ""), _age(pv, now),
            spec.get("volumeMode", "Filesystem")]


def _event(ev: dict, now: float) -> list:
    obj = ev.get("involvedObject") or {}
    last = ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
    return [_since(last, now), ev.get("type", ""), ev.get("reason", ""),
            f"{(obj.get('kind') or '').lower()}/{obj.get('name', '')}", ev.get("message", "")]


PRINTERS: dict[str, tuple[list[dict], Callable[[dict, float], list]]] = {
    "Pod": ([_NAME, _col("Ready"), _col("Status"), _col("Restarts", "string"), _col("Age"),
             _col("IP", priority=1), _col("Node", priority=1), _col("Nominated Node", priority=1),
             _col("Readiness Gates", priority=1)], _pod),
    "Node": ([_NAME, _col("Status"), _col("Roles"), _col("Age"), _col("Version"), _col("Internal-IP", priority=1),
              _col("External-IP", priority=1), _col("OS-Image", priority=1), _col("Kernel-Version", priority=1),
              _col("Container-Runtime", priority=1)], _node),
    "Service": ([_NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _col("Age"),
                 _col("Selector", priority=1)], _service),
    "Deployment": ([_NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), _col("Age"),
                    _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)],
                   _deployment),
    "ReplicaSet": ([_NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                    _col("Age")], _replicaset),
    "DaemonSet": ([_NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                   _col("Up-to-date", "integer"), _col("Available", "integer"), _col("Node Selector"),
                   _col("Age")], _daemonset),
    "Namespace": ([_NAME, _col("Status"), _col("Age")],
                  lambda o, now: [o["metadata"]["name"], (o.get("status") or {}).get("phase", ""), _age(o, now)]),
    "ConfigMap": ([_NAME, _col("Data", "integer"), _col("Age")],
                  lambda o, now: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                                  _age(o, now)]),
    "Secret": ([_NAME, _col("Type"), _col("Data", "integer"), _col("Age")],
               lambda o, now: [o["metadata"]["name"], o.get("type", ""), len(o.get("data") or {}), _age(o, now)]),
    "ServiceAccount": ([_NAME, _col("Secrets", "integer"), _col("Age")],
                       lambda o, now: [o["metadata"]["name"], len(o.get("secrets") or []), _age(o, now)]),
    "PersistentVolumeClaim": ([_NAME, _col("Status"), _col("Volume"), _col("Capacity"), _col("Access Modes"),
                               _col("StorageClass"), _col("Age"), _col("VolumeMode", priority=1)], _pvc),
    "PersistentVolume": ([_NAME, _col("Capacity"), _col("Access Modes"), _col("Reclaim Policy"), _col("Status"),
                          _col("Claim"), _col("StorageClass"), _col("Reason"), _col("Age"),
                          _col("VolumeMode", priority=1)], _pv),
    "Event": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")], _event),
}


def _partial(obj: dict) -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(res: Resource, objs: list[dict], list_meta: dict, include: str, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    columns, printer = PRINTERS.get(res.kind, (None, None))
    if columns is None:
        columns = [_NAME, {"name": "Created At", "type": "date", "format": "", "priority": 0,
                           "description": "CreationTimestamp is a timestamp representing the server time when "
                                          "this object was created."}]
        printer = lambda o, _now: [o["metadata"]["name"], o["metadata"].get("creationTimestamp")]  # noqa: E731
    rows = []
    for obj in objs:
        row: dict = {"cells": printer(obj, now)}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = _partial(obj)
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": columns, "rows": rows}
