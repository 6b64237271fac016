"""A service unit and its drop-ins read the way systemd reads them, down to the final argv.

Pure: the caller gathers the unit files (through a node shell or from disk) as a
``{path: text}`` mapping and supplies a reader for ``EnvironmentFile=`` paths. What we
honour: sections, ``#``/``;`` comments, backslash continuation, drop-ins sorted by file
name across directories (for one name, /etc beats /run beats /lib and /usr/lib), empty
``ExecStart=``/``Environment=``/``EnvironmentFile=`` resets, quoting and C escapes,
``EnvironmentFile=-`` (optional), environment files overriding ``Environment=``, and
``$VAR`` (split into words) / ``${VAR}`` (kept in its word) expansion in ``ExecStart=``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from harborbook.errors import HarborbookError

# Unit search path in priority order (highest first).
SEARCH_PATH = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
               "/lib/systemd/system", "/usr/lib/systemd/system")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", '"': '"', "'": "'", "s": " "}
_EXEC_PREFIXES = "-@+!:|"
_VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Reader = Callable[[str], "str | None"]  # None: the file does not exist


class UnitFileError(HarborbookError):
    """A unit, drop-in or environment file systemd would refuse; the message names file:line."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message, hint or "fix the file, then systemctl daemon-reload", None)


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    value: str
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Unit:
    name: str
    fragment: str | None
    dropins: tuple[str, ...]
    service_type: str
    exec_start: tuple[Setting, ...]
    environment: tuple[tuple[str, str], ...]
    environment_files: tuple[tuple[str, bool], ...]  # (path, optional)
    warnings: tuple[str, ...] = field(default=())

    @property
    def sources(self) -> tuple[str, ...]:
        return ((self.fragment,) if self.fragment else ()) + self.dropins


def parse_unit_text(text: str, path: str) -> tuple[list[Setting], list[str]]:
    """Settings in file order, and warnings for what systemd ignores."""
    settings: list[Setting] = []
    warnings: list[str] = []
    section: str | None = None
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if pending and stripped[:1] in ("#", ";"):
            continue  # comments inside a continuation are skipped
        if stripped.endswith("\\"):
            start = start or number
            pending += stripped[:-1] + " "
            continue
        line, where = (pending + stripped).strip(), (start or number)
        pending, start = "", 0
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise UnitFileError(f"{path}:{where}: invalid section header '{line}'")
            section = line[1:-1]
            continue
        if "=" not in line:
            raise UnitFileError(f"{path}:{where}: missing '=' in '{line}'")
        if section is None:
            warnings.append(f"{path}:{where}: assignment outside of section, ignored")
            continue
        key, _, value = line.partition("=")
        settings.append(Setting(section, key.strip(), value.strip(), path, where))
    if pending:
        line, where = pending.strip(), start
        if line and "=" in line and section is not None:
            key, _, value = line.partition("=")
            settings.append(Setting(section, key.strip(), value.strip(), path, where))
    return settings, warnings


def unit_sources(name: str, files: Mapping[str, str],
                 search_path: tuple[str, ...] = SEARCH_PATH) -> tuple[str | None, list[str]]:
    """The unit file in force and its drop-ins in the order systemd applies them."""
    fragment = next((posixpath.join(d, name) for d in search_path if posixpath.join(d, name) in files), None)
    chosen: dict[str, str] = {}
    for directory in search_path:  # highest priority first: the first of a name wins
        prefix = posixpath.join(directory, name + ".d") + "/"
        for path in files:
            if path.startswith(prefix) and path.endswith(".conf") and "/" not in path[len(prefix):]:
                chosen.setdefault(posixpath.basename(path), path)
    return fragment, [chosen[base] for base in sorted(chosen)]


