"""One lab node's kubelet: its process lifecycle under a simulated systemd, its start-up from the
real unit files, and its eviction manager over the real filesystems.

The rules are the lab's own, each written from its primary source (harborlab never asks the
product what the truth is): ``systemd`` reads the unit and its drop-ins into argv, ``settings``
assembles the eviction settings as the kubelet of the profile's era does (raising as it refuses to
start), ``eviction.Manager`` takes each housekeeping pass as eviction_manager.go synchronize does.
This class reads files and statvfs, keeps what a kubelet keeps in memory, writes the journal, and
returns what the node agent must do in the cluster (events, an eviction).

Lab deviation, on purpose: the pressure observation times survive a kubelet restart, so a fix
followed by a restart clears DiskPressure after ``evictionPressureTransitionPeriod`` (what the
runbook's verification waits for) instead of at the first status update.
"""

from __future__ import annotations

import json
import os
import posixpath
import time
import tomllib
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from harborlab.errors import LabError
from harborlab.nodes import files
from harborlab.nodes.bin import nodeclient
from harborlab.nodes.layout import JOURNAL_PATH

from . import eviction, settings as kubelet_settings, systemd
from .observe import FsObservation, statvfs_of
from .startup import klog_header, startup_line

UNIT = files.UNIT
EVICTION_SOURCE = "eviction_manager.go"
ADMIT_SOURCE = "kubelet.go:1650"


@dataclass
class Pass:
    """What one housekeeping pass asks the node agent to do in the cluster."""

    events: list[tuple[str, str, str]] = field(default_factory=list)   # (type, reason, message)
    evict: tuple[dict, str] | None = None                               # (pod, status message)


def is_critical(pod: dict) -> bool:
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    return (spec.get("priorityClassName") in ("system-node-critical", "system-cluster-critical")
            or "kubernetes.io/config.mirror" in (meta.get("annotations") or {}))


def docker_data_root(daemon_json: str | None) -> str:
    """dockerd's data root: ``data-root`` in daemon.json (``graph`` before Docker 17.05), default
    /var/lib/docker (dockerd(8), daemon configuration file)."""
    try:
        config = json.loads(daemon_json) if daemon_json and daemon_json.strip() else {}
    except ValueError:
        config = {}
    return config.get("data-root") or config.get("graph") or "/var/lib/docker"


def containerd_root(config_toml: str | None) -> str:
    """containerd's ``root`` (containerd-config.toml(5)), default /var/lib/containerd."""
    try:
        config = tomllib.loads(config_toml) if config_toml and config_toml.strip() else {}
    except tomllib.TOMLDecodeError:
        config = {}
    return config.get("root") or "/var/lib/containerd"


