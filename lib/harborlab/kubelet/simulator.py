"""One lab node's kubelet: its process lifecycle under a simulated systemd, its start-up from the
real unit files, and its eviction manager over the real filesystems.

The decisions are harborbook's (one copy of the rules): ``systemd.load_unit``/``service_argv`` turn
the unit and drop-ins into argv, ``kubeletconfig.effective_eviction`` turns argv and the config
file into settings (raising as the kubelet refuses to start), ``eviction.evaluate`` and
``eviction.pressure`` decide each housekeeping pass. This class only reads files and statvfs,
keeps the state a kubelet keeps in memory, writes the journal, and returns what the node agent
must do in the cluster (events, an eviction).

Lab deviation, on purpose: the pressure observation times survive a kubelet restart, so a fix
followed by a restart clears DiskPressure after ``evictionPressureTransitionPeriod`` (what the
runbook's verification waits for) instead of at the first status update.
"""

from __future__ import annotations

import os
import posixpath
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from harborbook.kubelet import systemd
from harborbook.eviction import evaluate, observations_from_df, resource_name
from harborbook.eviction import logline, messages, pressure
from harborbook.eviction.signals import SIGNALS, KubeletVersion
from harborbook.kubelet.config import (EvictionSettings, KubeletConfigError, containerd_root, docker_data_root,
                                      effective_eviction, kubelet_root_dir)
from harborlab.nodes import files
from harborlab.nodes.bin import nodeclient
from harborlab.nodes.layout import JOURNAL_PATH

from .observe import FsObservation, statvfs_of

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


