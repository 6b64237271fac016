"""Failure paths with real processes: a program that exits (CrashLoopBackOff, BackOff event, its
last log lines through the log subresource), a missing config key, a PV whose directory is not
there, and the clean-up guarantees (SIGTERM of the emulator; leftovers of a SIGKILLed one)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from harborlab import procs
from harborlab.podrunner import stop_leftovers
from harborlab.ui.fixtures import require_lab

from .conftest import pod_processes, start_emulator, stop_emulator, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.slow]
NS = "trouble"
REGISTRY = "vmware/registry:2.6.2-photon"

BROKEN_CONFIG = """\
version: 0.1
storage:
  nosuchdriver:
    rootdirectory: /storage
http:
  addr: :5000
"""
GOOD_CONFIG = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: /storage
http:
  addr: :5000
"""


def registry_deployment(name: str, config_map: str, extra_env: list | None = None, volumes: list | None = None,
                        mounts: list | None = None) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "containers": [{"name": "registry", "image": REGISTRY, "env": extra_env or [],
                                         "ports": [{"containerPort": 5000}],
                                         "volumeMounts": [{"name": "config", "mountPath": "/etc/registry"},
                                                          *(mounts or [])]}],
                         "volumes": [{"name": "config", "configMap": {"name": config_map}}, *(volumes or [])]}}}}


@pytest.fixture
def emulator(tmp_path):
    require_lab()
    tmp_path.chmod(0o755)
    (tmp_path / "cephfs").mkdir()
    emu = start_emulator(tmp_path / "state", tmp_path / "cephfs", backoff=1.0)
    try:
        emu.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        yield emu
    finally:
        stop_emulator(emu.proc)


def pod_of(emu, app: str) -> dict | None:
    pods = emu.kube.list("v1", "Pod", NS, label_selector=f"app={app}")
    return pods[0] if pods else None


def container_status(pod: dict | None) -> dict:
    return (((pod or {}).get("status") or {}).get("containerStatuses") or [{}])[0]


def events_of(emu, pod: dict, reason: str) -> list[dict]:
    return [e for e in emu.kube.events(NS) if e["involvedObject"]["name"] == pod["metadata"]["name"]
            and e["reason"] == reason]


def config_map(name: str, text: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS},
            "data": {"config.yml": text}}


def test_a_program_that_exits_goes_crashloopbackoff_with_its_log(emulator):
    emulator.kube.apply(config_map("broken", BROKEN_CONFIG))
    emulator.kube.apply(registry_deployment("broken", "broken"))

    def looping():
        status = container_status(pod_of(emulator, "broken"))
        waiting = (status.get("state") or {}).get("waiting") or {}
        return status if waiting.get("reason") == "CrashLoopBackOff" and status.get("restartCount", 0) >= 1 else None

    status = wait_until(looping, 30, "CrashLoopBackOff", emulator.log)
    assert status["lastState"]["terminated"]["exitCode"] != 0
    assert status["ready"] is False
    pod = pod_of(emulator, "broken")
    assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"].startswith("127.77.")
    backoff = events_of(emulator, pod, "BackOff")
    assert backoff and "Back-off restarting failed container registry" in backoff[0]["message"]
    # The tail first: the program restarts meanwhile and the full log can only have grown.
    tail = emulator.kube.core.read_namespaced_pod_log(pod["metadata"]["name"], NS, tail_lines=5)
    full = emulator.kube.core.read_namespaced_pod_log(pod["metadata"]["name"], NS)
    assert "nosuchdriver" in full          # distribution panics naming the unknown driver
    assert len(tail.splitlines()) == 5 and tail in full and len(full.splitlines()) > 5


def test_the_same_deployment_with_a_good_config_runs_ready(emulator):
    emulator.kube.apply(config_map("good", GOOD_CONFIG))
    emulator.kube.apply(registry_deployment("good", "good", volumes=[{"name": "storage", "emptyDir": {}}],
                                            mounts=[{"name": "storage", "mountPath": "/storage"}]))
    status = wait_until(lambda: (container_status(pod_of(emulator, "good")) or {}).get("ready") and
                        container_status(pod_of(emulator, "good")), 30, "a ready registry", emulator.log)
    assert status["restartCount"] == 0 and "running" in status["state"]
    pod = pod_of(emulator, "good")
    assert not events_of(emulator, pod, "BackOff")


