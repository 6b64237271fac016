"""Jobs (batch/v1, NonIndexed), as the job controller runs them: the selector and labels the
apiserver generates (``controller-uid``/``job-name``), up to ``parallelism`` active pods until
``completions`` pods have succeeded, ``backoffLimit`` failed pods before the Job fails
(BackoffLimitExceeded), ``activeDeadlineSeconds``, ``suspend``, and deletion
``ttlSecondsAfterFinished`` after it finished. A pod finishes when its node reports it
Succeeded or Failed (through ``pods/status``, as a kubelet does).
"""

from __future__ import annotations

import calendar
import copy
import time

from ..cluster import Cluster
from ..resources import by_key
from .common import PODS, controlled_by, is_ready, owner_ref, set_condition, suffix

JOBS = by_key("batch/jobs")


def _seconds(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return float(calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")))


class JobController:
    name = "jobs"
    watches = frozenset({JOBS.key, PODS.key})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    def sync(self, now: float) -> float | None:
        wakes = []
        all_pods = self.cluster.store.list(PODS.key)
        for job in self.cluster.store.list(JOBS.key):
            wake = self._sync_one(job, all_pods, now)
            if wake is not None:
                wakes.append(wake)
        return min(wakes, default=None)

    def _sync_one(self, job: dict, all_pods: list[dict], now: float) -> float | None:
        meta, spec = job["metadata"], job.get("spec") or {}
        if not (spec.get("selector") or {}).get("matchLabels"):
            self._generate_selector(job)
            return now
        status = copy.deepcopy(job.get("status") or {})
        finished = next((c for c in status.get("conditions") or [] if c.get("type") in ("Complete", "Failed")
                         and c.get("status") == "True"), None)
        pods = [p for p in all_pods if p["metadata"]["namespace"] == meta["namespace"] and controlled_by(p, meta["uid"])]
        phase = lambda p: (p.get("status") or {}).get("phase")  # noqa: E731
        active = [p for p in pods if phase(p) not in ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")]
        succeeded = sum(1 for p in pods if phase(p) == "Succeeded")
        failed = sum(1 for p in pods if phase(p) == "Failed")
        completions, parallelism = spec.get("completions", 1), spec.get("parallelism", 1)
        stamp = self.cluster.now()
        if finished is None:
            status.setdefault("startTime", stamp)
            started = _seconds(status["startTime"]) or now
            deadline = spec.get("activeDeadlineSeconds")
            verdict = None
            if completions is not None and succeeded >= completions:
                verdict = ("Complete", "", "")
            elif failed > spec.get("backoffLimit", 6):
                verdict = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
            elif deadline is not None and now >= started + deadline:
                verdict = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
            if verdict is not None:
                for pod in active:
                    self.cluster.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], grace_period=0)
                active = []
                status["conditions"] = set_condition(status.get("conditions") or [], verdict[0], "True",
                                                     verdict[1] or None, verdict[2] or None, stamp,
                                                     {"lastProbeTime": stamp})
                status["conditions"] = [{k: v for k, v in c.items() if v is not None} for c in status["conditions"]]
                if verdict[0] == "Complete":
                    status["completionTime"] = stamp
                self.cluster.recorder.record(job, "Normal" if verdict[0] == "Complete" else "Warning",
                                             "Completed" if verdict[0] == "Complete" else verdict[1],
                                             "Job completed" if verdict[0] == "Complete" else verdict[2],
                                             component="job-controller")
            elif not spec.get("suspend"):
                want = min(parallelism, (completions - succeeded) if completions is not None else parallelism)
                for _ in range(max(want - len(active), 0)):
                    active.append(self._create(job))
        status.update(active=len(active), succeeded=succeeded, failed=failed,
                      ready=sum(1 for p in active if is_ready(p)))
        status = {k: v for k, v in status.items() if v or k in ("startTime",)}
        if status != job.get("status"):
            latest = self.cluster.store.get(JOBS.key, meta["namespace"], meta["name"])
            if latest is not None:
                self.cluster.put(JOBS, {**copy.deepcopy(latest), "status": status})
        return self._ttl(job, status, now) if spec.get("ttlSecondsAfterFinished") is not None else \
            (_seconds(status.get("startTime")) or now) + spec["activeDeadlineSeconds"] \
            if spec.get("activeDeadlineSeconds") is not None and not finished else None

    def _ttl(self, job: dict, status: dict, now: float) -> float | None:
        done = next((c for c in status.get("conditions") or [] if c.get("type") in ("Complete", "Failed")
                     and c.get("status") == "True"), None)
        if done is None:
            return None
        expires = (_seconds(done.get("lastTransitionTime")) or now) + job["spec"]["ttlSecondsAfterFinished"]
        if now >= expires:
            meta = job["metadata"]
            self.cluster.delete(JOBS, meta["namespace"], meta["name"], "Background")
            return None
        return expires

    def _generate_selector(self, job: dict) -> None:
        fixed = copy.deepcopy(job)
        uid, name = fixed["metadata"]["uid"], fixed["metadata"]["name"]
        labels = {"controller-uid": uid, "job-name": name}
        fixed["spec"]["selector"] = {"matchLabels": {"controller-uid": uid}}
        template_meta = fixed["spec"].setdefault("template", {}).setdefault("metadata", {})
        template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}
        self.cluster.put(JOBS, fixed)

    def _create(self, job: dict) -> dict:
        template = job["spec"].get("template") or {}
        meta = copy.deepcopy(template.get("metadata") or {})
        meta.pop("creationTimestamp", None)
        name = f"{job['metadata']['name']}-{suffix()}"
        meta.update(name=name, generateName=f"{job['metadata']['name']}-", namespace=job["metadata"]["namespace"],
                    ownerReferences=[owner_ref(job)])
        pod = self.cluster.create(PODS, job["metadata"]["namespace"], {
            "apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(template.get("spec") or {}),
            "status": {"phase": "Pending"}}, internal=True)
        self.cluster.recorder.record(job, "Normal", "SuccessfulCreate", f"Created pod: {name}",
                                     component="job-controller")
        return pod
