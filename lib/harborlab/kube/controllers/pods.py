"""The kubelet side of pods bound to a node, for nodes whose agent does not run them itself:
admission, volume mounts, image pulls, then Running and Ready after a short delay.

Mount and pull checks are pure functions; the controller keeps per-pod progress and the timers.
A node agent that returns True from ``start_pod`` owns the pod from then on (nodes.py).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Callable

from harborlab import images

from ..cluster import Cluster
from ..nodes import node_index
from ..resources import by_key
from .common import PODS, set_condition

CONFIGMAPS, SECRETS = by_key("/configmaps"), by_key("/secrets")
PVCS, PVS = by_key("/persistentvolumeclaims"), by_key("/persistentvolumes")
CSIDRIVERS = by_key("storage.k8s.io/csidrivers")
BACKOFF_DELAY = 1.0
MOUNT_RETRY = 2.0
CEPHFS_REMOVED = (1, 31)    # the in-tree cephfs plugin was removed from the kubelet in 1.31


def _csi_missing(volume: str, driver: str) -> str:
    return (f'MountVolume.MountDevice failed for volume "{volume}" : kubernetes.io/csi: attacher.MountDevice '
            f"failed to create newCsiDriverClient: driver name {driver} not found in the list of registered "
            "CSI drivers")


def _no_plugin(volume: str) -> str:
    return (f"Unable to attach or mount volumes: unmounted volumes=[{volume}], unattached volumes=[], "
            f'failed to process volumes=[{volume}]: failed to get Plugin from volumeSpec for volume "{volume}" '
            "err=no volume plugin matched")


def _source_problem(name: str, source: dict, version: tuple[int, int], has_driver: Callable[[str], bool]) -> str | None:
    if "cephfs" in source and version >= CEPHFS_REMOVED:
        return _no_plugin(name)
    driver = (source.get("csi") or {}).get("driver")
    if driver and not has_driver(driver):
        return _csi_missing(name, driver)
    return None


def mount_problems(pod: dict, get: Callable[[object, str, str], dict | None], version: tuple[int, int]) -> list[str]:
    """FailedMount messages for ``pod``'s volumes (empty when everything can be mounted)."""
    ns = pod["metadata"]["namespace"]
    has_driver = lambda d: get(CSIDRIVERS, "", d) is not None  # noqa: E731
    problems = []
    for vol in pod["spec"].get("volumes") or []:
        name = vol.get("name")
        refs = [(CONFIGMAPS, "configmap", vol["configMap"].get("name"), vol["configMap"].get("optional"))
                for _ in [0] if "configMap" in vol]
        refs += [(SECRETS, "secret", vol["secret"].get("secretName"), vol["secret"].get("optional"))
                 for _ in [0] if "secret" in vol]
        for source in ((vol.get("projected") or {}).get("sources") or []):
            if "configMap" in source:
                refs.append((CONFIGMAPS, "configmap", source["configMap"].get("name"), source["configMap"].get("optional")))
            if "secret" in source:
                refs.append((SECRETS, "secret", source["secret"].get("name"), source["secret"].get("optional")))
        for res, word, ref, optional in refs:
            if not optional and get(res, ns, ref) is None:
                problems.append(f'MountVolume.SetUp failed for volume "{name}" : {word} "{ref}" not found')
        if "persistentVolumeClaim" in vol:
            claim_name = vol["persistentVolumeClaim"].get("claimName")
            claim = get(PVCS, ns, claim_name)
            if claim is None:
                problems.append(f'MountVolume.SetUp failed for volume "{name}" : persistentvolumeclaim '
                                f'"{claim_name}" not found')
            elif (claim.get("status") or {}).get("phase") != "Bound":
                problems.append(f'MountVolume.SetUp failed for volume "{name}" : persistentvolumeclaim '
                                f'"{claim_name}" is not bound')
            else:
                pv = get(PVS, "", claim["spec"].get("volumeName"))
                problem = _source_problem(name, (pv or {}).get("spec") or {}, version, has_driver)
                if problem:
                    problems.append(problem)
        problem = _source_problem(name, vol, version, has_driver)
        if problem:
            problems.append(problem)
    return problems