def test_a_missing_secret_key_is_createcontainerconfigerror(emulator):
    emulator.kube.apply(config_map("good", GOOD_CONFIG))
    emulator.kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": NS},
                         "data": {"other": "eA=="}})
    env = [{"name": "REGISTRY_HTTP_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "missing"}}}]
    emulator.kube.apply(registry_deployment("nokey", "good", extra_env=env))
    status = wait_until(lambda: ((container_status(pod_of(emulator, "nokey")).get("state") or {}).get("waiting")
                                 or {}).get("reason") == "CreateContainerConfigError"
                        and container_status(pod_of(emulator, "nokey")), 20, "CreateContainerConfigError",
                        emulator.log)
    assert status["state"]["waiting"]["message"] == f"couldn't find key missing in Secret {NS}/s"
    assert pod_processes(emulator.state) == []


def test_a_pv_without_its_cephfs_directory_fails_to_mount(emulator):
    emulator.kube.apply(config_map("good", GOOD_CONFIG))
    emulator.kube.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "nodir", "labels": {"t": "nodir"}},
                         "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                                  "storageClassName": "", "cephfs": {"monitors": ["127.0.0.1:1"], "path": "/absent/dir"}}})
    emulator.kube.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "nodir", "namespace": NS},
                         "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "",
                                  "selector": {"matchLabels": {"t": "nodir"}}, "resources": {"requests": {"storage": "1Gi"}}}})
    emulator.kube.apply(registry_deployment("nodir", "good",
                                            volumes=[{"name": "storage", "persistentVolumeClaim": {"claimName": "nodir"}}],
                                            mounts=[{"name": "storage", "mountPath": "/storage"}]))
    pod = wait_until(lambda: (p := pod_of(emulator, "nodir")) and events_of(emulator, p, "FailedMount") and p,
                     20, "FailedMount", emulator.log)
    message = events_of(emulator, pod, "FailedMount")[0]["message"]
    assert "absent/dir: no such directory" in message
    assert pod["status"]["phase"] == "Pending"

    (emulator.cephfs / "absent" / "dir").mkdir(parents=True)   # the operator creates it: the pod starts
    wait_until(lambda: container_status(pod_of(emulator, "nodir")).get("ready"), 30, "ready after mkdir",
               emulator.log)


def running_registry(emu) -> list[int]:
    emu.kube.apply(config_map("good", GOOD_CONFIG))
    emu.kube.apply(registry_deployment("good", "good", volumes=[{"name": "storage", "emptyDir": {}}],
                                       mounts=[{"name": "storage", "mountPath": "/storage"}]))
    wait_until(lambda: container_status(pod_of(emu, "good")).get("ready"), 30, "a ready registry", emu.log)
    return pod_processes(emu.state)


def test_stopping_the_emulator_stops_every_program(emulator):
    pids = running_registry(emulator)
    ip = pod_of(emulator, "good")["status"]["podIP"]
    assert len(pids) == 1
    stop_emulator(emulator.proc)
    assert not any(procs.alive(pid) for pid in pids)
    assert not [item for item in procs.listeners() if item.host == ip]


def test_leftovers_of_a_killed_emulator_are_stopped_by_pid(emulator):
    pids = running_registry(emulator)
    os.kill(emulator.proc.pid, signal.SIGKILL)       # no atexit: the program survives
    emulator.proc.wait(5)
    assert all(procs.alive(pid) for pid in pids)
    assert stop_leftovers(emulator.state) == pids    # what `lab down` runs after the emulator
    deadline = time.monotonic() + 20  # a poll: returns once they are gone (under load a stop takes longer)
    while any(procs.alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(procs.alive(pid) for pid in pids)
    assert stop_leftovers(emulator.state) == []


def test_restart_policy_never_leaves_the_pod_failed(emulator):
    emulator.kube.apply(config_map("broken", BROKEN_CONFIG))
    template = registry_deployment("once", "broken")["spec"]["template"]
    emulator.kube.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "once", "namespace": NS,
                                                                        "labels": {"app": "once"}},
                         "spec": {**template["spec"], "restartPolicy": "Never"}})
    pod = wait_until(lambda: (p := pod_of(emulator, "once")) and p["status"].get("phase") == "Failed" and p,
                     30, "a Failed pod", emulator.log)
    status = container_status(pod)
    assert status["state"]["terminated"]["exitCode"] != 0 and status["restartCount"] == 0
    assert not events_of(emulator, pod, "BackOff")
    assert pod_processes(emulator.state) == []


def test_readiness_follows_the_health_check(emulator):
    """A program that stops answering (SIGSTOP) turns the pod not Ready, with an Unhealthy
    event, and Ready again when it answers (SIGCONT); it is never restarted for it."""
    [pid] = running_registry(emulator)
    pod = pod_of(emulator, "good")
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: container_status(pod_of(emulator, "good")).get("ready") is False, 30,
                   "not Ready while the program does not answer", emulator.log)
        assert events_of(emulator, pod, "Unhealthy")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: container_status(pod_of(emulator, "good")).get("ready"), 30, "Ready again", emulator.log)
    assert container_status(pod_of(emulator, "good"))["restartCount"] == 0
    assert pod_processes(emulator.state) == [pid]
