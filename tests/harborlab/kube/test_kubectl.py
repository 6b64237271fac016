"""kubectl against the emulator, unchanged: HTTPS verified against the CA in the kubeconfig, the
token sent (client-go sends none to a plain-HTTP server), and get/apply/logs/exec working as on a
real cluster — on both profiles (websocket exec v5 on 1.30, v4 on 1.25)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: demo}
data: {greeting: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: shell}
spec:
  containers:
  - {name: c, image: busybox, command: [sleep, "3600"]}
"""


def kubectl_binary() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is not installed: tests/debian-packages.txt names the package "
                    "(kubernetes-client); install it with scripts/install-debs tests/debian-packages.txt")
    return found


def run(kubeconfig, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(kubeconfig.parent))
    return subprocess.run([kubectl_binary(), *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=60)


@pytest.fixture(params=["article", "modern"])
def lab(request, server_factory, tmp_path, monkeypatch, wait):
    monkeypatch.setenv("PLUGIN_AGENT_STOPS", str(tmp_path / "stops.txt"))
    return server_factory("--profile", request.param, "--agent-factory", "plugin_agent:factory",
                          "--pod-ready-delay", "0")


def test_kubeconfig_names_https_the_ca_and_the_token(lab):
    cfg = json.loads(lab.kubeconfig.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    assert cluster["server"].startswith("https://127.0.0.1:")
    ca = base64.b64decode(cluster["certificate-authority-data"])
    assert ca.startswith(b"-----BEGIN CERTIFICATE-----") and ca == (lab.state / "secrets" / "ca.crt").read_bytes()
    assert cfg["users"][0]["user"]["token"] == (lab.state / "secrets" / "kube-token").read_text().strip()


def test_kubectl_get_apply_logs_exec(lab, wait, tmp_path):
    kubeconfig = lab.kubeconfig
    nodes = run(kubeconfig, "get", "nodes", "-o", "name")
    assert nodes.returncode == 0, nodes.stderr
    assert nodes.stdout.split() == ["node/lab-node-1", "node/lab-node-2", "node/lab-node-3"]

    manifest = tmp_path / "demo.yaml"
    manifest.write_text(MANIFEST)
    applied = run(kubeconfig, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.split("\n")[:2] == ["configmap/demo created", "pod/shell created"]
    assert "warning" not in applied.stderr.lower(), applied.stderr
    manifest.write_text(MANIFEST.replace("greeting: hello", "greeting: again"))
    again = run(kubeconfig, "apply", "-f", str(manifest))
    assert again.returncode == 0 and "configmap/demo configured" in again.stdout, again.stderr
    assert "warning" not in again.stderr.lower(), again.stderr
    got = run(kubeconfig, "get", "configmap", "demo", "-o", "jsonpath={.data.greeting}")
    assert got.stdout == "again"

    wait(lambda: run(kubeconfig, "get", "pod", "shell", "-o", "jsonpath={.status.phase}").stdout == "Running",
         timeout=10, what="pod running")
    logs = run(kubeconfig, "logs", "shell")
    assert logs.returncode == 0 and logs.stdout == "log of shell/c\n", logs.stderr

    done = run(kubeconfig, "exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout) == (3, "out\n")
    assert "err\n" in done.stderr and "command terminated with exit code 3" in done.stderr
    echoed = run(kubeconfig, "exec", "-i", "shell", "--", "cat", stdin="through stdin\n")
    assert (echoed.returncode, echoed.stdout) == (0, "through stdin\n"), echoed.stderr


def test_kubectl_refuses_a_wrong_token_and_a_wrong_ca(lab, tmp_path):
    cfg = json.loads(lab.kubeconfig.read_text())
    bad_token = tmp_path / "bad-token"
    cfg["users"][0]["user"]["token"] = "not-the-token"
    bad_token.write_text(json.dumps(cfg))
    refused = run(bad_token, "get", "nodes")
    assert refused.returncode == 1 and "error: You must be logged in to the server" in refused.stderr
    other_ca = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                               "-nodes", "-keyout", "/dev/null", "-subj", "/CN=other", "-days", "1"],
                              capture_output=True, check=True).stdout
    cfg = json.loads(lab.kubeconfig.read_text())
    cfg["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(other_ca).decode()
    bad_ca = tmp_path / "bad-ca"
    bad_ca.write_text(json.dumps(cfg))
    untrusted = run(bad_ca, "get", "nodes")
    assert untrusted.returncode == 1 and "certificate signed by unknown authority" in untrusted.stderr


def test_kubectl_explain_reads_the_profiles_schemas(lab):
    explained = run(lab.kubeconfig, "explain", "pod.spec.tolerations.tolerationSeconds")
    assert explained.returncode == 0, explained.stderr
    assert "tolerationSeconds" in explained.stdout and "<integer>" in explained.stdout


def test_kubectl_get_prints_the_apiservers_columns(lab, wait):
    nodes = run(lab.kubeconfig, "get", "nodes")
    assert nodes.stdout.split("\n")[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes.stdout.split("\n")[1].split()[:3] == ["lab-node-1", "Ready", "<none>"]
    wait(lambda: "Running" in run(lab.kubeconfig, "get", "pods", "-n", "kube-system",
                                  "kube-apiserver-lab-node-1").stdout, timeout=10, what="mirror pod listed")
    pods = run(lab.kubeconfig, "get", "pods", "-n", "kube-system", "-o", "wide")
    assert pods.stdout.split("\n")[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    services = run(lab.kubeconfig, "get", "svc", "-A")
    assert "kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP" in services.stdout


def test_kubectl_auth_can_i_answers_from_the_bindings(lab):
    """kubectl sends these reviews in protobuf; answers follow the profile's bindings."""
    ask = lambda *args: run(lab.kubeconfig, "--context", "harborbook-operator", "auth", "can-i", *args)  # noqa: E731
    assert ask("patch", "deployments", "-n", "harbor").stdout.strip() == "yes"
    assert ask("delete", "namespaces").stdout.strip() == "no"
    node_proxy = ask("get", "nodes", "--subresource=proxy").stdout.strip()
    assert node_proxy == ("yes" if "v1.30" in run(lab.kubeconfig, "version", "-o", "json").stdout else "no")
    listed = ask("--list", "-n", "harbor").stdout
    assert "pods/exec" in listed and "clusterroles" not in listed


def test_kubectl_port_forward_reaches_the_pods_port(lab, wait, tmp_path):
    """kubectl port-forward (SPDY portforward.k8s.io) to a pod whose IP the lab can reach: the
    plug-in agent's pods are at 127.77.0.5, where this test serves an echo."""
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.77.0.5", 0))
    listener.listen(4)
    port = listener.getsockname()[1]

    def echo():
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data.upper())
    threading.Thread(target=echo, daemon=True).start()
    (tmp_path / "pod.yaml").write_text(MANIFEST)
    run(lab.kubeconfig, "apply", "-f", str(tmp_path / "pod.yaml"))
    wait(lambda: run(lab.kubeconfig, "get", "pod", "shell", "-o", "jsonpath={.status.podIP}").stdout == "127.77.0.5",
         timeout=10, what="pod running")
    local = socket.socket()
    local.bind(("127.0.0.1", 0))
    local_port = local.getsockname()[1]
    local.close()
    env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig), HOME=str(lab.kubeconfig.parent))
    forward = subprocess.Popen([kubectl_binary(), "port-forward", "pod/shell", f"{local_port}:{port}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert "Forwarding from 127.0.0.1" in forward.stdout.readline()
        with socket.create_connection(("127.0.0.1", local_port), timeout=10) as conn:
            conn.sendall(b"hello through the tunnel")
            deadline, got = time.monotonic() + 10, b""
            while len(got) < 24 and time.monotonic() < deadline:
                got += conn.recv(1024)
        assert got == b"HELLO THROUGH THE TUNNEL"
    finally:
        forward.terminate()
        forward.wait(10)
        listener.close()
