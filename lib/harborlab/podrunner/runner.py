"""The pod runner: a real process for every pod of an image in the lab's program catalog.

A node agent (the kubelet simulator, or :mod:`.agent` standalone) delegates to :class:`PodRunner`:

* ``start_pod(pod, cluster)`` -> True when the pod's image has a program
  (:data:`harborlab.programs.CATALOG`); the runner then owns the pod. Other images (adminserver,
  jobservice) -> False: the emulator simulates them (Running and Ready, no process).
* Per owned pod, one asyncio task (on the emulator's loop, so every cluster write happens on
  the loop's thread): resolve env and volumes as the kubelet does, write the pod's files, start
  the program with the pod's own loopback IP, report Running, report Ready only once the health
  check answers (and not Ready when it stops answering), and when the program exits restart it
  per ``restartPolicy`` with the kubelet's back-off (``CrashLoopBackOff``, ``BackOff`` events).
* ``stop_pod(pod)``: SIGTERM by PID, SIGKILL of its process group after the grace period, pod
  directory removed, address released.
* ``pod_log`` / ``pod_proxy``: the program's output; HTTP forwarded to its address.
* Endpoints change -> every nginx pod gets its upstreams rewritten and a SIGHUP.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harborlab import images
from harborlab import procs
from harborlab.kube.resources import by_key
from harborlab.programs import CATALOG, NGINX_CONFIG, Launch, LaunchError, PodLayout, Surroundings, launch_for
from harborlab.programs import reload_nginx
from harborlab.programs import generic

from . import addresses, podfs, podstatus, restarts
from .endpoints import service_table
from .environment import container_env, expand
from .proxy import forward, subpath, target_port
from .volumes import Backing, mount_table, plan_volumes

log = logging.getLogger("harborlab.podrunner")

PODS, NODES = by_key("/pods"), by_key("/nodes")
ENDPOINTS, SERVICES = by_key("/endpoints"), by_key("/services")
KINDS = {"ConfigMap": by_key("/configmaps"), "Secret": by_key("/secrets"),
         "PersistentVolumeClaim": by_key("/persistentvolumeclaims"), "PersistentVolume": by_key("/persistentvolumes")}
ADMINSERVER = "vmware/harbor-adminserver"
NGINX_IMAGE = next(image for image, entry in CATALOG.items() if entry.config_path == NGINX_CONFIG)

POLL = 0.5                 # how often a program is checked for having exited
PROBE_STARTING = 1.0       # health checks until the first success ...
PROBE_READY = 5.0          # ... and after it
RETRY_CONFIG = 3.0         # a missing ConfigMap/Secret/volume is looked for again after this
STOP_GRACE_CAP = 10.0      # lab down gives the emulator 10s: never wait longer per pod
STOP_DRAIN = 1.0           # between leaving the endpoints and SIGTERM


@dataclass
class Owned:
    """A pod the runner owns, and the state of its program."""

    pod: dict
    container: str
    image: str
    ip: str
    directory: Path
    proc: subprocess.Popen | None = None
    launch: Launch | None = None
    layout: PodLayout | None = None
    task: asyncio.Task | None = None
    ready: bool = False
    exits: int = 0
    restarts: int = 0
    last: podstatus.Termination | None = None
    started_at: str = ""
    started_mono: float = 0.0
    generic: images.Image | None = None   # a generic image (busybox, nginx, ...): programs.generic

    @property
    def uid(self) -> str:
        return self.pod["metadata"]["uid"]

    @property
    def log_path(self) -> Path:
        return self.directory / "log" / f"{self.container}.log"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class RunnerOptions:
    backoff_base: float = restarts.BASE_DELAY
    # Only for tests without Ceph: accept a plain directory as the lab's CephFS mount.
    allow_plain_cephfs: bool = False
    worker_user: str = "root"   # nginx workers write temp files under the root-owned pod dir
    extra: dict = field(default_factory=dict)


class PodRunner:
    def __init__(self, state_dir: Path, cluster, options: RunnerOptions | None = None):
        self.state = Path(state_dir)
        self.cluster = cluster
        self.options = options or RunnerOptions()
        self.owned: dict[str, Owned] = {}
        self.stopping: dict[str, Owned] = {}   # deleted pods whose program is being stopped
        self.cursor = addresses.first_cursor(str(self.state.resolve()))
        self._refresh_pending = False
        # A runner that died uncleanly (emulator SIGKILLed) left programs and pod dirs behind.
        podfs.stop_leftovers(self.state)
        podfs.remove_pod_dir(podfs.home(self.state) / "pods")
        cluster.store.listeners.append(self._on_change)
        atexit.register(self.shutdown)

    # -- the NodeAgent side -------------------------------------------------------------------
    def start_pod(self, pod: dict, cluster=None) -> bool:
        containers = pod["spec"].get("containers", [])
        container = next((c for c in containers if images.normalize(c.get("image", "")) in CATALOG), None) \
            or next((c for c in containers if images.is_generic(images.lookup(c.get("image", "")))), None)
        if container is None:
            return False
        taken = {o.ip for o in self.owned.values()}
        ip, self.cursor = addresses.allocate(self.cursor, taken, _listened_on)
        owned = Owned(pod, container["name"], images.normalize(container["image"]), ip,
                      podfs.pod_dir(self.state, pod))
        if owned.image not in CATALOG:
            owned.generic = images.lookup(container["image"])
        self.owned[owned.uid] = owned
        owned.task = asyncio.get_running_loop().create_task(self._supervise(owned))
        return True

    def stop_pod(self, pod: dict) -> None:
        owned = self.owned.pop(pod["metadata"]["uid"], None)
        if owned is None:
            return
        if owned.task is not None:
            owned.task.cancel()
        grace = min(float(pod["spec"].get("terminationGracePeriodSeconds", 30)), STOP_GRACE_CAP)
        if owned.running():
            self._event(owned, "Normal", "Killing", f"Stopping container {owned.container}")
        # Until the stop is done, shutdown() must still know this program (the emulator may be
        # told to exit while the stop waits out its drain and grace).
        self.stopping[owned.uid] = owned
        asyncio.get_running_loop().create_task(self._finish_stop(owned, grace))

    def pod_log(self, pod: dict, container: str, tail_lines: int | None) -> str | None:
        owned = self.owned.get(pod["metadata"]["uid"])
        if owned is None or container != owned.container:
            return ""
        return podfs.tail(owned.log_path, tail_lines)

    async def pod_proxy(self, request, pod: dict, port: str, path: str):
        owned = self.owned.get(pod["metadata"]["uid"])
        number = target_port(pod, port)
        if owned is None or not owned.running() or number is None:
            return None
        return await forward(request, f"{owned.ip}:{number}", subpath(request.rel_url.raw_path, path))

    def owns(self, pod: dict) -> bool:
        return pod["metadata"]["uid"] in self.owned

    # -- supervision --------------------------------------------------------------------------
    async def _supervise(self, owned: Owned) -> None:
        try:
            while True:
                launch = await self._prepare(owned)
                code = await self._run(owned, launch)
                ran_for = time.monotonic() - owned.started_mono
                owned.exits = restarts.exits_in_a_row(owned.exits, ran_for)
                owned.last = podstatus.Termination(code, restarts.termination_reason(code), owned.started_at,
                                                   self.cluster.now())
                owned.ready = False
                if not restarts.should_restart(owned.pod["spec"].get("restartPolicy"), code):
                    self._write(owned, lambda pod, node: podstatus.finished(
                        pod, owned.container, owned.restarts, owned.last, restarts.final_phase(code),
                        self.cluster.now(), self._runtime()))
                    return
                delay = restarts.backoff_delay(owned.exits, self.options.backoff_base)
                if delay > 0:
                    meta = owned.pod["metadata"]
                    self._event(owned, "Warning", "BackOff", f"Back-off restarting failed container "
                                f"{owned.container} in pod {meta['name']}_{meta.get('namespace')}({meta['uid']})")
                    self._write(owned, lambda pod, node: podstatus.back_off(
                        pod, node, owned.ip, self.cluster.now(), self._runtime(), owned.container,
                        owned.restarts, owned.last, delay))
                    await asyncio.sleep(delay)
                owned.restarts += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # a runner bug must show in the log, not silently stop one pod
            log.exception("supervising pod %s failed", owned.pod["metadata"]["name"])

    async def _prepare(self, owned: Owned) -> Launch | str:
        """Resolve, write and translate the pod's files: a Launch, or why the program cannot run
        (as its output would say it). Waits while ConfigMaps/Secrets/volumes are missing."""
        while True:
            pod = self._current(owned) or owned.pod
            container = next(c for c in pod["spec"]["containers"] if c["name"] == owned.container)
            env = container_env(pod, container, self._get)
            plan = plan_volumes(pod, self._get, self._backing(owned))
            if env.skipped:
                self._event(owned, "Warning", "InvalidEnvironmentVariableNames",
                            f"Keys [{', '.join(env.skipped)}] from the EnvFrom were skipped since they are "
                            "considered invalid environment variable names.")
            if plan.problems:
                for message in plan.problems:
                    self._event(owned, "Warning", "FailedMount", message)
                self._write(owned, lambda p, n: podstatus.waiting(p, "ContainerCreating", "", self.cluster.now(),
                                                                   self._runtime()))
            elif env.errors:
                for message in env.errors:
                    self._event(owned, "Warning", "Failed", f"Error: {message}")
                self._write(owned, lambda p, n: podstatus.waiting(p, "CreateContainerConfigError", env.errors[0],
                                                                   self.cluster.now(), self._runtime()))
            else:
                break
            await asyncio.sleep(RETRY_CONFIG)
        volume_dirs = podfs.write_volumes(owned.directory, plan)
        mounts, problems = mount_table(container, volume_dirs)
        if problems:
            return "; ".join(problems)
        layout = PodLayout(pod["metadata"]["name"], owned.ip, owned.directory / "root", mounts, env.env,
                           images.config_path(container, env.env))
        layout.root.mkdir(parents=True, exist_ok=True)
        owned.layout = layout
        try:
            if owned.generic is not None:
                # The kubelet expands $(VAR) in command and args from the container's environment.
                argv = [expand(word, env.env) for word in images.container_argv(owned.generic, container)]
                return generic.generic_launch(owned.generic, argv, layout, self.applets(),
                                              container.get("workingDir") or "", self.options.worker_user)
            return launch_for(owned.image, layout, self._surroundings(pod))
        except LaunchError as exc:
            return exc.message

    async def _run(self, owned: Owned, launch: Launch | str) -> int:
        """Start the program, follow its health until it exits; its exit code."""
        owned.started_at, owned.started_mono = self.cluster.now(), time.monotonic()
        owned.log_path.parent.mkdir(parents=True, exist_ok=True)
        problem = launch if isinstance(launch, str) else self._port_clash(owned, launch)
        if problem is None:
            try:
                owned.proc = launch.start(owned.log_path)
            except OSError as exc:
                problem = f"exec {launch.argv[0]}: {exc.strerror}"
        if problem is not None:
            # What the container would have printed before exiting: visible through pod_log.
            with owned.log_path.open("a") as fh:
                fh.write(f"harborlab: {problem}\n")
            self._event(owned, "Warning", "Failed", f"Error: {problem}")
            self._write_running(owned)
            await asyncio.sleep(POLL)
            return 1
        owned.launch = launch
        podfs.remember(self.state, owned.directory, owned.proc.pid)
        if owned.restarts:
            self._event(owned, "Normal", "Started", f"Started container {owned.container}")
        self._write_running(owned)
        next_probe = 0.0
        while owned.proc.poll() is None:
            now = time.monotonic()
            if now >= next_probe:
                healthy = await asyncio.to_thread(launch.probe, 1.0)
                if owned.proc.poll() is not None:
                    break
                if healthy != owned.ready:
                    owned.ready = healthy
                    if healthy:
                        self._refresh_one(owned)   # endpoints may have changed while it started
                    self._write_running(owned)
                    if not healthy:
                        self._event(owned, "Warning", "Unhealthy", f"Readiness probe failed: {launch.health_url}")
                next_probe = now + (PROBE_READY if owned.ready else PROBE_STARTING)
            await asyncio.sleep(POLL)
        podfs.forget(self.state, owned.directory)
        code = owned.proc.returncode
        return code if code >= 0 else 128 - code   # killed by signal N: 128+N, as runtimes report

    def _port_clash(self, owned: Owned, launch: Launch) -> str | None:
        if owned.generic is not None:
            pod = self._current(owned) or owned.pod
            spec = next(c for c in pod["spec"]["containers"] if c["name"] == owned.container)
            ports = tuple(p["containerPort"] for p in spec.get("ports") or [] if p.get("containerPort"))
        else:
            ports = CATALOG[owned.image].ports
        return addresses.port_clash(procs.listeners(), ports, owned.ip, addresses.socket_holder)

    def applets(self) -> Path:
        return generic.applet_dir(podfs.home(self.state))

    def exec_argv(self, pod: dict, container: str, command: list[str]) -> list[str] | None:
        """What ``kubectl exec`` runs in a generic image's running container (None for Harbor's
        images, whose files the lab does not reproduce); ExecRefused as the runtime says why not."""
        from harborlab.kube.exec import ExecRefused
        owned = self.owned.get(pod["metadata"]["uid"])
        if owned is None or owned.generic is None or container != owned.container or owned.layout is None:
            return None
        if not owned.running():
            raise ExecRefused("OCI runtime exec failed: exec failed: cannot exec in a stopped container: unknown")
        spec = next((c for c in (self._current(owned) or owned.pod)["spec"]["containers"] if c["name"] == container), {})
        try:
            return generic.exec_argv(owned.generic, command, owned.layout, self.applets(), spec.get("workingDir") or "")
        except LaunchError as exc:
            raise ExecRefused("OCI runtime exec failed: exec failed: unable to start container process: "
                              f"{exc.message}: unknown") from None

    async def _finish_stop(self, owned: Owned, grace: float) -> None:
        proc = owned.proc
        if proc is not None and proc.poll() is None:
            # The pod left its Services' endpoints when it was deleted; give the kube-proxy and
            # nginx upstreams a moment to stop sending it new connections before SIGTERM (what a
            # preStop sleep buys on a real cluster, where the two also race).
            await asyncio.sleep(STOP_DRAIN)
            _signal(proc, signal.SIGTERM)
        if proc is not None:
            deadline = time.monotonic() + grace
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            _kill_group(proc)
        podfs.forget(self.state, owned.directory)
        podfs.remove_pod_dir(owned.directory)
        self.stopping.pop(owned.uid, None)

    def shutdown(self) -> None:
        """Stop every program now (the emulator is exiting): SIGTERM all, then SIGKILL the rest."""
        owned, self.owned = [*self.owned.values(), *self.stopping.values()], {}
        self.stopping = {}
        for item in owned:
            if item.task is not None and not item.task.done():
                item.task.cancel()
            if item.running():
                _signal(item.proc, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for item in owned:
            if item.proc is not None:
                try:
                    item.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                _kill_group(item.proc)
            podfs.forget(self.state, item.directory)
            podfs.remove_pod_dir(item.directory)

    # -- endpoints -> nginx -------------------------------------------------------------------
    def _on_change(self, change) -> None:
        if change.rkey != ENDPOINTS.key or self._refresh_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._refresh_pending = True
        loop.call_later(0.05, self.refresh_nginx)

    def refresh_nginx(self) -> None:
        """Rewrite upstreams of every running nginx whose Services' endpoints changed; SIGHUP it."""
        self._refresh_pending = False
        for owned in list(self.owned.values()):
            self._refresh_one(owned)

    def _refresh_one(self, owned: Owned) -> None:
        # Before its first health answer nginx may not handle SIGHUP yet (the default action
        # would kill it): such a pod is refreshed when it turns ready.
        if owned.image != NGINX_IMAGE or not owned.running() or not owned.ready or owned.launch is None \
                or owned.layout is None:
            return
        pod = self._current(owned) or owned.pod
        try:
            launch = launch_for(owned.image, owned.layout, self._surroundings(pod))
        except LaunchError as exc:
            log.warning("nginx %s: not reloaded: %s", owned.pod["metadata"]["name"], exc.message)
            return
        if launch.files != owned.launch.files:
            reload_nginx(owned.proc.pid, launch)
            owned.launch = launch

    # -- lookups ------------------------------------------------------------------------------
    def _get(self, kind: str, namespace: str, name: str) -> dict | None:
        res = KINDS[kind]
        return self.cluster.store.get(res.key, namespace if res.namespaced else "", name)

    def _current(self, owned: Owned) -> dict | None:
        meta = owned.pod["metadata"]
        pod = self.cluster.store.get(PODS.key, meta["namespace"], meta["name"])
        return pod if pod is not None and pod["metadata"]["uid"] == owned.uid else None

    def _backing(self, owned: Owned) -> Backing:
        return Backing(cephfs_mount(self.state, self.options.allow_plain_cephfs),
                       podfs.home(self.state) / "hostpath", owned.directory / "emptydir")

    def _surroundings(self, pod: dict) -> Surroundings:
        namespace = pod["metadata"]["namespace"]
        store = self.cluster.store
        table = service_table(store.list(SERVICES.key), store.list(ENDPOINTS.key), namespace)
        return Surroundings(endpoints=table, adminserver_env=self._adminserver_env(namespace),
                            worker_user=self.options.worker_user)

    def _adminserver_env(self, namespace: str) -> dict[str, str]:
        """The adminserver's configuration as its container would see it (the ui asks it at run
        time in Harbor; the stand-in is handed the same values at start)."""
        for pod in self.cluster.store.list(PODS.key, namespace):
            for container in pod["spec"].get("containers", []):
                if images.normalize(container.get("image", "")).startswith(ADMINSERVER + ":"):
                    return container_env(pod, container, self._get).env
        return {}

    def _runtime(self) -> str:
        return self.cluster.profile.container_runtime

    # -- writes -------------------------------------------------------------------------------
    def _write(self, owned: Owned, build) -> None:
        current = self._current(owned)
        if current is None:
            return
        node = self.cluster.store.get(NODES.key, "", current["spec"].get("nodeName") or "")
        self.cluster.put(PODS, {**current, "status": build(current, node)})

    def _write_running(self, owned: Owned) -> None:
        self._write(owned, lambda pod, node: podstatus.running(
            pod, node, owned.ip, owned.ready, self.cluster.now(), self._runtime(), owned.container,
            owned.restarts, owned.last, owned.started_at))

    def _event(self, owned: Owned, kind: str, reason: str, message: str) -> None:
        pod = self._current(owned) or owned.pod
        self.cluster.recorder.record(pod, kind, reason, message, "kubelet", pod["spec"].get("nodeName") or "")


def cephfs_mount(state: Path, allow_plain: bool) -> Path | None:
    """The lab's CephFS mount from lab.json, if it is mounted (a plain directory only when allowed:
    writing into an unmounted mountpoint would hide files under the next mount)."""
    try:
        details = json.loads((state / "lab.json").read_text())
    except (OSError, ValueError):
        return None
    point = (details.get("ceph") or {}).get("mountpoint")
    if not point:
        return None
    path = Path(point)
    if allow_plain and path.is_dir():
        return path
    fstype = procs.mount_type(path)
    return path if fstype in ("ceph", "fuse.ceph-fuse") else None


def _listened_on(address: str) -> bool:
    return any(item.host == address for item in procs.listeners())


def _signal(proc: subprocess.Popen, number: int) -> None:
    try:
        os.kill(proc.pid, number)
    except ProcessLookupError:
        pass


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL what is left of the program's session (nginx workers, registry children)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


__all__ = ["PodRunner", "RunnerOptions", "cephfs_mount"]
