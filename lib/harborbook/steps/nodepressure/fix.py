"""Steps 5-7: plan a remedy, apply it safely (single node, backups, rollback), verify the result.

A lower threshold only buys time: it frees nothing, it moves the line the node may fill up to.
The plan says how much it buys. It always writes the FULL intended map: setting one signal
(flag or config file) replaces the whole default map, so `--eviction-hard=nodefs.available<5%`
alone would silently switch memory eviction off.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...errors import RunbookError
from ...eviction import edit_config_yaml, edit_dropin, edit_env_file, plan_threshold, thresholds_from_log
from ...eviction.remedy import headroom_bytes
from ...eviction.verdict import human
from ... import checks, conditions
from ...checks import Check, failed, ok, warning
from ...eviction import FileEdit, Verdict
from ...eviction.messages import TAINTS
from ...kube import Kube
from ...nodeshell import NodeShell
from ...params.models import NodePressure
from ...runbook import Status, StepResult
from .inforce import InForce, comparable, shown, thresholds_in_force
from .observe import Observed, observe

DISK_PRESSURE_TAINT = TAINTS["DiskPressure"]
KUBEADM_NOTE = ("`kubeadm upgrade` rewrites /var/lib/kubelet/config.yaml from the kube-system/kubelet-config "
                "ConfigMap: record the change there too, or it is lost at the next upgrade")


@dataclass
class Remedy:
    kind: str  # report | threshold | cleanup
    edits: list[FileEdit] = field(default_factory=list)
    intended: dict[str, str] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)
    to_free: int = 0


# ------------------------------------------------------------------ plan
def plan_remedy(settings: NodePressure, *, state: InForce | None, observed: Observed | None,
                verdict: Verdict | None, shell: NodeShell | None = None) -> StepResult[Remedy]:
    """The remedy chosen in node_pressure.remedy, planned and shown before anything changes."""
    if state is None or observed is None or verdict is None:
        return StepResult("remedy", Status.SKIPPED, "node: all — remedies are planned one node at a time",
                          value=Remedy("report"))
    if settings.remedy == "report":
        return StepResult("remedy", Status.SKIPPED, "remedy: report — nothing planned (set remedy: threshold or cleanup)",
                          value=Remedy("report"))
    if settings.remedy == "threshold":
        return _plan_threshold(settings, state, observed, verdict)
    return _plan_cleanup(settings, state, observed, verdict, shell)


def _plan_threshold(settings: NodePressure, state: InForce, observed: Observed, verdict: Verdict) -> StepResult[Remedy]:
    plan = plan_threshold(state.thresholds, observed.observations, target=settings.target or None,
                          headroom=settings.headroom, met=verdict.met)
    if state.config_path:
        path = state.config_path
        edit = edit_config_yaml(path, state.files.get(path, ""), plan.after)
    elif state.extra_args_file:
        path = state.extra_args_file
        edit = edit_env_file(path, state.files.get(path, ""), plan.after)
    elif state.dropin:
        path = state.dropin
        edit = edit_dropin(path, state.files[path], plan.after)
    else:
        return StepResult("remedy", Status.FAILED, "cannot tell where this kubelet reads its settings",
                          hint="configure node_pressure.access so the unit files can be read on the node")
    rows = [{"signal": s, "before": plan.before.get(s, "(unset)"), "after": plan.after.get(s, "(unset)"),
             "buys": human(plan.buys_bytes[s], s) if s in plan.buys_bytes else "-"}
            for s in sorted(set(plan.before) | set(plan.after))]
    notes = list(plan.warnings)
    if state.config_path:
        notes.append(KUBEADM_NOTE)
    status = Status.OK if edit.changed else Status.UNCHANGED
    if not plan.ends_pressure:
        status = Status.WARNING
    summary = (f"write the full map {shown(plan.after)} to {path}" if edit.changed
               else f"{path} already holds {shown(plan.after)}")
    return StepResult("remedy", status, summary + ". " + " ".join(notes), table=pd.DataFrame(rows),
                      data={"diffs": {path: edit.diff}, "intended": plan.after, "file": path},
                      value=Remedy("threshold", [edit] if edit.changed else [], dict(plan.after)))


CLEANUP = [
    ("rotated logs under /var/log", ["sh", "-c", "find /var/log -xdev -type f \\( -name '*.gz' -o -name '*.[0-9]' "
                                     "-o -name '*.old' \\) -printf '%s %p\\n'"],
     ["sh", "-c", "find /var/log -xdev -type f \\( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \\) -delete"]),
    ("archived journal files", ["sh", "-c", "find /var/log/journal -xdev -type f -name '*@*.journal*' -printf '%s %p\\n'"],
     ["sh", "-c", "find /var/log/journal -xdev -type f -name '*@*.journal*' -delete"]),
]


def _plan_cleanup(settings: NodePressure, state: InForce, observed: Observed, verdict: Verdict,
                  shell: NodeShell | None) -> StepResult[Remedy]:
    if shell is None:
        return StepResult("remedy", Status.FAILED, "cleanup needs a node shell",
                          hint="configure node_pressure.access (ssh, debug-pod or chroot)")
    nodefs = observed.observations.get("nodefs.available")
    limit = next((r for r in verdict.rows if r.signal == "nodefs.available"), None)
    to_free = 0
    if nodefs and nodefs.available is not None and nodefs.capacity and limit and limit.threshold_bytes is not None:
        wanted = limit.threshold_bytes + headroom_bytes(settings.headroom, nodefs.capacity)
        to_free = max(0, wanted - nodefs.available)
    rows, commands, total = [], [], 0
    for what, measure, remove in CLEANUP:
        rc, out, _ = shell.run(measure, check=False)
        sizes = [int(line.split(" ", 1)[0]) for line in out.splitlines() if line.split(" ", 1)[0].isdigit()] if rc == 0 else []
        if sizes:
            rows.append({"candidate": what, "files": len(sizes), "size": human(sum(sizes), "x"), "command": " ".join(remove[2:])})
            commands.append(remove)
            total += sum(sizes)
    prune = (["crictl", "rmi", "--prune"] if observed.runtime == "containerd" else ["docker", "image", "prune", "-a", "-f"])
    rows.append({"candidate": f"unused images ({observed.runtime})", "files": "-",
                 "size": "frees imagefs only" if observed.imagefs_separate else "unknown", "command": " ".join(prune)})
    enough = total >= to_free
    summary = (f"{human(total, 'x')} in cleanup candidates; {human(to_free, 'x')} must go to end under the "
               f"threshold with {settings.headroom} headroom" + ("" if enough else " — NOT enough: also consider a threshold change"))
    return StepResult("remedy", Status.OK if enough else Status.WARNING, summary, table=pd.DataFrame(rows),
                      data={"to_free": to_free, "candidates": total},
                      value=Remedy("cleanup", commands=commands, to_free=to_free))


def diffs(remedy: Remedy) -> str:
    """The unified diff of every file the remedy would change (for the notebook to print)."""
    return "\n".join(e.diff for e in remedy.edits) or "(no file changes)"


# ------------------------------------------------------------------ apply
def apply_plan(kube: Kube, settings: NodePressure, *, state: InForce | None, remedy: Remedy | None,
               shell: NodeShell | None, timeout: float = 120) -> StepResult[None]:
    """Only with apply: true and one node: back up, write atomically, restart, roll back on failure."""
    if not settings.apply or remedy is None or remedy.kind == "report":
        return StepResult("apply", Status.SKIPPED, "apply: false — the plan above was shown, nothing changed")
    if settings.node == "all" or state is None:
        raise RunbookError("apply is refused for the fleet view", hint="set node_pressure.node to one node")
    if shell is None:
        raise RunbookError("applying a remedy needs a node shell",
                           hint="configure node_pressure.access (ssh, debug-pod or chroot)")
    if remedy.kind == "cleanup":
        done = []
        for argv in remedy.commands:
            rc, _, err = shell.run(argv, check=False)
            done.append({"command": " ".join(argv[2:] if argv[:2] == ["sh", "-c"] else argv), "rc": rc,
                         "error": err.strip()[:120]})
        return StepResult("apply", Status.CHANGED, f"ran {len(done)} cleanup command(s)", table=pd.DataFrame(done))
    if not remedy.edits:
        return StepResult("apply", Status.UNCHANGED, "the files already hold the intended map")
    backups = []
    started = dt.datetime.now(dt.timezone.utc)
    for edit in remedy.edits:
        backups.append((edit, shell.write(edit.path, edit.after, backup=True)))
    ok, detail = _restart_and_wait(kube, state.node, shell, remedy.intended, timeout)
    if ok:
        return StepResult("apply", Status.CHANGED, f"wrote {', '.join(e.path for e in remedy.edits)} "
                          f"(backups: {', '.join(str(b) for _, b in backups)}); kubelet restarted: {detail}",
                          data={"backups": [str(b) for _, b in backups], "started": started.isoformat()})
    for edit, _ in backups:
        shell.write(edit.path, edit.before, backup=False)
    restored, _ = _restart_and_wait(kube, state.node, shell, None, timeout)
    rc, log, _ = shell.run(["journalctl", "-u", "kubelet", "--no-pager", "-o", "cat", "-n", "15"], check=False)
    last = [line for line in log.splitlines() if line.strip()][-5:]
    raise RunbookError(f"the kubelet did not come back with the new settings ({detail}); the backups were restored"
                       f" and the kubelet restarted {'healthy' if restored else 'but is still not Ready'}. "
                       "Its last log lines:\n" + "\n".join(last),
                       hint="fix the value the kubelet refused (see its error above) and run again")


def _restart_and_wait(kube: Kube, node: str, shell: NodeShell, intended: dict[str, str] | None,
                      timeout: float) -> tuple[bool, str]:
    shell.run(["systemctl", "daemon-reload"], check=False)
    rc, _, err = shell.run(["systemctl", "restart", "kubelet"], check=False)
    if rc != 0:
        return False, f"systemctl restart failed: {err.strip()[:200]}"
    deadline = time.monotonic() + timeout
    seen: dict | None = None
    while time.monotonic() < deadline:
        rc, log, _ = shell.run(["journalctl", "-u", "kubelet", "--no-pager", "-o", "cat"], check=False)
        seen = thresholds_from_log(log) if rc == 0 else None
        if intended is None or (seen is not None and comparable(seen) == comparable(intended)):
            if conditions.ready(kube.get("v1", "Node", node) or {}):
                return True, f"Ready; its start-up line shows {shown(seen or {})}"
        time.sleep(1)
    return False, f"not Ready with the new thresholds after {timeout:.0f}s (log shows {shown(seen or {})})"


# ------------------------------------------------------------------ verify
def verify_fix(kube: Kube, settings: NodePressure, *, remedy: Remedy | None, shell: NodeShell | None, wait: bool,
               now: dt.datetime | None = None) -> StepResult[None]:
    """Thresholds now as intended; signals no longer met; DiskPressure gone (or pending until...)."""
    from .diagnose import diagnose

    if not settings.apply or remedy is None or remedy.kind == "report":
        return StepResult("after the fix", Status.SKIPPED, "nothing was applied")
    state = thresholds_in_force(kube, settings.node, shell).value
    observed = observe(kube, settings.node, state, shell).value
    verdict = diagnose(state, observed).value
    if state is None or observed is None or verdict is None:
        return StepResult("after the fix", Status.FAILED, f"cannot read {settings.node} again after the fix",
                          hint="see the thresholds and observations steps above")
    area = "after the fix"
    found: list[Check] = []
    if remedy.kind == "threshold":
        same = comparable(state.thresholds) == comparable(remedy.intended)
        found.append(Check(area, "thresholds in force", Status.OK if same else Status.FAILED,
                           f"{shown(state.thresholds)} ({state.source})"))
    found.append(ok(area, "signals", "no threshold met") if not verdict.met else
                 failed(area, "signals", "still met: " + ", ".join(verdict.met)))
    pressure = conditions.condition(kube.get("v1", "Node", settings.node) or {}, "DiskPressure")
    if pressure == "True" and not verdict.met:
        period = state.transition_period_s
        if wait:
            pressure = _wait_condition_clear(kube, settings.node, period + 30)
        if pressure == "True":
            until = (now or dt.datetime.now()) + dt.timedelta(seconds=period)
            found.append(warning(area, "DiskPressure",
                                 f"pending until {until:%H:%M:%S} (evictionPressureTransitionPeriod {period:.0f}s)"))
    if pressure != "True":
        found.append(ok(area, "DiskPressure", "False"))
    taints = [t["key"] for t in ((kube.get("v1", "Node", settings.node) or {}).get("spec") or {}).get("taints") or []]
    if DISK_PRESSURE_TAINT not in taints:
        found.append(ok(area, "disk-pressure taint", "removed"))
    elif pressure != "True":  # the condition cleared but the taint stayed: the node controller is stuck
        found.append(failed(area, "disk-pressure taint", "still set"))
    else:
        found.append(warning(area, "disk-pressure taint", "still set"))
    pending = [p["metadata"]["name"] for p in kube.list("v1", "Pod", field_selector="status.phase=Pending")]
    found.append(ok(area, "pending pods", "0 Pending") if not pending else
                 warning(area, "pending pods", f"{len(pending)} Pending: {', '.join(sorted(pending)[:5])}"))
    result: StepResult[None] = checks.result("after the fix", found)
    result.summary = "; ".join(f"{c.name}: {c.detail}" for c in found)
    result.hint = "see the rows above" if result.failed else None
    return result


def _wait_condition_clear(kube: Kube, node: str, timeout: float) -> str:
    from tqdm.auto import tqdm

    start = time.monotonic()
    with tqdm(total=int(timeout), desc="DiskPressure transition", unit="s", mininterval=1, leave=False) as bar:
        def cleared(objs: dict[str, dict[str, Any]]) -> bool:
            bar.n = int(time.monotonic() - start)
            bar.refresh()
            return conditions.condition(objs.get(node) or {}, "DiskPressure") == "False"

        try:
            kube.wait_for("v1", "Node", None, cleared, timeout=timeout, field_selector=f"metadata.name={node}")
            return "False"
        except TimeoutError:
            return "True"
