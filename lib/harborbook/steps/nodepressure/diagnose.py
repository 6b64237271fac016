"""Step 4: the kubelet's verdict per signal, a sentence saying why, and a bar chart per filesystem."""

from __future__ import annotations

import pandas as pd

from typing import TYPE_CHECKING

from ...eviction import Verdict, evaluate
from ...eviction.thresholds import threshold_bytes
from ...eviction.verdict import human
from ...runbook import Status, StepResult
from .inforce import InForce
from .observe import Observed

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ["signal", "available", "capacity", "used %", "threshold", "threshold bytes", "met", "margin"]


def diagnose(state: InForce | None, observed: Observed | None, pods_active: int | None = None) -> StepResult[Verdict]:
    """Exactly the kubelet's comparison: strictly less than, float32 percentages, min reclaim."""
    if state is None or observed is None:
        from .clusterview import fleet_skip

        return fleet_skip("verdict")
    verdict = evaluate(observed.observations, state.thresholds, imagefs_separate=observed.imagefs_separate,
                       pods_active=pods_active if pods_active is not None else observed.pods_active,
                       version=state.version)
    rows = []
    for row in verdict.rows:
        shown = (lambda n: human(n, row.signal) if n is not None else "-")
        rows.append({
            "signal": row.signal,
            "available": shown(row.available), "capacity": shown(row.capacity),
            "used %": row.percent_used if row.percent_used is not None else "-", "threshold": row.threshold,
            "threshold bytes": row.threshold_bytes if row.threshold_bytes is not None else "-",
            "met": {True: "MET", False: "no", None: "-"}[row.met],
            "margin": human(row.margin_bytes, row.signal) if row.margin_bytes is not None else (row.note or "-"),
        })
    status = Status.WARNING if verdict.met else Status.OK
    return StepResult("verdict", status, verdict.explanation, table=pd.DataFrame(rows, columns=COLUMNS),
                      data={"met": list(verdict.met), "conditions": sorted(verdict.conditions)}, value=verdict)


def plot_verdict(verdict: Verdict | None, title: str = "", planned: dict[str, str] | None = None) -> Figure | None:
    """Used space of each filesystem against each of its thresholds (a figure, for display).

    With ``planned`` (a remedy's intended map), the planned lines are drawn too, dotted: the
    picture then shows the disk past today's line and where it stands after the fix."""
    if verdict is None:
        return None
    # No backend is chosen here: in a kernel the inline backend renders the returned figure as
    # a PNG (JupyterLab, papermill's output, its HTML); elsewhere matplotlib picks Agg itself.
    import matplotlib.pyplot as plt

    groups: dict[str, list] = {}
    for row in verdict.rows:
        if row.capacity and row.signal.endswith(".available") and row.threshold_bytes is not None:
            groups.setdefault(row.signal.split(".")[0], []).append(row)
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.8 * max(1, len(groups))))
    largest = max((rows[0].capacity for rows in groups.values()), default=0)
    unit, gib = ("GiB", float(1 << 30)) if largest >= 4 << 30 else ("MiB", float(1 << 20))  # readable ticks
    for i, (fs, rows) in enumerate(sorted(groups.items())):
        capacity, available = rows[0].capacity, rows[0].available
        used = capacity - available
        ax.barh(i, capacity / gib, color="#e5e7eb", edgecolor="#9ca3af")
        ax.barh(i, used / gib, color="#cf222e" if any(r.met for r in rows) else "#1a7f37")
        for r in rows:
            limit = (capacity - r.threshold_bytes) / gib  # pressure once used passes this line
            ax.plot([limit, limit], [i - 0.4, i + 0.4], color="black", linestyle="--")
            ax.annotate(f"{r.signal} < {r.threshold}", (limit, i + 0.42), fontsize=8, ha="right")
            new = (planned or {}).get(r.signal)
            if new is not None and new != r.threshold:
                limit = (capacity - threshold_bytes(new, capacity)) / gib
                ax.plot([limit, limit], [i - 0.4, i + 0.4], color="#0969da", linestyle=":", linewidth=2)
                ax.annotate(f"after the fix: < {new}", (limit, i - 0.55), fontsize=8, ha="left", color="#0969da")
    ax.set_yticks(range(len(groups)), [f"{fs}" for fs in sorted(groups)])
    ax.set_ylim(-0.8, len(groups) - 0.3)
    ax.set_xlabel(f"{unit} (bar: used; dashed: where each threshold in force is met"
                  + ("; dotted: after the fix)" if planned else ")"))
    ax.set_title(title or "filesystem use against eviction thresholds")
    fig.tight_layout()
    plt.close(fig)  # returned, not left open: displayed once, as the cell's value
    return fig
