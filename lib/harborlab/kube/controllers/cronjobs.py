"""CronJobs (batch/v1), as kube-controller-manager's cronjob controller (v2, cronjob_controllerv2.go
and utils.go) runs them:

* finished Jobs leave ``status.active`` (event ``SawCompletedJob``), a vanished one too
  (``MissingJob``); ``lastSuccessfulTime`` is the latest completion;
* nothing new while the CronJob is suspended or being deleted;
* the most recent unmet activation of the schedule (:mod:`..cron`, in ``spec.timeZone`` or
  UTC) after ``lastScheduleTime`` (or the creation time; not before now -
  ``startingDeadlineSeconds``) is started, unless it is later than its deadline
  (``MissSchedule``), already started, or ``Forbid`` sees an active Job (``JobAlreadyActive``);
  ``Replace`` deletes the active Jobs first (``SuccessfulDelete``); more than 100 missed
  activations get a ``TooManyMissedTimes`` warning;
* the Job is ``<cronjob>-<scheduled unix time in minutes>``, labels and annotations from
  ``jobTemplate`` (plus ``batch.kubernetes.io/cronjob-scheduled-timestamp`` from 1.28), owned by
  the CronJob (``SuccessfulCreate``);
* finished Jobs beyond ``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit`` (defaults 3
  and 1) are deleted, oldest start first.

The controller wakes at the next activation; ``now`` comes from the cluster's clock, so a test
drives it with its own.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone

from ..cluster import Cluster
from ..resources import by_key
from .. import cron
from .common import controlled_by, owner_ref
from .jobs import JOBS, _seconds

CRONJOBS = by_key("batch/cronjobs")
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
SCHEDULED_ANNOTATION_SINCE = (1, 28)     # CronJobsScheduledAnnotation: beta, on by default
TOO_MANY_MISSED = 100
MISSED_SCAN_LIMIT = 100_000              # an every-minute schedule missed for ~70 days


def finished(job: dict) -> str | None:
    """"Complete" or "Failed" when the Job has that condition True."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return cond["type"]
    return None


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_name(cronjob: str, scheduled: datetime) -> str:
    # utils.go getJobName: the scheduled time in minutes since the epoch (stable across restarts).
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


def most_recent(schedule: cron.Schedule, earliest: datetime, now: datetime) -> tuple[datetime | None, int]:
    """The latest activation in (earliest, now], and how many there were."""
    latest, count, moment = None, 0, earliest
    while count < MISSED_SCAN_LIMIT:
        upcoming = schedule.next_after(moment)
        if upcoming is None or upcoming > now:
            break
        latest, count, moment = upcoming, count + 1, upcoming
    return latest, count