def missing_images(pod: dict) -> list[str]:
    from ..system import preloaded   # a kubeadm node's own control-plane images need no pull
    return [c["image"] for c in pod["spec"].get("containers", [])
            if images.lookup(c.get("image", "")) is None and not preloaded(c.get("image", ""))]


def pull_failure(image: str, runtime: str) -> str:
    if runtime.startswith("docker"):
        return (f'Failed to pull image "{image}": rpc error: code = Unknown desc = Error response from daemon: '
                f"pull access denied for {image.rsplit(':', 1)[0]}, repository does not exist or may require "
                "'docker login'")
    full = images.normalize(image)
    full = full if "/" in full.split(":")[0] and "." in full.split("/")[0] else f"docker.io/{full}"
    return (f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and unpack image '
            f'"{full}": failed to resolve reference "{full}": not found')


def _container_id(pod: dict, name: str) -> str:
    return hashlib.sha256(f"{pod['metadata']['uid']}/{name}".encode()).hexdigest()


def container_statuses(pod: dict, state: dict, ready: bool, runtime: str) -> list[dict]:
    prefix = "docker" if runtime.startswith("docker") else "containerd"
    out = []
    for c in pod["spec"].get("containers", []):
        entry = {"name": c["name"], "image": c.get("image"), "imageID": "", "ready": ready,
                 "restartCount": 0, "started": "running" in state, "state": state, "lastState": {}}
        if "running" in state:
            entry["containerID"] = f"{prefix}://{_container_id(pod, c['name'])}"
            entry["imageID"] = f"docker-pullable://{images.normalize(c.get('image', ''))}"
        out.append(entry)
    return out


def running_status(pod: dict, node: dict | None, pod_ip: str, ready: bool, now: str, runtime: str,
                   started: str | None = None) -> dict:
    """The status of a started pod (ready or not yet), as a kubelet reports it."""
    status = copy.deepcopy(pod.get("status") or {})
    flag = "True" if ready else "False"
    conds = status.get("conditions") or []
    conds = set_condition(conds, "Initialized", "True", None, None, now)
    for ctype in ("Ready", "ContainersReady"):
        conds = set_condition(conds, ctype, flag, None if ready else "ContainersNotReady",
                              None if ready else f"containers with unready status: "
                              f"[{' '.join(c['name'] for c in pod['spec'].get('containers', []))}]", now)
    conds = [{k: v for k, v in c.items() if v is not None} for c in conds]
    host_ip = next((a["address"] for a in ((node or {}).get("status") or {}).get("addresses") or []
                    if a["type"] == "InternalIP"), "")
    status.update(phase="Running", conditions=conds, hostIP=host_ip, podIP=pod_ip, podIPs=[{"ip": pod_ip}],
                  startTime=status.get("startTime") or started or now,
                  containerStatuses=container_statuses(pod, {"running": {"startedAt": started or now}}, ready, runtime))
    return status


KILLED_EXIT = 137     # 128 + SIGKILL: what the runtime reports for a container the kubelet killed


def terminal_status(pod: dict, phase: str, reason: str | None, message: str | None, now: str) -> dict:
    """The status of a pod whose containers the kubelet stopped for good (``phase`` Failed, e.g.
    evicted, or Succeeded). As the kubelet's status manager does for a terminal phase (issue
    108594): Ready and ContainersReady False (reason PodFailed/PodCompleted), and no container
    ready; a container that was running is reported terminated (killed: 137, or 0 when Succeeded)."""
    status = copy.deepcopy(pod.get("status") or {})
    status["phase"] = phase
    status.update({k: v for k, v in (("reason", reason), ("message", message)) if v})
    why = "PodCompleted" if phase == "Succeeded" else "PodFailed"
    conds = status.get("conditions") or []
    for ctype in ("Ready", "ContainersReady"):
        if any(c.get("type") == ctype for c in conds):
            conds = set_condition(conds, ctype, "False", why, None, now)
    status["conditions"] = [{k: v for k, v in c.items() if v is not None} for c in conds]
    code = 0 if phase == "Succeeded" else KILLED_EXIT
    for entry in status.get("containerStatuses") or []:
        running = (entry.get("state") or {}).get("running")
        if running is not None:
            terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                          "startedAt": running.get("startedAt", now), "finishedAt": now}
            if entry.get("containerID"):
                terminated["containerID"] = entry["containerID"]
            entry["state"] = {"terminated": terminated}
        entry["ready"], entry["started"] = False, False
    return status


