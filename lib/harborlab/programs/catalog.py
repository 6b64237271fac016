"""The image catalog: which program runs for which image, with what it needs from the lab.

One entry per image (policy as data): the config path the image reads, its container ports,
and the launcher. Every launcher is called the same way, ``launcher(pod, surroundings)``, so
the pod runner needs no per-image code. Images absent from the catalog (adminserver,
jobservice) are simulated by the runner: Running and Ready, no process.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from .layout import Launch, PodLayout
from .nginx import NGINX_CONFIG, nginx_launch
from .registry import REGISTRY_CONFIG, registry_launch
from .ui import UI_CONFIG, ui_launch


@dataclass(frozen=True)
class Surroundings:
    """What a launcher may need from the rest of the lab, all explicit."""

    endpoints: Mapping[str, Sequence[str]] = field(default_factory=dict)  # "svc:port" -> ready "ip:port"s
    adminserver_env: Mapping[str, str] = field(default_factory=dict)  # its ConfigMap + Secret, merged
    worker_user: str | None = None  # nginx workers' user when the pod dir is private to root
    python: str = sys.executable


@dataclass(frozen=True)
class ImageProgram:
    config_path: str
    ports: tuple[int, ...]
    launcher: Callable[[PodLayout, Surroundings], Launch]


CATALOG: dict[str, ImageProgram] = {
    "vmware/registry:2.6.2-photon": ImageProgram(
        REGISTRY_CONFIG, (5000, 5001), lambda pod, s: registry_launch(pod, s.endpoints)),
    "vmware/nginx-photon:1.11.13": ImageProgram(
        NGINX_CONFIG, (80, 443), lambda pod, s: nginx_launch(pod, s.endpoints, s.worker_user)),
    "vmware/harbor-ui:v1.2.0": ImageProgram(
        UI_CONFIG, (80,), lambda pod, s: ui_launch(pod, s.adminserver_env, python=s.python)),
}


def launch_for(image: str, pod: PodLayout, surroundings: Surroundings) -> Launch | None:
    """The launch for a pod of ``image``; None when the lab simulates that image."""
    entry = CATALOG.get(image)
    return entry.launcher(pod, surroundings) if entry else None
