"""Step 8: the fleet view — steps 1-4 for every node, concurrently, through configz and stats/summary.

Nodes that serve neither (old kubelets, no nodes/proxy rights) are listed as "needs node access";
apply is refused for the fleet.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from .. import kubeletconfig
from ..errors import HarborbookError
from ..eviction import evaluate, observations_from_summary
from ..eviction.verdict import human
from ..runbook import Status, StepResult
from .fleetfetch import Answer, FleetClient

DEFAULT_CEILING = 200  # requests in flight at most: half the apiserver's --max-requests-inflight


def scan_node(kube, node: dict) -> dict:
    """One node's verdict from its kubelet's own answers (no node shell), one call at a time."""
    name, version = _identity(node)
    try:
        status_c, configz = kube.node_proxy_json(name, "configz")
        status_s, summary = kube.node_proxy_json(name, "stats/summary")
    except HarborbookError as exc:
        return _row(name, version, f"error: {exc.message[:80]}")
    return judge(name, version, status_c, configz, status_s, summary)


def _identity(node: dict) -> tuple[str, str]:
    name = node["metadata"]["name"]
    version = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "v1.30.0")
    return name, version


def _row(name: str, version: str, verdict: str = "needs node access") -> dict:
    return {"node": name, "kubelet": version, "verdict": verdict, "met": "", "closest": "",
            "margin": None, "margin bytes": None}


def judge(name: str, version: str, status_c: int, configz, status_s: int, summary) -> dict:
    """The verdict row from the kubelet's configz and stats/summary answers (pure)."""
    row = _row(name, version)
    if not configz or not summary:
        row["verdict"] = f"needs node access (configz {status_c}, stats/summary {status_s})"
        return row
    settings = kubeletconfig.eviction_from_configz(configz, version)
    image = ((summary.get("node") or {}).get("runtime") or {}).get("imageFs") or {}
    fs = (summary.get("node") or {}).get("fs") or {}
    separate = bool(image) and (image.get("capacityBytes"), image.get("availableBytes")) != (
        fs.get("capacityBytes"), fs.get("availableBytes"))
    verdict = evaluate(observations_from_summary(summary), settings.hard, imagefs_separate=separate, version=version)
    evaluated = [r for r in verdict.rows if r.margin_bytes is not None]
    closest = min(evaluated, key=lambda r: r.margin_bytes / max(r.capacity or 1, 1)) if evaluated else None
    row.update(verdict="PRESSURE" if verdict.met else "ok", met=", ".join(verdict.met),
               closest=closest.signal if closest else "",
               margin=human(closest.margin_bytes, closest.signal) if closest else "",
               **{"margin bytes": closest.margin_bytes if closest else None,
                  "margin %": round(100 * closest.margin_bytes / closest.capacity, 2) if closest and closest.capacity else None})
    return row


def _from_answers(node: dict, configz: Answer, summary: Answer) -> dict:
    """A row from two node proxy answers, read as ``Kube.node_proxy_json`` reads them: 403, 404
    and 5xx mean the kubelet's endpoints are not reachable (needs node access); anything else
    that is not a 200 is an error for this node."""
    name, version = _identity(node)
    for answer, path in ((configz, "configz"), (summary, "stats/summary")):
        if answer.error:
            return _row(name, version, f"error: GET proxy/{path}: {answer.error}"[:87])
        if answer.status != 200 and answer.status not in (403, 404) and answer.status < 500:
            return _row(name, version, f"error: GET proxy/{path}: HTTP {answer.status}")
    return judge(name, version, configz.status, configz.body, summary.status, summary.body)


async def _scan(kube, ceiling: int) -> tuple[list[dict], dict]:
    async with FleetClient(kube, ceiling) as client:
        nodes = await client.list_nodes()

        async def one(node: dict) -> dict:
            configz, summary = await client.node(_identity(node)[0])
            return _from_answers(node, configz, summary)

        rows = await asyncio.gather(*(one(n) for n in nodes))
        window = client.window
        return list(rows), {"requests throttled (429)": window.throttled,
                            "lowest window": window.lowest, "ceiling": window.ceiling}


def fleet_view(kube, settings) -> StepResult:
    """Every node's verdict (node: all), sorted by the smallest relative margin first."""
    if settings.node != "all":
        return StepResult("fleet", Status.SKIPPED, "set node_pressure.node: all for the fleet view")
    return scan_fleet(kube, settings.concurrency)


def scan_fleet(kube, concurrency: int = DEFAULT_CEILING) -> StepResult:
    """Steps 1-4 for every node through configz and stats/summary: at most ``concurrency``
    requests in flight, fewer while the API server answers 429 (see ``fleetfetch``)."""
    # Its own thread and event loop: a notebook's kernel already runs a loop in this one.
    with ThreadPoolExecutor(1, thread_name_prefix="fleet-scan") as pool:
        rows, throttle = pool.submit(asyncio.run, _scan(kube, concurrency)).result()
    table = pd.DataFrame(rows)
    if "margin %" not in table:
        table["margin %"] = None
    table = table.sort_values(["margin %", "node"], na_position="last", kind="stable").reset_index(drop=True)
    pressured = [r["node"] for r in rows if r["verdict"] == "PRESSURE"]
    blind = [r["node"] for r in rows if r["verdict"].startswith("needs")]
    summary = f"{len(rows)} nodes: {len(pressured)} under pressure, {len(blind)} need node access"
    return StepResult("fleet", Status.WARNING if pressured or blind else Status.OK, summary,
                      table=table[["node", "kubelet", "verdict", "met", "closest", "margin", "margin %"]],
                      data={"pressured": sorted(pressured), "needs_access": sorted(blind), "throttle": throttle},
                      value=table)


def plot_fleet(table: pd.DataFrame, top: int = 40):
    """The nodes with the smallest margins (percent of capacity above the closest threshold)."""
    if table is None:
        return None
    import matplotlib

    matplotlib.use("agg", force=False)
    import matplotlib.pyplot as plt

    data = table.dropna(subset=["margin %"]).head(top)
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.22 * max(1, len(data))))
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
