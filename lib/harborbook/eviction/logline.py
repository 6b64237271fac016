"""The kubelet's start-up line with the thresholds in force, in each era's shape.

``Creating Container Manager object based on Node Config`` is logged once per
kubelet start. Its body is a Go struct print up to 1.20, the same struct as a
structured ``nodeConfig=`` value from 1.21, and JSON from 1.28. The formatter
writes what a kubelet of the era writes (the lab's simulator logs it); the parser
reads any era back, trusting only lines whose body is complete.
"""

from __future__ import annotations

import json
import re
import zlib
from datetime import datetime
from decimal import Decimal
from typing import Mapping

from .quantity import go_float32_text, go_json_float32, parse_percentage, parse_quantity
from .signals import SIGNALS, KubeletVersion

MARKER = "Creating Container Manager object based on Node Config"
ERA_GO_STRUCT, ERA_STRUCTURED, ERA_JSON = "gostruct", "structured", "json"
ERAS = (ERA_GO_STRUCT, ERA_STRUCTURED, ERA_JSON)

# A new log record starts with a klog header, optionally behind journald's short prefix.
_KLOG_HEADER = r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^\s\]]+:\d+\] "
_JOURNAL_PREFIX = r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s:\[]+(?:\[\d+\])?: "
_RECORD_START = re.compile(rf"^(?:{_JOURNAL_PREFIX})?(?:{_KLOG_HEADER}|error: |Flag --)")
_JOURNAL_ONLY = re.compile(rf"^{_JOURNAL_PREFIX}")
_GO_ENTRY = re.compile(
    r"\{Signal:(?P<signal>[^\s}]+) Operator:(?P<op>\w+) "
    r"Value:\{Quantity:(?P<quantity>[^\s}]+) Percentage:(?P<pct>[^\s}]+)\}"
)

# The fields around HardEvictionThresholds, per era, so the line looks like the real one.
_GO_PREFIX = {
    ERA_GO_STRUCT: ("RuntimeCgroupsName: SystemCgroupsName: KubeletCgroupsName: "
                    "ContainerRuntime:docker CgroupsPerQOS:true CgroupRoot:/ CgroupDriver:{driver} "
                    "ProtectKernelDefaults:false NodeAllocatableConfig:{{KubeReservedCgroupName: "
                    "SystemReservedCgroupName: EnforceNodeAllocatable:map[pods:{{}}] "
                    "KubeReserved:map[] SystemReserved:map[] "),
    ERA_STRUCTURED: ("RuntimeCgroupsName: SystemCgroupsName: KubeletCgroupsName: KubeletOOMScoreAdj:-999 "
                     "ContainerRuntime: CgroupsPerQOS:true CgroupRoot:/ CgroupDriver:{driver} "
                     "KubeletRootDir:{root_dir} ProtectKernelDefaults:false "
                     "NodeAllocatableConfig:{{KubeReservedCgroupName: SystemReservedCgroupName: "
                     "ReservedSystemCPUs: EnforceNodeAllocatable:map[pods:{{}}] KubeReserved:map[] "
                     "SystemReserved:map[] "),
}
_GO_SUFFIX = {
    ERA_GO_STRUCT: ("} ExperimentalQOSReserved:map[] ExperimentalCPUManagerPolicy:none "
                    "ExperimentalCPUManagerReconcilePeriod:10s"),
    ERA_STRUCTURED: ("} QOSReserved:map[] CPUManagerPolicy:none CPUManagerPolicyOptions:map[] "
                     "ExperimentalTopologyManagerScope:container CPUManagerReconcilePeriod:10s "
                     "ExperimentalMemoryManagerPolicy:None ExperimentalMemoryManagerReservedMemory:[] "
                     "ExperimentalPodPidsLimit:-1 EnforceCPULimits:true CPUCFSQuotaPeriod:100ms "
                     "ExperimentalTopologyManagerPolicy:none"),
}
_SOURCE_FILE = {ERA_GO_STRUCT: "container_manager_linux.go:245",
                ERA_STRUCTURED: "container_manager_linux.go:262",
                ERA_JSON: "container_manager_linux.go:270"}


