"""Step 2: the eviction thresholds in force on a node, and where each answer came from.

Sources, best first: the kubelet's own ``configz`` (what it runs with); the last start-up line of
its log (what it started with, any era); its unit files and config read with systemd's and the
kubelet's rules (what it WILL run with after a restart); the version's defaults. Files are read
whenever a node shell is available, because a remedy edits them and because files that disagree
with the running kubelet mean somebody changed them without restarting it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from ...kubelet import config as kubeletconfig, systemd
from ...errors import HarborbookError
from ...eviction import default_hard, thresholds_from_log
from ...eviction.pressure import DEFAULT_TRANSITION
from ...eviction.signals import KubeletVersion
from ...kube import Kube
from ...nodeshell import NodeShell
from ...runbook import Status, StepResult

UNIT = "kubelet.service"
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


@dataclass
class InForce:
    """What a node's kubelet uses, what its files say, and how we know."""

    node: str
    version: str
    thresholds: dict[str, str]
    source: str  # configz | kubelet log | unit files | defaults
    transition_period_s: float = DEFAULT_TRANSITION.total_seconds()
    files: dict[str, str] = field(default_factory=dict)  # every file read: path -> text
    from_files: dict[str, str] | None = None  # what the files say (None when unread)
    files_error: str | None = None  # the kubelet would refuse these files (its message)
    argv: list[str] = field(default_factory=list)
    config_path: str | None = None  # --config (modern kubelets)
    dropin: str | None = None  # the drop-in that carries the kubelet's flags
    extra_args_file: str | None = None  # where KUBELET_EXTRA_ARGS comes from, when a file
    root_dir: str = "/var/lib/kubelet"
    log_thresholds: dict[str, str] | None = None
    disagreement: str | None = None


def reader(shell: NodeShell) -> Callable[[str], str | None]:
    """A read function for the parsers: file text, or None when the node has no such file."""
    def read(path: str) -> str | None:
        rc, out, _ = shell.run(["cat", path], check=False)
        return out if rc == 0 else None

    return read


def lister(shell: NodeShell) -> Callable[[str], list[str] | None]:
    def list_dir(path: str) -> list[str] | None:
        rc, out, _ = shell.run(["ls", "-1", path], check=False)
        return out.split() if rc == 0 else None

    return list_dir


def unit_files(shell: NodeShell) -> dict[str, str]:
    """The kubelet unit and every drop-in, from all of systemd's unit directories."""
    read, list_dir = reader(shell), lister(shell)
    files: dict[str, str] = {}
    for directory in UNIT_DIRS:
        text = read(posixpath.join(directory, UNIT))
        if text is not None:
            files[posixpath.join(directory, UNIT)] = text
        dropdir = posixpath.join(directory, UNIT + ".d")
        for name in list_dir(dropdir) or []:
            if name.endswith(".conf"):
                path = posixpath.join(dropdir, name)
                text = read(path)
                if text is not None:
                    files[path] = text
    return files


def _legacy_systemd(shell: NodeShell) -> bool:
    """systemd before 236 kept unknown % specifiers; newer versions drop the line."""
    rc, out, _ = shell.run(["systemctl", "--version"], check=False)
    match = re.search(r"systemd (\d+)", out or "")
    return match is not None and int(match.group(1)) < 236


def read_files(shell: NodeShell, version: str, state: InForce) -> None:
    """Fill ``state`` with what the unit files and config say (or why the kubelet would refuse them)."""
    read = reader(shell)
    cache: dict[str, str | None] = {}

    def cached(path: str) -> str | None:
        if path not in cache:
            text = cache[path] = read(path)
            if text is not None:
                state.files[path] = text
        return cache[path]

    files = unit_files(shell)
    state.files.update(files)
    try:
        unit = systemd.load_unit(UNIT, files, legacy_specifiers=_legacy_systemd(shell))
        state.argv = systemd.service_argv(unit, cached)
        state.dropin = next((d for d in reversed(unit.dropins) if "ExecStart" in files.get(d, "")), None)
        source = systemd.variable_source(unit, "KUBELET_EXTRA_ARGS", cached)
        state.extra_args_file = source if source and source != "Environment=" else None
        settings = kubeletconfig.effective_eviction(state.argv[1:], version, cached, lister(shell))
        state.config_path = settings.config_file
        state.from_files = dict(settings.hard)
        state.transition_period_s = settings.transition_period.total_seconds()
        state.root_dir = kubeletconfig.kubelet_root_dir(state.argv[1:])
    except HarborbookError as exc:
        state.files_error = exc.message


