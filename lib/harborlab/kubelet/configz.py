"""``/configz`` of a lab kubelet: the effective KubeletConfiguration (camelCase, durations as Go
prints them), built from the settings the simulator started with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harborbook.kubelet.config import flag_value, kubelet_root_dir

if TYPE_CHECKING:
    from .simulator import KubeletSim


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for whole-millisecond durations: 5m0s, 2s, 1h0m0s, 500ms, 0s."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    frac = seconds - whole
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    sec_text = f"{secs + frac:g}s"
    if hours:
        return f"{hours}h{minutes}m{sec_text}"
    if minutes:
        return f"{minutes}m{sec_text}"
    return sec_text


def kubelet_configz(sim: "KubeletSim") -> dict:
    settings = sim.settings
    assert settings is not None
    return {
        "kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "staticPodPath": "/etc/kubernetes/manifests", "syncFrequency": "1m0s",
        "cgroupDriver": "cgroupfs" if sim.profile == "article" else "systemd",
        "clusterDomain": "cluster.local", "clusterDNS": ["10.96.0.10"],
        "evictionHard": dict(settings.hard), "evictionSoft": dict(settings.soft),
        "evictionSoftGracePeriod": dict(settings.soft_grace),
        "evictionMinimumReclaim": dict(settings.min_reclaim),
        "evictionPressureTransitionPeriod": go_duration(sim.transition().total_seconds()),
        "mergeDefaultEvictionSettings": settings.merge_defaults,
        "imageGCHighThresholdPercent": 85, "imageGCLowThresholdPercent": 80,
        "maxPods": 110, "podPidsLimit": -1, "rootDirectory": kubelet_root_dir(sim.argv),
        "containerRuntimeEndpoint": flag_value(sim.argv, "container-runtime-endpoint",
                                               "unix:///var/run/containerd/containerd.sock"),
    }
