"""Step 8: the fleet view — steps 1-4 for every node, concurrently, through configz and stats/summary.

Nodes that serve neither (old kubelets, no nodes/proxy rights) are listed as "needs node access";
apply is refused for the fleet. The requests go out on one event loop, at most
``node_pressure.concurrency`` in flight and fewer while the API server answers 429 (``fleetfetch``);
from PROCESS_FROM nodes on, a worker process judges the answers (``fleetjudge``) meanwhile.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from typing import TYPE_CHECKING, Any

import pandas as pd

from ...errors import HarborbookError
from ...kube import Kube
from ...params.models import NodePressure
from ...runbook import Status, StepResult
from .fleetfetch import Answer, FleetClient
from .fleetjudge import Raw, judge, judge_batch
from .fleetjudge import row as _row

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_CEILING = 200  # requests in flight at most: half the apiserver's --max-requests-inflight
PROCESS_FROM = 500  # nodes from which a worker process judges (starting it costs ~0.2 s)
BATCH = 100  # nodes per batch sent to the worker process


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


def _from_answers(node: dict, configz: Answer, summary: Answer) -> dict | Raw:
    """A row, or the raw answers to judge, read as ``Kube.node_proxy_json`` reads them: 403,
    404 and 5xx mean the kubelet's endpoints are not reachable (needs node access); anything
    else that is not a 200 is an error for this node."""
    name, version = _identity(node)
    for answer, path in ((configz, "configz"), (summary, "stats/summary")):
        if answer.error:
            return _row(name, version, f"error: GET proxy/{path}: {answer.error}"[:87])
        if answer.status != 200 and answer.status not in (403, 404) and answer.status < 500:
            return _row(name, version, f"error: GET proxy/{path}: HTTP {answer.status}")
    return (name, version, configz.status, configz.body or b"", summary.status, summary.body or b"")


class _Judges:
    """Judging off the event loop: batches of raw answers to a worker process (its own core),
    for a fleet large enough to pay for it; in the loop until the worker is ready, when it
    cannot start, and for small fleets.

    The worker is forked: a spawned one would import the whole ``harborbook.steps.nodepressure``
    package (pandas included, ~2 s here) before judging anything, while the child of a fork
    has everything already and only runs the pure ``judge_batch``.
    """

    def __init__(self, nodes: int):
        self.pool: ProcessPoolExecutor | None = None
        self.ready: Future | None = None
        if nodes >= PROCESS_FROM and "fork" in multiprocessing.get_all_start_methods():
            try:
                self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
                self.ready = self.pool.submit(judge_batch, [])
            except (OSError, ValueError):
                self.pool = None
        self.batch: list[Raw] = []
        self.here: list[dict] = []  # rows judged in the loop
        self.futures: list[tuple[list[Raw], "asyncio.Future[list[dict]]"]] = []

    def add(self, raw: Raw) -> None:
        self.batch.append(raw)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        if self.pool is not None and self.ready is not None and self.ready.done():
            loop = asyncio.get_running_loop()
            self.futures.append((self.batch, loop.run_in_executor(self.pool, judge_batch, self.batch)))
        else:
            self.here += judge_batch(self.batch)
        self.batch = []

    async def rows(self) -> dict[str, dict]:
        self.flush()
        out: dict[str, dict] = {r["node"]: r for r in self.here}
        for batch, future in self.futures:
            try:
                rows = await future
            except (BrokenProcessPool, OSError):  # the worker could not run: judge here
                rows = judge_batch(batch)
            out.update((r["node"], r) for r in rows)
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


async def _scan(kube, ceiling: int) -> tuple[list[dict], dict]:
    async with FleetClient(kube, ceiling) as client:
        nodes = await client.list_nodes()
        judges = _Judges(len(nodes))
        try:
            async def one(node: dict) -> dict | None:
                configz, summary = await client.node(_identity(node)[0])
                answer = _from_answers(node, configz, summary)
                if isinstance(answer, dict):
                    return answer
                judges.add(answer)
                return None

            early = await asyncio.gather(*(one(n) for n in nodes))
            judged = await judges.rows()
        finally:
            judges.close()
        rows = [row if row is not None else judged[_identity(node)[0]]
                for node, row in zip(nodes, early)]
        window = client.window
        return rows, {"requests throttled (429)": window.throttled,
                      "lowest window": window.lowest, "ceiling": window.ceiling}


def fleet_view(kube: Kube, settings: NodePressure) -> StepResult[pd.DataFrame]:
    """Every node's verdict, sorted by the smallest relative margin first.

    Read-only and bounded, so it runs whether 06 was pointed at one node or at ``all``: after
    fixing one node, the operator's next question is which node is next."""
    return scan_fleet(kube, settings.concurrency)


def scan_fleet(kube: Kube, concurrency: int = DEFAULT_CEILING) -> StepResult[pd.DataFrame]:
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
