"""The kubelet's effective eviction settings, each with its source, as the kubelet computes them.

Order, lowest first: built-in defaults of the version, the config file (``--config``),
``--config-dir`` drop-ins (1.30+, ``*.conf``, merged key by key), command-line flags.
THE GOTCHA: a set ``evictionHard`` map replaces the defaults entirely (unnamed signals
are off) unless ``mergeDefaultEvictionSettings: true`` (config file, 1.33+); an
``--eviction-hard`` flag always replaces the map. Invalid settings raise
KubeletConfigError worded like the kubelet's refusal to start.

Also here: where the container runtime keeps its images (the image filesystem).
"""

from __future__ import annotations

import json
import posixpath
import re
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Mapping, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser as the tomli package (a dependency there)
    import tomli as tomllib

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from harborbook.errors import HarborbookError
from harborbook.eviction.pressure import DEFAULT_TRANSITION
from harborbook.eviction.signals import KubeletVersion, default_hard
from harborbook.eviction.thresholds import (EvictionSettingError, check_signal, parse_eviction_flag,
                                            parse_min_reclaim, parse_threshold_value)

Reader = Callable[[str], "str | None"]
Lister = Callable[[str], "list[str] | None"]

DEFAULT_ROOT_DIR = "/var/lib/kubelet"
# Flags that take no value: "--flag value" must not swallow the next argument after these.
BOOL_FLAGS = frozenset({
    "allow-privileged", "fail-swap-on", "register-node", "register-schedulable", "rotate-certificates",
    "cgroups-per-qos", "enable-controller-attach-detach", "enable-server", "enable-debugging-handlers",
    "anonymous-auth", "authentication-token-webhook", "v", "logtostderr", "alsologtostderr",
    "experimental-fail-swap-on", "protect-kernel-defaults", "make-iptables-util-chains",
    "serialize-image-pulls", "exit-on-lock-contention", "keep-terminated-pod-volumes", "help", "version",
})
# flag -> (config field, pair separator for map flags or None for scalars)
EVICTION_FLAGS = {
    "eviction-hard": ("evictionHard", "<"),
    "eviction-soft": ("evictionSoft", "<"),
    "eviction-soft-grace-period": ("evictionSoftGracePeriod", "="),
    "eviction-minimum-reclaim": ("evictionMinimumReclaim", "="),
    "eviction-pressure-transition-period": ("evictionPressureTransitionPeriod", None),
}
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class KubeletConfigError(HarborbookError):
    """Settings the kubelet refuses to start with; ``message`` is the kubelet's wording."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message, hint, "runbooks/06-node-disk-pressure")


@dataclass(frozen=True)
class EvictionSettings:
    version: KubeletVersion
    hard: dict[str, str]
    hard_sources: dict[str, str]  # signal -> where its value came from
    soft: dict[str, str]
    soft_grace: dict[str, str]
    min_reclaim: dict[str, str]
    transition_period: timedelta
    sources: dict[str, str]  # field -> source ("default", "flag --...", "config file PATH", "drop-in PATH")
    merge_defaults: bool = False
    config_file: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def hard_replaced_defaults(self) -> list[str]:
        """Default signals switched off because a set map replaced the defaults (the gotcha)."""
        return [s for s in default_hard(self.version) if s not in self.hard]


def parse_duration(text: str) -> timedelta:
    """Go's time.ParseDuration ("5m", "1m30s", "300ms", "0")."""
    value = text.strip()
    sign = -1 if value.startswith("-") else 1
    body = value.lstrip("+-")
    if body == "0":
        return timedelta(0)
    parts = re.findall(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)", body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise KubeletConfigError(f'time: invalid duration "{text}"')
    return timedelta(seconds=sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts))


def parse_flags(argv: Sequence[str]) -> list[tuple[str, str]]:
    """(name, value) pairs in order; ``--flag=value`` and ``--flag value``; positional words skipped."""
    flags: list[tuple[str, str]] = []
    index = 1 if argv and not argv[0].startswith("-") else 0
    while index < len(argv):
        word = argv[index]
        index += 1
        if not word.startswith("-") or word in ("-", "--"):
            continue
        name, sep, value = word.lstrip("-").partition("=")
        if not sep:
            if name in BOOL_FLAGS or index >= len(argv) or argv[index].startswith("--"):
                value = "true"
            else:
                value, index = argv[index], index + 1
        flags.append((name, value))
    return flags


def flag_value(argv: Sequence[str], name: str, default: str | None = None) -> str | None:
    """The last value given for a flag (pflag keeps the last for scalar flags)."""
    values = [value for flag, value in parse_flags(argv) if flag == name]
    return values[-1] if values else default