def load_unit(name: str, files: Mapping[str, str], search_path: tuple[str, ...] = SEARCH_PATH, *,
              legacy_specifiers: bool = False) -> Unit:
    """Apply the unit file and its drop-ins in order; raises UnitFileError as systemd would refuse.

    ``legacy_specifiers``: behave like systemd before 236, which kept unknown % specifiers.
    """
    fragment, dropins = unit_sources(name, files, search_path)
    if fragment is None and not dropins:
        raise UnitFileError(f"unit {name} not found in {', '.join(search_path)}",
                            hint="is the kubelet installed as a systemd service on this node?")
    exec_start: list[Setting] = []
    environment: list[tuple[str, str]] = []
    env_files: list[tuple[str, bool]] = []
    service_type, warnings = "simple", []
    for path in ([fragment] if fragment else []) + dropins:
        settings, file_warnings = parse_unit_text(files[path], path)
        warnings += file_warnings
        for setting in settings:
            if setting.section != "Service":
                continue
            value = resolve_specifiers(setting.value, name, legacy_specifiers)
            if value is None:
                warnings.append(f"{setting.where}: failed to resolve unit specifiers in "
                                f"{setting.value!r}, ignoring the setting (write %% for a literal %)")
                continue
            if setting.key == "ExecStart":
                exec_start = [] if not value else exec_start + [Setting(**{**setting.__dict__, "value": value})]
            elif setting.key == "Environment":
                environment = [] if not value else environment + _assignments(value, setting, warnings)
            elif setting.key == "EnvironmentFile":
                if not value:
                    env_files = []
                else:
                    optional = value.startswith("-")
                    env_files.append((value[1:] if optional else value, optional))
            elif setting.key == "Type":
                service_type = value
    if len(exec_start) > 1 and service_type != "oneshot":
        where = ", ".join(s.where for s in exec_start)
        raise UnitFileError(
            f"{name}: Service has more than one ExecStart= setting, which is only allowed for "
            f"Type=oneshot services. Refusing. ({where})",
            hint="a drop-in that replaces ExecStart= must first reset it with an empty 'ExecStart=' line",
        )
    return Unit(name, fragment, tuple(dropins), service_type, tuple(exec_start), tuple(environment),
                tuple(env_files), tuple(warnings))


def resolve_specifiers(value: str, unit_name: str, legacy: bool = False) -> str | None:
    """Resolve the % specifiers a kubelet unit may use.

    An unknown specifier (``5%"`` or ``5%,`` in a threshold!) makes systemd 236+ ignore the
    whole setting with a warning (None here); older systemd kept it verbatim (``legacy``).
    Writing ``%%`` is right for both.
    """
    prefix = unit_name.rsplit(".", 1)[0]
    table = {"%": "%", "n": unit_name, "N": prefix, "p": prefix.split("@")[0], "i": "", "I": ""}
    unknown = False

    def substitute(match: re.Match) -> str:
        nonlocal unknown
        if match.group(1) in table:
            return table[match.group(1)]
        unknown = True
        return match.group(0)
    resolved = re.sub(r"%(.|$)", substitute, value)
    return resolved if legacy or not unknown else None


def split_words(value: str, where: str = "") -> list[str]:
    """systemd's extract_first_word with unquoting and C escapes, for a whole value."""
    words: list[str] = []
    index, length = 0, len(value)
    while True:
        while index < length and value[index] in " \t\n":
            index += 1
        if index >= length:
            return words
        word: list[str] = []
        quote = ""
        while index < length:
            char = value[index]
            if char == "\\":
                if index + 1 >= length:
                    raise UnitFileError(f"{where}: trailing backslash")
                escaped, index = _unescape(value, index + 1, where)
                word.append(escaped)
                continue
            if quote:
                if char == quote:
                    quote = ""
                else:
                    word.append(char)
            elif char in "\"'":
                quote = char
            elif char in " \t\n":
                break
            else:
                word.append(char)
            index += 1
        if quote:
            raise UnitFileError(f"{where}: unbalanced quotes in {value!r}")
        words.append("".join(word))


def _unescape(value: str, index: int, where: str) -> tuple[str, int]:
    char = value[index]
    if char in _ESCAPES:
        return _ESCAPES[char], index + 1
    if char == "x" and re.match(r"[0-9a-fA-F]{2}", value[index + 1:index + 3]):
        return chr(int(value[index + 1:index + 3], 16)), index + 3
    if re.match(r"[0-7]{3}", value[index:index + 3]):
        return chr(int(value[index:index + 3], 8)), index + 3
    raise UnitFileError(f"{where}: invalid escape '\\{char}'")


