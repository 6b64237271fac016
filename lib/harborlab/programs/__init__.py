"""How the lab runs the real program behind a pod of a Harbor image.

Given a pod as the lab materialised it (:class:`PodLayout`: its loopback IP, a per-pod root
directory holding its ConfigMap/Secret files at their ``mountPath``s, the host directories of
its PVC volumes, its env), each ``*_launch`` function returns a :class:`Launch`: argv,
environment, generated files, the health check and a note for every translation. Nothing is
started here; the pod runner does that (``launch.prepare()``, then ``Popen(argv, env=...)``).

Config files are used as applied; only addresses and paths are translated, mechanically:

- registry (:mod:`.registry`): the config at the path the image reads, or the image's example
  config when nothing is there; ``REGISTRY_*`` environment overrides for addresses and paths.
- nginx (:mod:`.nginx`, :mod:`.nginxconf`): listen -> pod IP, upstream ``svc:port`` -> ready
  endpoints, pid/log/temp paths under the pod's runtime directory.
- ui (:mod:`.ui`): the stand-in, with the ui's config dir and the adminserver's DB settings.

:data:`PROGRAMS` is the catalog: image -> (the config path the image reads, its launcher).
"""

from __future__ import annotations

from typing import Callable

from .layout import Launch, LaunchError, PodLayout, pick_endpoint, split_hostport
from .nginx import NGINX_CONFIG, nginx_launch, reload as reload_nginx
from .registry import REGISTRY_CONFIG, REGISTRY_EXAMPLE_CONFIG, REGISTRY_TRANSLATIONS, registry_launch
from .ui import UI_CONFIG, ui_launch

PROGRAMS: dict[str, tuple[str, Callable[..., Launch]]] = {
    "vmware/registry:2.6.2-photon": (REGISTRY_CONFIG, registry_launch),
    "vmware/nginx-photon:1.11.13": (NGINX_CONFIG, nginx_launch),
    "vmware/harbor-ui:v1.2.0": (UI_CONFIG, ui_launch),
}

__all__ = [
    "Launch",
    "LaunchError",
    "NGINX_CONFIG",
    "PROGRAMS",
    "PodLayout",
    "REGISTRY_CONFIG",
    "REGISTRY_EXAMPLE_CONFIG",
    "REGISTRY_TRANSLATIONS",
    "UI_CONFIG",
    "nginx_launch",
    "pick_endpoint",
    "registry_launch",
    "reload_nginx",
    "split_hostport",
    "ui_launch",
]