def era_for(version: KubeletVersion | str) -> str:
    """The start-up line's shape for a kubelet version."""
    version = KubeletVersion.parse(version)
    if version <= (1, 20):
        return ERA_GO_STRUCT
    return ERA_STRUCTURED if version <= (1, 27) else ERA_JSON


def klog_header(when: datetime, pid: int, source: str, severity: str = "I") -> str:
    """klog/glog's header: ``I0815 10:12:13.123456   12345 file.go:123] ``."""
    return f"{severity}{when:%m%d %H:%M:%S}.{when:%f} {pid:>7} {source}] "


def format_startup_line(thresholds: Mapping[str, str], era: str, *, when: datetime, pid: int,
                        node_name: str = "", cgroup_driver: str = "cgroupfs",
                        root_dir: str = "/var/lib/kubelet",
                        min_reclaim: Mapping[str, str] | None = None) -> str:
    """The whole log line (klog header included) a kubelet of ``era`` writes at start."""
    entries = [_entry(signal, value, (min_reclaim or {}).get(signal))
               for signal, value in _ordered(thresholds)]
    header = klog_header(when, pid, _SOURCE_FILE[era])
    if era == ERA_JSON:
        return f'{header}"{MARKER}" nodeConfig={_json_body(entries, node_name, cgroup_driver, root_dir)}'
    hard = " ".join(_go_entry(*entry) for entry in entries)
    body = ("{" + _GO_PREFIX[era].format(driver=cgroup_driver, root_dir=root_dir)
            + f"HardEvictionThresholds:[{hard}]" + _GO_SUFFIX[era] + "}")
    if era == ERA_GO_STRUCT:
        return f"{header}{MARKER}: {body}"
    return f'{header}"{MARKER}" nodeConfig={body}'


