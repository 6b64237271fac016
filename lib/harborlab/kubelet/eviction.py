"""The lab kubelet's eviction decision, written from the kubelet's own Go source.

Sources (kubernetes/kubernetes), by era of the lab's profiles (1.7 and 1.30):
* ``pkg/kubelet/eviction/helpers.go``: parseThresholdStatement, parsePercentage,
  makeSignalObservations, thresholdsMet, thresholdsFirstObservedAt, thresholdsMetGracePeriod,
  nodeConditionsLastObservedAt, nodeConditionsObservedSince, UpdateContainerFsThresholds (1.29+);
* ``pkg/kubelet/eviction/api/types.go``: the signal names and GetThresholdQuantity;
* ``pkg/kubelet/eviction/eviction_manager.go``: synchronize (the order of the steps below), Admit.

Only what a lab node needs: the disk and memory signals, hard and soft thresholds, minimum
reclaim, the pressure transition period. No pod ranking (the lab evicts the oldest pod).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field
from fractions import Fraction

from harborlab.errors import LabError

# api/types.go signal names -> (node condition, resource in 1.7, resource from 1.8 on).
# helpers.go init(): signalToNodeCondition and signalToResource ("nodefs", "nodefsInodes" ... in
# 1.7; v1.ResourceEphemeralStorage and "inodes" later).
SIGNALS = {
    "memory.available": ("MemoryPressure", "memory", "memory"),
    "allocatableMemory.available": ("MemoryPressure", "memory", "memory"),
    "nodefs.available": ("DiskPressure", "nodefs", "ephemeral-storage"),
    "nodefs.inodesFree": ("DiskPressure", "nodefsInodes", "inodes"),
    "imagefs.available": ("DiskPressure", "imagefs", "ephemeral-storage"),
    "imagefs.inodesFree": ("DiskPressure", "imagefsInodes", "inodes"),
    "pid.available": ("PIDPressure", None, "pids"),
    "containerfs.available": ("DiskPressure", None, "ephemeral-storage"),
    "containerfs.inodesFree": ("DiskPressure", None, "inodes"),
}


def parse_version(text: str) -> tuple[int, int]:
    """(major, minor) of "v1.7.5", "1.30"."""
    match = re.match(r"\s*v?(\d+)\.(\d+)", text)
    if match is None:
        raise LabError(f"not a Kubernetes version: {text!r}")
    return int(match.group(1)), int(match.group(2))


def known_signals(version: tuple[int, int]) -> tuple[str, ...]:
    """validSignal: the signals a kubelet of this version has in signalToResource."""
    names = ["memory.available", "allocatableMemory.available", "nodefs.available", "nodefs.inodesFree",
             "imagefs.available", "imagefs.inodesFree"]
    if version >= (1, 10):
        names.append("pid.available")
    if version >= (1, 29):
        names += ["containerfs.available", "containerfs.inodesFree"]
    return tuple(names)


def resource_of(signal: str, version: tuple[int, int]) -> str:
    _condition, old, new = SIGNALS[signal]
    return old if version < (1, 8) and old else new


# --- values -----------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")   # apimachinery's splitRE
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(text: str) -> Fraction:
    """resource.ParseQuantity: the exact value; finer than nano is rounded up (as apimachinery does)."""
    match = _QUANTITY.match(text)
    if not match or match.group(1).lstrip("+-") in ("", ".") or match.group(1).count(".") > 1:
        raise ValueError("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    number, suffix = Fraction(match.group(1)), match.group(2)
    if suffix in _BINARY:
        value = number * 2 ** _BINARY[suffix]
    elif suffix in _DECIMAL:
        value = number * Fraction(10) ** _DECIMAL[suffix]
    elif re.fullmatch(r"[eE][-+]?[0-9]+", suffix):
        value = number * Fraction(10) ** int(suffix[1:])
    else:
        raise ValueError("unable to parse quantity's suffix")
    nano = Fraction(1, 10 ** 9)
    return value if (value / nano).denominator == 1 else math.ceil(value / nano) * nano


def _f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _f32_from_decimal(text: str) -> float:
    """strconv.ParseFloat(text, 32): the float32 nearest the exact decimal (one rounding)."""
    exact = Fraction(text)
    if exact <= 0:
        return -_f32_from_decimal(text.lstrip("+-")) if exact < 0 else 0.0
    guess = _f32(float(exact))
    bits = struct.unpack("<i", struct.pack("<f", guess))[0]
    candidates = [struct.unpack("<f", struct.pack("<i", b))[0] for b in (bits - 1, bits, bits + 1)]
    candidates = [c for c in candidates if math.isfinite(c)] or [guess]
    return min(candidates, key=lambda c: (abs(Fraction(c) - exact),
                                          struct.unpack("<i", struct.pack("<f", c))[0] % 2))


def parse_percentage(text: str) -> float:
    """helpers.go parsePercentage: float32(strconv.ParseFloat(trimmed, 32)) / 100 in float32."""
    number = text.rstrip("%")
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", number):
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": invalid syntax')
    try:
        value = _f32_from_decimal(number)
    except OverflowError:
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": value out of range') from None
    if math.isinf(value):
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": value out of range')
    return _f32(value / 100.0)   # one float32 division, exact through a double


@dataclass(frozen=True)
class Value:
    """evictionapi.ThresholdValue: a quantity or a float32 fraction of capacity."""
    quantity: Fraction | None = None
    percentage: float = 0.0

    def of(self, capacity: int) -> Fraction:
        """GetThresholdQuantity: the quantity, or int64(float64(capacity) * float64(percentage))."""
        if self.quantity is not None:
            return self.quantity
        return Fraction(int(float(capacity) * self.percentage))   # Go's int64() truncates


@dataclass(frozen=True)
class Threshold:
    signal: str
    value: Value
    grace: float = 0.0                 # seconds; 0 is a hard threshold
    min_reclaim: Value | None = None


def parse_statement(signal: str, text: str, version: tuple[int, int]) -> Threshold | None:
    """parseThresholdStatement of the era; None when the value switches the signal off (1.10+)."""
    if signal not in known_signals(version):
        raise LabError(f"unsupported eviction signal {signal}")
    try:
        if text.endswith("%"):
            if version >= (1, 10) and text in ("0%", "100%"):
                return None          # "ignore 0% and 100%" (map era)
            pct = parse_percentage(text)
            if version < (1, 10):
                if pct <= 0:
                    raise LabError(f"eviction percentage threshold {signal} must be positive: {text}")
            else:
                if pct < 0:
                    raise LabError(f"eviction percentage threshold {signal} must be >= 0%: {text}")
                # 1.10-1.20 compared the fraction with 100 (kubernetes#97321 made it 1 in 1.21)
                if pct > (1 if version >= (1, 21) else 100):
                    raise LabError(f"eviction percentage threshold {signal} must be <= 100%: {text}")
            return Threshold(signal, Value(percentage=pct))
        quantity = parse_quantity(text)
    except ValueError as err:
        raise LabError(str(err)) from None
    if quantity <= 0:
        raise LabError(f"eviction threshold {signal} must be positive: {text}")
    return Threshold(signal, Value(quantity=quantity))


def parse_min_reclaim(signal: str, text: str, version: tuple[int, int]) -> Value:
    """parseMinimumReclaims: a positive percentage or a non-negative quantity."""
    if signal not in known_signals(version):
        raise LabError(f"unsupported eviction signal {signal}")
    try:
        if text.endswith("%"):
            pct = parse_percentage(text)
            if pct <= 0:
                raise LabError(f"eviction percentage minimum reclaim {signal} must be positive: {text}")
            return Value(percentage=pct)
        quantity = parse_quantity(text)
    except ValueError as err:
        raise LabError(str(err)) from None
    if quantity < 0:
        raise LabError(f"negative eviction minimum reclaim specified for {signal}")
    return Value(quantity=quantity)


# --- observations and the decision ----------------------------------------------------------

@dataclass(frozen=True)
class Fs:
    """What cadvisor reports for one filesystem: f_bavail, f_blocks, f_favail, f_files (scaled)."""
    available: int
    capacity: int
    inodes_free: int
    inodes: int


def observe(nodefs: Fs, imagefs: Fs, version: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """makeSignalObservations: signal -> (available, capacity). nodefs from Node.Fs, imagefs from
    Runtime.ImageFs (on a single disk cadvisor reports the root filesystem there too), and from
    1.29 containerfs from Runtime.ContainerFs (the lab keeps containers where the images are)."""
    result = {"nodefs.available": (nodefs.available, nodefs.capacity),
              "nodefs.inodesFree": (nodefs.inodes_free, nodefs.inodes),
              "imagefs.available": (imagefs.available, imagefs.capacity),
              "imagefs.inodesFree": (imagefs.inodes_free, imagefs.inodes)}
    if version >= (1, 29):
        result["containerfs.available"] = result["imagefs.available"]
        result["containerfs.inodesFree"] = result["imagefs.inodesFree"]
    return result


def with_containerfs(thresholds: list[Threshold], separate_imagefs: bool,
                     version: tuple[int, int]) -> list[Threshold]:
    """UpdateContainerFsThresholds (1.29+): containerfs thresholds are copies of the nodefs ones on
    a single filesystem, of the imagefs ones with a separate image filesystem; set values ignored."""
    if version < (1, 29):
        return thresholds
    source = "imagefs" if separate_imagefs else "nodefs"
    kept = [t for t in thresholds if not t.signal.startswith("containerfs.")]
    added = []
    for hard in (True, False):
        for suffix in ("available", "inodesFree"):
            model = next((t for t in kept if t.signal == f"{source}.{suffix}" and (t.grace == 0) == hard),
                         None)
            # A missing model copies Go's zero Threshold: a zero value that is never met.
            added.append(Threshold(f"containerfs.{suffix}", model.value if model else Value(Fraction(0)),
                                   model.grace if model else 0.0, model.min_reclaim if model else None))
    return kept + added


def thresholds_met(thresholds: list[Threshold], observations: dict[str, tuple[int, int]],
                   enforce_min_reclaim: bool) -> list[Threshold]:
    """helpers.go thresholdsMet: met when the threshold quantity is greater than available
    (``quantity.Cmp(available) > 0``); with min reclaim, against quantity + min reclaim."""
    met = []
    for threshold in thresholds:
        if threshold.signal not in observations:
            continue    # "no observation found for eviction signal"
        available, capacity = observations[threshold.signal]
        quantity = threshold.value.of(capacity)
        if enforce_min_reclaim and threshold.min_reclaim is not None:
            quantity += threshold.min_reclaim.of(capacity)
        if quantity > available:
            met.append(threshold)
    return met


@dataclass
class Manager:
    """The eviction manager's memory between housekeeping passes (eviction_manager.go managerImpl)."""
    thresholds: list[Threshold]
    transition: float                                          # PressureTransitionPeriod, seconds
    thresholds_met: list[Threshold] = field(default_factory=list)
    first_observed: dict[Threshold, float] = field(default_factory=dict)
    conditions_last_observed: dict[str, float] = field(default_factory=dict)
    node_conditions: frozenset[str] = frozenset()

    def synchronize(self, observations: dict[str, tuple[int, int]], now: float) -> list[Threshold]:
        """One pass of synchronize(); returns the thresholds that drive eviction (grace periods met)."""
        met = thresholds_met(self.thresholds, observations, False)
        if self.thresholds_met:
            unresolved = thresholds_met(self.thresholds_met, observations, True)
            met += [t for t in unresolved if t not in met]                    # mergeThresholds
        self.first_observed = {t: self.first_observed.get(t, now) for t in met}   # thresholdsFirstObservedAt
        # Conditions come from every threshold met, soft ones before their grace period too.
        for condition in {SIGNALS[t.signal][0] for t in met}:
            self.conditions_last_observed[condition] = now                    # nodeConditionsLastObservedAt
        self.node_conditions = frozenset(c for c, at in self.conditions_last_observed.items()
                                         if now - at < self.transition)       # nodeConditionsObservedSince
        self.thresholds_met = [t for t, at in self.first_observed.items()
                               if not now - at < t.grace]                     # thresholdsMetGracePeriod
        return list(self.thresholds_met)