class KubeletSim:
    def __init__(self, name: str, root: Path, version: str, profile: str, *,
                 transition: float | None = None, restart_sec: float = 10.0,
                 clock: Callable[[], float] = time.time):
        self.name, self.root, self.profile = name, Path(root), profile
        self.version = eviction.parse_version(version)
        self.transition_override = transition or None
        self.restart_sec = restart_sec
        self.clock = clock
        self.loaded: dict[str, str] = {}
        self.load_error: str | None = None
        self.active = False
        self.pid: int | None = None
        self.starts = 0
        self.settings: kubelet_settings.Settings | None = None
        self.manager: eviction.Manager | None = None
        self.argv: list[str] = []
        self.started_at: float | None = None
        self.next_restart: float | None = None
        self.last_error: str | None = None
        self.in_force: frozenset[str] = frozenset()

    # --- files inside the node --------------------------------------------------------------
    def host_path(self, path: str) -> Path:
        return self.root / posixpath.normpath("/" + path).lstrip("/")

    def read(self, path: str) -> str | None:
        try:
            return self.host_path(path).read_text()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def list_dir(self, path: str) -> list[str] | None:
        try:
            return sorted(os.listdir(self.host_path(path)))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def unit_files(self) -> dict[str, str]:
        found = {}
        for directory in systemd.SEARCH_PATH:
            text = self.read(posixpath.join(directory, UNIT))
            if text is not None:
                found[posixpath.join(directory, UNIT)] = text
            for name in self.list_dir(posixpath.join(directory, UNIT + ".d")) or []:
                path = posixpath.join(directory, UNIT + ".d", name)
                text = self.read(path)
                if text is not None and name.endswith(".conf"):
                    found[path] = text
        return found

    # --- journal ----------------------------------------------------------------------------
    def journal(self, message: str, *, ident: str = "kubelet", pid: int | None = None) -> None:
        record = {"t": self.clock(), "pid": pid if pid is not None else (self.pid or 0), "ident": ident,
                  "unit": UNIT, "msg": message}
        try:
            nodeclient.append_record(str(self.host_path(JOURNAL_PATH)), record)
        except OSError:
            pass    # a full disk loses journal lines, as journald does; the kubelet goes on

    def klog(self, message: str, source: str, severity: str = "I") -> None:
        when = datetime.fromtimestamp(self.clock())
        self.journal(klog_header(when, self.pid or 0, source, severity) + message)

    def say(self, key: str, source: str, **fields: str) -> None:
        severity, template = eviction.log_lines(self.version)[key]
        self.klog(template.format(**fields), source, severity)

    def systemd_says(self, message: str) -> None:
        self.journal(message, ident="systemd", pid=1)

    # --- systemd ------------------------------------------------------------------------------
    def load_unit(self) -> systemd.Unit:
        return systemd.load(UNIT, self.loaded, legacy_specifiers=files.LEGACY_SPECIFIERS[self.profile])

    def daemon_reload(self) -> None:
        self.loaded = self.unit_files()
        self.load_error = None
        try:
            unit = self.load_unit()
        except systemd.UnitError as err:
            self.load_error = err.message
            self.systemd_says(err.message)
            return
        for warning in unit.warnings:
            self.systemd_says(warning)

    def files_changed(self) -> bool:
        return self.unit_files() != self.loaded

    def start(self) -> None:
        """Start the kubelet as systemd would: load the unit, exec, and let the kubelet validate."""
        if not self.loaded and self.load_error is None:
            self.daemon_reload()
        self.next_restart = None
        if self.load_error is not None:
            self.active, self.last_error = False, self.load_error
            self.systemd_says(f"{UNIT}: Failed to load unit: {self.load_error}")
            return
        try:
            argv = systemd.argv(self.load_unit(), self.read)
        except systemd.UnitError as err:
            self.active, self.last_error = False, err.message
            self.systemd_says(f"{UNIT}: {err.message}")
            self.systemd_says(f"{UNIT}: Failed with result 'resources'.")
            return
        self.starts += 1
        self.pid = 1000 + zlib.crc32(self.name.encode()) % 20000 + 97 * self.starts
        self.argv = argv
        self.systemd_says("Started kubelet: The Kubernetes Node Agent.")
        try:
            self.settings = kubelet_settings.assemble(argv, self.version, self.read)
        except LabError as err:
            self.fail(err.message)
            return
        self.active, self.last_error = True, None
        self.started_at = self.clock()
        previous = self.manager.conditions_last_observed if self.manager else {}
        self.manager = eviction.Manager(
            eviction.with_containerfs(self.settings.thresholds, self.separate_imagefs(), self.version),
            self.transition(), conditions_last_observed=dict(previous))    # the lab deviation above
        hard = {t.signal: (self.settings.hard.get(t.signal, ""), t.value)
                for t in self.settings.thresholds if t.grace == 0}
        self.journal(startup_line(
            hard, self.version, when=datetime.fromtimestamp(self.clock()), pid=self.pid, node=self.name,
            root_dir=self.settings.root_dir, cgroup_driver="cgroupfs" if self.profile == "article" else "systemd",
            reclaim={t.signal for t in self.settings.thresholds if t.min_reclaim is not None}))

    def fail(self, error: str) -> None:
        """The kubelet exits with ``error``; systemd schedules a restart (Restart=always)."""
        if self.version <= (1, 20):
            self.journal(f"error: {error}")      # cmd/kubelet main: fmt.Fprintf(os.Stderr, "error: %v\n", err)
        else:
            self.klog(f'"command failed" err="{error}"', "run.go:74", "E")
        self.systemd_says(f"{UNIT}: Main process exited, code=exited, status=1/FAILURE")
        self.systemd_says(f"{UNIT}: Unit entered failed state." if self.profile == "article"
                          else f"{UNIT}: Failed with result 'exit-code'.")
        self.active, self.last_error, self.settings = False, error, None
        self.next_restart = self.clock() + self.restart_sec

    def stop(self) -> None:
        if self.active:
            self.systemd_says("Stopping kubelet: The Kubernetes Node Agent...")
            self.systemd_says("Stopped kubelet: The Kubernetes Node Agent.")
        self.active, self.next_restart = False, None

    def restart(self) -> None:
        self.stop()
        self.start()

    # --- observations ------------------------------------------------------------------------
    def image_root(self) -> str:
        if self.profile == "article":
            return docker_data_root(self.read("/etc/docker/daemon.json"))
        return containerd_root(self.read("/etc/containerd/config.toml"))

    def filesystems(self) -> tuple[FsObservation, FsObservation]:
        """(nodefs, imagefs): the kubelet root dir's filesystem and the runtime data root's."""
        root_dir = kubelet_settings.root_dir(self.argv) if self.argv else kubelet_settings.DEFAULT_ROOT_DIR
        nodefs = statvfs_of(self.host_path(root_dir), "/")
        image = self.image_root()
        host = self.host_path(image)
        imagefs = statvfs_of(host if host.exists() else self.host_path("/"), image)
        return nodefs, imagefs

    def separate_imagefs(self) -> bool:
        nodefs, imagefs = self.filesystems()
        return nodefs.device != imagefs.device

    def observations(self) -> dict[str, tuple[int, int]]:
        nodefs, imagefs = self.filesystems()
        return eviction.observe(nodefs.fs(), imagefs.fs(), self.version)

    def transition(self) -> float:
        """evictionPressureTransitionPeriod in seconds (the lab's short one replaces the default)."""
        assert self.settings is not None
        if self.transition_override and self.settings.transition_defaulted:
            return self.transition_override
        return self.settings.transition

    def resource(self, signal: str) -> str:
        return eviction.resource_of(signal, self.version)

    # --- housekeeping ---------------------------------------------------------------------------
    def housekeeping(self, pods: list[dict]) -> Pass:
        """One pass of the eviction manager (synchronize); ``pods`` are those bound to the node."""
        now = self.clock()
        result = Pass()
        if not self.active:
            if self.next_restart is not None and now >= self.next_restart:
                self.start()
            return result
        assert self.manager is not None
        observed = self.observations()
        acting = self.manager.synchronize(observed, now)
        before, self.in_force = self.in_force, self.manager.node_conditions
        for condition in sorted(self.in_force - before):
            result.events.append(("Normal", *_node_event(condition, True, self.name)))
        for condition in sorted(before - self.in_force):
            result.events.append(("Normal", *_node_event(condition, False, self.name)))
        if not acting:
            return result
        # byEvictionPriority: memory first, otherwise in the order the thresholds were met
        threshold = sorted(acting, key=lambda t: eviction.SIGNALS[t.signal][0] != "MemoryPressure")[0]
        resource = self.resource(threshold.signal)
        self.say("attempting", EVICTION_SOURCE + ":319", resource=resource)
        result.events.append(("Warning", "EvictionThresholdMet", f"Attempting to reclaim {resource}"))
        if self.reclaim_node_level(threshold):
            self.say("reclaimed", EVICTION_SOURCE + ":334", resource=resource)
            return result
        self.say("must_evict", EVICTION_SOURCE + ":346", resource=resource)
        victims = [p for p in pods if (p.get("status") or {}).get("phase") in ("Pending", "Running")
                   and not (self.version >= (1, 8) and is_critical(p))]
        if not victims:
            self.say("no_pods", EVICTION_SOURCE + ":349")
            return result
        victim = sorted(victims, key=lambda p: p["metadata"].get("creationTimestamp", ""))[0]
        available, capacity = observed[threshold.signal]
        text = eviction.evicted_message(self.version, resource, threshold.value.of(capacity), available)
        if self.version > (1, 20):
            self.klog(f'"Eviction manager: pod is evicted successfully" pod="{self.pod_ref(victim)}"',
                      EVICTION_SOURCE + ":375")
        result.evict = (victim, text)
        return result

    def reclaim_node_level(self, threshold: eviction.Threshold) -> bool:
        """reclaimNodeLevelResources: with a dedicated imagefs only imagefs pressure deletes images
        (buildResourceToNodeReclaimFuncs); then the thresholds met are evaluated again with min reclaim."""
        assert self.manager is not None
        disk = threshold.signal.split(".")[0] in ("nodefs", "imagefs", "containerfs")
        if not disk or (threshold.signal.startswith("nodefs.") and self.separate_imagefs()):
            return False
        if not self.reclaim_images():
            return False
        return not eviction.thresholds_met(self.manager.thresholds_met, self.observations(), True)

    def reclaim_images(self) -> int:
        """Delete unused image layers (the image GC the eviction manager calls); bytes freed."""
        runtime = "docker" if self.profile == "article" else "containerd"
        layer_dir = self.host_path(posixpath.join(self.image_root(), nodeclient.LAYER_DIRS[runtime]))
        freed = sum(size for _layer, size in nodeclient.prune(str(layer_dir)))
        if freed:
            self.klog(f"eviction manager: freed {freed} bytes of unused images", "image_gc_manager.go:300")
        return freed

    def pod_ref(self, pod: dict) -> str:
        meta = pod["metadata"]
        if self.version <= (1, 20):
            return f"{meta['name']}_{meta.get('namespace', 'default')}({meta.get('uid', '')})"   # format.Pod
        return f"{meta.get('namespace', 'default')}/{meta['name']}"                            # klog.KObj

    # --- admission ------------------------------------------------------------------------------
    def admit(self, pod: dict) -> tuple[str, str] | None:
        """eviction_manager.go Admit: no conditions admits; under DiskPressure everything is refused
        (critical pods are admitted from 1.8 on)."""
        if not self.in_force or (self.version >= (1, 8) and is_critical(pod)):
            return None
        if self.in_force == {"MemoryPressure"} and (pod.get("spec") or {}).get("containers") and any(
                (c.get("resources") or {}).get("requests") or (c.get("resources") or {}).get("limits")
                for c in pod["spec"]["containers"]):
            return None          # memory pressure refuses only BestEffort pods
        conditions = " ".join(sorted(self.in_force))          # Go's %v of a []NodeConditionType
        self.say("admit", ADMIT_SOURCE, pod=self.pod_ref(pod), conditions=conditions)
        return eviction.REASON, eviction.admission_message(self.version, conditions)


def _node_event(condition: str, now_true: bool, node: str) -> tuple[str, str]:
    reason = eviction.NODE_EVENT[(condition, now_true)]
    return reason, f"Node {node} status is now: {reason}"
