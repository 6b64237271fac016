"""What a kubelet of each era says while evicting: log lines, events, conditions, pod status.

Templates are data (``str.format`` fields) so the lab's simulator writes them and the
runbook recognises them from one table. ``{resource}`` is the era's resource name
(``nodefs`` up to 1.7, ``ephemeral-storage`` from 1.8; see signals.resource_name).
"""

from __future__ import annotations

import re

from .signals import KubeletVersion

LEGACY, STRUCTURED = "legacy", "structured"  # glog printf lines (<= 1.20) / klog structured (1.21+)

LOG_LINES: dict[str, dict[str, str]] = {
    LEGACY: {
        "attempting_reclaim": "eviction manager: attempting to reclaim {resource}",
        "must_evict": "eviction manager: must evict pod(s) to reclaim {resource}",
        "no_pods_to_evict": "eviction manager: eviction thresholds have been met, but no pods are active to evict",
        "pod_evicted": "eviction manager: pod {pod} is evicted successfully",
        "admit_refused": "Failed to admit pod {pod} - node has conditions: [{conditions}]",
    },
    STRUCTURED: {
        "attempting_reclaim": '"Eviction manager: attempting to reclaim" resourceName="{resource}"',
        "must_evict": '"Eviction manager: must evict pod(s) to reclaim" resourceName="{resource}"',
        "no_pods_to_evict": '"Eviction manager: eviction thresholds have been met, but no pods are active to evict"',
        "pod_evicted": '"Eviction manager: pod is evicted successfully" pod="{pod}"',
        "admit_refused": '"Failed to admit pod to node" pod="{pod}" nodeCondition=[{conditions}]',
    },
}

# (reason, type, message) of the events the kubelet records on its Node.
NODE_EVENTS: dict[str, tuple[str, str, str]] = {
    "threshold_met": ("EvictionThresholdMet", "Warning", "Attempting to reclaim {resource}"),
    "disk_pressure": ("NodeHasDiskPressure", "Normal", "Node {node} status is now: NodeHasDiskPressure"),
    "no_disk_pressure": ("NodeHasNoDiskPressure", "Normal", "Node {node} status is now: NodeHasNoDiskPressure"),
    "free_disk_failed": ("FreeDiskSpaceFailed", "Warning",
                         "failed to garbage collect required amount of images. Wanted to free {wanted} bytes, "
                         "but freed {freed} bytes"),
    "image_gc_failed": ("ImageGCFailed", "Warning",
                        "failed to garbage collect required amount of images. Wanted to free {wanted} bytes, "
                        "but freed {freed} bytes"),
}

# Node condition (type -> (status True reason, message), (status False reason, message)).
CONDITIONS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "DiskPressure": (("KubeletHasDiskPressure", "kubelet has disk pressure"),
                     ("KubeletHasNoDiskPressure", "kubelet has no disk pressure")),
    "MemoryPressure": (("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
                       ("KubeletHasSufficientMemory", "kubelet has sufficient memory available")),
    "PIDPressure": (("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
                    ("KubeletHasSufficientPID", "kubelet has sufficient PID available")),
}

TAINTS = {"DiskPressure": "node.kubernetes.io/disk-pressure", "MemoryPressure": "node.kubernetes.io/memory-pressure",
          "PIDPressure": "node.kubernetes.io/pid-pressure"}

ADMISSION_MESSAGE = "The node had condition: [{conditions}]. "
EVICTED_REASON = "Evicted"
EVICTED_MESSAGE_LEGACY = "The node was low on resource: {resource}."
EVICTED_MESSAGE = "The node was low on resource: {resource}. Threshold quantity: {threshold}, available: {available}. "


def log_style(version: KubeletVersion | str) -> str:
    """Which table of log lines a kubelet of this version writes."""
    return LEGACY if KubeletVersion.parse(version) <= (1, 20) else STRUCTURED


def log_line(key: str, version: KubeletVersion | str, **fields: str) -> str:
    """One eviction-manager message (without klog header) as this era writes it."""
    return LOG_LINES[log_style(version)][key].format(**fields)


def evicted_message(version: KubeletVersion | str, resource: str, threshold: str, available: str) -> str:
    """The status message of an evicted pod (the quantity detail appeared with 1.9)."""
    if KubeletVersion.parse(version) < (1, 9):
        return EVICTED_MESSAGE_LEGACY.format(resource=resource)
    return EVICTED_MESSAGE.format(resource=resource, threshold=threshold, available=available)


def recognise(line: str) -> tuple[str, dict[str, str]] | None:
    """Which eviction-manager message a log line is, with its fields (any era), or None."""
    for table in LOG_LINES.values():
        for key, template in table.items():
            pattern = re.escape(template)
            for field in re.findall(r"\{(\w+)\}", template):
                pattern = pattern.replace(re.escape("{" + field + "}"), f"(?P<{field}>.+?)", 1)
            match = re.search(pattern + r"\s*$", line)
            if match:
                return key, match.groupdict()
    return None