# --- what the kubelet says -------------------------------------------------------------------

# Node condition (reason, message) when True / False: kubelet_node_status.go setNodeDiskPressureCondition
# and its memory and PID siblings (the same wording from 1.7 to today).
CONDITIONS = {
    "DiskPressure": (("KubeletHasDiskPressure", "kubelet has disk pressure"),
                     ("KubeletHasNoDiskPressure", "kubelet has no disk pressure")),
    "MemoryPressure": (("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
                       ("KubeletHasSufficientMemory", "kubelet has sufficient memory available")),
    "PIDPressure": (("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
                    ("KubeletHasSufficientPID", "kubelet has sufficient PID available")),
}
# The node events recorded on a condition transition (recordNodeStatusEvent "NodeHas...").
NODE_EVENT = {("DiskPressure", True): "NodeHasDiskPressure", ("DiskPressure", False): "NodeHasNoDiskPressure",
              ("MemoryPressure", True): "NodeHasInsufficientMemory",
              ("MemoryPressure", False): "NodeHasSufficientMemory",
              ("PIDPressure", True): "NodeHasInsufficientPID", ("PIDPressure", False): "NodeHasSufficientPID"}
REASON = "Evicted"


def log_lines(version: tuple[int, int]) -> dict[str, tuple[str, str]]:
    """eviction_manager.go's lines as (severity, text): glog printf up to 1.20, klog structured after."""
    if version <= (1, 20):
        return {"attempting": ("W", "eviction manager: attempting to reclaim {resource}"),     # glog.Warningf
                "reclaimed": ("I", "eviction manager: able to reduce {resource} pressure without evicting pods."),
                "must_evict": ("I", "eviction manager: must evict pod(s) to reclaim {resource}"),
                "no_pods": ("E", "eviction manager: eviction thresholds have been met, but no pods are "
                                 "active to evict"),
                # Admit's glog.Warningf has one verb too few: Go appends the extra argument.
                "admit": ("W", "Failed to admit pod {pod} - node has conditions: %v"
                               "%!(EXTRA []v1.NodeConditionType=[{conditions}])")}
    return {"attempting": ("I", '"Eviction manager: attempting to reclaim" resourceName="{resource}"'),
            "reclaimed": ("I", '"Eviction manager: able to reduce resource pressure without evicting pods." '
                               'resourceName="{resource}"'),
            "must_evict": ("I", '"Eviction manager: must evict pod(s) to reclaim" resourceName="{resource}"'),
            "no_pods": ("E", '"Eviction manager: eviction thresholds have been met, but no pods are active '
                             'to evict"'),
            "admit": ("I", '"Failed to admit pod to node" pod="{pod}" nodeCondition=[{conditions}]')}


def evicted_message(version: tuple[int, int], resource: str, threshold: Fraction, available: int) -> str:
    """The evicted pod's status message: helpers.go ``message`` (1.7) / nodeLowMessageFmt +
    thresholdMetMessageFmt (from 1.9 on)."""
    if version < (1, 9):
        return f"The node was low on resource: {resource}."
    return (f"The node was low on resource: {resource}. "
            f"Threshold quantity: {math.ceil(threshold)}, available: {available // 1024}Ki. ")


def admission_message(version: tuple[int, int], conditions: str) -> str:
    """Admit's PodAdmitResult.Message: ``message`` with the conditions (1.7: "The node was low on
    resource: [DiskPressure]."), nodeConditionMessageFmt in later kubelets."""
    if version < (1, 9):
        return f"The node was low on resource: [{conditions}]."
    return f"The node had condition: [{conditions}]. "
