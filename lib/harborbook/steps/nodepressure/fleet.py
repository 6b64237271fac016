"""Step 8: the fleet view — steps 1-4 for every node, concurrently, through configz and stats/summary.

Nodes that serve neither (old kubelets, no nodes/proxy rights) are listed as "needs node access";
apply is refused for the fleet.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...kubelet import config as kubeletconfig
from ...errors import HarborbookError
from ...eviction import evaluate, observations_from_summary
from ...eviction.verdict import human
from ...kube import Kube
from ...params.models import NodePressure
from ...runbook import Status, StepResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def scan_node(kube: Kube, node: dict[str, Any]) -> dict[str, Any]:
    """One node's verdict from its kubelet's own answers (no node shell)."""
    name = node["metadata"]["name"]
    version = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "v1.30.0")
    row = {"node": name, "kubelet": version, "verdict": "needs node access", "met": "", "closest": "",
           "margin": None, "margin bytes": None}
    try:
        status_c, configz = kube.node_proxy_json(name, "configz")
        status_s, summary = kube.node_proxy_json(name, "stats/summary")
    except HarborbookError as exc:
        row["verdict"] = f"error: {exc.message[:80]}"
        return row
    if not configz or not summary:
        row["verdict"] = f"needs node access (configz {status_c}, stats/summary {status_s})"
        return row
    settings = kubeletconfig.eviction_from_configz(configz, version)
    image = ((summary.get("node") or {}).get("runtime") or {}).get("imageFs") or {}
    fs = (summary.get("node") or {}).get("fs") or {}
    separate = bool(image) and (image.get("capacityBytes"), image.get("availableBytes")) != (
        fs.get("capacityBytes"), fs.get("availableBytes"))
    verdict = evaluate(observations_from_summary(summary), settings.hard, imagefs_separate=separate, version=version)
    evaluated = [(r.margin_bytes, r) for r in verdict.rows if r.margin_bytes is not None]
    margin, closest = min(evaluated, key=lambda mr: mr[0] / max(mr[1].capacity or 1, 1)) if evaluated else (0, None)
    row.update(verdict="PRESSURE" if verdict.met else "ok", met=", ".join(verdict.met),
               closest=closest.signal if closest else "",
               margin=human(margin, closest.signal) if closest else "",
               **{"margin bytes": margin if closest else None,
                  "margin %": round(100 * margin / closest.capacity, 2) if closest and closest.capacity else None})
    return row


def fleet_view(kube: Kube, settings: NodePressure) -> StepResult[pd.DataFrame]:
    """Every node's verdict, sorted by the smallest relative margin first.

    Read-only and bounded, so it runs whether 06 was pointed at one node or at ``all``: after
    fixing one node, the operator's next question is which node is next."""
    return scan_fleet(kube, settings.concurrency)


def scan_fleet(kube: Kube, concurrency: int = 32) -> StepResult[pd.DataFrame]:
    """Steps 1-4 for every node through configz and stats/summary, with bounded concurrency."""
    nodes = kube.list("v1", "Node")
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        rows = list(pool.map(lambda n: scan_node(kube, n), nodes))
    table = pd.DataFrame(rows)
    if "margin %" not in table:
        table["margin %"] = None
    table = table.sort_values(["margin %", "node"], na_position="last", kind="stable").reset_index(drop=True)
    pressured = [r["node"] for r in rows if r["verdict"] == "PRESSURE"]
    blind = [r["node"] for r in rows if r["verdict"].startswith("needs")]
    summary = f"{len(rows)} nodes: {len(pressured)} under pressure, {len(blind)} need node access"
    return StepResult("fleet", Status.WARNING if pressured or blind else Status.OK, summary,
                      table=table[["node", "kubelet", "verdict", "met", "closest", "margin", "margin %"]],
                      data={"pressured": sorted(pressured), "needs_access": sorted(blind)}, value=table)


def plot_fleet(table: pd.DataFrame | None, top: int = 40) -> Figure | None:
    """The nodes with the smallest margins (percent of capacity above the closest threshold)."""
    if table is None:
        return None
    # No backend is chosen here: in a kernel the inline backend renders the returned figure as
    # a PNG (JupyterLab, papermill's output, its HTML); elsewhere matplotlib picks Agg itself.
    import matplotlib.pyplot as plt

    data = table.dropna(subset=["margin %"]).head(top)
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.22 * max(1, len(data))))
    if data.empty:
        # Still a picture, saying why there are no bars: no kubelet answered configz/stats.
        ax.text(0.5, 0.5, f"none of the {len(table)} nodes serves configz and stats/summary to us:\n"
                "their margins need node access (see the table)", ha="center", va="center", fontsize=9)
        ax.set_axis_off()
        plt.close(fig)
        return fig
    colours = ["#cf222e" if v < 0 else "#1a7f37" for v in data["margin %"]]
    ax.barh(range(len(data)), data["margin %"], color=colours)
    ax.set_yticks(range(len(data)), data["node"], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("margin above the closest threshold (% of capacity; negative = under pressure)")
    ax.set_title(f"the {len(data)} nodes closest to eviction")
    fig.tight_layout()
    plt.close(fig)
    return fig