@dataclass
class Progress:
    stage: str = "new"          # new | mount | pull | backoff | starting | owned | running | failed
    ready_at: float = 0.0
    next_try: float = 0.0
    pod: dict = field(default_factory=dict)


class PodLifecycle:
    name = "pods"
    watches = frozenset({PODS.key, CONFIGMAPS.key, SECRETS.key, PVCS.key, PVS.key, CSIDRIVERS.key})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.progress: dict[str, Progress] = {}
        self.next_ip: dict[str, int] = {}

    def _get(self, res, ns: str, name: str) -> dict | None:
        return self.cluster.store.get(res.key, ns, name)

    def sync(self, now: float) -> float | None:
        store = self.cluster.store
        live = {p["metadata"]["uid"]: p for p in store.list(PODS.key)}
        for uid in [u for u in self.progress if u not in live]:
            gone = self.progress.pop(uid)
            agent = self.cluster.agent_for(gone.pod.get("spec", {}).get("nodeName"))
            if agent is not None and gone.stage in ("starting", "owned", "running"):
                agent.stop_pod(gone.pod)
        wakes = []
        for uid, pod in live.items():
            if pod["metadata"].get("deletionTimestamp"):
                self._terminate(pod, self.progress.pop(uid, None))
                continue
            if not pod["spec"].get("nodeName") or (pod.get("status") or {}).get("phase") not in ("Pending", "Running"):
                continue
            if "kubernetes.io/config.mirror" in (pod["metadata"].get("annotations") or {}):
                continue      # a static pod's mirror: the kubelet runs it from a file (system.py reports it)
            prog = self.progress.setdefault(uid, Progress())
            prog.pod = pod
            wake = self._step(pod, prog, now)
            if wake is not None:
                wakes.append(wake)
        return min(wakes, default=None)

    def _step(self, pod: dict, prog: Progress, now: float) -> float | None:
        cluster, node_name = self.cluster, pod["spec"]["nodeName"]
        agent = cluster.agent_for(node_name)
        node = self._get(by_key("/nodes"), "", node_name)
        runtime = cluster.profile.container_runtime
        if prog.stage in ("owned", "running", "failed"):
            return None
        if prog.stage == "new":
            refusal = agent.admit(pod, node) if agent and node else None
            if refusal:
                prog.stage = "failed"
                self._write(pod, {**copy.deepcopy(pod.get("status") or {}), "phase": "Failed",
                                  "reason": refusal[0], "message": refusal[1]})
                cluster.recorder.record(pod, "Warning", refusal[0], refusal[1], "kubelet", node_name)
                return None
        if prog.stage in ("new", "mount"):
            problems = mount_problems(pod, self._get, cluster.profile.minor)
            if problems:
                if prog.stage != "mount" or now >= prog.next_try:
                    self._waiting(pod, "ContainerCreating", None)
                    for message in problems:
                        cluster.recorder.record(pod, "Warning", "FailedMount", message, "kubelet", node_name)
                    prog.next_try = now + MOUNT_RETRY
                prog.stage = "mount"
                return prog.next_try
            prog.stage = "pull"
        if prog.stage == "pull":
            missing = missing_images(pod)
            if missing:
                for image in missing:
                    cluster.recorder.record(pod, "Normal", "Pulling", f'Pulling image "{image}"', "kubelet", node_name)
                    cluster.recorder.record(pod, "Warning", "Failed", pull_failure(image, runtime), "kubelet", node_name)
                cluster.recorder.record(pod, "Warning", "Failed", "Error: ErrImagePull", "kubelet", node_name)
                self._waiting(pod, "ErrImagePull", pull_failure(missing[0], runtime))
                prog.stage, prog.next_try = "backoff", now + BACKOFF_DELAY
                return prog.next_try
            self._start(pod, prog, agent, node_name, now)
        if prog.stage == "backoff":
            if now < prog.next_try:
                return prog.next_try
            missing = missing_images(pod)
            if not missing:      # the image was fixed (spec.containers[*].image is mutable)
                prog.stage = "pull"
                return now
            for image in missing:
                cluster.recorder.record(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"', "kubelet", node_name)
            cluster.recorder.record(pod, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", node_name)
            self._waiting(pod, "ImagePullBackOff", f'Back-off pulling image "{missing[0]}"')
            prog.next_try = now + 10 * BACKOFF_DELAY
            return prog.next_try
        if prog.stage == "starting":
            if now < prog.ready_at:
                return prog.ready_at
            prog.stage = "running"
            ip = self._ip(node_name)
            if pod["spec"].get("hostNetwork"):   # the node's own address
                ip = next((a["address"] for a in ((node or {}).get("status") or {}).get("addresses") or []
                           if a["type"] == "InternalIP"), ip)
            self._write(pod, running_status(pod, node, ip, True, cluster.now(), runtime))
        return None

    def _start(self, pod: dict, prog: Progress, agent, node_name: str, now: float) -> None:
        for c in pod["spec"].get("containers", []):
            rec = self.cluster.recorder.record
            rec(pod, "Normal", "Pulled", f'Container image "{c["image"]}" already present on machine', "kubelet", node_name)
            rec(pod, "Normal", "Created", f"Created container {c['name']}", "kubelet", node_name)
            rec(pod, "Normal", "Started", f"Started container {c['name']}", "kubelet", node_name)
        owned = bool(agent and agent.start_pod(pod, self.cluster))
        prog.stage = "owned" if owned else "starting"
        prog.ready_at = now + self.cluster.pod_ready_delay

    def _terminate(self, pod: dict, prog: "Progress | None") -> None:
        """The kubelet's side of a graceful deletion: stop the containers, report them terminated
        and the pod not Ready (a MODIFIED event), then remove the pod (the final DELETED)."""
        node_name = pod["spec"].get("nodeName")
        agent = self.cluster.agent_for(node_name)
        if agent is not None and prog is not None and prog.stage in ("starting", "owned", "running"):
            agent.stop_pod(pod)
        if prog is None or prog.stage != "owned":     # an owning agent reports its own Killing
            for c in pod["spec"].get("containers", []):
                self.cluster.recorder.record(pod, "Normal", "Killing", f"Stopping container {c['name']}",
                                             "kubelet", node_name)
        status = running_status(pod, None, (pod.get("status") or {}).get("podIP", ""), False, self.cluster.now(),
                                self.cluster.profile.container_runtime)
        status["phase"] = (pod.get("status") or {}).get("phase", "Running")
        status["hostIP"] = (pod.get("status") or {}).get("hostIP", "")
        previous = {c["name"]: c for c in (pod.get("status") or {}).get("containerStatuses") or []}
        for entry in status["containerStatuses"]:
            started = ((previous.get(entry["name"]) or {}).get("state") or {}).get("running", {}).get("startedAt")
            entry.update(ready=False, started=False, state={"terminated": {
                "exitCode": 0, "reason": "Completed", "startedAt": started or self.cluster.now(),
                "finishedAt": self.cluster.now(),
                **({"containerID": entry["containerID"]} if entry.get("containerID") else {})}})
        if not status.get("podIP"):
            for key in ("podIP", "podIPs"):
                status.pop(key, None)
        self._write(pod, status)
        self.cluster.remove(PODS, pod)

    def _ip(self, node_name: str) -> str:
        n = self.next_ip.get(node_name, 1) + 1
        self.next_ip[node_name] = n
        return f"10.244.{node_index(node_name) % 256}.{n % 254 + 1}"

    def _waiting(self, pod: dict, reason: str, message: str | None) -> None:
        status = copy.deepcopy(pod.get("status") or {})
        state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        status["containerStatuses"] = container_statuses(pod, state, False, self.cluster.profile.container_runtime)
        status.setdefault("startTime", self.cluster.now())
        status["phase"] = "Pending"
        self._write(pod, status)

    def _write(self, pod: dict, status: dict) -> None:
        current = self._get(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
        if current is not None and current["metadata"]["uid"] == pod["metadata"]["uid"]:
            self.cluster.put(PODS, {**copy.deepcopy(current), "status": status})


__all__ = ["PodLifecycle", "mount_problems", "missing_images", "running_status", "terminal_status"]
