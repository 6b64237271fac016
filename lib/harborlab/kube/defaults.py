"""Defaulting: the fields the real API server fills in on create and update, as a table by kind.

Runbooks read some of these back (a Service's port protocol and targetPort, a Deployment's
strategy), so the emulator sets them like the real defaulting code does.
"""

from __future__ import annotations

import base64
import binascii
from typing import Callable

from .status import bad_request


def _container(c: dict) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    tag = c.get("image", "").rsplit("/", 1)[-1]
    c.setdefault("imagePullPolicy", "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent")
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    c.setdefault("resources", {})


def pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        _container(c)
    for vol in spec.get("volumes") or []:
        for kind in ("configMap", "secret"):
            if kind in vol:
                vol[kind].setdefault("defaultMode", 420)


def _pod(obj: dict) -> None:
    pod_spec(obj.setdefault("spec", {}))
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def _template_owner(obj: dict) -> None:
    if obj.get("kind") in ("ReplicaSet", "ReplicationController"):
        obj.setdefault("status", {}).setdefault("replicas", 0)   # required by their schema
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def _deployment(obj: dict) -> None:
    _template_owner(obj)
    spec = obj["spec"]
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {}).setdefault("maxUnavailable", "25%")
        strategy["rollingUpdate"].setdefault("maxSurge", "25%")


def _rc(obj: dict) -> None:
    _template_owner(obj)
    spec = obj["spec"]
    labels = spec["template"].setdefault("metadata", {}).get("labels") or {}
    spec.setdefault("selector", dict(labels))
    obj.setdefault("metadata", {}).setdefault("labels", dict(labels))


def _service(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _pv(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _pvc(obj: dict) -> None:
    obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _namespace(obj: dict) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    name = obj["metadata"].get("name")
    obj["metadata"].setdefault("labels", {}).setdefault("kubernetes.io/metadata.name", name)


def _secret(obj: dict) -> None:
    obj.setdefault("type", "Opaque")
    # The real server decodes the body: stringData is folded into data (base64) and dropped,
    # and data that is not base64 cannot be decoded at all (400 before any validation).
    # Go's base64 decoder (what decodes []byte fields) skips \r and \n, so data written as a YAML
    # block with line breaks is accepted; the value is stored as bytes and so comes back re-encoded
    # on one line. Any other stray character is an error.
    data = obj.get("data") or {}
    for key, value in data.items():
        try:
            raw = base64.b64decode(str(value).replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data '
                              f'in data["{key}"]') from None
        data[key] = base64.b64encode(raw).decode()
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        obj["data"] = {**data, **{k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()}}


def _statefulset(obj: dict) -> None:
    _template_owner(obj)
    obj.setdefault("status", {}).setdefault("replicas", 0)       # required by the schema
    spec = obj["spec"]
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})


def _daemonset(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    status = obj.setdefault("status", {})
    for key in ("currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled", "numberReady"):
        status.setdefault(key, 0)        # required by the schema


def _job(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)


def _cronjob(obj: dict) -> None:
    # SetDefaults_CronJob (pkg/apis/batch/v1/defaults.go); the job template gets its pod spec's
    # defaults only (SetDefaults_Job is for Job objects: completions etc. come when the Job is made).
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
    pod_spec(job_spec.setdefault("template", {}).setdefault("spec", {}))


def _pdb(obj: dict) -> None:
    status = obj.setdefault("status", {})
    for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        status.setdefault(key, 0)        # required by the schema; the disruption controller's (none here)


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "PodDisruptionBudget": _pdb, "StatefulSet": _statefulset, "DaemonSet": _daemonset, "Job": _job,
    "CronJob": _cronjob, "Pod": _pod, "Deployment": _deployment, "ReplicaSet": _template_owner,
    "ReplicationController": _rc, "Service": _service, "PersistentVolume": _pv,
    "PersistentVolumeClaim": _pvc, "Namespace": _namespace, "Secret": _secret,
}


def apply_defaults(obj: dict) -> None:
    """Fill in defaults in place (the caller owns ``obj``)."""
    fn = DEFAULTERS.get(obj.get("kind", ""))
    if fn:
        fn(obj)