class CronJobController:
    name = "cronjobs"
    watches = frozenset({CRONJOBS.key, JOBS.key})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    def sync(self, now: float) -> float | None:
        jobs = self.cluster.store.list(JOBS.key)
        wakes = [w for cj in self.cluster.store.list(CRONJOBS.key) if (w := self._sync_one(cj, jobs, now)) is not None]
        return min(wakes, default=None)

    # -- one CronJob --------------------------------------------------------------------------
    def _sync_one(self, cj: dict, all_jobs: list[dict], now: float) -> float | None:
        meta, spec = cj["metadata"], cj.get("spec") or {}
        status = copy.deepcopy(cj.get("status") or {})
        mine = [j for j in all_jobs if j["metadata"]["namespace"] == meta["namespace"] and controlled_by(j, meta["uid"])]
        self._account(cj, status, mine)
        wake = None
        if not meta.get("deletionTimestamp") and not spec.get("suspend"):
            wake = self._schedule(cj, status, now)
        self._cleanup(cj, status, mine)
        self._write_status(cj, status)
        return wake

    def _account(self, cj: dict, status: dict, mine: list[dict]) -> None:
        active = status.get("active") or []
        uids = {j["metadata"]["uid"] for j in mine}
        active_uids = {ref.get("uid") for ref in active}
        for job in mine:
            outcome = finished(job)
            if outcome and job["metadata"]["uid"] in active_uids:
                active = [ref for ref in active if ref.get("uid") != job["metadata"]["uid"]]
                self._event(cj, "Normal", "SawCompletedJob",
                            f"Saw completed job: {job['metadata']['name']}, status: {outcome}")
            elif not outcome and job["metadata"]["uid"] not in active_uids:
                self._event(cj, "Warning", "UnexpectedJob",
                            f"Saw a job that the controller did not create or forgot: {job['metadata']['name']}")
            if outcome == "Complete":
                done = (job.get("status") or {}).get("completionTime")
                if done and (not status.get("lastSuccessfulTime") or
                             (_seconds(done) or 0) > (_seconds(status["lastSuccessfulTime"]) or 0)):
                    status["lastSuccessfulTime"] = done
        for ref in list(active):
            if ref.get("uid") not in uids:
                active.remove(ref)
                self._event(cj, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
        status["active"] = active

    def _schedule(self, cj: dict, status: dict, now: float) -> float | None:
        meta, spec = cj["metadata"], cj["spec"]
        prefix_zone, text = cron.split_tz(spec.get("schedule", ""))
        try:
            zone = cron.zone(spec.get("timeZone") or prefix_zone)
        except cron.CronError:
            self._event(cj, "Warning", "UnknownTimeZone", f"invalid timeZone: {spec.get('timeZone')!r}: "
                        f"unknown time zone {spec.get('timeZone')}")
            return None
        try:
            schedule = cron.parse(text)
        except cron.CronError as exc:
            self._event(cj, "Warning", "UnparseableSchedule", f'unparseable schedule: "{spec.get("schedule")}" : {exc}')
            return None
        current = datetime.fromtimestamp(now, zone)
        earliest = _seconds(status.get("lastScheduleTime")) or _seconds(meta.get("creationTimestamp")) or now
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - deadline)
        scheduled, missed = most_recent(schedule, datetime.fromtimestamp(earliest, zone), current)
        following = schedule.next_after(max(current, scheduled or current))
        wake = following.timestamp() if following else None
        if scheduled is None:
            return wake
        if missed > TOO_MANY_MISSED:
            self._event(cj, "Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease "
                        ".spec.startingDeadlineSeconds or check clock skew")
        if deadline is not None and scheduled.timestamp() + deadline < now:
            self._event(cj, "Warning", "MissSchedule", "Missed scheduled time to start a job: "
                        + scheduled.astimezone(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000"))
            return wake
        name = job_name(meta["name"], scheduled)
        if any(ref.get("name") == name for ref in status["active"]) or \
                status.get("lastScheduleTime") == rfc3339(scheduled):
            return wake
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and status["active"]:
            self._event(cj, "Normal", "JobAlreadyActive",
                        "Not starting job because prior execution is running and concurrency policy is Forbid")
            return wake
        if policy == "Replace":
            for ref in list(status["active"]):
                self._delete_job(cj, meta["namespace"], ref["name"])
                status["active"].remove(ref)
        job = self._create_job(cj, name, scheduled)
        if job is None:
            return wake
        status["active"].append({"kind": "Job", "namespace": meta["namespace"], "name": job["metadata"]["name"],
                                 "uid": job["metadata"]["uid"], "apiVersion": "batch/v1",
                                 "resourceVersion": job["metadata"].get("resourceVersion")})
        status["lastScheduleTime"] = rfc3339(scheduled)
        return wake

    def _create_job(self, cj: dict, name: str, scheduled: datetime) -> dict | None:
        template = (cj["spec"].get("jobTemplate") or {})
        tmeta = template.get("metadata") or {}
        annotations = dict(tmeta.get("annotations") or {})
        if self.cluster.profile.minor >= SCHEDULED_ANNOTATION_SINCE:
            annotations[SCHEDULED_ANNOTATION] = scheduled.isoformat().replace("+00:00", "Z")
        meta = {"name": name, "namespace": cj["metadata"]["namespace"], "ownerReferences": [owner_ref(cj)]}
        if tmeta.get("labels"):
            meta["labels"] = dict(tmeta["labels"])
        if annotations:
            meta["annotations"] = annotations
        if self.cluster.store.get(JOBS.key, meta["namespace"], name) is not None:
            return None     # AlreadyExists: another actor made it and accounts for it
        try:
            job = self.cluster.create(JOBS, meta["namespace"], {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                                                                "spec": copy.deepcopy(template.get("spec") or {})},
                                      internal=True)
        except Exception as exc:    # e.g. the namespace is terminating
            self._event(cj, "Warning", "FailedCreate", f"Error creating job: {getattr(exc, 'message', exc)}")
            return None
        self._event(cj, "Normal", "SuccessfulCreate", f"Created job {name}")
        return job

    def _delete_job(self, cj: dict, namespace: str, name: str) -> None:
        if self.cluster.store.get(JOBS.key, namespace, name) is None:
            return
        self.cluster.delete(JOBS, namespace, name, "Background")
        self._event(cj, "Normal", "SuccessfulDelete", f"Deleted job {name}")

    def _cleanup(self, cj: dict, status: dict, mine: list[dict]) -> None:
        spec = cj["spec"]
        for outcome, key in (("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit")):
            limit = spec.get(key)
            if limit is None:
                continue
            done = [j for j in mine if finished(j) == outcome and
                    self.cluster.store.get(JOBS.key, j["metadata"]["namespace"], j["metadata"]["name"]) is not None]
            # byJobStartTime: no start time sorts last, ties by name.
            done.sort(key=lambda j: (not (j.get("status") or {}).get("startTime"),
                                     _seconds((j.get("status") or {}).get("startTime")) or 0, j["metadata"]["name"]))
            for job in done[:max(len(done) - limit, 0)]:
                self._delete_job(cj, job["metadata"]["namespace"], job["metadata"]["name"])
                status["active"] = [r for r in status["active"] if r.get("uid") != job["metadata"]["uid"]]

    def _write_status(self, cj: dict, status: dict) -> None:
        if not status.get("active"):
            status.pop("active", None)
        if status == (cj.get("status") or {}):
            return
        latest = self.cluster.store.get(CRONJOBS.key, cj["metadata"]["namespace"], cj["metadata"]["name"])
        if latest is not None and latest["metadata"]["uid"] == cj["metadata"]["uid"]:
            self.cluster.put(CRONJOBS, {**copy.deepcopy(latest), "status": status})

    def _event(self, cj: dict, kind: str, reason: str, message: str) -> None:
        self.cluster.recorder.record(cj, kind, reason, message, component="cronjob-controller")


def admit_cronjob(cluster: Cluster, old: dict | None, obj: dict, dry_run: bool) -> None:
    """The apiserver's schedule and time zone validation (ValidateCronJobSpec)."""
    from ..status import cause, invalid
    spec = obj.get("spec") or {}
    schedule = spec.get("schedule")
    name = obj["metadata"].get("name", "")
    if not isinstance(schedule, str):
        return    # the schema reports a missing schedule
    problems = []
    if cluster.profile.minor >= (1, 27) and "TZ" in schedule:
        problems.append(cause("spec.schedule", f'Invalid value: "{schedule}": cannot use TZ or CRON_TZ in schedule, '
                              "use timeZone field instead"))
    else:
        try:
            cron.parse(schedule)
        except cron.CronError as exc:
            problems.append(cause("spec.schedule", f'Invalid value: "{schedule}": {exc}'))
    if spec.get("timeZone"):
        try:
            cron.zone(spec["timeZone"])
        except cron.CronError:
            problems.append(cause("spec.timeZone", f'Invalid value: "{spec["timeZone"]}": unknown time zone '
                                  f'{spec["timeZone"]}'))
    if problems:
        raise invalid(CRONJOBS, name, problems)


__all__ = ["CronJobController", "admit_cronjob", "job_name", "most_recent"]
