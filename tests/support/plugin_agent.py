"""A node agent plugged in with --agent-factory, as the kubelet simulator and pod runner will be:
it owns its pods (reports them Ready with its own pod IP), answers log and proxy, and notes stops."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web

from harborlab.kube.nodes import DEFAULT_NODES, TrivialAgent


class OwningAgent(TrivialAgent):
    def __init__(self, cluster):
        super().__init__(cluster.profile)
        self.stops = Path(os.environ["PLUGIN_AGENT_STOPS"])

    def start_pod(self, pod, cluster) -> bool:
        asyncio.get_running_loop().call_later(
            0.1, lambda: cluster.set_pod_status(pod, ready=True, pod_ip="127.77.0.5"))
        return True

    def stop_pod(self, pod) -> None:
        with self.stops.open("a") as fh:
            fh.write(pod["metadata"]["name"] + "\n")

    def pod_log(self, pod, container, tail_lines):
        return f"log of {pod['metadata']['name']}/{container}\n"

    async def pod_proxy(self, request, pod, port, path):
        return web.Response(text=f"{pod['metadata']['name']} port={port} path={path}")


def factory(cluster):
    agent = OwningAgent(cluster)
    return {name: agent for name in DEFAULT_NODES}


class PressureAgent(TrivialAgent):
    """Reports DiskPressure once told to, then asks the node controller to look again."""

    def __init__(self, cluster):
        super().__init__(cluster.profile)
        self.pressure = False

    def under_disk_pressure(self, name: str) -> bool:
        return self.pressure

    def admit(self, pod, node):
        if self.pressure:
            return ("Evicted", "Pod The node had condition: [DiskPressure]. ")
        return None

    async def node_proxy(self, request, name, path):
        if path == "pressure":
            self.pressure = True
            for node in DEFAULT_NODES:
                self.cluster.touch_node(node)
            return web.Response(text="ok")
        return await super().node_proxy(request, name, path)


def pressure_factory(cluster):
    agent = PressureAgent(cluster)
    agent.cluster = cluster
    return {"lab-node-3": agent}



def _exec_argv(self, pod, container, command):
    # The test's stand-in for a container filesystem: a few harmless host programs.
    programs = {"echo": "/bin/echo", "cat": "/bin/cat", "false": "/bin/false", "sh": "/bin/sh"}
    return [programs[command[0]], *command[1:]] if command[0] in programs else None


OwningAgent.exec_argv = _exec_argv


class WrappingAgent:
    """Wraps whatever agent the earlier factory installed, adding a log line of its own."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def pod_log(self, pod, container, tail_lines):
        return "wrapped: " + (self.inner.pod_log(pod, container, tail_lines) or "")


def wrapping_factory(cluster):
    return {name: WrappingAgent(cluster.agents[name]) for name in DEFAULT_NODES}


# A program that cannot start: what 04-rollout must recognise without sitting out its timeout.
CRASH_MESSAGE = "harborlab: exec docker-registry: No such file or directory"


CRASHING = {"registry-apps": 3, "jobservice-apps": 1}  # pod label name -> restarts reported


class CrashingAgent(TrivialAgent):
    """Owns the pods labelled ``name=registry-apps`` (and ``jobservice-apps``) and reports them
    crash-looping, as a kubelet does after a few restarts (after one, for jobservice): waiting in
    CrashLoopBackOff, the same termination each time; their log says why. Every other pod is left
    to the emulator (Ready after its delay)."""

    def start_pod(self, pod, cluster) -> bool:
        restarts = CRASHING.get((pod["metadata"].get("labels") or {}).get("name"))
        if restarts is None:
            return False
        asyncio.get_running_loop().call_later(0.1, lambda: self._crash(pod, cluster, restarts))
        return True

    @staticmethod
    def _crash(pod, cluster, restarts) -> None:
        import copy

        from harborlab.kube.resources import by_key

        current = cluster.set_pod_status(pod, ready=False, pod_ip="127.77.0.6")
        if current is None:
            return
        status = copy.deepcopy(current["status"])
        for entry in status.get("containerStatuses") or []:
            entry.update(ready=False, started=False, restartCount=restarts,
                         state={"waiting": {"reason": "CrashLoopBackOff",
                                            "message": f"back-off 40s restarting failed container={entry['name']}"}},
                         lastState={"terminated": {"exitCode": 127, "reason": "Error", "message": CRASH_MESSAGE}})
        cluster.put(by_key("/pods"), {**current, "status": status})

    def stop_pod(self, pod) -> None:
        pass

    def pod_log(self, pod, container, tail_lines):
        lines = ["starting the registry", CRASH_MESSAGE]
        return "\n".join(lines[-tail_lines:] if tail_lines else lines) + "\n"


def crashing_factory(cluster):
    agent = CrashingAgent(cluster.profile)
    return {name: agent for name in DEFAULT_NODES}
