"""Generic workloads run for real (issue 15 item 7): pods of busybox, nginx, python, ubuntu and pause
under the pod runner (``--agent-factory harborlab.podrunner:agents``) on both profiles — command and
args, logs, exec (stdout, stderr, exit codes, stdin, ``sh -c``, a missing program), port-forward —
with the official client and with kubectl; an unknown image stays in ImagePullBackOff."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid

import pytest
from kubernetes import client

from harborlab.programs import generic

from .conftest import start_server, stop_server, wait_for

pytestmark = pytest.mark.lab   # Debian's busybox, nginx and python3 run as the pods' programs (no root)


# -- against the emulator with the pod runner ------------------------------------------------------
def _require_programs() -> None:
    missing = [p for p in (generic.BUSYBOX, generic.PYTHON, "/usr/sbin/nginx") if not os.path.exists(p)]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: scripts/install-debs lib/harborlab/data/debian-packages.txt")


@pytest.fixture(scope="module", params=["article", "modern"])
def runner_lab(request, tmp_path_factory):
    _require_programs()
    os.environ["HARBORLAB_PODRUNNER_BACKOFF"] = "0.5"
    try:
        server = start_server(tmp_path_factory.mktemp(f"generic-{request.param}"), "--profile", request.param,
                              "--agent-factory", "harborlab.podrunner:agents", "--pod-ready-delay", "0")
    finally:
        os.environ.pop("HARBORLAB_PODRUNNER_BACKOFF", None)
    try:
        yield server
    finally:
        stop_server(server.process)
        leftovers = list((server.state / "podrunner" / "run").glob("*.pid"))
        assert not leftovers, f"programs left running: {leftovers}"


@pytest.fixture
def kube(runner_lab):
    api = runner_lab.api()
    core = client.CoreV1Api(api)
    name = f"g-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for(lambda: core.list_namespaced_service_account(name).items, what="default ServiceAccount")
    try:
        yield core, name
    finally:
        core.delete_namespace(name)
        api.close()


def pod(name: str, image: str, restart: str = "Always", **container) -> dict:
    spec = {"restartPolicy": restart, "containers": [{"name": "c", "image": image, **container}]}
    return {"metadata": {"name": name}, "spec": spec}


def running(core, ns: str, name: str, timeout: float = 15):
    return wait_for(lambda: (p := core.read_namespaced_pod(name, ns)).status.phase == "Running"
                    and p.status.container_statuses[0].ready and p, timeout=timeout, what=f"{name} running")


def exec_stream(core, ns, name, command, stdin: str | None = None):
    from kubernetes.stream import stream
    resp = stream(core.connect_get_namespaced_pod_exec, name, ns, command=command, stderr=True,
                  stdin=stdin is not None, stdout=True, tty=False, _preload_content=False)
    out, err = "", ""
    if stdin is not None:
        resp.write_stdin(stdin)
    deadline = time.monotonic() + 20
    while resp.is_open() and time.monotonic() < deadline:
        resp.update(timeout=1)
        out += resp.read_stdout() if resp.peek_stdout() else ""
        err += resp.read_stderr() if resp.peek_stderr() else ""
    status = resp.read_channel(3)
    resp.close()
    return out, err, status


def test_busybox_exec_gives_stdout_stderr_and_the_exit_code(kube):
    core, ns = kube
    core.create_namespaced_pod(ns, pod("bb", "busybox:1.36", command=["sleep", "3600"]))
    running(core, ns, "bb")
    out, err, status = exec_stream(core, ns, "bb", ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (out, err) == ("out\n", "err\n")
    status = json.loads(status)
    assert status["reason"] == "NonZeroExitCode" and status["details"]["causes"] == [
        {"reason": "ExitCode", "message": "3"}]
    out, _, status = exec_stream(core, ns, "bb", ["sh", "-c", "echo $PATH | grep -c busybox-bin; type bash || true"])
    assert out.splitlines()[0] == "1" and "bash: not found" in out   # only busybox's applets on PATH
    assert json.loads(status)["status"] == "Success"
    # A program the image does not have: the runtime's refusal, no exit code.
    _, _, status = exec_stream(core, ns, "bb", ["bash"])
    status = json.loads(status)
    assert status["reason"] == "InternalError" and 'exec: "bash": executable file not found in $PATH' in status["message"]


def test_exec_stdin_reaches_the_program(kube):
    core, ns = kube
    core.create_namespaced_pod(ns, pod("cat", "busybox", command=["sleep", "3600"]))
    running(core, ns, "cat")
    # One line read: no stdin EOF needed (only v5 can close stdin over the websocket).
    out, _, status = exec_stream(core, ns, "cat", ["sh", "-c", "read line; echo \"got $line\" | tr a-z A-Z"],
                                 stdin="through stdin\n")
    assert out == "GOT THROUGH STDIN\n" and json.loads(status)["status"] == "Success"


def test_command_args_env_and_logs(kube):
    core, ns = kube
    core.create_namespaced_pod(ns, pod("say", "busybox", command=["sh", "-c"],
                                       args=["echo $(GREETING) from $HOSTNAME; sleep 3600"],
                                       env=[{"name": "GREETING", "value": "hello"}]))
    running(core, ns, "say")
    assert wait_for(lambda: core.read_namespaced_pod_log("say", ns) == "hello from say\n", what="log")
    # python: CMD python3 replaced by args; its output is the log.
    core.create_namespaced_pod(ns, pod("py", "python:3.12", args=["python3", "-u", "-c", "print(6 * 7)"]))
    done = wait_for(lambda: (p := core.read_namespaced_pod("py", ns)).status.container_statuses
                    and p.status.container_statuses[0].last_state.terminated and p, timeout=15, what="py ran")
    assert done.status.container_statuses[0].last_state.terminated.exit_code == 0
    assert core.read_namespaced_pod_log("py", ns).startswith("42\n")


def test_restart_policy_never_ends_in_the_exit_code(kube):
    core, ns = kube
    core.create_namespaced_pod(ns, pod("fails", "ubuntu:22.04", restart="Never", command=["bash", "-c", "exit 2"]))
    core.create_namespaced_pod(ns, pod("ok", "busybox", restart="Never", command=["true"]))
    failed = wait_for(lambda: (p := core.read_namespaced_pod("fails", ns)).status.phase == "Failed" and p,
                      timeout=15, what="Failed")
    assert failed.status.container_statuses[0].state.terminated.exit_code == 2
    assert wait_for(lambda: core.read_namespaced_pod("ok", ns).status.phase == "Succeeded", what="done")


def test_a_busybox_with_its_default_sh_and_no_stdin_crash_loops(kube):
    core, ns = kube
    core.create_namespaced_pod(ns, pod("idle", "busybox"))    # CMD sh, stdin closed: exits 0 at once
    crashed = wait_for(lambda: (p := core.read_namespaced_pod("idle", ns)).status.container_statuses
                       and p.status.container_statuses[0].restart_count >= 1 and p, timeout=15, what="restarts")
    assert crashed.status.container_statuses[0].last_state.terminated.exit_code == 0


def test_pause_runs_until_deleted_and_exits_cleanly(kube):
    core, ns = kube
    core.create_namespaced_pod(ns, pod("pz", "registry.k8s.io/pause:3.9"))
    p = running(core, ns, "pz")
    assert p.status.pod_ip.startswith("127.77.")
    time.sleep(1.5)
    assert core.read_namespaced_pod("pz", ns).status.container_statuses[0].restart_count == 0


def test_nginx_serves_its_welcome_page_through_port_forward(kube):
    from kubernetes.stream import portforward
    core, ns = kube
    core.create_namespaced_pod(ns, pod("web", "nginx:1.25", ports=[{"containerPort": 80}]))
    running(core, ns, "web")

    def get():
        forward = portforward(core.connect_get_namespaced_pod_portforward, "web", ns, ports="80")
        try:
            sock = forward.socket(80)
            sock.setblocking(True)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            return data
        finally:
            forward.close()
    answer = wait_for(lambda: b"Welcome to nginx!" in (a := get()) and a, what="nginx answers")
    assert answer.startswith(b"HTTP/1.1 200")
    # The image sends its access log to stdout: it is the container's log.
    assert wait_for(lambda: '"GET / HTTP/1.1" 200' in core.read_namespaced_pod_log("web", ns), what="access log")


def test_an_unknown_image_stays_in_image_pull_back_off(kube):
    core, ns = kube
    core.create_namespaced_pod(ns, pod("nope", "example.com/nosuch:1"))
    waiting = wait_for(lambda: (s := core.read_namespaced_pod("nope", ns).status.container_statuses)
                       and s[0].state.waiting and s[0].state.waiting.reason == "ImagePullBackOff" and s[0].state.waiting,
                       timeout=10, what="ImagePullBackOff")
    assert "example.com/nosuch:1" in waiting.message
    time.sleep(1)
    assert core.read_namespaced_pod("nope", ns).status.phase == "Pending"


# -- kubectl ---------------------------------------------------------------------------------------
def kubectl(server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    from .test_kubectl import kubectl_binary
    env = dict(os.environ, KUBECONFIG=str(server.kubeconfig), HOME=str(server.state))
    return subprocess.run([kubectl_binary(), *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)


def test_kubectl_exec_into_busybox(kube, runner_lab):
    core, ns = kube
    made = kubectl(runner_lab, "-n", ns, "run", "shell", "--image=busybox", "--", "sleep", "3600")
    assert made.returncode == 0, made.stderr
    running(core, ns, "shell")
    done = kubectl(runner_lab, "-n", ns, "exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout) == (3, "out\n")
    assert done.stderr.startswith("err\n") and "command terminated with exit code 3" in done.stderr
    echoed = kubectl(runner_lab, "-n", ns, "exec", "-i", "shell", "--", "sh", "-c", "wc -l", stdin="a\nb\n")
    assert (echoed.returncode, echoed.stdout.strip()) == (0, "2"), echoed.stderr
    missing = kubectl(runner_lab, "-n", ns, "exec", "shell", "--", "bash")
    assert missing.returncode == 1 and 'exec: "bash": executable file not found in $PATH' in missing.stderr


def test_kubectl_port_forward_reaches_nginx(kube, runner_lab):
    core, ns = kube
    assert kubectl(runner_lab, "-n", ns, "run", "web", "--image=nginx", "--port=80").returncode == 0
    running(core, ns, "web")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local = probe.getsockname()[1]
    env = dict(os.environ, KUBECONFIG=str(runner_lab.kubeconfig), HOME=str(runner_lab.state))
    from .test_kubectl import kubectl_binary
    forward = subprocess.Popen([kubectl_binary(), "-n", ns, "port-forward", "pod/web", f"{local}:80"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert "Forwarding from 127.0.0.1" in forward.stdout.readline()
        with socket.create_connection(("127.0.0.1", local), timeout=10) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and b"Welcome to nginx!" in data
    finally:
        forward.terminate()
        forward.wait(10)


def test_kubectl_shows_an_unknown_image_in_image_pull_back_off(kube, runner_lab):
    core, ns = kube
    assert kubectl(runner_lab, "-n", ns, "run", "nope", "--image=example.com/nosuch:1").returncode == 0
    wait_for(lambda: "ImagePullBackOff" in kubectl(runner_lab, "-n", ns, "get", "pod", "nope").stdout,
             timeout=10, what="ImagePullBackOff in kubectl get")


