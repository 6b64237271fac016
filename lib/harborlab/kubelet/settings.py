"""How a lab kubelet assembles its eviction settings from its argv and files, per era.

Sources (kubernetes/kubernetes):
* 1.7: ``pkg/apis/componentconfig/v1alpha1/defaults.go`` (EvictionHard defaults to the string
  "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%", transition period 5m),
  ``cmd/kubelet/app/options/options.go`` (``--eviction-hard`` etc. are plain string flags: the last
  one given replaces the whole value, defaults included), ``pkg/kubelet/eviction/helpers.go``
  ParseThresholdConfig/parseThresholdStatements (comma split, no trimming, duplicates refused),
  ``cmd/kubelet/app/server.go`` RunKubelet ("failed to create kubelet: %v") and main ("error: %v").
  No ``--config`` flag existed (pflag: "unknown flag: --config").
* 1.10+: ``cmd/kubelet/app/server.go`` loadConfigFile (an unset evictionHard gets
  eviction.DefaultEvictionHard; ``pkg/kubelet/eviction/defaults_linux.go``, imagefs.inodesFree since
  1.30, kubernetes#121834) and kubeletConfigFlagPrecedence (flags parsed again over the file);
  ``component-base/cli/flag`` LangleSeparatedMapStringString / MapStringString (the first Set clears
  the map, later ones add to it; pairs trimmed); ``pkg/kubelet/apis/config/v1beta1/defaults.go``
  (a zero evictionPressureTransitionPeriod in the file becomes 5m).
``--root-dir`` (default /var/lib/kubelet) is a flag in every era.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import yaml

from harborlab.errors import LabError

from .eviction import Threshold, known_signals, parse_min_reclaim, parse_statement

Reader = Callable[[str], "str | None"]

DEFAULT_ROOT_DIR = "/var/lib/kubelet"
DEFAULT_TRANSITION = 300.0
# Flags that never take the next word as their value (pflag NoOptDefVal = "true").
BOOL_FLAGS = {"allow-privileged", "require-kubeconfig", "fail-swap-on", "register-node", "rotate-certificates",
              "anonymous-auth", "authentication-token-webhook", "logtostderr", "alsologtostderr",
              "cgroups-per-qos", "enable-server", "enable-debugging-handlers", "protect-kernel-defaults",
              "serialize-image-pulls", "make-iptables-util-chains", "keep-terminated-pod-volumes",
              "exit-on-lock-contention", "help", "version"}
MAP_FIELDS = {"eviction-hard": "evictionHard", "eviction-soft": "evictionSoft",
              "eviction-soft-grace-period": "evictionSoftGracePeriod",
              "eviction-minimum-reclaim": "evictionMinimumReclaim"}


def default_hard(version: tuple[int, int]) -> dict[str, str]:
    """The built-in hard thresholds of the era (Linux)."""
    hard = {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%"}
    if version >= (1, 9):
        hard["imagefs.available"] = "15%"
    if version >= (1, 30):
        hard["imagefs.inodesFree"] = "5%"
    return hard


@dataclass
class Settings:
    hard: dict[str, str]                  # as the kubelet holds them (the map; 1.7: parsed statements)
    soft: dict[str, str]
    grace: dict[str, str]
    min_reclaim: dict[str, str]
    transition: float                     # seconds
    transition_defaulted: bool
    root_dir: str
    thresholds: list[Threshold] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def flags(argv: list[str]) -> list[tuple[str, str]]:
    """pflag's reading: ``--name=value``, ``--name value``, boolean flags alone; argv[0] skipped."""
    result, index = [], 1
    while index < len(argv):
        word = argv[index]
        index += 1
        if not word.startswith("-") or word in ("-", "--"):
            continue
        name, eq, value = word.lstrip("-").partition("=")
        if not eq:
            if name in BOOL_FLAGS or index >= len(argv) or argv[index].startswith("-"):
                value = "true"
            else:
                value, index = argv[index], index + 1
        result.append((name, value))
    return result