def _pairs(value: str, flag: str, separator: str, version: KubeletVersion | None = None) -> dict[str, str]:
    if separator == "<":
        # The map flags (1.10+) only split pairs; the values are checked once, on the final map.
        return parse_eviction_flag(value, flag=f"--{flag}", allow_empty=True, version=version,
                                   validate=version is not None and version < (1, 10))
    result = {}
    for pair in filter(None, value.split(",")):
        key, sep, item = pair.partition("=")
        if not sep:
            raise EvictionSettingError(f'invalid argument "{value}" for "--{flag}" flag: {pair} must be formatted as key=value')
        result[key.strip()] = item.strip()
    return result


def _load_yaml(text: str, path: str) -> dict[str, Any]:
    try:
        document = YAML(typ="safe").load(text)
    except YAMLError as err:
        raise KubeletConfigError(f'failed to load Kubelet config file {path}, error failed to decode: {err}') from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise KubeletConfigError(f"failed to load Kubelet config file {path}, error: not a KubeletConfiguration")
    return document


def _merge_patch(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386): maps merge key by key, null deletes, lists replace."""
    result = dict(base)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _merge_patch(dict(result[key]), value)
        else:
            result[key] = value
    return result


def effective_eviction(argv: Sequence[str], version: KubeletVersion | str, read: Reader,
                       list_dir: Lister | None = None) -> EvictionSettings:
    """The eviction settings a kubelet started with ``argv`` uses, validated like the kubelet."""
    version = KubeletVersion.parse(version)
    flags = parse_flags(argv)
    warnings: list[str] = []
    defaults = default_hard(version)
    config: dict[str, Any] = {"evictionHard": dict(defaults), "evictionSoft": {}, "evictionSoftGracePeriod": {},
                              "evictionMinimumReclaim": {}, "evictionPressureTransitionPeriod": "5m0s"}
    sources = {key: f"default ({version})" for key in config}
    hard_sources = {signal: f"default ({version})" for signal in defaults}
    config_path = flag_value(argv, "config")
    merge_defaults = False
    if config_path and version < (1, 10):
        # --config arrived with 1.10; an older kubelet's pflag refuses the unknown flag.
        raise KubeletConfigError("unknown flag: --config",
                                 hint=f"a {version} kubelet takes its settings from flags only")
    if config_path:
        text = read(config_path)
        if text is None:
            raise KubeletConfigError(
                f'failed to load Kubelet config file {config_path}, error failed to read kubelet config file '
                f'"{config_path}", error: open {config_path}: no such file or directory')
        document = _load_yaml(text, config_path)
        merge_defaults = bool(document.get("mergeDefaultEvictionSettings")) and version >= (1, 33)
        if "mergeDefaultEvictionSettings" in document and version < (1, 33):
            warnings.append(f"{config_path}: mergeDefaultEvictionSettings is unknown before v1.33 and ignored")
        for key in list(config):
            if document.get(key) is None:
                continue
            value = document[key]
            if key == "evictionHard":
                # The defaults are applied only when the file leaves the map unset.
                value = {**defaults, **value} if merge_defaults else dict(value)
                hard_sources = {s: (hard_sources[s] if s not in document[key] else f"config file {config_path}")
                                for s in value}
            config[key] = value
            sources[key] = f"config file {config_path}"
    config_dir = flag_value(argv, "config-dir")
    if config_dir and version >= (1, 30) and list_dir is not None:
        for name in sorted(n for n in (list_dir(config_dir) or []) if n.endswith(".conf")):
            path = posixpath.join(config_dir, name)
            patch = _load_yaml(read(path) or "", path)
            config = _merge_patch(config, {k: patch[k] for k in config if k in patch})
            for key in config:
                if key in patch:
                    sources[key] = f"drop-in {path}"
            for signal in (patch.get("evictionHard") or {}):
                hard_sources[signal] = f"drop-in {path}"
    elif config_dir:
        warnings.append(f"--config-dir {config_dir} is not read by a {version} kubelet (1.30+)")
    config, sources, hard_sources = _apply_flags(flags, version, config, sources, hard_sources)
    hard = {k: str(v) for k, v in (config["evictionHard"] or {}).items()}
    settings = EvictionSettings(
        version=version, hard=hard, hard_sources={s: hard_sources.get(s, "?") for s in hard},
        soft={k: str(v) for k, v in (config["evictionSoft"] or {}).items()},
        soft_grace={k: str(v) for k, v in (config["evictionSoftGracePeriod"] or {}).items()},
        min_reclaim={k: str(v) for k, v in (config["evictionMinimumReclaim"] or {}).items()},
        # Defaulting turns a zero period from the file into 5m; a flag is applied after it, so 0s stays.
        transition_period=(parse_duration(str(config["evictionPressureTransitionPeriod"]))
                           or (timedelta(0) if sources["evictionPressureTransitionPeriod"].startswith("flag")
                               else DEFAULT_TRANSITION)),
        sources=sources, merge_defaults=merge_defaults, config_file=config_path, warnings=tuple(warnings),
    )
    validate(settings)
    return settings


def _apply_flags(flags, version, config, sources, hard_sources):
    config = dict(config)
    given: dict[str, dict[str, str]] = {}
    if version < (1, 10):  # plain string flags: only the last value of each is ever parsed
        flags = [(n, v) for i, (n, v) in enumerate(flags) if all(n != later for later, _ in flags[i + 1:])]
    for name, value in flags:
        if name not in EVICTION_FLAGS:
            continue
        key, separator = EVICTION_FLAGS[name]
        if separator is None:
            config[key], sources[key] = value, f"flag --{name}"
            continue
        try:
            pairs = _pairs(value, name, separator, version)
        except EvictionSettingError as err:
            raise KubeletConfigError(f"failed to parse kubelet flag: {err.message}", err.hint) from None
        # Before 1.10 these flags were plain strings (the last one wins); since, repeated flags add up.
        given[key] = pairs if version < (1, 10) else {**given.get(key, {}), **pairs}
        sources[key] = f"flag --{name}"
        if key == "evictionHard":
            hard_sources = {s: f"flag --{name}" for s in given[key]}
    config.update(given)  # a flag replaces the whole map, defaults included
    return config, sources, hard_sources


def validate(settings: EvictionSettings) -> None:
    """ParseThresholdConfig's checks; raise as the kubelet refuses to start."""
    version = settings.version
    try:
        for signal, value in settings.hard.items():
            parse_threshold_value(signal, value, version)
        for signal, value in settings.soft.items():
            parse_threshold_value(signal, value, version)
        for signal, value in settings.soft_grace.items():
            check_signal(signal, version)
            if parse_duration(value) < timedelta(0):
                raise EvictionSettingError(f"invalid eviction grace period specified: {value}, must be a positive value")
        for signal, value in settings.min_reclaim.items():
            parse_min_reclaim(signal, value, version)
        for signal in settings.soft:
            if signal not in settings.soft_grace and settings.soft[signal] not in ("0%", "100%"):
                raise EvictionSettingError(f"grace period must be specified for the soft eviction threshold {signal}")
    except (EvictionSettingError, KubeletConfigError) as err:
        raise KubeletConfigError(f"failed to run Kubelet: {err.message}",
                                 hint="the kubelet refuses to start with this setting; fix it and restart") from None


