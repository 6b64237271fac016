"""The apiserver's and kubelet's semantics where tools can tell: Status bodies byte for byte,
base64 line breaks in Secret data, graceful pod deletion, exec Status shapes and subprotocols."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request

import aiohttp
import pytest
from kubernetes import client, watch

from harborlab.kube.exec import protocols_for, status_frame
from harborlab.kube.status import encode
from harborlab.kube.tls import context_from_kubeconfig

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


def raw_bytes(server, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    cfg = json.loads(server.kubeconfig.read_text())
    req = urllib.request.Request(cfg["clusters"][0]["cluster"]["server"] + path, data=body, method=method,
                                 headers={"Authorization": "Bearer " + cfg["users"][0]["user"]["token"],
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context_from_kubeconfig(cfg)) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# --- Status encoding ------------------------------------------------------------------------

def test_not_found_is_encoded_as_the_apiserver_writes_it(kube_server):
    code, body = raw_bytes(kube_server, "GET", "/api/v1/namespaces/default/configmaps/missing")
    assert code == 404
    assert body == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                    b'"message":"configmaps \\"missing\\" not found","reason":"NotFound",'
                    b'"details":{"name":"missing","kind":"configmaps"},"code":404}\n')
    code, body = raw_bytes(kube_server, "GET", "/apis/apps/v1/namespaces/default/deployments/a%3Cb")
    assert body == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                    b'"message":"deployments.apps \\"a\\u003cb\\" not found","reason":"NotFound",'
                    b'"details":{"name":"a\\u003cb","group":"apps","kind":"deployments"},"code":404}\n')


def test_delete_answers_a_success_status_with_group_before_kind(kube_server, namespace, apps):
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "d"}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    uid = apps.read_namespaced_deployment("d", namespace).metadata.uid
    code, body = raw_bytes(kube_server, "DELETE", f"/apis/apps/v1/namespaces/{namespace}/deployments/d")
    assert code == 200
    assert body == ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",'
                    f'"details":{{"name":"d","group":"apps","kind":"deployments","uid":"{uid}"}}}}\n').encode()


def test_invalid_lists_its_causes_after_name_and_kind(kube_server, namespace):
    code, body = raw_bytes(kube_server, "POST", f"/api/v1/namespaces/{namespace}/configmaps",
                           json.dumps({"metadata": {"name": "Bad_Name"}}).encode())
    assert code == 422
    status = json.loads(body)
    assert list(status) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]
    assert list(status["details"]) == ["name", "kind", "causes"]
    assert list(status["details"]["causes"][0]) == ["reason", "message", "field"]
    assert body.endswith(b"}\n") and b", " not in body.split(b'"message"')[0]


def test_encode_escapes_like_go():
    assert encode({"m": "<a & b>\u2028é"}) == '{"m":"\\u003ca \\u0026 b\\u003e\\u2028é"}\n'.encode()


# --- Secret data ------------------------------------------------------------------------------

def test_secret_data_with_line_breaks_is_accepted_and_stored_on_one_line(core, namespace):
    created = core.create_namespaced_secret(namespace, {"metadata": {"name": "s"},
                                                        "data": {"k": "aGVsbG8g\nd29y\r\nbGQ=\n"}})
    assert created.data == {"k": "aGVsbG8gd29ybGQ="}
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_secret(namespace, {"metadata": {"name": "t"}, "data": {"k": "aGVs bG8="}})
    assert err.value.status == 400 and "illegal base64 data" in json.loads(err.value.body)["message"]


# --- graceful deletion ------------------------------------------------------------------------

def _running_pod(core, namespace, name, wait):
    core.create_namespaced_pod(namespace, {"metadata": {"name": name}, "spec": {
        "nodeName": "lab-node-1", "containers": [{"name": "c", "image": "busybox"}]}})
    wait(lambda: core.read_namespaced_pod(name, namespace).status.phase == "Running", what="running")
    return core.read_namespaced_pod(name, namespace)


def test_deleting_a_running_pod_is_graceful(core, namespace, wait):
    pod = _running_pod(core, namespace, "p", wait)
    events: list[tuple[str, dict]] = []
    stream = watch.Watch()

    def follow():
        for event in stream.stream(core.list_namespaced_pod, namespace, resource_version=pod.metadata.resource_version,
                                   timeout_seconds=10):
            events.append((event["type"], event["raw_object"]))
            if event["type"] == "DELETED":
                stream.stop()
    watcher = threading.Thread(target=follow)
    watcher.start()
    answer = core.delete_namespaced_pod("p", namespace)
    watcher.join(15)
    assert answer.metadata.deletion_timestamp is not None and answer.metadata.deletion_grace_period_seconds == 30
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "MODIFIED" and kinds[-1] == "DELETED", kinds
    marked = events[0][1]["metadata"]
    assert marked["deletionGracePeriodSeconds"] == 30 and marked["deletionTimestamp"]
    stopped = [obj for kind, obj in events[1:-1]
               if any(c["type"] == "Ready" and c["status"] == "False" for c in obj["status"]["conditions"])]
    assert stopped, kinds
    assert "terminated" in stopped[0]["status"]["containerStatuses"][0]["state"]


def test_grace_zero_and_unscheduled_pods_go_at_once(core, namespace, wait):
    _running_pod(core, namespace, "now", wait)
    core.delete_namespaced_pod("now", namespace, grace_period_seconds=0)
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod("now", namespace)
    assert err.value.status == 404
    core.create_namespaced_pod(namespace, {"metadata": {"name": "nowhere"}, "spec": {
        "schedulerName": "nobody", "containers": [{"name": "c", "image": "busybox"}]}})
    answer = core.delete_namespaced_pod("nowhere", namespace)
    assert answer.metadata.deletion_grace_period_seconds == 0
    with pytest.raises(client.ApiException):
        core.read_namespaced_pod("nowhere", namespace)


def test_a_dry_run_delete_shows_the_marking_and_changes_nothing(core, namespace, wait):
    _running_pod(core, namespace, "twice", wait)
    # Hold the kubelet's part back: a dry-run delete shows the marking without doing it.
    dry = core.delete_namespaced_pod("twice", namespace, dry_run="All", grace_period_seconds=20)
    assert dry.metadata.deletion_grace_period_seconds == 20
    assert core.read_namespaced_pod("twice", namespace).metadata.deletion_timestamp is None


# --- exec Status and subprotocols -------------------------------------------------------------

def test_exec_status_frames_are_the_kubelets():
    assert status_frame(0) == {"metadata": {}, "status": "Success"}
    exited = status_frame(3)
    assert exited == {"metadata": {}, "status": "Failure",
                      "message": "command terminated with non-zero exit code: exit status 3",
                      "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}
    failed = status_frame(None, "no such program")
    assert failed["message"] == "Internal error occurred: error executing command in container: no such program"
    assert failed["reason"] == "InternalError" and failed["code"] == 500
    assert failed["details"]["causes"] == [{"message": "error executing command in container: no such program"}]


def test_v5_is_offered_from_1_30_only():
    assert "v5.channel.k8s.io" not in protocols_for((1, 25))
    assert protocols_for((1, 30))[0] == "v5.channel.k8s.io"


@pytest.mark.parametrize("profile,offer,expected", [
    ("article", ["v5.channel.k8s.io"], 403),
    ("article", ["v5.channel.k8s.io", "v4.channel.k8s.io"], "v4.channel.k8s.io"),
    ("modern", ["v5.channel.k8s.io", "v4.channel.k8s.io"], "v5.channel.k8s.io"),
])
def test_exec_subprotocol_negotiation_follows_the_profile(server_factory, tmp_path, monkeypatch, wait,
                                                          profile, offer, expected):
    monkeypatch.setenv("PLUGIN_AGENT_STOPS", str(tmp_path / "stops"))
    server = server_factory("--profile", profile, "--agent-factory", "plugin_agent:factory", "--pod-ready-delay", "0")
    api = server.api()
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", {"metadata": {"name": "x"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}})
    wait(lambda: core.read_namespaced_pod("x", "default").status.phase == "Running", what="running")
    api.close()
    cfg = json.loads(server.kubeconfig.read_text())
    url = cfg["clusters"][0]["cluster"]["server"] + "/api/v1/namespaces/default/pods/x/exec?command=echo&command=hi&stdout=1"

    async def handshake():
        headers = {"Authorization": "Bearer " + cfg["users"][0]["user"]["token"]}
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, protocols=offer, headers=headers,
                                              ssl=context_from_kubeconfig(cfg)) as ws:
                    frames = [m.data async for m in ws]
                    return ws.protocol, frames
            except aiohttp.WSServerHandshakeError as err:
                return err.status, []
    chosen, frames = asyncio.run(handshake())
    assert chosen == expected
    if expected != 403:
        assert frames[0] == b"\x01hi\n" and json.loads(frames[-1][1:]) == {"metadata": {}, "status": "Success"}


def test_a_refused_exec_carries_one_cause(server_factory, tmp_path, monkeypatch, wait):
    from kubernetes.stream import stream
    monkeypatch.setenv("PLUGIN_AGENT_STOPS", str(tmp_path / "stops"))
    server = server_factory("--agent-factory", "plugin_agent:factory", "--pod-ready-delay", "0")
    api = server.api()
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", {"metadata": {"name": "x"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}})
    wait(lambda: core.read_namespaced_pod("x", "default").status.phase == "Running", what="running")
    refused = stream(core.connect_get_namespaced_pod_exec, "x", "default", command=["rm", "-rf", "/"],
                     stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    refused.run_forever(timeout=5)
    status = json.loads(refused.read_channel(3))
    api.close()
    assert status["message"].startswith("Internal error occurred: error executing command in container: ")
    assert len(status["details"]["causes"]) == 1 and status["code"] == 500


# --- protobuf reviews and tables ------------------------------------------------------------------

# What kubectl 1.32 sent for `kubectl auth can-i patch deployments -n harbor` (captured from the wire).
KUBECTL_SSAR = (b'k8s\x00\n2\n\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12H\n\x10\n\x00\x12\x00'
                b'\x1a\x00"\x00*\x002\x008\x00B\x00\x12*\n(\n\x06harbor\x12\x05patch\x1a\x04apps"\x00*\x0bdeployments'
                b'2\x00:\x00\x1a\x08\x08\x00\x12\x00\x1a\x00 \x00\x1a\x00"\x00')


def test_protobuf_reviews_are_decoded():
    from harborlab.kube import protobuf
    review = protobuf.decode(KUBECTL_SSAR)
    assert review["kind"] == "SelfSubjectAccessReview"
    assert review["spec"] == {"resourceAttributes": {"namespace": "harbor", "verb": "patch", "group": "apps",
                                                     "resource": "deployments"}}
    with pytest.raises(protobuf.DecodeError):
        protobuf.decode(b'{"kind": "Pod"}')


@pytest.mark.parametrize("seconds,text", [(-5, "<invalid>"), (59, "59s"), (119, "119s"), (150, "2m30s"),
                                          (600, "10m"), (3 * 3600 + 60, "3h1m"), (30 * 3600, "30h"),
                                          (3 * 86400 + 3600, "3d1h"), (400 * 86400, "400d"), (3 * 365 * 86400, "3y")])
def test_ages_are_printed_like_human_duration(seconds, text):
    from harborlab.kube.tables import human_duration
    assert human_duration(seconds) == text
