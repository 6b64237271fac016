"""CronJobs (issue 15): the cron parser (robfig/cron v3 ParseStandard) and the cronjob controller
(cronjob_controllerv2.go) driven by an injected clock in-process (no root, no waiting for minutes),
plus one run through the server with the official client."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from kubernetes import client

from harborlab.kube import cron
from harborlab.kube.cluster import Cluster
from harborlab.kube.controllers.cronjobs import CronJobController, job_name
from harborlab.kube.profiles import profile
from harborlab.kube.resources import by_key
from harborlab.kube.status import ApiError

NAMESPACES, CRONJOBS, JOBS, EVENTS = (by_key("/namespaces"), by_key("batch/cronjobs"), by_key("batch/jobs"),
                                      by_key("/events"))
UTC = timezone.utc


def at(text: str, zone=UTC) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


# -- the parser --------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec,after,expected", [
    ("* * * * *", "2026-01-01T10:00:30", "2026-01-01T10:01:00"),
    ("*/15 * * * *", "2026-01-01T10:01:00", "2026-01-01T10:15:00"),
    ("5/20 * * * *", "2026-01-01T10:26:00", "2026-01-01T10:45:00"),           # N/step = N-59/step
    ("0 9-17/4 * * MON-FRI", "2026-01-02T17:00:00", "2026-01-05T09:00:00"),  # Friday -> Monday
    ("0 0 1,15 * *", "2026-02-01T00:00:00", "2026-02-15T00:00:00"),
    ("0 0 13 * 5", "2026-01-01T00:00:00", "2026-01-02T00:00:00"),            # dom OR dow: Friday the 2nd
    ("0 0 * * 5", "2026-01-01T00:00:00", "2026-01-02T00:00:00"),
    ("0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),            # leap day
    ("@hourly", "2026-01-01T10:00:00", "2026-01-01T11:00:00"),
    ("@weekly", "2026-01-01T00:00:00", "2026-01-04T00:00:00"),               # Sunday
    ("@every 90s", "2026-01-01T10:00:00", "2026-01-01T10:01:30"),
    ("0 12 * jan,DEC ?", "2026-02-01T00:00:00", "2026-12-01T12:00:00"),
])
def test_next_activation(spec, after, expected):
    assert cron.parse(spec).next_after(at(after)) == at(expected)


@pytest.mark.parametrize("spec,message", [
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("5-2 * * * *", "beginning of range (5) beyond end of range (2): 5-2"),
    ("x * * * *", 'failed to parse int from x'),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("", "empty spec string"),
])
def test_bad_schedules_are_refused_with_robfigs_message(spec, message):
    with pytest.raises(cron.CronError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)").replace("*", r"\*")):
        cron.parse(spec)


def test_a_time_zone_moves_the_activation():
    paris = cron.zone("Europe/Paris")
    fired = cron.parse("0 6 * * *").next_after(datetime(2026, 1, 1, 0, 0, tzinfo=UTC).astimezone(paris))
    assert fired.astimezone(UTC) == at("2026-01-01T05:00:00")


# -- the controller, on an injected clock ------------------------------------------------------------
class Clock:
    def __init__(self, start: str):
        self.now = at(start).timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(spec: dict, version: str = "modern", start: str = "2026-01-01T10:00:10"):
    clock = Clock(start)
    cluster = Cluster(profile(version), clock=clock)
    cluster.create(NAMESPACES, "", {"metadata": {"name": "default"}}, internal=True)
    controller = CronJobController(cluster)
    cluster.create(CRONJOBS, "default", {"metadata": {"name": "tick"}, "spec": {
        "jobTemplate": {"metadata": {"labels": {"app": "tick"}}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}, **spec}})
    return cluster, clock, controller


def jobs(cluster) -> list[dict]:
    return sorted(cluster.store.list(JOBS.key), key=lambda j: j["metadata"]["name"])


def cronjob(cluster) -> dict:
    return cluster.store.get(CRONJOBS.key, "default", "tick")


def finish(cluster, job: dict, outcome: str, clock: Clock) -> None:
    stamp = datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {"startTime": job["metadata"]["creationTimestamp"],
              "conditions": [{"type": outcome, "status": "True", "lastTransitionTime": stamp}]}
    if outcome == "Complete":
        status["completionTime"] = stamp
    cluster.put(JOBS, {**job, "status": status})


def reasons(cluster) -> list[str]:
    return [e["reason"] for e in cluster.store.list(EVENTS.key)]


def test_every_minute_makes_one_job_per_activation_named_by_its_minute():
    cluster, clock, controller = make({"schedule": "* * * * *"})
    wake = controller.sync(clock())
    assert jobs(cluster) == [] and wake == at("2026-01-01T10:01:00").timestamp()
    clock.advance(55)                                   # 10:01:05
    controller.sync(clock())
    controller.sync(clock())                            # the same activation is not started twice
    made = jobs(cluster)
    assert [j["metadata"]["name"] for j in made] == [job_name("tick", at("2026-01-01T10:01:00"))] == \
        [f"tick-{int(at('2026-01-01T10:01:00').timestamp()) // 60}"]
    job = made[0]
    assert job["metadata"]["labels"] == {"app": "tick"}
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2026-01-01T10:01:00Z"
    status = cronjob(cluster)["status"]
    assert status["lastScheduleTime"] == "2026-01-01T10:01:00Z"
    assert [ref["name"] for ref in status["active"]] == [job["metadata"]["name"]]
    assert "SuccessfulCreate" in reasons(cluster)


def test_the_article_server_writes_no_scheduled_timestamp_annotation():
    cluster, clock, controller = make({"schedule": "* * * * *"}, version="article")
    clock.advance(60)
    controller.sync(clock())
    assert "annotations" not in jobs(cluster)[0]["metadata"]


def test_forbid_skips_while_a_job_runs_and_allow_does_not():
    for policy, expected in (("Forbid", 1), ("Allow", 2)):
        cluster, clock, controller = make({"schedule": "* * * * *", "concurrencyPolicy": policy})
        clock.advance(60)
        controller.sync(clock())
        clock.advance(60)
        controller.sync(clock())
        assert len(jobs(cluster)) == expected, policy
    assert "JobAlreadyActive" not in reasons(cluster)


def test_replace_deletes_the_running_job():
    cluster, clock, controller = make({"schedule": "* * * * *", "concurrencyPolicy": "Replace"})
    clock.advance(60)
    controller.sync(clock())
    first = jobs(cluster)[0]["metadata"]["name"]
    clock.advance(60)
    controller.sync(clock())
    names = [j["metadata"]["name"] for j in jobs(cluster) if not j["metadata"].get("deletionTimestamp")]
    assert first not in names and len(names) == 1
    assert "SuccessfulDelete" in reasons(cluster)


def test_suspend_starts_nothing_until_resumed():
    cluster, clock, controller = make({"schedule": "* * * * *", "suspend": True})
    clock.advance(120)
    controller.sync(clock())
    assert jobs(cluster) == []
    cluster.put(CRONJOBS, {**cronjob(cluster), "spec": {**cronjob(cluster)["spec"], "suspend": False}})
    controller.sync(clock())
    assert len(jobs(cluster)) == 1          # the most recent missed activation only


def test_finished_jobs_leave_active_and_history_limits_apply():
    cluster, clock, controller = make({"schedule": "* * * * *", "successfulJobsHistoryLimit": 2,
                                       "failedJobsHistoryLimit": 1})
    for minute in range(4):
        clock.advance(60)
        controller.sync(clock())
        for job in jobs(cluster):
            if "status" not in job or not job["status"].get("conditions"):
                finish(cluster, job, "Complete", clock)
        controller.sync(clock())
    left = jobs(cluster)
    assert len(left) == 2, [j["metadata"]["name"] for j in left]                 # the two latest kept
    assert left[-1]["metadata"]["name"] == job_name("tick", at("2026-01-01T10:04:00"))
    status = cronjob(cluster)["status"]
    assert "active" not in status and status["lastSuccessfulTime"]
    assert "SawCompletedJob" in reasons(cluster)
    clock.advance(60)
    controller.sync(clock())
    for _ in range(2):
        failing = [j for j in jobs(cluster) if not (j.get("status") or {}).get("conditions")]
        for job in failing:
            finish(cluster, job, "Failed", clock)
        clock.advance(60)
        controller.sync(clock())
    failed = [j for j in jobs(cluster) if (j.get("status") or {}).get("conditions", [{}])[0].get("type") == "Failed"]
    assert len(failed) == 1


def test_starting_deadline_missed_is_reported_not_started():
    cluster, clock, controller = make({"schedule": "0 * * * *", "startingDeadlineSeconds": 30})
    clock.advance(3600)                      # 11:00:10 - the 11:00 activation is 10 s late: started
    controller.sync(clock())
    assert len(jobs(cluster)) == 1
    clock.advance(3600 + 50)                 # 12:01:00 - 60 s late: missed
    controller.sync(clock())
    assert len(jobs(cluster)) == 1


def test_a_missing_active_job_is_dropped():
    cluster, clock, controller = make({"schedule": "* * * * *"})
    clock.advance(60)
    controller.sync(clock())
    job = jobs(cluster)[0]
    cluster.store.delete(JOBS.key, "default", job["metadata"]["name"])
    controller.sync(clock())
    assert "active" not in cronjob(cluster)["status"] and "MissingJob" in reasons(cluster)


@pytest.mark.parametrize("version,schedule,message", [
    ("modern", "every minute", 'spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2'),
    ("modern", "CRON_TZ=UTC * * * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
    ("article", "61 * * * *", "end of range (61) above maximum (59): 61"),
])
def test_the_apiserver_refuses_a_bad_schedule(version, schedule, message):
    cluster = Cluster(profile(version))
    cluster.create(NAMESPACES, "", {"metadata": {"name": "default"}}, internal=True)
    from harborlab.kube.controllers.registry import build_controllers
    build_controllers(cluster)
    with pytest.raises(ApiError) as err:
        cluster.create(CRONJOBS, "default", {"metadata": {"name": "bad"}, "spec": {
            "schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}})
    assert err.value.code == 422 and message in err.value.message
    assert err.value.message.startswith('CronJob.batch "bad" is invalid: spec.schedule: Invalid value: ')


@pytest.mark.emulator
def test_a_cronjob_fires_through_the_server(kube_server, wait):
    api = kube_server.api()
    batch = client.BatchV1Api(api)
    batch.create_namespaced_cron_job("default", {"metadata": {"name": "every2s"}, "spec": {
        "schedule": "@every 2s", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}}}})
    try:
        made = wait(lambda: [j for j in batch.list_namespaced_job("default").items
                             if j.metadata.owner_references and j.metadata.owner_references[0].name == "every2s"],
                    timeout=8, what="a Job from the CronJob")
        assert made[0].metadata.name.startswith("every2s-")
        cj = batch.read_namespaced_cron_job("every2s", "default")
        assert cj.status.last_schedule_time is not None and cj.spec.successful_jobs_history_limit == 3
    finally:
        batch.delete_namespaced_cron_job("every2s", "default", propagation_policy="Background")
        api.close()
