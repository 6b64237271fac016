"""The debug-pod transport: a pod on the node with the host's root mounted at ``/host`` (what
``kubectl debug node/NAME`` creates), commands run through the exec API as ``chroot /host CMD``,
the pod deleted afterwards even on failure (use it as a context manager).

The pod is privileged only when asked. It runs in ``kube-system`` with the
``system-node-critical`` priority class by default, because a kubelet under DiskPressure refuses
every pod that is not critical -- exactly the node this transport is needed for. File contents
are sent base64-encoded in the command line (the v4 exec protocol has no stdin EOF).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any, Callable, Sequence

from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream
from kubernetes.stream.ws_client import ERROR_CHANNEL

from .base import NodeShell, NodeShellError, Result

CHUNK = 48 * 1024      # base64 of it stays far below the 128 KiB limit of one argument


def exit_status(frame: str) -> int | str:
    """The exec API's closing status frame: the command's exit code, or why it could not run.

    A command that ran ends with ``Success`` or a ``Failure`` whose cause ``ExitCode`` carries
    the code; a command that could not start (no such executable, container gone) ends with a
    ``Failure`` and only a message, which the official client's ``returncode`` cannot parse.
    """
    try:
        status = json.loads(frame)
    except ValueError:
        return f"unreadable exec status {frame[:200]!r}"
    if not isinstance(status, dict):
        return f"unreadable exec status {frame[:200]!r}"
    if status.get("status") == "Success":
        return 0
    causes = (status.get("details") or {}).get("causes") or []
    for cause in causes:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message"))
            except (TypeError, ValueError):
                break
    return str(status.get("message") or status.get("reason") or "exec failed without a reason")


def debug_pod_manifest(name: str, node: str, image: str, privileged: bool, critical: bool) -> dict:
    spec = {"nodeName": node, "restartPolicy": "Never", "hostPID": True, "hostNetwork": True,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "debugger", "image": image, "command": ["sleep", "3600"],
                            "stdin": False, "tty": False,
                            "securityContext": {"privileged": privileged},
                            "volumeMounts": [{"name": "host-root", "mountPath": "/host"}]}],
            "volumes": [{"name": "host-root", "hostPath": {"path": "/"}}]}
    if critical:
        spec["priorityClassName"] = "system-node-critical"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "harborbook-node-shell"}},
            "spec": spec}


class DebugPodShell(NodeShell):
    transport = "debug-pod"

    def __init__(self, node: str, api_client: client.ApiClient, *, namespace: str = "kube-system",
                 image: str = "busybox:1.36", privileged: bool = False, critical: bool = True,
                 start_timeout: float = 60.0, exec_timeout: float = 120.0, clock: Callable[[], float] = time.time):
        super().__init__(node, clock)
        self.api = client.CoreV1Api(api_client)
        self.namespace, self.image, self.privileged, self.critical = namespace, image, privileged, critical
        self.start_timeout, self.exec_timeout = start_timeout, exec_timeout
        self.pod: str | None = None

    def open(self) -> None:
        if self.pod:
            return
        name = f"node-debugger-{self.node}-{secrets.token_hex(3)}"[:63]
        # The client serialises a plain dict as it would a V1Pod.
        manifest: Any = debug_pod_manifest(name, self.node, self.image, self.privileged, self.critical)
        try:
            self.api.create_namespaced_pod(self.namespace, manifest)
        except ApiException as exc:
            raise NodeShellError(f"{self.node}: cannot create the debug pod: {exc.status} {exc.reason}") from None
        self.pod = name
        deadline = self.clock() + self.start_timeout
        try:
            while True:
                status: Any = self.api.read_namespaced_pod(name, self.namespace).status
                if status.phase == "Running":
                    return
                if status.phase in ("Failed", "Succeeded") or self.clock() > deadline:
                    raise NodeShellError(f"{self.node}: the debug pod {name} did not start: phase {status.phase}"
                                         + (f", {status.reason}: {status.message}" if status.reason else ""),
                                         hint="is the node Ready, and may pods run privileged there if asked?")
                time.sleep(0.2)
        except Exception:
            self.close()
            raise

    def __enter__(self) -> "DebugPodShell":
        self.open()
        return self

    def close(self) -> None:
        if self.pod:
            name, self.pod = self.pod, None
            try:
                self.api.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
            except ApiException as exc:
                if exc.status != 404:
                    raise NodeShellError(f"{self.node}: cannot delete the debug pod {name}: {exc.status}") from None

    def _run(self, argv: Sequence[str], stdin: bytes | None = None) -> Result:
        if stdin:
            raise NodeShellError("the debug-pod shell sends data through _put, not stdin")
        self.open()
        try:
            ws = stream(self.api.connect_get_namespaced_pod_exec, self.pod, self.namespace,
                        command=["chroot", "/host", *argv], container="debugger",
                        stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        except ApiException as exc:
            raise NodeShellError(f"{self.node}: exec in the debug pod failed: {exc.status} {exc.reason}") from None
        try:
            ws.run_forever(timeout=self.exec_timeout)
            finished = not ws.is_open()
            out, err = ws.read_stdout() or "", ws.read_stderr() or ""
            frame = ws.read_channel(ERROR_CHANNEL)
        finally:
            ws.close()
        if not finished:
            raise NodeShellError(f"{self.node}: `{' '.join(argv)}` did not finish within {self.exec_timeout:.0f}s")
        status = exit_status(frame) if frame else "the exec stream closed without a status"
        if isinstance(status, str):
            raise NodeShellError(f"{self.node}: `{' '.join(argv)}` could not run in the debug pod: {status}")
        return status, out, err

    def _put(self, path: str, data: bytes) -> None:
        self.run(["sh", "-c", ': > "$1"', "sh", path])
        for start in range(0, len(data), CHUNK):
            encoded = base64.b64encode(data[start:start + CHUNK]).decode()
            self.run(["sh", "-c", 'printf %s "$1" | base64 -d >> "$2"', "sh", encoded, path])