def last(argv: list[str], name: str, default: str | None = None) -> str | None:
    values = [v for n, v in flags(argv) if n == name]
    return values[-1] if values else default


def root_dir(argv: list[str]) -> str:
    return last(argv, "root-dir") or DEFAULT_ROOT_DIR


def go_duration(text: str) -> float:
    """time.ParseDuration, in seconds."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    parts = re.findall(r"(\d+\.?\d*|\.\d+)(ns|us|µs|ms|s|m|h)", body)
    if not body or "".join(a + b for a, b in parts) != body:
        raise LabError(f'time: invalid duration "{text}"')
    return sign * sum(float(a) * units[b] for a, b in parts)


def _statements_17(value: str, version: tuple[int, int]) -> dict[str, str]:
    """1.7 parseThresholdStatements over a flag string: split on ",", then on "<"; no trimming."""
    found: dict[str, str] = {}
    if not value:
        return found
    for statement in value.split(","):
        parts = statement.split("<")
        if len(parts) != 2:
            raise LabError(f"invalid eviction threshold syntax {statement}, expected <signal><operator><value>")
        parse_statement(parts[0], parts[1], version)    # each statement is parsed before the next
        if parts[0] in found:
            raise LabError(f"found duplicate eviction threshold for signal {parts[0]}")
        found[parts[0]] = parts[1]
    return found


def _pairs_17(value: str, kind: str) -> dict[str, str]:
    """1.7 parseGracePeriods / parseMinimumReclaims: "signal=value" statements, duplicates refused."""
    found: dict[str, str] = {}
    if not value:
        return found
    for statement in value.split(","):
        parts = statement.split("=")
        if len(parts) != 2:
            raise LabError(f"invalid eviction {kind} syntax {statement}, expected <signal>=<value>")
        if parts[0] in found:
            raise LabError(f"duplicate eviction {kind} specified for {parts[0]}")
        found[parts[0]] = parts[1]
    return found


def _map_flag(current: dict[str, str] | None, value: str, name: str) -> dict[str, str]:
    """LangleSeparatedMapStringString / MapStringString.Set (``current`` None: first Set, clears)."""
    result = dict(current or {})
    separator = "<" if name in ("eviction-hard", "eviction-soft") else "="
    for pair in value.split(","):
        if not pair:
            continue
        key, sep, item = pair.partition(separator)
        if not sep:
            # NewKubeletCommand: "failed to parse kubelet flag: %w" around pflag's error
            raise LabError(f'failed to parse kubelet flag: invalid argument "{value}" for "--{name}" flag: '
                           f"malformed pair, expect string{separator}string")
        result[key.strip()] = item.strip()
    return result


def _read_config(path: str, read: Reader) -> dict:
    text = read(path)
    if text is None:
        raise LabError(f'failed to load Kubelet config file {path}, error failed to read kubelet config file '
                       f'"{path}", error: open {path}: no such file or directory')
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise LabError(f"failed to load Kubelet config file {path}, error failed to decode: {err}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise LabError(f"failed to load Kubelet config file {path}, error failed to decode: not an object")
    return document


def assemble(argv: list[str], version: tuple[int, int], read: Reader) -> Settings:
    """The settings a kubelet started with ``argv`` runs with; LabError worded as it refuses to start."""
    given = flags(argv)
    if version < (1, 10):
        return _assemble_17(given, argv, version)
    config: dict = {}
    path = last(argv, "config")
    if path:
        config = _read_config(path, read)
    hard = config.get("evictionHard")
    maps = {"evictionHard": dict(hard) if hard is not None else default_hard(version),
            "evictionSoft": dict(config.get("evictionSoft") or {}),
            "evictionSoftGracePeriod": dict(config.get("evictionSoftGracePeriod") or {}),
            "evictionMinimumReclaim": dict(config.get("evictionMinimumReclaim") or {})}
    transition_text = str(config.get("evictionPressureTransitionPeriod") or "0s")
    transition = go_duration(transition_text) or DEFAULT_TRANSITION     # defaults.go: zero -> 5m
    defaulted = not go_duration(transition_text)
    touched: set[str] = set()
    for name, value in given:
        if name in MAP_FIELDS:
            key = MAP_FIELDS[name]
            maps[key] = _map_flag(maps[key] if key in touched else None, value, name)
            touched.add(key)
        elif name == "eviction-pressure-transition-period":
            transition, defaulted = go_duration(value), False
    # Hard thresholds are parsed first in run() (error returned as it is), the rest in NewMainKubelet.
    for signal, value in maps["evictionHard"].items():
        parse_statement(signal, str(value), version)
    return _finish(maps, transition, defaulted, root_dir(argv), version)


def _assemble_17(given: list[tuple[str, str]], argv: list[str], version: tuple[int, int]) -> Settings:
    if any(name == "config" for name, _ in given):
        raise LabError("unknown flag: --config")
    values = {"eviction-hard": ",".join(f"{s}<{v}" for s, v in default_hard(version).items()),
              "eviction-soft": "", "eviction-soft-grace-period": "", "eviction-minimum-reclaim": "",
              "eviction-pressure-transition-period": "5m0s"}
    for name, value in given:
        if name in values:
            values[name] = value      # a string flag: the last one wins, whole
    # server.go run() parses the hard thresholds first and returns its error as it is; the rest is
    # parsed again in NewMainKubelet, whose errors RunKubelet wraps ("failed to create kubelet: ").
    hard = _statements_17(values["eviction-hard"], version)
    try:
        maps = {"evictionHard": hard,
                "evictionSoft": _statements_17(values["eviction-soft"], version),
                "evictionSoftGracePeriod": _pairs_17(values["eviction-soft-grace-period"], "grace period"),
                "evictionMinimumReclaim": _pairs_17(values["eviction-minimum-reclaim"], "minimum reclaim")}
    except LabError as err:
        raise LabError(f"failed to create kubelet: {err.message}") from None
    transition = go_duration(values["eviction-pressure-transition-period"])
    return _finish(maps, transition, not any(n == "eviction-pressure-transition-period" for n, _ in given),
                   root_dir(argv), version)


def _finish(maps: dict, transition: float, defaulted: bool, root: str, version: tuple[int, int]) -> Settings:
    """ParseThresholdConfig: hard, then soft with their grace periods, then minimum reclaims."""
    try:
        thresholds = [t for s, v in maps["evictionHard"].items()
                      if (t := parse_statement(s, str(v), version)) is not None]
        grace = {}
        for signal, text in maps["evictionSoftGracePeriod"].items():
            if signal not in known_signals(version):
                raise LabError(f"unsupported eviction signal {signal}")
            grace[signal] = go_duration(str(text))
            if grace[signal] < 0:
                raise LabError(f"invalid eviction grace period specified: {text}, must be a positive value")
        for signal, text in maps["evictionSoft"].items():
            threshold = parse_statement(signal, str(text), version)
            if threshold is None:
                continue
            if signal not in grace:
                raise LabError(f"grace period must be specified for the soft eviction threshold {signal}")
            thresholds.append(Threshold(signal, threshold.value, grace[signal]))
        reclaim = {s: parse_min_reclaim(s, str(v), version) for s, v in maps["evictionMinimumReclaim"].items()}
    except LabError as err:
        raise LabError(f"failed to create kubelet: {err.message}",
                       "the kubelet refuses to start with this setting; fix it and restart") from None
    thresholds = [Threshold(t.signal, t.value, t.grace, reclaim.get(t.signal)) for t in thresholds]
    return Settings({k: str(v) for k, v in maps["evictionHard"].items()},
                    {k: str(v) for k, v in maps["evictionSoft"].items()},
                    {k: str(v) for k, v in maps["evictionSoftGracePeriod"].items()},
                    {k: str(v) for k, v in maps["evictionMinimumReclaim"].items()},
                    transition, defaulted, root, thresholds)

