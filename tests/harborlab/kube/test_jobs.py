"""Jobs: generated selector, parallelism and completions counted from pods the node reports
finished, backoffLimit, TTL after finished."""

from __future__ import annotations

import pytest
from kubernetes import client

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


def _job(name: str, **spec) -> dict:
    return {"metadata": {"name": name}, "spec": {**spec, "template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}


def _finish(core, namespace: str, pod, phase: str) -> None:
    """What the kubelet reports when the container exits."""
    pod.status.phase = phase
    core.replace_namespaced_pod_status(pod.metadata.name, namespace, pod)


def _active(core, namespace: str, name: str):
    return [p for p in core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
            if p.status.phase in ("Pending", "Running") and not p.metadata.deletion_timestamp]


def test_completions_one_at_a_time_then_ttl(core, namespace, wait):
    batch = client.BatchV1Api(core.api_client)
    batch.create_namespaced_job(namespace, _job("twice", completions=2, parallelism=1, ttlSecondsAfterFinished=1))
    job = wait(lambda: (j := batch.read_namespaced_job("twice", namespace)).spec.selector and j, what="selector")
    assert job.spec.selector.match_labels == {"controller-uid": job.metadata.uid}
    for round_ in range(2):
        pods = wait(lambda: (p := _active(core, namespace, "twice")) and p[0].status.phase == "Running" and p,
                    what=f"pod {round_}")
        assert len(pods) == 1
        _finish(core, namespace, pods[0], "Succeeded")
    done = wait(lambda: (j := batch.read_namespaced_job("twice", namespace)).status.completion_time and j,
                what="complete")
    assert done.status.succeeded == 2 and any(c.type == "Complete" for c in done.status.conditions)

    def gone():
        try:
            batch.read_namespaced_job("twice", namespace)
        except client.ApiException as exc:
            return exc.status == 404
        return False
    wait(gone, what="deleted by its TTL")


def test_backoff_limit_fails_the_job(core, namespace, wait):
    batch = client.BatchV1Api(core.api_client)
    batch.create_namespaced_job(namespace, _job("flaky", backoffLimit=0))
    pod = wait(lambda: (p := _active(core, namespace, "flaky")) and p[0].status.phase == "Running" and p[0],
               what="pod")
    _finish(core, namespace, pod, "Failed")
    failed = wait(lambda: (j := batch.read_namespaced_job("flaky", namespace)).status.conditions and j, what="failed")
    condition = failed.status.conditions[0]
    assert (condition.type, condition.reason) == ("Failed", "BackoffLimitExceeded")
    assert _active(core, namespace, "flaky") == []
