"""Threshold remedies: the minimal change that ends pressure, written where the kubelet reads it.

Setting any hard threshold replaces the kubelet's whole default map, so every edit here
writes the FULL intended map: the signals the operator did not name keep their current
values (memory eviction stays on). Edits return the new text and a unified diff and are
idempotent. A lower threshold only buys time; the plan says how many bytes it buys.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from io import StringIO
from typing import Mapping

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from .thresholds import (EvictionSettingError, format_eviction_flag, is_met, parse_threshold_value,
                         threshold_bytes)
from .verdict import Observation, human

EVICTION_VAR = "KUBELET_EVICTION_POLICY_ARGS"
_MI = 1 << 20


@dataclass(frozen=True)
class FileEdit:
    path: str
    before: str
    after: str
    diff: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class ThresholdPlan:
    before: dict[str, str]  # the full map in force now
    after: dict[str, str]  # the full intended map
    changed: dict[str, tuple[str | None, str]]
    buys_bytes: dict[str, int]  # per changed signal: how much more the node may fill before pressure
    ends_pressure: bool
    warnings: tuple[str, ...]


def edit(path: str, before: str, after: str) -> FileEdit:
    diff = "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=f"a{path}", tofile=f"b{path}"))
    return FileEdit(path, before, after, diff)


def headroom_bytes(headroom: str, capacity: int) -> int:
    """A headroom written as a quantity ("200Mi") or a percentage of capacity ("2%")."""
    if headroom in ("", "0"):
        return 0
    parsed = parse_threshold_value("nodefs.available", headroom)
    return 0 if parsed is None else parsed.bytes(capacity)


def minimal_threshold(available: int, capacity: int, headroom: int, current: str) -> str:
    """The largest threshold (closest to the current one, same kind) leaving ``headroom`` free above it."""
    room = available - headroom
    if current.endswith("%"):
        for step in (1, 10, 100):  # whole percent, then tenths, then hundredths
            candidate = math.floor(room * 100 * step / capacity)
            while candidate > 0:
                text = _percent_text(candidate, step)
                if threshold_bytes(text, capacity) <= room:
                    return text
                candidate -= 1
    else:
        mebibytes = room // _MI
        if mebibytes > 0:
            return f"{mebibytes}Mi"
        if room > 0:
            return str(room)
    raise EvictionSettingError(
        f"no threshold leaves {human(headroom, 'x.available')} of headroom: only "
        f"{human(available, 'x.available')} is available",
        hint="free space instead (remedy: cleanup); a threshold cannot create space",
    )


def _percent_text(count: int, step: int) -> str:
    whole, part = divmod(count, step)
    if step == 1:
        return f"{whole}%"
    digits = len(str(step)) - 1
    return f"{whole}.{part:0{digits}d}".rstrip("0").rstrip(".") + "%"


def plan_threshold(current: Mapping[str, str], observations: Mapping[str, Observation], *,
                   target: Mapping[str, str] | None = None, headroom: str = "0",
                   met: tuple[str, ...] | None = None) -> ThresholdPlan:
    """The full intended map: ``target`` if given, else the minimal change for each met signal."""
    after = dict(current)
    warnings: list[str] = []
    if target:
        for signal, value in target.items():
            parse_threshold_value(signal, value)
        after.update(target)
    else:
        for signal in met or ():
            seen = observations[signal]
            if seen.available is None or seen.capacity is None:
                continue  # a met signal was measured; without figures there is nothing to move
            room = headroom_bytes(headroom, seen.capacity)
            after[signal] = minimal_threshold(seen.available, seen.capacity, room, current[signal])
    changed = {s: (current.get(s), v) for s, v in after.items() if current.get(s) != v}
    buys: dict[str, int] = {}
    ends = True
    for signal in after:
        obs = observations.get(signal)
        if obs is None or obs.missing is not None or obs.available is None or obs.capacity is None:
            continue
        new_bytes = threshold_bytes(after[signal], obs.capacity)
        if signal in changed:
            old = changed[signal][0]
            buys[signal] = (threshold_bytes(old, obs.capacity) if old else 0) - new_bytes
        # The headroom is asked of the signals being moved; the others must merely not be met.
        wanted = headroom_bytes(headroom, obs.capacity) if signal in changed or signal in (target or {}) else 0
        if obs.available - new_bytes < wanted or is_met(obs.available, obs.capacity, after[signal]):
            ends = False
            warnings.append(f"{signal}: {after[signal]} still leaves less than the headroom "
                            f"({human(obs.available - new_bytes, signal)} above the threshold)")
    kept = sorted(set(current) - set(target or changed))
    if kept:
        warnings.append("the full map is written: " + ", ".join(kept) + " keep their current values "
                        "(setting one signal alone replaces the whole default map and switches the "
                        "others off, memory eviction included)")
    if buys:
        warnings.append("a lower threshold only buys time: it frees nothing; the node may fill "
                        + ", ".join(f"{human(b, s)} more on {s}" for s, b in buys.items())
                        + " before pressure returns")
    return ThresholdPlan(dict(current), after, changed, buys, ends, tuple(warnings))


# --- writing: a 1.7-era systemd drop-in ---------------------------------------------------

def edit_dropin(path: str, text: str, full_map: Mapping[str, str], *, var: str = EVICTION_VAR) -> FileEdit:
    """Set ``Environment="VAR=--eviction-hard=..."`` and make ExecStart expand ``$VAR``."""
    lines = text.splitlines(keepends=True)
    # "%" starts a systemd specifier ("5%," is an unknown one: systemd 236+ drops the line): write "%%".
    flag = format_eviction_flag(full_map).replace("%", "%%")
    env_line = f'Environment="{var}=--eviction-hard={flag}"\n'
    env_pattern = re.compile(rf'^\s*Environment=["\']?{re.escape(var)}=')
    existing = [i for i, line in enumerate(lines) if env_pattern.match(line)]
    exec_lines = [i for i, line in enumerate(lines)
                  if re.match(r"^\s*ExecStart\s*=\s*\S", line)]
    if not exec_lines:
        raise EvictionSettingError(f"{path}: no ExecStart= line to pass ${var} to",
                                   hint="write the flag where this unit's ExecStart is defined")
    if existing:
        for i in existing:
            lines[i] = env_line
    else:
        service = [i for i, line in enumerate(lines) if line.strip() == "[Service]"]
        envs = [i for i, line in enumerate(lines) if re.match(r"^\s*Environment(File)?=", line)]
        anchor = (max(envs) + 1) if envs else (service[0] + 1 if service else exec_lines[0])
        lines.insert(anchor, env_line)
        exec_lines = [i + 1 if i >= anchor else i for i in exec_lines]
    last = exec_lines[-1]
    end = last
    while lines[end].rstrip("\n").endswith("\\") and end + 1 < len(lines):
        end += 1
    logical = "".join(lines[last:end + 1])
    if not re.search(rf"\$\{{?{re.escape(var)}\b", logical):
        newline = "\n" if lines[end].endswith("\n") else ""
        lines[end] = lines[end].rstrip("\n") + f" ${var}" + newline
    return edit(path, text, "".join(lines))


def edit_env_file(path: str, text: str, full_map: Mapping[str, str], *,
                  var: str = "KUBELET_EXTRA_ARGS") -> FileEdit:
    """Put ``--eviction-hard=...`` into VAR of an EnvironmentFile (replacing any earlier one)."""
    flag = f"--eviction-hard={format_eviction_flag(full_map)}"
    lines = text.splitlines(keepends=True)
    pattern = re.compile(rf"^(\s*){re.escape(var)}=(.*?)\s*$")
    for i, line in enumerate(lines):
        match = pattern.match(line)
        if match is None:
            continue
        value = match.group(2)
        quote = value[0] if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) > 1 else ""
        words = (value[1:-1] if quote else value).split()
        kept = []
        skip = False
        for word in words:
            if skip:
                skip = False
                continue
            if word == "--eviction-hard":
                skip = True
                continue
            if not word.startswith("--eviction-hard="):
                kept.append(word)
        quote = quote or '"'
        lines[i] = f"{match.group(1)}{var}={quote}{' '.join(kept + [flag])}{quote}\n"
        return edit(path, text, "".join(lines))
    prefix = "" if not text or text.endswith("\n") else "\n"
    return edit(path, text, f'{text}{prefix}{var}="{flag}"\n')


# --- writing: a current kubelet's config.yaml -------------------------------------------

def edit_config_yaml(path: str, text: str, full_map: Mapping[str, str]) -> FileEdit:
    """Set ``evictionHard`` to the full map, keeping the rest of the YAML and its comments."""
    yaml = YAML()
    yaml.preserve_quotes = True
    document = yaml.load(text) if text.strip() else CommentedMap()
    if document is None:
        document = CommentedMap()
    current = document.get("evictionHard")
    if isinstance(current, Mapping) and {k: str(v) for k, v in current.items()} == dict(full_map):
        return edit(path, text, text)
    if isinstance(current, CommentedMap):
        for key in [k for k in current if k not in full_map]:
            del current[key]
        for key, value in full_map.items():
            old = current.get(key)
            current[key] = type(old)(value) if old is not None and type(old) is not str else value
    else:
        document["evictionHard"] = CommentedMap(full_map)
    out = StringIO()
    yaml.dump(document, out)
    return edit(path, text, out.getvalue())
