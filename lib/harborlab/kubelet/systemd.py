"""How the lab node's systemd reads kubelet.service and its drop-ins, down to the kubelet's argv.

Written from systemd's documentation, only as far as a kubelet unit needs:
* systemd.unit(5) "Unit File Load Path" and "drop-in" directories: the first unit file found on
  the search path is used; ``*.conf`` files in every ``NAME.d/`` directory are applied after it,
  in lexicographic order of their file names regardless of directory, and a drop-in in a
  higher-priority directory hides one of the same name in a lower one. "Specifiers": ``%%``,
  ``%n``, ``%N``, ``%p``, ``%i``; since systemd 236 a setting with an unknown specifier is
  ignored with a warning (older systemd kept the text).
* systemd.syntax(7): ``#``/``;`` comment lines, a trailing backslash joins the next line (replaced
  by a space), quoting and C escapes when a value is split into words.
* systemd.service(5) ``ExecStart=``: an empty assignment resets the list; more than one command is
  only for Type=oneshot; ``$NAME`` as a word of its own is split at whitespace into zero or more
  arguments (quotes in the value group words: src/basic/env-util.c replace_env_argv), ``${NAME}``
  gives exactly one (substituted inside its word), ``$$`` is a dollar; ``:`` turns substitution off.
* systemd.exec(5) ``Environment=`` (space-separated assignments, quotes for values with spaces, an
  empty assignment resets) and ``EnvironmentFile=`` (``-`` prefix: a missing file is not an error;
  the files' settings override ``Environment=``; the file format's quoting rules, read by
  :func:`env_file`).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Callable

from harborlab.errors import LabError

SEARCH_PATH = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
               "/lib/systemd/system", "/usr/lib/systemd/system")
Reader = Callable[[str], "str | None"]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\", '"': '"', "'": "'", "s": " "}
# systemd.unit(5) specifier letters: anything else after % is unknown.
_SPECIFIERS = set("aAbBCdEfgGhHiIjJlLmMnNopPqsStTuUvVwWyY%")


class UnitError(LabError):
    """systemd refuses the unit (or the service's start)."""


@dataclass
class Unit:
    fragment: str | None
    dropins: list[str]
    exec_start: list[tuple[str, str]] = field(default_factory=list)      # (value, file:line)
    environment: list[tuple[str, str]] = field(default_factory=list)
    environment_files: list[str] = field(default_factory=list)           # "-"-prefixed when optional
    service_type: str = "simple"
    warnings: list[str] = field(default_factory=list)


def sources(name: str, files: dict[str, str]) -> tuple[str | None, list[str]]:
    """The unit file in force and the drop-ins in the order they apply (``files``: path -> text)."""
    fragment = next((f"{d}/{name}" for d in SEARCH_PATH if f"{d}/{name}" in files), None)
    by_name: dict[str, str] = {}
    for directory in SEARCH_PATH:                     # highest priority first
        prefix = f"{directory}/{name}.d/"
        for path in files:
            base = path[len(prefix):]
            if path.startswith(prefix) and "/" not in base and base.endswith(".conf"):
                by_name.setdefault(base, path)
    return fragment, [by_name[base] for base in sorted(by_name)]


def lines(text: str, path: str) -> list[tuple[str | None, str, str, str]]:
    """(section, key, value, file:line) of each assignment (systemd.syntax(7))."""
    result, section, joined, start = [], None, None, 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if joined is not None and line[:1] in ("#", ";"):
            continue                                   # a comment inside a continued line
        if line.endswith("\\"):
            joined, start = (joined or "") + line[:-1] + " ", start or number
            continue
        if joined is not None:
            line, where, joined, start = (joined + line).strip(), start, None, 0
        else:
            where = number
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if not line.endswith("]"):
                raise UnitError(f"{path}:{where}: Invalid section header '{line}'")
            section = line[1:-1]
            continue
        key, eq, value = line.partition("=")
        if not eq:
            raise UnitError(f"{path}:{where}: Missing '=', ignoring line.")
        result.append((section, key.strip(), value.strip(), f"{path}:{where}"))
    if joined is not None and joined.strip():
        key, eq, value = joined.strip().partition("=")
        if eq:
            result.append((section, key.strip(), value.strip(), f"{path}:{start}"))
    return result


def specifiers(value: str, name: str, legacy: bool) -> str | None:
    """Resolve % specifiers; None when an unknown one makes systemd 236+ ignore the setting."""
    prefix = name.rsplit(".", 1)[0]
    known = {"%": "%", "n": name, "N": prefix, "p": prefix.split("@")[0], "i": "", "I": "", "j": prefix,
             "J": prefix}
    out, index = [], 0
    while index < len(value):
        char = value[index]
        if char != "%":
            out.append(char)
            index += 1
            continue
        letter = value[index + 1:index + 2]
        if letter in known:
            out.append(known[letter])
        elif letter in _SPECIFIERS and letter:
            out.append("%" + letter)       # a host-dependent specifier a kubelet unit does not use
        elif legacy:
            out.append("%" + letter)
        else:
            return None
        index += 2
    return "".join(out)


def words(value: str, where: str) -> list[str]:
    """Split a value into words: whitespace separates, quotes group, C escapes are decoded."""
    result, index = [], 0
    while True:
        while index < len(value) and value[index] in " \t\n\r":
            index += 1
        if index >= len(value):
            return result
        word, quote = [], None
        while index < len(value):
            char = value[index]
            if char == "\\":
                escaped, index = _escape(value, index + 1, where)
                word.append(escaped)
                continue
            if quote:
                if char == quote:
                    quote = None
                else:
                    word.append(char)
            elif char in "'\"":
                quote = char
            elif char in " \t\n\r":
                break
            else:
                word.append(char)
            index += 1
        if quote:
            raise UnitError(f"{where}: Unbalanced quoting, ignoring: {value}")
        result.append("".join(word))


def _escape(value: str, index: int, where: str) -> tuple[str, int]:
    char = value[index:index + 1]
    if char in _C_ESCAPES and char:
        return _C_ESCAPES[char], index + 1
    if char == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", value[index + 1:index + 3]):
        return chr(int(value[index + 1:index + 3], 16)), index + 3
    if re.fullmatch(r"[0-7]{3}", value[index:index + 3]):
        return chr(int(value[index:index + 3], 8)), index + 3
    raise UnitError(f"{where}: Invalid escape sequence, ignoring: {value}")


def load(name: str, files: dict[str, str], legacy_specifiers: bool = False) -> Unit:
    """The service section of ``name`` as systemd builds it from the fragment and its drop-ins."""
    fragment, dropins = sources(name, files)
    if fragment is None and not dropins:
        raise UnitError(f"Unit {name} not found.")
    unit = Unit(fragment, dropins)
    for path in ([fragment] if fragment else []) + dropins:
        for section, key, raw, where in lines(files[path], path):
            if section != "Service":
                continue
            value = specifiers(raw, name, legacy_specifiers)
            if value is None:
                unit.warnings.append(f"{where}: Failed to resolve unit specifiers in {raw}, ignoring: "
                                     "Invalid slot")
                continue
            if key == "ExecStart":
                unit.exec_start = unit.exec_start + [(value, where)] if value else []
            elif key == "Environment":
                if not value:
                    unit.environment = []
                for word in words(value, where):
                    var, eq, text = word.partition("=")
                    if eq and _NAME.match(var):
                        unit.environment.append((var, text))
                    else:
                        unit.warnings.append(f"{where}: Invalid environment assignment, ignoring: {word}")
            elif key == "EnvironmentFile":
                unit.environment_files = unit.environment_files + [value] if value else []
            elif key == "Type":
                unit.service_type = value
    if len(unit.exec_start) > 1 and unit.service_type != "oneshot":
        raise UnitError(f"{name}: Service has more than one ExecStart= setting, which is only allowed for "
                        "Type=oneshot services. Refusing.",
                        "a drop-in that replaces ExecStart= resets it first with an empty 'ExecStart=' line")
    return unit


def env_file(text: str) -> list[tuple[str, str]]:
    """systemd.exec(5) EnvironmentFile= format: KEY=VALUE lines; ``#``/``;`` comments; an unquoted
    value keeps its inner whitespace and quotes after its first character, a backslash keeps the
    next character (a backslash-newline continues the line); '...' is verbatim, "..." knows the
    escapes of shell double quotes; both may span lines. A quoted part may be followed by more."""
    pairs, key, value, state, index = [], "", [], "pre_key", 0
    pending_ws = 0        # unquoted trailing whitespace, dropped at the end of the value

    def push():
        text = "".join(value[:len(value) - pending_ws] if pending_ws else value)
        if _NAME.match(key.strip()):
            pairs.append((key.strip(), text))
    while index < len(text):
        c = text[index]
        index += 1
        if state == "pre_key":
            if c in "#;":
                state = "comment"
            elif c not in " \t\r\n":
                state, key = "key", c
        elif state == "key":
            if c == "\n":
                state = "pre_key"              # no "=": ignored
            elif c == "=":
                state, value, pending_ws = "pre_value", [], 0
            else:
                key += c
        elif state == "pre_value":
            if c == "\n":
                push()
                state = "pre_key"
            elif c == "'":
                state = "single"
            elif c == '"':
                state = "double"
            elif c == "\\":
                state = "escape"
            elif c not in " \t\r":
                state, pending_ws = "value", 0
                value.append(c)
        elif state == "value":
            if c == "\n":
                push()
                state = "pre_key"
            elif c == "\\":
                state, pending_ws = "escape", 0
            else:
                value.append(c)
                pending_ws = pending_ws + 1 if c in " \t\r" else 0
        elif state == "escape":
            if c != "\n":
                value.append(c)
            state = "value"
        elif state == "single":
            if c == "'":
                state = "pre_value"
            else:
                value.append(c)
        elif state == "double":
            if c == '"':
                state = "pre_value"
            elif c == "\\":
                state = "double_escape"
            else:
                value.append(c)
        elif state == "double_escape":
            if c in '"\\`$':
                value.append(c)
            elif c != "\n":
                value += ["\\", c]
            state = "double"
        elif state == "comment":
            if c == "\\":
                state = "comment_escape"
            elif c == "\n":
                state = "pre_key"
        elif state == "comment_escape":
            state = "comment"
    if state in ("pre_value", "value", "escape", "single", "double", "double_escape"):
        push()
    return pairs


def environment(unit: Unit, read: Reader) -> dict[str, str]:
    """Environment= then each EnvironmentFile= in order (the files win)."""
    env = dict(unit.environment)
    for entry in unit.environment_files:
        optional, path = entry.startswith("-"), entry.lstrip("-")
        text = read(path)
        if text is None:
            if optional:
                continue
            raise UnitError(f"Failed to load environment files: {path}: No such file or directory",
                            "create the file, or prefix the EnvironmentFile= path with '-'")
        env.update(env_file(text))
    return env


def split_value(value: str) -> list[str]:
    """A ``$NAME`` word's value split into 0..n words. The manual says "split at whitespace";
    systemd's replace_env_argv (src/basic/env-util.c) splits with EXTRACT_RELAX|EXTRACT_UNQUOTE
    (strv_split_quoted in older releases): quotes group and are removed, a backslash keeps the next
    character, an unterminated quote runs to the end."""
    result, index = [], 0
    while True:
        while index < len(value) and value[index] in " \t\n\r":
            index += 1
        if index >= len(value):
            return result
        word, quote = [], None
        while index < len(value) and (quote or value[index] not in " \t\n\r"):
            char = value[index]
            if char == "\\" and index + 1 < len(value):
                word.append(value[index + 1])
                index += 2
                continue
            if quote and char == quote:
                quote = None
            elif not quote and char in "'\"":
                quote = char
            else:
                word.append(char)
            index += 1
        result.append("".join(word))


def argv(unit: Unit, read: Reader) -> list[str]:
    """The command systemd executes for the service (its one ExecStart=)."""
    if not unit.exec_start:
        raise UnitError("Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing.",
                        "a drop-in that resets ExecStart= must set a new one")
    value, where = unit.exec_start[-1]
    substitute = True
    while value[:1] in ("-", "@", "+", "!", ":") and value:
        substitute = substitute and value[0] != ":"
        value = value[1:]
    env = environment(unit, read)
    result = []
    for word in words(value, where):
        if substitute and word.startswith("$") and _NAME.match(word[1:]):
            result += split_value(env.get(word[1:], ""))
        elif substitute:
            result.append(re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                                 lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), ""), word))
        else:
            result.append(word)
    return result
