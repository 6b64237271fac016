"""The kube API emulator as a lab component: started through ``lab.spawn``, probed for real.

``up`` runs ``python -m harborlab.kube --state DIR --port P --profile PROFILE
[--synthetic-nodes N]`` and waits until ``/version`` answers with the profile's version; the
token and kubeconfig are written by the server itself (0600), so lab.json records only where
they are, never a value.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from harborlab.component import DEGRADED, DOWN, OK, RUNNING, STARTED, StatusRow

from .profiles import profile as get_profile
from .runtime import TOKEN_SECRET

if TYPE_CHECKING:
    from harborlab.lab import Lab

NAME = "kube-apiserver"
DEFAULT_AGENTS = "harborlab.kubelet:lab_agents"
PORT_KEY = "kube-apiserver"


def argv(lab: "Lab") -> list[str]:
    args = [sys.executable, "-m", "harborlab.kube", "--state", str(lab.state),
            "--host", lab.host, "--port", str(lab.ports[PORT_KEY]), "--profile", lab.profile]
    nodes = int(lab.options.get("synthetic_nodes") or 0)
    if nodes:
        args += ["--synthetic-nodes", str(nodes)]
    if lab.options.get("kube_version"):
        args += ["--kube-version", str(lab.options["kube_version"])]
    if lab.options.get("pod_ready_delay") is not None:
        args += ["--pod-ready-delay", str(lab.options["pod_ready_delay"])]
    for option, flag in (("max_requests_inflight", "--max-requests-inflight"),
                         ("max_mutating_requests_inflight", "--max-mutating-requests-inflight")):
        if lab.options.get(option) is not None:
            args += [flag, str(lab.options[option])]
    # The lab nodes' kubelet simulators (which hand real pods to the pod runner) by default.
    factories = lab.options.get("kube_agent_factory") or (DEFAULT_AGENTS if _has_node_roots(lab) else [])
    for spec in [factories] if isinstance(factories, str) else factories:
        args += ["--agent-factory", str(spec)]
    return args


def _has_node_roots(lab: "Lab") -> bool:
    """The lab kubelets need the node roots (the nodes component) brought up first."""
    from harborlab.kubelet.agent import settings_path

    return settings_path(lab.state).exists()


def probe(host: str, port: int, token: str | None, timeout: float = 2.0) -> tuple[bool, str]:
    """(healthy, detail) from /version and an authenticated node list."""
    base = f"http://{host}:{port}"
    try:
        with urllib.request.urlopen(f"{base}/version", timeout=timeout) as resp:
            version = json.loads(resp.read()).get("gitVersion", "?")
        if token is None:
            return False, f"{version}, no token"
        request = urllib.request.Request(f"{base}/api/v1/nodes", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            nodes = json.loads(resp.read()).get("items", [])
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code} from the API server"
    except (OSError, ValueError) as exc:
        return False, type(exc).__name__
    ready = sum(1 for n in nodes for c in n.get("status", {}).get("conditions", [])
                if c.get("type") == "Ready" and c.get("status") == "True")
    return True, f"{version}, {ready}/{len(nodes)} nodes Ready"


class KubeApiServer:
    name = NAME

    def planned_ports(self, lab: "Lab") -> list[int]:
        return [] if lab.pid(NAME) else [lab.ports[PORT_KEY]]

    def _token(self, lab: "Lab") -> str | None:
        try:
            return lab.path("secrets", TOKEN_SECRET).read_text().strip()
        except FileNotFoundError:
            return None

    def _up_with_version(self, lab: "Lab") -> bool:
        ok, detail = probe(lab.host, lab.ports[PORT_KEY], self._token(lab))
        return ok and detail.startswith(lab.options.get("kube_version") or get_profile(lab.profile).version)

    def up(self, lab: "Lab") -> str:
        if lab.pid(NAME):
            return RUNNING
        lab.ensure_port_free(lab.ports[PORT_KEY])
        lab.spawn(NAME, argv(lab))
        lab.wait_for("the kube API emulator", lambda: self._up_with_version(lab), timeout=30, log=NAME)
        lab.record(NAME, {"server": f"http://{lab.host}:{lab.ports[PORT_KEY]}",
                          "kubeconfig": str(lab.path("kubeconfig")),
                          "token_file": str(lab.path("secrets", TOKEN_SECRET)),
                          "profile": lab.profile, "version": get_profile(lab.profile).version,
                          "pid": lab.pid(NAME)})
        return STARTED

    def status(self, lab: "Lab") -> list[StatusRow]:
        pid = lab.pid(NAME)
        address = f"{lab.host}:{lab.ports[PORT_KEY]}"
        if pid is None:
            return [StatusRow(NAME, None, address, DOWN, "not running")]
        ok, detail = probe(lab.host, lab.ports[PORT_KEY], self._token(lab))
        return [StatusRow(NAME, pid, address, OK if ok else DEGRADED, detail)]

    def down(self, lab: "Lab") -> None:
        lab.stop(NAME)
        # Pod processes outlive an emulator that was killed (SIGKILL): stop them by their PIDs too.
        from harborlab.podrunner import stop_leftovers

        stop_leftovers(lab.state)