def thresholds_in_force(kube: Kube, node: str, shell: NodeShell | None = None,
                        version: str | None = None) -> StepResult[InForce]:
    """The hard thresholds the kubelet uses, with their source; files read when a shell is given."""
    from .clusterview import FLEET, fleet_skip

    if node == FLEET:
        return fleet_skip("thresholds in force")
    if version is None:
        obj = kube.get("v1", "Node", node) or {}
        version = ((obj.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "v1.30.0")
    state = InForce(node, version, {}, "defaults")
    status, configz = kube.node_proxy_json(node, "configz")
    notes = []
    if configz:
        settings = kubeletconfig.eviction_from_configz(configz, version)
        state.thresholds, state.source = dict(settings.hard), "configz"
        state.transition_period_s = settings.transition_period.total_seconds()
    else:
        notes.append(f"configz answered {status}")
    if shell is not None:
        rc, log, _ = shell.run(["journalctl", "-u", "kubelet", "--no-pager", "-o", "cat"], check=False)
        state.log_thresholds = thresholds_from_log(log) if rc == 0 else None
        read_files(shell, version, state)
        if not configz and state.log_thresholds is not None:
            state.thresholds, state.source = dict(state.log_thresholds), "kubelet log"
        elif not configz and state.from_files is not None:
            state.thresholds, state.source = dict(state.from_files), "unit files"
    if state.source == "defaults":
        state.thresholds = dict(default_hard(KubeletVersion.parse(version)))
    if state.from_files is not None and state.source in ("configz", "kubelet log") and \
            comparable(state.from_files) != comparable(state.thresholds):
        state.disagreement = (f"the files say {shown(state.from_files)} but the running kubelet uses "
                              f"{shown(state.thresholds)}: they were changed without restarting the kubelet")
    rows = [{"signal": s, "threshold": v, "source": state.source,
             "files say": (state.from_files or {}).get(s, "-") if state.from_files is not None else "(not read)"}
            for s, v in sorted(state.thresholds.items())]
    from_files = state.from_files or {}
    for s in sorted(set(from_files) - set(state.thresholds)):
        rows.append({"signal": s, "threshold": "-", "source": state.source, "files say": from_files[s]})
    summary = f"{node} (kubelet {version}): {shown(state.thresholds)} from {state.source}"
    result_status = Status.OK
    if state.disagreement:
        summary += "; " + state.disagreement
        result_status = Status.WARNING
    if state.files_error:
        summary += f"; the files would not start a kubelet: {state.files_error}"
        result_status = Status.WARNING
    return StepResult("thresholds in force", result_status, summary, table=pd.DataFrame(rows),
                      data={"source": state.source, "thresholds": state.thresholds, "notes": notes,
                            "files": sorted(state.files)}, value=state)


def comparable(thresholds: dict[str, str]) -> dict[str, str]:
    """Compare maps the way the kubelet would: 10% == 10.0%, 100Mi == 104857600."""
    from ...eviction import parse_threshold_value

    out = {}
    for signal, value in thresholds.items():
        try:
            parsed = parse_threshold_value(signal, value)
        except ValueError:
            out[signal] = value
            continue
        out[signal] = "off" if parsed is None else repr(
            (parsed.percentage, parsed.quantity.value if parsed.quantity is not None else None))
    return out


def shown(thresholds: dict[str, str]) -> str:
    return ", ".join(f"{s}<{v}" for s, v in sorted(thresholds.items())) or "no thresholds"
