"""05-verify: each check on its pass and its fail path, without the lab.

Through a fake Harbor front on loopback (UI page, /login, the token service, an in-memory V2
registry; tests/harborbook/steps/fakes.py) that can misbehave like a broken deployment, a fake
Redis, local files for the shared storage, and the API emulator (the ``kube`` fixture) for the
pod checks. test_verify_http.py covers the realm, the unreachable front and Redis down; the lab
runs (tests/procedure, tests/harborbook/registry) cover the same checks against real processes.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest

from harborbook.params.models import Harbor, Redis, Storage, Verify
from harborbook.registry import build_image
from harborbook.runbook import Status
from harborbook.steps import verify

PASSWORD = "Harbor-Test-5678"
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def rows(result) -> dict[str, dict]:
    return {row["check"]: row for row in result.data["checks"]}


@pytest.fixture
def front(fake_front, monkeypatch):
    """``front(**misbehaviour)`` -> (Harbor params pointing at a fake front, its state)."""
    monkeypatch.setenv("HB_TEST_ADMIN", PASSWORD)

    def start(**options):
        hostname, state = fake_front(password=PASSWORD, **options)
        return Harbor(hostname=hostname, admin_password="env:HB_TEST_ADMIN"), state
    return start


def redis_for(server) -> Redis:
    return Redis(host="127.0.0.1", port=server.port, db=11)


# ------------------------------------------------------------------ endpoints


def test_endpoints_pass_on_a_sound_front(front):
    harbor, _ = front()
    result = verify.endpoints(harbor)
    assert result.status is Status.OK and rows(result)["UI page"]["detail"].endswith("-> 200 (HTML)")


def test_endpoints_ui_page_missing_fails(front):
    harbor, _ = front(ui_page=False)
    found = rows(verify.endpoints(harbor))
    assert found["UI page"]["status"] == "failed" and found["UI page"]["detail"].endswith("-> 404")
    assert "nginx" in found["UI page"]["hint"] and found["token challenge"]["status"] == "ok"


def test_endpoints_registry_without_token_auth_fails(front):
    harbor, _ = front(token_auth=False)
    found = rows(verify.endpoints(harbor))
    assert found["token challenge"]["status"] == "failed"
    assert found["token challenge"]["detail"] == "GET /v2/ -> 200 without a Bearer challenge"
    assert "/etc/registry" in found["token challenge"]["hint"]


def test_endpoints_wrong_service_fails(front):
    harbor, _ = front(service="docker-registry")
    found = rows(verify.endpoints(harbor))
    assert found["token challenge"]["detail"] == "service docker-registry != harbor-registry"


# ------------------------------------------------------------------ login


def test_login_passes_and_a_wrong_password_is_refused(front):
    harbor, _ = front()
    result = verify.login(harbor)
    assert result.status is Status.OK, result.data["checks"]
    assert rows(result)["wrong password refused"]["detail"] == "the token service answered 401"


def test_login_with_the_wrong_admin_password_fails(front, monkeypatch):
    harbor, _ = front()
    monkeypatch.setenv("HB_TEST_ADMIN", "not-the-password")
    found = rows(verify.login(harbor))
    assert found["login"]["status"] == "failed" and "401" in found["login"]["detail"]
    assert "not-the-password" not in json.dumps(found)


def test_login_fails_when_any_password_is_accepted(front):
    harbor, _ = front(any_password=True)
    found = rows(verify.login(harbor))
    assert found["login"]["status"] == "ok" and found["wrong password refused"]["status"] == "failed"
    assert "db_auth" in found["wrong password refused"]["hint"]


# ------------------------------------------------------------------ push and pull, shared storage


def test_push_pull_passes_and_keeps_the_probe(front):
    harbor, state = front()
    result = verify.push_pull(harbor, Verify(), now=NOW)
    assert result.status is Status.OK, result.data["checks"]
    probe = result.value
    assert probe.repository == "library/harborbook-smoke" and probe.tag == "20260102030405"
    assert state.blobs[probe.image.layer.digest] == probe.image.layer.data


def test_pull_of_other_bytes_fails(front):
    harbor, _ = front(corrupt_blobs=True)
    found = rows(verify.push_pull(harbor, Verify(), now=NOW))
    assert found["push"]["status"] == "ok" and found["pull"]["status"] == "failed"
    assert "shared storage" in found["pull"]["hint"]


def test_push_refused_fails_and_pulls_nothing(front, monkeypatch):
    harbor, _ = front()
    monkeypatch.setenv("HB_TEST_ADMIN", "not-the-password")
    result = verify.push_pull(harbor, Verify(), now=NOW)
    assert result.failed and list(rows(result)) == ["push"]


def test_push_pull_dry_run_pushes_nothing(front):
    harbor, state = front()
    result = verify.push_pull(harbor, Verify(), dry_run=True)
    assert result.status is Status.SKIPPED and state.blobs == {} and result.value.image is None


def probe_with_image() -> verify.Probe:
    return verify.Probe(image=build_image("marker", "2026-01-02T03:04:05Z"), repository="library/x", tag="t")


def storage_at(mount: Path) -> Storage:
    return Storage(monitors=["127.0.0.1:6789"], mount=str(mount), admin_key="env:HB_TEST_CEPH")


def test_shared_storage_passes_when_the_blob_is_on_cephfs(tmp_path, front):
    harbor, _ = front()
    probe = probe_with_image()
    path = verify.blob_path(storage_at(tmp_path), probe.image.layer.digest)
    path.parent.mkdir(parents=True)
    path.write_bytes(probe.image.layer.data)
    result = verify.shared_storage(storage_at(tmp_path), harbor, probe)
    assert result.status is Status.OK and "registry/docker/registry/v2/blobs/sha256/" in result.data["checks"][0]["detail"]


def test_shared_storage_fails_when_the_blob_is_elsewhere(tmp_path, front):
    harbor, _ = front()
    result = verify.shared_storage(storage_at(tmp_path), harbor, probe_with_image())
    assert result.failed and "/etc/registry/config.yml" in result.hint


def test_shared_storage_without_a_push(tmp_path, front):
    harbor, _ = front()
    assert verify.shared_storage(storage_at(tmp_path), harbor, verify.Probe()).status is Status.SKIPPED
    failed_push = verify.Probe(repository="library/x", tag="t")  # a push was tried and failed
    assert verify.shared_storage(storage_at(tmp_path), harbor, failed_push).failed


def test_pull_again_passes_then_fails_when_nothing_was_pushed(front):
    harbor, _ = front()
    pushed = verify.push_pull(harbor, Verify(), now=NOW).value
    assert verify.pull_again(harbor, pushed, "after x").status is Status.OK
    nothing = verify.pull_again(harbor, verify.Probe(), "after x")
    assert nothing.failed and nothing.detail == "nothing was pushed"


# ------------------------------------------------------------------ sessions


def test_sessions_pass_when_shared_through_redis(front, fake_redis):
    redis = fake_redis()
    harbor, _ = front(redis=redis)
    result = verify.sessions(harbor, redis_for(redis), requests=4)
    assert result.status is Status.OK, result.data["checks"]
    assert rows(result)["shared sessions"]["detail"].startswith("4/4 requests")


def test_sessions_kept_per_replica_fail(front, fake_redis):
    redis = fake_redis()
    harbor, _ = front(redis=redis, sessions_shared=False)
    found = rows(verify.sessions(harbor, redis_for(redis), requests=4))
    assert found["shared sessions"]["status"] == "failed" and found["shared sessions"]["detail"] == \
        "only 2/4 requests accepted the session"


def test_sessions_not_in_redis_fail_while_redis_is_up(front, fake_redis):
    redis = fake_redis()
    harbor, _ = front()  # the ui keeps its sessions in memory
    found = rows(verify.sessions(harbor, redis_for(redis), requests=2))
    assert found["Redis reachable"]["status"] == "ok" and found["session in Redis"]["status"] == "failed"
    assert found["session in Redis"]["detail"] == "no session key in Redis db 11"


# ------------------------------------------------------------------ replicas and failover (the emulator)


def namespace_of(kube) -> str:
    name = f"v-{uuid.uuid4().hex[:8]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def deployment(name: str, namespace: str) -> dict:
    labels = {"name": f"{name}-apps"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": "busybox:1.36"}]}}}}


def ready_pods(kube, namespace: str, name: str) -> int:
    from harborbook import conditions
    return sum(conditions.ready(p) for p in kube.list("v1", "Pod", namespace, label_selector=f"name={name}-apps"))


@pytest.mark.emulator
@pytest.mark.slow
def test_replicas_without_a_ready_registry_pod_fail(kube, front):
    harbor, _ = front()
    result = verify.replicas(kube, namespace_of(kube), probe_with_image(), harbor)
    assert result.failed and rows(result)["registry replicas"]["detail"] == "no ready registry pod"
    assert verify.replicas(kube, "any", verify.Probe(), harbor).status is Status.SKIPPED


@pytest.mark.emulator
@pytest.mark.slow
def test_failover_replaces_a_pod_of_each_and_pulls_and_logs_in_again(kube, front, fake_redis):
    redis = fake_redis()
    harbor, _ = front(redis=redis)
    namespace = namespace_of(kube)
    for name in ("registry", "ui", "nginx"):
        kube.apply(deployment(name, namespace))
    import time
    deadline = time.monotonic() + 30
    while not all(ready_pods(kube, namespace, n) == 2 for n in ("registry", "ui", "nginx")):
        assert time.monotonic() < deadline, "the deployments never became ready"
        time.sleep(0.2)
    probe = verify.push_pull(harbor, Verify(), now=NOW).value
    result = verify.failover(kube=kube, namespace=namespace, harbor=harbor, redis_params=redis_for(redis),
                             probe=probe, requests=3, timeout=30)
    found = rows(result)
    assert result.status is Status.OK, result.data["checks"]
    for name in ("registry", "ui", "nginx"):
        assert found[f"{name} failover"]["detail"].startswith("deleted ")
        assert found[f"pull after {name} loss"]["status"] == "ok"
        assert found[f"shared sessions after {name} loss"]["status"] == "ok"


@pytest.mark.emulator
@pytest.mark.slow
def test_failover_without_ready_pods_fails_for_each_component(kube, front, fake_redis):
    redis = fake_redis()
    harbor, _ = front(redis=redis)
    result = verify.failover(kube=kube, namespace=namespace_of(kube), harbor=harbor, redis_params=redis_for(redis),
                             probe=verify.Probe(), requests=3, timeout=5)
    found = rows(result)
    assert result.failed
    assert [found[f"{n} failover"]["detail"] for n in ("registry", "ui", "nginx")] == ["no ready pod to delete"] * 3


def test_failover_dry_run_deletes_nothing():
    result = verify.failover(kube=None, namespace="harbor", harbor=None, redis_params=None, probe=None,
                             requests=3, timeout=1, dry_run=True)
    assert result.status is Status.SKIPPED and "no pod deleted" in result.summary


# ------------------------------------------------------------------ skopeo


def test_skopeo_never_and_missing(front, monkeypatch):
    harbor, _ = front()
    probe = probe_with_image()
    assert verify.skopeo(harbor, probe, "never").status is Status.SKIPPED
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert "not installed" in verify.skopeo(harbor, probe, "auto").summary
    missing = verify.skopeo(harbor, probe, "always")
    assert missing.failed and "apt-get install skopeo" in missing.hint


@pytest.fixture
def skopeo_installed():
    import shutil
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (tests/debian-packages.txt)")


def test_skopeo_reads_the_pushed_manifest(front, skopeo_installed):
    harbor, _ = front()
    probe = verify.push_pull(harbor, Verify(), now=NOW).value
    result = verify.skopeo(harbor, probe, "always")
    assert result.status is Status.OK, result.data["checks"]


def test_skopeo_refused_fails_with_its_message_masked(front, skopeo_installed, monkeypatch):
    harbor, _ = front()
    probe = verify.push_pull(harbor, Verify(), now=NOW).value
    monkeypatch.setenv("HB_TEST_ADMIN", "not-the-password")
    result = verify.skopeo(harbor, probe, "always")
    assert result.failed and "not-the-password" not in json.dumps(result.data)
