"""The kubelet's start-up line with the hard thresholds in force, as each era prints it.

``pkg/kubelet/cm/container_manager_linux.go`` NewContainerManager logs the NodeConfig it was given:
``glog.Infof("Creating Container Manager object based on Node Config: %+v", nodeConfig)`` up to
1.20, ``klog.InfoS("Creating Container Manager object based on Node Config", "nodeConfig",
nodeConfig)`` after (the value printed as ``%+v`` until the JSON logging of structs, 1.28).
Around HardEvictionThresholds the lab prints only a few of the struct's fields.
``Quantity`` prints as resource.Quantity.String() (canonical form), ``Percentage`` as a Go float32.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from .eviction import Value

MARKER = "Creating Container Manager object based on Node Config"


def klog_header(when: datetime, pid: int, source: str, severity: str = "I") -> str:
    """glog/klog header: ``Lmmdd hh:mm:ss.uuuuuu threadid file:line] ``."""
    return f"{severity}{when:%m%d %H:%M:%S}.{when:%f} {pid:>7} {source}] "


def go_float32(value: float) -> str:
    """fmt %v of a float32: the shortest digits that read back as the same float32 ('g' format)."""
    if value == 0:
        return "0"
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == value:
            return text
    return repr(value)


def json_float32(value: float) -> str:
    """encoding/json of a float32: the same digits, written without exponent for 1e-6 <= |v| < 1e21."""
    text = go_float32(value)
    if "e" in text and 1e-6 <= abs(value) < 1e21:
        text = format(Decimal(text), "f")
    elif "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{'-' if exponent.startswith('-') else '+'}{int(exponent.lstrip('+-'))}"
    return text


def quantity_string(value: Fraction, binary: bool) -> str:
    """resource.Quantity.String(): BinarySI (a suffix like Mi was written) prints the largest binary
    suffix that divides the integer value, DecimalSI the largest power of 1000 keeping an integer."""
    if value == 0:
        return "0"
    sign, magnitude = ("-" if value < 0 else ""), abs(value)
    if binary and magnitude >= 1024 and magnitude.denominator == 1:
        number, step = int(magnitude), 0
        while number % 1024 == 0 and step < 6:
            number, step = number // 1024, step + 1
        return sign + str(number) + ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][step]
    exponent = -9
    while exponent < 18 and (magnitude / Fraction(10) ** (exponent + 3)).denominator == 1:
        exponent += 3
    mantissa = math.ceil(magnitude / Fraction(10) ** exponent)
    suffix = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}[exponent]
    return f"{sign}{mantissa}{suffix}"


def _quantity(text: str, value: Value) -> str | None:
    if value.quantity is None:
        return None
    return quantity_string(value.quantity, any(s in text for s in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")))


def _pointer(signal: str) -> str:
    """%+v of a *ThresholdValue prints its address."""
    return "0xc420" + format(zlib.crc32(signal.encode()) % 16 ** 6, "06x")


def startup_line(hard: dict[str, tuple[str, Value]], version: tuple[int, int], *, when: datetime, pid: int,
                 node: str, root_dir: str, cgroup_driver: str, reclaim: set[str]) -> str:
    """``hard``: signal -> (text as configured, parsed value), in the order the kubelet holds them."""
    if version >= (1, 28):
        entries = ",".join(
            '{"Signal":%s,"Operator":"LessThan","Value":{"Quantity":%s,"Percentage":%s},"GracePeriod":0,'
            '"MinReclaim":%s}' % (json.dumps(signal), json.dumps(_quantity(text, value)),
                                   json_float32(value.percentage),
                                   '{"Quantity":null,"Percentage":0}' if signal in reclaim else "null")
            for signal, (text, value) in hard.items())
        body = (f'{{"NodeName":{json.dumps(node)},"CgroupsPerQOS":true,"CgroupRoot":"/",'
                f'"CgroupDriver":{json.dumps(cgroup_driver)},"KubeletRootDir":{json.dumps(root_dir)},'
                f'"HardEvictionThresholds":[{entries}],"PodPidsLimit":-1}}')
        return f'{klog_header(when, pid, "container_manager_linux.go:270")}"{MARKER}" nodeConfig={body}'
    entries = " ".join(
        f"{{Signal:{signal} Operator:LessThan Value:{{Quantity:{_quantity(text, value) or '<nil>'} "
        f"Percentage:{go_float32(value.percentage)}}} GracePeriod:0s "
        f"MinReclaim:{_pointer(signal) if signal in reclaim else '<nil>'}}}"
        for signal, (text, value) in hard.items())
    runtime = "docker" if version <= (1, 20) else ""
    body = (f"{{RuntimeCgroupsName: SystemCgroupsName: KubeletCgroupsName: ContainerRuntime:{runtime} "
            f"CgroupsPerQOS:true CgroupRoot:/ CgroupDriver:{cgroup_driver} ProtectKernelDefaults:false "
            f"NodeAllocatableConfig:{{KubeReservedCgroupName: SystemReservedCgroupName: "
            f"EnforceNodeAllocatable:map[pods:{{}}] KubeReserved:map[] SystemReserved:map[] "
            f"HardEvictionThresholds:[{entries}]}} ExperimentalQOSReserved:map[]}}")
    if version <= (1, 20):
        return f"{klog_header(when, pid, 'container_manager_linux.go:245')}{MARKER}: {body}"
    return f'{klog_header(when, pid, "container_manager_linux.go:262")}"{MARKER}" nodeConfig={body}'
