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

:data:`CATALOG` (:mod:`.catalog`) maps each image to the config path it reads, its ports and
its launcher; :func:`launch_for` calls any of them the same way.
"""

from __future__ import annotations

from .catalog import CATALOG, ImageProgram, Surroundings, launch_for
from .layout import Launch, LaunchError, PodLayout, pick_endpoint, split_hostport
from .nginx import NGINX_CONFIG, nginx_launch, reload as reload_nginx
from .registry import REGISTRY_CONFIG, REGISTRY_EXAMPLE_CONFIG, REGISTRY_TRANSLATIONS, registry_launch
from .ui import UI_CONFIG, ui_launch

__all__ = [
    "CATALOG",
    "ImageProgram",
    "Surroundings",
    "launch_for",
    "Launch",
    "LaunchError",
    "NGINX_CONFIG",
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