def _assignments(value: str, setting: Setting, warnings: list[str]) -> list[tuple[str, str]]:
    result = []
    for word in split_words(value, setting.where):
        name, sep, assigned = word.partition("=")
        if not sep or not _VALID_NAME.match(name):
            warnings.append(f"{setting.where}: invalid environment assignment {word!r}, ignored")
            continue
        result.append((name, assigned))
    return result


def parse_environment_file(text: str, path: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's env-file parser reads them (quotes, escapes, continuation)."""
    result: dict[str, str] = {}
    logical, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not logical and raw.strip()[:1] in ("#", ";"):
            continue
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            logical += raw[:-1]
            start = start or number
            continue
        line, where = (logical + raw).strip(), start or number
        logical, start = "", 0
        if not line:
            continue
        name, sep, rest = line.partition("=")
        name = name.strip()
        if not sep or not _VALID_NAME.match(name):
            continue  # systemd ignores such lines with a warning
        result[name] = _env_value(rest.strip(), f"{path}:{where}", line)
    return result


def _env_value(value: str, where: str, line: str) -> str:
    """One environment-file value (systemd.exec(5)): quoted parts ('...' verbatim, "..." with the
    shell's escapes) may follow one another, whitespace between them dropped; from the first
    unquoted character on the rest is kept verbatim, quotes and inner whitespace included, a
    backslash keeping the character after it."""
    parts = []
    while value[:1] in ("'", '"'):
        quote, index = value[0], 1
        while index < len(value) and value[index] != quote:
            index += 2 if quote == '"' and value[index] == "\\" else 1
        if index >= len(value):
            raise UnitFileError(f"{where}: unbalanced quotes in {line!r}")
        inner = value[1:index]
        if quote == '"':
            inner = re.sub(r'\\(.)', lambda m: m.group(1) if m.group(1) in '"\\`$' else m.group(0), inner)
        parts.append(inner)
        value = value[index + 1:].lstrip(" \t\r")
    parts.append(re.sub(r"\\(.)", r"\1", value))
    return "".join(parts)


def service_environment(unit: Unit, read: Reader) -> dict[str, str]:
    """Environment= assignments, then EnvironmentFile= contents (files override, in order)."""
    env = dict(unit.environment)
    for path, optional in unit.environment_files:
        text = read(path)
        if text is None:
            if optional:
                continue
            raise UnitFileError(f"{unit.name}: Failed to load environment files: {path}: No such file or directory",
                                hint="create the file or prefix the EnvironmentFile= path with '-'")
        env.update(parse_environment_file(text, path))
    return env


def expand_command(setting: Setting, env: Mapping[str, str]) -> list[str]:
    """One ExecStart= line to argv: prefixes dropped, ``$VAR`` split, ``${VAR}`` substituted."""
    value = setting.value
    expand = True
    while value and value[0] in _EXEC_PREFIXES:
        expand = expand and value[0] != ":"
        value = value[1:]
    argv: list[str] = []
    for word in split_words(value, setting.where):
        if not expand:
            argv.append(word)
        elif word.startswith("$") and not word.startswith("${") and _VALID_NAME.match(word[1:]):
            argv.extend(split_words(env.get(word[1:], ""), setting.where))
        else:
            argv.append(re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                               lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), ""), word))
    return argv


def service_argv(unit: Unit, read: Reader) -> list[str]:
    """The argv systemd would start the service with (its single ExecStart=)."""
    if not unit.exec_start:
        raise UnitFileError(f"{unit.name}: Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing.",
                            hint="a drop-in that resets ExecStart= must also set a new one")
    return expand_command(unit.exec_start[-1], service_environment(unit, read))


def variable_source(unit: Unit, variable: str, read: Reader) -> str | None:
    """Which file defines a variable as the service sees it (an EnvironmentFile wins), or None."""
    source = None
    for name, _value in unit.environment:
        if name == variable:
            source = "Environment="
    for path, _optional in unit.environment_files:
        text = read(path)
        if text is not None and variable in parse_environment_file(text, path):
            source = path
    return source
