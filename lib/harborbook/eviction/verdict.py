"""The kubelet's verdict from observations and thresholds, row by row, plus one sentence.

Observations come from the Summary API (``stats/summary``) or from ``df`` numbers; any
field may be missing, and a missing observation skips its threshold with a reason
rather than failing. Comparison is the kubelet's: strict ``<``, percentages via
float32, minimum reclaim for thresholds already met.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

from .signals import SIGNALS, KubeletVersion, containerfs_source
from .thresholds import is_met_with_reclaim, parse_threshold_value

SOURCE_SUMMARY, SOURCE_DF = "stats/summary", "df"

# What the kubelet reclaims at node level before evicting pods, keyed by
# (filesystem of the signal, image filesystem separate?). Empty: straight to eviction.
_CONTAINERS_THEN_IMAGES = ("delete dead containers", "delete unused images")
RECLAIM: dict[tuple[str | None, bool], tuple[str, ...]] = {
    ("nodefs", False): _CONTAINERS_THEN_IMAGES,
    ("nodefs", True): (),
    ("imagefs", False): _CONTAINERS_THEN_IMAGES,
    ("imagefs", True): _CONTAINERS_THEN_IMAGES,
    ("containerfs", False): _CONTAINERS_THEN_IMAGES,
    ("containerfs", True): ("delete dead containers",),
    (None, False): (),
    (None, True): (),
}
_UNITS = {"available": "bytes", "inodesFree": "inodes"}


@dataclass(frozen=True)
class Observation:
    """One signal's available and capacity (None when the source did not report it)."""

    signal: str
    available: int | None
    capacity: int | None
    source: str
    missing: str | None = None  # why it is absent


@dataclass(frozen=True)
class FsUsage:
    """One filesystem as ``df -P -B1`` / ``df -P -i`` show it (Avail is what the kubelet sees)."""

    available: int | None
    capacity: int | None
    inodes_free: int | None = None
    inodes: int | None = None


@dataclass(frozen=True)
class VerdictRow:
    signal: str
    available: int | None
    capacity: int | None
    percent_used: float | None
    threshold: str
    threshold_bytes: int | None
    met: bool | None  # None: not evaluated (see note)
    margin_bytes: int | None  # available - threshold; negative when met
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    rows: tuple[VerdictRow, ...]
    met: tuple[str, ...]
    conditions: frozenset[str]
    explanation: str
    reclaim: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts, ready for a pandas DataFrame."""
        return [asdict(row) for row in self.rows]


def _lookup(node: Mapping[str, Any], path: tuple[str, ...]) -> int | None:
    value: Any = node
    for key in path:
        if not isinstance(value, Mapping) or key not in value or value[key] is None:
            return None
        value = value[key]
    return int(value)


def _terms(node: Mapping[str, Any], terms) -> tuple[int | None, str | None]:
    total = 0
    for sign, path in terms:
        value = _lookup(node, path)
        if value is None:
            return None, "node." + ".".join(path) + " not reported"
        total += sign * value
    return (total, None) if terms else (None, "not observable from the Summary API")


def observations_from_summary(summary: Mapping[str, Any]) -> dict[str, Observation]:
    """Every signal observable from a ``stats/summary`` document (missing fields noted)."""
    node = summary.get("node") or {}
    result = {}
    for name, spec in SIGNALS.items():
        available, why_a = _terms(node, spec.available)
        capacity, why_c = _terms(node, spec.capacity)
        result[name] = Observation(name, available, capacity, SOURCE_SUMMARY, why_a or why_c)
    return result


def observations_from_df(nodefs: FsUsage, imagefs: FsUsage | None = None) -> dict[str, Observation]:
    """nodefs/imagefs signals from df numbers (imagefs defaults to nodefs: same filesystem)."""
    result = {}
    for prefix, usage in (("nodefs", nodefs), ("imagefs", imagefs or nodefs)):
        for suffix, available, capacity in (("available", usage.available, usage.capacity),
                                            ("inodesFree", usage.inodes_free, usage.inodes)):
            missing = None if available is not None and capacity is not None else "df did not report it"
            result[f"{prefix}.{suffix}"] = Observation(f"{prefix}.{suffix}", available, capacity,
                                                       SOURCE_DF, missing)
    return result


def _effective(observations: Mapping[str, Observation], imagefs_separate: bool) -> dict[str, Observation]:
    """Without a separate image filesystem the imagefs IS nodefs: use nodefs numbers for it."""
    result = dict(observations)
    if not imagefs_separate:
        for suffix in ("available", "inodesFree"):
            node = observations.get(f"nodefs.{suffix}")
            if node is not None:
                result[f"imagefs.{suffix}"] = Observation(f"imagefs.{suffix}", node.available,
                                                          node.capacity, node.source, node.missing)
    return result


def _with_containerfs(thresholds: Mapping[str, str], observations: Mapping[str, Observation],
                      imagefs_separate: bool, split_image_fs: bool,
                      version: KubeletVersion | None) -> tuple[dict[str, str], dict[str, str]]:
    """1.29+: containerfs thresholds are copies of nodefs or imagefs ones; custom values ignored."""
    effective = {s: v for s, v in thresholds.items() if not s.startswith("containerfs.")}
    notes: dict[str, str] = {}
    if version is None or version < (1, 29):
        return effective, notes
    source = containerfs_source(imagefs_separate, split_image_fs)
    for signal in ("containerfs.available", "containerfs.inodesFree"):
        copied = f"{source}.{signal.split('.', 1)[1]}"
        observed = observations.get(signal)
        if copied in thresholds and observed is not None and observed.missing is None:
            effective[signal] = thresholds[copied]
            ignored = " (the custom value is ignored)" if signal in thresholds else ""
            notes[signal] = f"copied from {copied}{ignored}"
    return effective, notes


def evaluate(observations: Mapping[str, Observation], thresholds: Mapping[str, str], *,
             imagefs_separate: bool, pods_active: int | None = None,
             min_reclaim: Mapping[str, str] | None = None, previously_met: Iterable[str] = (),
             version: KubeletVersion | str | None = None, split_image_fs: bool = False) -> Verdict:
    """The kubelet's decision for each threshold in force, and what it is doing about it."""
    version = KubeletVersion.parse(version) if version is not None else None
    observed = _effective(observations, imagefs_separate)
    effective, notes = _with_containerfs(thresholds, observed, imagefs_separate, split_image_fs, version)
    previously = set(previously_met)
    rows = []
    for signal in _ordered(effective):
        value = effective[signal]
        obs = observed.get(signal)
        note = notes.get(signal, "")
        parsed = parse_threshold_value(signal, value)
        if parsed is None:
            rows.append(VerdictRow(signal, obs.available if obs else None, obs.capacity if obs else None,
                                   None, value, None, None, None, "disabled (0% and 100% switch a signal off)"))
            continue
        if obs is None or obs.missing is not None or obs.available is None or obs.capacity is None:
            reason = obs.missing if obs is not None and obs.missing else "no observation"
            rows.append(VerdictRow(signal, None, None, None, value, None, None, None,
                                   f"skipped: {reason}"))
            continue
        limit = parsed.bytes(obs.capacity)
        signal_met = is_met_with_reclaim(obs.available, obs.capacity, value, was_met=signal in previously,
                                         min_reclaim=(min_reclaim or {}).get(signal))
        if signal_met and parsed.exact(obs.capacity) <= obs.available:
            note = (note + "; " if note else "") + "still met: not yet above threshold + minimum reclaim"
        used = round(100.0 * (obs.capacity - obs.available) / obs.capacity, 1) if obs.capacity else None
        rows.append(VerdictRow(signal, obs.available, obs.capacity, used, value, limit, signal_met,
                               obs.available - limit, note))
    met = tuple(row.signal for row in rows if row.met)
    reclaim = {s: RECLAIM[(SIGNALS[s].filesystem, imagefs_separate)] for s in met}
    conditions = frozenset(SIGNALS[s].condition for s in met)
    return Verdict(tuple(rows), met, conditions, explain(rows, reclaim, pods_active, imagefs_separate), reclaim)