class KubeletSim:
    def __init__(self, name: str, root: Path, version: str, profile: str, *,
                 transition: float | None = None, restart_sec: float = 10.0,
                 clock: Callable[[], float] = time.time):
        self.name, self.root, self.profile = name, Path(root), profile
        self.version = KubeletVersion.parse(version)
        self.transition_override = timedelta(seconds=transition) if transition else None
        self.restart_sec = restart_sec
        self.clock = clock
        self.loaded: dict[str, str] = {}
        self.load_error: str | None = None
        self.active = False
        self.pid: int | None = None
        self.starts = 0
        self.settings: EvictionSettings | None = None
        self.argv: list[str] = []
        self.started_at: float | None = None
        self.next_restart: float | None = None
        self.last_error: str | None = None
        self.last_observed: dict[str, datetime] = {}
        self.met: frozenset[str] = frozenset()
        self.soft_first: dict[str, datetime] = {}
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
        self.journal(logline.klog_header(when, self.pid or 0, source, severity) + message)

    def systemd_says(self, message: str) -> None:
        self.journal(message, ident="systemd", pid=1)

    # --- systemd ------------------------------------------------------------------------------
    def daemon_reload(self) -> None:
        self.loaded = self.unit_files()
        self.load_error = None
        try:
            unit = systemd.load_unit(UNIT, self.loaded, legacy_specifiers=files.LEGACY_SPECIFIERS[self.profile])
        except systemd.UnitFileError as err:
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
            unit = systemd.load_unit(UNIT, self.loaded, legacy_specifiers=files.LEGACY_SPECIFIERS[self.profile])
            argv = systemd.service_argv(unit, self.read)
        except systemd.UnitFileError as err:
            self.active, self.last_error = False, err.message
            self.systemd_says(f"{UNIT}: {err.message}")
            self.systemd_says(f"{UNIT}: Failed with result 'resources'.")
            return
        self.starts += 1
        self.pid = 1000 + zlib.crc32(self.name.encode()) % 20000 + 97 * self.starts
        self.argv = argv
        self.systemd_says("Started kubelet: The Kubernetes Node Agent.")
        try:
            self.settings = effective_eviction(argv, self.version, self.read, self.list_dir)
        except KubeletConfigError as err:
            self.fail(err.message)
            return
        self.active, self.last_error = True, None
        self.started_at = self.clock()
        self.met, self.soft_first = frozenset(), {}
        for warning in self.settings.warnings:
            self.klog(warning, "server.go:214", "W")
        self.journal(logline.format_startup_line(
            self.settings.hard, logline.era_for(self.version), when=datetime.fromtimestamp(self.clock()),
            pid=self.pid, node_name=self.name, root_dir=kubelet_root_dir(argv),
            cgroup_driver="cgroupfs" if self.profile == "article" else "systemd",
            min_reclaim=self.settings.min_reclaim))

    def fail(self, error: str) -> None:
        """The kubelet exits with ``error``; systemd schedules a restart (Restart=always)."""
        if self.version <= (1, 20):
            self.journal(f"error: {error}")
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
        root_dir = kubelet_root_dir(self.argv) if self.argv else "/var/lib/kubelet"
        nodefs = statvfs_of(self.host_path(root_dir), "/")
        image = self.image_root()
        host = self.host_path(image)
        imagefs = statvfs_of(host if host.exists() else self.host_path("/"), image)
        return nodefs, imagefs

    def transition(self) -> timedelta:
        assert self.settings is not None
        configured = self.settings.transition_period
        if self.transition_override and self.settings.sources.get("evictionPressureTransitionPeriod", "").startswith("default"):
            return self.transition_override
        return pressure.transition_period(configured)

    def resource(self, signal: str) -> str:
        return resource_name(signal, self.version)

    # --- housekeeping ---------------------------------------------------------------------------
    def housekeeping(self, pods: list[dict]) -> Pass:
        """One pass of the eviction manager (synchronize); ``pods`` are those bound to the node."""
        now_ts = self.clock()
        result = Pass()
        if not self.active:
            if self.next_restart is not None and now_ts >= self.next_restart:
                self.start()
            return result
        assert self.settings is not None
        now = datetime.fromtimestamp(now_ts)
        nodefs, imagefs = self.filesystems()
        separate = nodefs.device != imagefs.device
        observations = observations_from_df(nodefs.usage(), imagefs.usage())
        verdict = evaluate(observations, self.settings.hard, imagefs_separate=separate,
                           min_reclaim=self.settings.min_reclaim, previously_met=self.met, version=self.version)
        met = set(verdict.met)
        if self.settings.soft:
            soft = evaluate(observations, self.settings.soft, imagefs_separate=separate, version=self.version)
            self.soft_first = pressure.record_first_observed(self.soft_first, soft.met, now)
            grace = {s: _seconds(v) for s, v in self.settings.soft_grace.items()}
            met |= pressure.soft_thresholds_due(self.soft_first, grace, now)
        self.met = frozenset(met)
        conditions = {SIGNALS[s].condition for s in met}
        self.last_observed = pressure.record_observed(self.last_observed, conditions, now)
        before, self.in_force = self.in_force, pressure.conditions_in_force(self.last_observed, self.transition(), now)
        for condition in sorted(self.in_force - before):
            result.events.append(("Normal", *_node_event("disk_pressure" if condition == "DiskPressure" else None,
                                                         condition, self.name)))
        for condition in sorted(before - self.in_force):
            result.events.append(("Normal", *_node_event("no_disk_pressure" if condition == "DiskPressure" else None,
                                                         condition, self.name, cleared=True)))
        if not met:
            return result
        signal = next(row.signal for row in verdict.rows if row.signal in met) if verdict.met else sorted(met)[0]
        resource = self.resource(signal)
        self.klog(messages.log_line("attempting_reclaim", self.version, resource=resource),
                  EVICTION_SOURCE + ":319", "W" if self.version > (1, 20) else "I")
        reason, type_, message = messages.NODE_EVENTS["threshold_met"]
        result.events.append((type_, reason, message.format(resource=resource)))
        if "delete unused images" in verdict.reclaim.get(signal, ()) and self.reclaim_images():
            nodefs, imagefs = self.filesystems()
            again = evaluate(observations_from_df(nodefs.usage(), imagefs.usage()), self.settings.hard,
                             imagefs_separate=separate, version=self.version)
            if signal not in again.met:
                self.klog("eviction manager: able to reduce " + resource + " pressure without evicting pods.",
                          EVICTION_SOURCE + ":334")
                return result
        self.klog(messages.log_line("must_evict", self.version, resource=resource), EVICTION_SOURCE + ":346")
        victims = [p for p in pods if (p.get("status") or {}).get("phase") in ("Pending", "Running")
                   and not is_critical(p)]
        if not victims:
            self.klog(messages.log_line("no_pods_to_evict", self.version), EVICTION_SOURCE + ":349", "E")
            return result
        victim = sorted(victims, key=lambda p: p["metadata"].get("creationTimestamp", ""))[0]
        row = next(r for r in verdict.rows if r.signal == signal)
        text = messages.evicted_message(self.version, resource, str(row.threshold_bytes),
                                        f"{(row.available or 0) // 1024}Ki")
        self.klog(messages.log_line("pod_evicted", self.version, pod=self.pod_ref(victim)), EVICTION_SOURCE + ":375")
        result.evict = (victim, text)
        return result

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
            return f"{meta['name']}_{meta.get('namespace', 'default')}({meta.get('uid', '')})"
        return f"{meta.get('namespace', 'default')}/{meta['name']}"

    # --- admission ------------------------------------------------------------------------------
    def admit(self, pod: dict) -> tuple[str, str] | None:
        if "DiskPressure" not in self.in_force or is_critical(pod):
            return None
        conditions = ",".join(sorted(self.in_force))
        self.klog(messages.log_line("admit_refused", self.version, pod=self.pod_ref(pod), conditions=conditions),
                  ADMIT_SOURCE, "W")
        return messages.EVICTED_REASON, messages.ADMISSION_MESSAGE.format(conditions=conditions)


def _seconds(text: str) -> timedelta:
    from harborbook.kubelet.config import parse_duration
    return parse_duration(text)


def _node_event(key: str | None, condition: str, node: str, cleared: bool = False) -> tuple[str, str]:
    if key is not None:
        reason, _type, message = messages.NODE_EVENTS[key]
        return reason, message.format(node=node)
    status = messages.CONDITIONS[condition][1 if cleared else 0][0]
    word = {"KubeletHasSufficientMemory": "NodeHasSufficientMemory",
            "KubeletHasInsufficientMemory": "NodeHasInsufficientMemory",
            "KubeletHasSufficientPID": "NodeHasSufficientPID",
            "KubeletHasInsufficientPID": "NodeHasInsufficientPID"}.get(status, status)
    return word, f"Node {node} status is now: {word}"