def _ordered(thresholds: Mapping[str, str]) -> list[tuple[str, str]]:
    order = {name: index for index, name in enumerate(SIGNALS)}
    return sorted(thresholds.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def _entry(signal: str, value: str, reclaim: str | None) -> tuple[str, str | None, float, tuple | None]:
    """(signal, canonical quantity or None, float32 fraction, min reclaim likewise)."""
    def parts(text: str) -> tuple[str | None, float]:
        if text.endswith("%"):
            return None, parse_percentage(text)
        return parse_quantity(text).canonical(), 0.0
    return signal, *parts(value), (parts(reclaim) if reclaim else None)


def _go_entry(signal: str, quantity: str | None, pct: float, reclaim: tuple | None) -> str:
    # MinReclaim is a pointer to a struct without String(): Go prints its address.
    reclaim_text = "<nil>" if reclaim is None else f"0xc0{zlib.crc32(signal.encode()):08x}"
    return (f"{{Signal:{signal} Operator:LessThan Value:{{Quantity:{quantity or '<nil>'} "
            f"Percentage:{go_float32_text(pct)}}} GracePeriod:0s MinReclaim:{reclaim_text}}}")


def _json_body(entries: list, node_name: str, driver: str, root_dir: str) -> str:
    def value(quantity: str | None, pct: float) -> str:
        q = "null" if quantity is None else json.dumps(quantity)
        return f'{{"Quantity":{q},"Percentage":{go_json_float32(pct)}}}'
    hard = ",".join(
        f'{{"Signal":{json.dumps(s)},"Operator":"LessThan","Value":{value(q, p)},"GracePeriod":0,'
        f'"MinReclaim":{"null" if r is None else value(*r)}}}'
        for s, q, p, r in entries
    )
    return (f'{{"NodeName":{json.dumps(node_name)},"RuntimeCgroupsName":"","SystemCgroupsName":"",'
            f'"KubeletCgroupsName":"","KubeletOOMScoreAdj":-999,"ContainerRuntime":"",'
            f'"CgroupsPerQOS":true,"CgroupRoot":"/","CgroupDriver":{json.dumps(driver)},'
            f'"KubeletRootDir":{json.dumps(root_dir)},"ProtectKernelDefaults":false,'
            f'"KubeReservedCgroupName":"","SystemReservedCgroupName":"","ReservedSystemCPUs":{{}},'
            f'"EnforceNodeAllocatable":{{"pods":{{}}}},"KubeReserved":null,"SystemReserved":null,'
            f'"HardEvictionThresholds":[{hard}],"QOSReserved":{{}},"CPUManagerPolicy":"none",'
            f'"CPUManagerPolicyOptions":null,"TopologyManagerScope":"container",'
            f'"CPUManagerReconcilePeriod":10000000000,"ExperimentalMemoryManagerPolicy":"None",'
            f'"ExperimentalMemoryManagerReservedMemory":null,"PodPidsLimit":-1,"EnforceCPULimits":true,'
            f'"CPUCFSQuotaPeriod":100000000,"TopologyManagerPolicy":"none",'
            f'"TopologyManagerPolicyOptions":null,"CgroupVersion":2}}')


# --- reading ---------------------------------------------------------------------------

def thresholds_from_log(text: str) -> dict[str, str] | None:
    """The hard thresholds of the LAST complete start-up line in a kubelet log, any era.

    Values come back as the kubelet printed them: ``"10%"`` or a canonical quantity
    (``"100Mi"``). A line cut short (truncated by a pager, a journald limit or a copy)
    is not trusted: the previous complete one is used, or None when there is none.
    Lines wrapped by a terminal or split by journald are joined first.
    """
    for body in reversed(list(_startup_bodies(text))):
        parsed = _parse_body(body)
        if parsed is not None:
            return parsed
    return None


def _startup_bodies(text: str):
    """Each start-up record's body: from the first ``{`` after the marker to its matching ``}``,
    or None for a record that ended (or was cut) before the body closed."""
    for record, cut in _records(text):
        pieces = record.split(MARKER)
        for piece in pieces[1:]:
            yield None if cut else _balanced(piece)


def _records(text: str):
    """Log records with wrapped or journald-split continuation lines joined back.

    A record starts at a klog header (optionally behind journald's prefix); any other
    line continues the record before it. A fragment ending in an ellipsis marks a cut.
    """
    fragments: list[str] = []
    for line in text.splitlines():
        if fragments and _RECORD_START.match(line):
            yield _joined(fragments)
            fragments = []
        fragments.append(_JOURNAL_ONLY.sub("", line) if fragments else line)
    if fragments:
        yield _joined(fragments)


def _joined(fragments: list[str]) -> tuple[str, bool]:
    cut = any(fragment.rstrip().endswith(("…", "...")) for fragment in fragments)
    return "".join(fragments), cut


def _balanced(record: str) -> str | None:
    start = record.find("{")
    if start < 0:
        return None
    depth, in_string, escaped = 0, False, False
    for position in range(start, len(record)):
        char = record[position]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"' and record[start + 1:start + 2] == '"':  # JSON body: honour strings
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return record[start:position + 1]
    return None


def _parse_body(body: str | None) -> dict[str, str] | None:
    if body is None:
        return None
    if body.startswith('{"'):
        try:
            config = json.loads(body, parse_float=Decimal)
        except ValueError:
            return None
        entries = config.get("HardEvictionThresholds", "missing")
        if entries == "missing":
            return None
        return {entry["Signal"]: _value_text(entry["Value"]["Quantity"], entry["Value"]["Percentage"])
                for entry in entries or []}
    start = body.find("HardEvictionThresholds:[")
    if start < 0:
        return None
    end = body.find("]}", start)
    if end < 0:
        end = body.find("]", start)
    section = body[start:end + 1]
    return {m["signal"]: _value_text(None if m["quantity"] == "<nil>" else m["quantity"], m["pct"])
            for m in _GO_ENTRY.finditer(section)}


def _value_text(quantity: str | None, percentage) -> str:
    """A percentage of 0 with a quantity is absolute; a nil quantity means fraction x 100."""
    if quantity is not None and Decimal(str(percentage)) == 0:
        return quantity
    percent = Decimal(str(percentage)) * 100
    return f"{format(percent.normalize(), 'f')}%"