def _ordered(thresholds: Mapping[str, str]) -> list[str]:
    order = {name: index for index, name in enumerate(SIGNALS)}
    return sorted(thresholds, key=lambda s: (order.get(s, len(order)), s))


def human(amount: int, signal: str) -> str:
    """Bytes in binary units with one decimal; inodes and pids as plain counts."""
    unit = _UNITS.get(signal.split(".", 1)[-1], "pids" if signal.startswith("pid") else "bytes")
    if unit != "bytes":
        return f"{amount:,} {unit}"
    size, suffix = float(abs(amount)), "B"
    for suffix in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or suffix == "PiB":
            break
        size /= 1024
    sign = "-" if amount < 0 else ""
    return f"{sign}{size:.1f} {suffix}" if suffix != "B" else f"{sign}{int(size)} B"


def explain(rows: Iterable[VerdictRow], reclaim: Mapping[str, tuple[str, ...]],
            pods_active: int | None, imagefs_separate: bool) -> str:
    """One sentence: why the node is (or is not) under pressure and what the kubelet does."""
    rows = list(rows)
    evaluated = [row for row in rows if row.met is not None]
    met = [row for row in evaluated if row.met]
    if not evaluated:
        reasons = "; ".join(f"{row.signal}: {row.note}" for row in rows) or "no thresholds are in force"
        return f"No threshold could be evaluated ({reasons}), so no verdict can be given."
    if not met:
        closest = min(evaluated, key=lambda row: row.margin_bytes or 0)
        return (f"No threshold is met, so the kubelet sees no pressure; the closest is {closest.signal} "
                f"with {human(closest.margin_bytes or 0, closest.signal)} above its threshold of "
                f"{closest.threshold}.")
    first = min(met, key=lambda row: row.margin_bytes or 0)
    why = (f"{first.signal} is met ({human(first.available or 0, first.signal)} available < threshold "
           f"{first.threshold} = {human(first.threshold_bytes or 0, first.signal)} of "
           f"{human(first.capacity or 0, first.signal)})")
    others = [row.signal for row in met if row is not first]
    if others:
        why += f", as are {', '.join(others)}"
    condition = SIGNALS[first.signal].condition
    actions = reclaim.get(first.signal, ())
    if actions:
        doing = (f"the kubelet reports {condition} and reclaims node-level resources first "
                 f"({' then '.join(actions)}), evicting pods only if that does not free enough")
    else:
        place = " (the image filesystem is separate, so deleting images frees nothing here)" \
            if first.signal.startswith("nodefs") and imagefs_separate else ""
        doing = f"the kubelet reports {condition} and, with nothing to reclaim at node level{place}, must evict pods"
    if pods_active == 0:
        doing += ", but no pods are active to evict, so the pressure stays and new pods are refused"
    elif pods_active:
        doing += f" ({pods_active} pods are candidates)"
    return f"{why}: {doing}."
