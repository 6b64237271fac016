"""The registry pod: ``vmware/registry:2.6.2-photon`` run as Debian's ``docker-registry serve``.

The image reads ``/etc/registry/config.yml``. When the pod has no file there (the 2017 mount
at ``/etc/docker/registry``), the image's built-in example config applies instead: filesystem
storage at ``/var/lib/registry`` inside the pod (pod-private), no auth - the bug, for real.

The config file is passed unchanged. Distribution reads ``REGISTRY_<PATH>`` environment
variables as overrides of config keys; :data:`REGISTRY_TRANSLATIONS` lists the keys we
override and how: listen addresses -> the pod IP (same port), container paths -> host paths,
a Service ``host:port`` -> one of its endpoints. Notification endpoint URLs naming a Service
are rewritten the same way and passed as one YAML value (distribution parses a whole list).
"""

from __future__ import annotations

import io
import posixpath
from pathlib import Path
from typing import Mapping, Sequence

from ruamel.yaml import YAML

from .layout import Launch, LaunchError, PodLayout, pick_endpoint, split_hostport

REGISTRY_CONFIG = "/etc/registry/config.yml"

# The registry image's built-in config (distribution's example config, as shipped in the
# image): what runs when nothing is mounted at /etc/registry/config.yml.
REGISTRY_EXAMPLE_CONFIG = """\
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""

# Config key path -> how its value is translated. "listen": host:port -> pod IP, same port;
# "path": container path -> host path; "service": Service host:port -> an endpoint.
REGISTRY_TRANSLATIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("http", "addr"), "listen"),
    (("http", "debug", "addr"), "listen"),
    (("http", "tls", "certificate"), "path"),
    (("http", "tls", "key"), "path"),
    (("storage", "filesystem", "rootdirectory"), "path"),
    (("auth", "token", "rootcertbundle"), "path"),
    (("auth", "htpasswd", "path"), "path"),
    (("redis", "addr"), "service"),
)


def _lookup(config: Mapping, path: tuple[str, ...]):
    node = config
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def registry_overrides(
    config: Mapping, pod: PodLayout, endpoints: Mapping[str, Sequence[str]]
) -> tuple[dict[str, str], list[str]]:
    """The ``REGISTRY_*`` variables translating ``config`` for ``pod``, and notes on each."""
    env: dict[str, str] = {}
    notes: list[str] = []
    for path, kind in REGISTRY_TRANSLATIONS:
        value = _lookup(config, path)
        if value is None or value == "":
            continue
        if kind == "listen":
            new = f"{pod.ip}:{split_hostport(value)[1]}"
        elif kind == "path":
            new = str(pod.host_path(str(value)))
        else:
            new = pick_endpoint(str(value), endpoints)
            if new is None:
                continue  # not a Service we know: left as written
        name = "REGISTRY_" + "_".join(p.upper() for p in path)
        env[name] = new
        notes.append(f"{'.'.join(path)}: {value} -> {new} ({name})")
    hooks = _lookup(config, ("notifications", "endpoints"))
    if isinstance(hooks, list) and hooks:
        translated = [dict(h) for h in hooks]
        for hook in translated:
            url = str(hook.get("url", ""))
            scheme, sep, rest = url.partition("://")
            hostport, slash, tail = rest.partition("/")
            service = hostport if ":" in hostport else f"{hostport}:{80 if scheme == 'http' else 443}"
            target = pick_endpoint(service, endpoints) if sep else None
            if target:
                hook["url"] = f"{scheme}://{target}{slash}{tail}"
                notes.append(f"notifications {hook.get('name')}: {url} -> {hook['url']}")
        # A YAML value for a whole list: distribution parses it into the field as a unit.
        env["REGISTRY_NOTIFICATIONS_ENDPOINTS"] = _dump_yaml(translated)
    return env, notes


def _dump_yaml(value) -> str:
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = True
    yaml.dump(value, out)
    return out.getvalue().strip()


def load_yaml(text: str, source: str) -> dict:
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except Exception as exc:  # ruamel raises many types; the pod must fail with the reason
        raise LaunchError(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise LaunchError(f"{source} is not a YAML mapping")
    return data


def registry_launch(
    pod: PodLayout, endpoints: Mapping[str, Sequence[str]] = {}, program: str = "docker-registry"
) -> Launch:
    """``docker-registry serve`` as the 2.6.2-photon image would run in ``pod``."""
    wanted = pod.config_path or REGISTRY_CONFIG  # the image's CMD unless the container names another
    mounted = pod.host_path(wanted)
    notes: list[str] = []
    files: dict[Path, str] = {}
    if mounted.is_file():
        config_path, text = mounted, mounted.read_text()
        notes.append(f"config: {wanted} (mounted)")
    elif wanted == REGISTRY_CONFIG:
        config_path = pod.runtime / "registry" / "example-config.yml"
        text = REGISTRY_EXAMPLE_CONFIG
        files[config_path] = text
        notes.append(f"config: nothing at {REGISTRY_CONFIG}: the image's built-in example config")
    else:
        # Only /etc/registry/config.yml is in the image; distribution's resolveConfiguration
        # then fails to open the named file, and the container exits.
        raise LaunchError(f"pod {pod.name}: open {wanted}: no such file or directory",
                          hint=f"mount the registry config at {posixpath.dirname(wanted)}")
    config = load_yaml(text, str(config_path))
    env, translated = registry_overrides(config, pod, endpoints)
    storage = env.get("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY")
    addr = env.get("REGISTRY_HTTP_ADDR", f"{pod.ip}:5000")
    return Launch(
        argv=[program, "serve", str(config_path)],
        env={**pod.env, **env},
        files=files,
        dirs=(Path(storage),) if storage else (),
        health_url=f"http://{addr}/v2/",
        ready_statuses=(200, 401),
        notes=tuple(notes + translated),
    )