def eviction_from_configz(document: Mapping[str, Any], version: KubeletVersion | str) -> EvictionSettings:
    """Settings from ``/api/v1/nodes/NAME/proxy/configz`` (already effective: source "configz")."""
    config = document.get("kubeletconfig", document)
    hard = {k: str(v) for k, v in (config.get("evictionHard") or {}).items()}
    return EvictionSettings(
        version=KubeletVersion.parse(version), hard=hard, hard_sources={s: "configz" for s in hard},
        soft={k: str(v) for k, v in (config.get("evictionSoft") or {}).items()},
        soft_grace={k: str(v) for k, v in (config.get("evictionSoftGracePeriod") or {}).items()},
        min_reclaim={k: str(v) for k, v in (config.get("evictionMinimumReclaim") or {}).items()},
        transition_period=parse_duration(str(config.get("evictionPressureTransitionPeriod") or "0")) or DEFAULT_TRANSITION,
        sources={"evictionHard": "configz"}, merge_defaults=bool(config.get("mergeDefaultEvictionSettings")),
    )


# --- the image filesystem: where the runtime keeps images -------------------------------

def docker_data_root(daemon_json: str | None) -> str:
    """Docker's data root from daemon.json (``data-root``, or the older ``graph``)."""
    if not daemon_json or not daemon_json.strip():
        return "/var/lib/docker"
    try:
        config = json.loads(daemon_json)
    except ValueError as err:
        raise KubeletConfigError(f"daemon.json is not valid JSON: {err}") from None
    if config.get("data-root") and config.get("graph"):
        raise KubeletConfigError('daemon.json sets both "data-root" and "graph": dockerd refuses to start',
                                 hint='keep only "data-root" ("graph" is its deprecated name)')
    return config.get("data-root") or config.get("graph") or "/var/lib/docker"


def containerd_root(config_toml: str | None) -> str:
    """containerd's ``root`` (default /var/lib/containerd)."""
    if not config_toml or not config_toml.strip():
        return "/var/lib/containerd"
    try:
        config = tomllib.loads(config_toml)
    except tomllib.TOMLDecodeError as err:
        raise KubeletConfigError(f"containerd config is not valid TOML: {err}") from None
    return config.get("root") or "/var/lib/containerd"


def kubelet_root_dir(argv: Sequence[str]) -> str:
    """The kubelet's root directory: its filesystem is nodefs."""
    return flag_value(argv, "root-dir") or DEFAULT_ROOT_DIR
