"""A node's verdict row from its kubelet's configz and stats/summary (pure), alone or by batch.

Kept apart from ``fleet`` (no pandas, no client) so that a worker process can judge batches of
raw answers while the fleet scan's event loop keeps fetching: at thousands of nodes, parsing
and judging cost as much CPU as the requests themselves.
"""

from __future__ import annotations

import json

from ...kubelet import config as kubeletconfig
from ...eviction import evaluate, observations_from_summary
from ...eviction.verdict import human

# One node's raw answers: (name, kubelet version, configz status, configz bytes, stats/summary
# status, stats/summary bytes).
Raw = tuple[str, str, int, bytes, int, bytes]


def row(name: str, version: str, verdict: str = "needs node access") -> dict:
    return {"node": name, "kubelet": version, "verdict": verdict, "met": "", "closest": "",
            "margin": None, "margin bytes": None}


def judge(name: str, version: str, status_c: int, configz, status_s: int, summary) -> dict:
    """The verdict row from the kubelet's configz and stats/summary answers."""
    out = row(name, version)
    if not configz or not summary:
        out["verdict"] = f"needs node access (configz {status_c}, stats/summary {status_s})"
        return out
    settings = kubeletconfig.eviction_from_configz(configz, version)
    image = ((summary.get("node") or {}).get("runtime") or {}).get("imageFs") or {}
    fs = (summary.get("node") or {}).get("fs") or {}
    separate = bool(image) and (image.get("capacityBytes"), image.get("availableBytes")) != (
        fs.get("capacityBytes"), fs.get("availableBytes"))
    verdict = evaluate(observations_from_summary(summary), settings.hard, imagefs_separate=separate, version=version)
    evaluated = [(r.margin_bytes, r) for r in verdict.rows if r.margin_bytes is not None]
    margin, closest = min(evaluated, key=lambda mr: mr[0] / max(mr[1].capacity or 1, 1)) if evaluated else (0, None)
    out.update(verdict="PRESSURE" if verdict.met else "ok", met=", ".join(verdict.met),
               closest=closest.signal if closest else "",
               margin=human(margin, closest.signal) if closest else "",
               **{"margin bytes": margin if closest else None,
                  "margin %": round(100 * margin / closest.capacity, 2) if closest and closest.capacity else None})
    return out


def parse(data: bytes):
    """JSON of a 200 answer; None for a body that is not JSON (read as Kube.node_proxy_json)."""
    try:
        return json.loads(data)
    except (TypeError, ValueError):
        return None


def judge_raw(item: Raw) -> dict:
    name, version, status_c, configz, status_s, summary = item
    return judge(name, version, status_c, parse(configz) if status_c == 200 else None,
                 status_s, parse(summary) if status_s == 200 else None)


def judge_batch(items: list[Raw]) -> list[dict]:
    """Rows for a batch of nodes (what a worker process runs: one call per batch, not per node)."""
    return [judge_raw(item) for item in items]
