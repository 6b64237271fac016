"""nginx.conf parsed, translated for a lab pod, and written back.

The pod's ``nginx.conf`` is used as applied except for these mechanical rules (each one
recorded in the notes and tested):

=====================  ==============================================================
directive              translation
=====================  ==============================================================
``listen``             the address becomes the pod IP, the port and flags stay
                       (``80`` -> ``<podIP>:80``); IPv6 listens are dropped (the lab
                       is IPv4 loopback), duplicates after translation too
``server`` in          ``<service>:<port>`` (port 80 when omitted) of a known Service
``upstream``           becomes one ``server`` line per ready endpoint, same flags;
                       no endpoints -> ``server 127.0.0.1:1 down`` (502, as nginx
                       answers with no live upstream)
``proxy_pass``         ``http://<service>:<port>`` naming a Service (not an upstream)
                       -> its first endpoint
``pid``, ``daemon``    forced to ``<runtime>/nginx.pid`` and ``off`` (foreground, so
                       the lab tracks the master by PID)
``error_log``,         file paths -> ``<runtime>/logs/{error,access}.log`` (level and
``access_log``         format kept; ``off`` kept)
``*_temp_path``        set (or added in ``http``) under ``<runtime>/tmp/``
file paths             ``include``, ``ssl_*`` files, ``auth_basic_user_file``, ``root``,
                       ``alias``: container path -> host path (relative ones resolve
                       against the config's directory, as nginx does)
``user``               only when the lab asks (``worker_user``), so that workers can
                       write temp files under the pod directory
=====================  ==============================================================
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Callable, Iterator, Mapping, Sequence

TEMP_PATHS = ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path",
              "uwsgi_temp_path", "scgi_temp_path")
PATH_DIRECTIVES = frozenset({
    "include", "ssl_certificate", "ssl_certificate_key", "ssl_trusted_certificate",
    "ssl_client_certificate", "ssl_dhparam", "ssl_password_file", "auth_basic_user_file",
    "root", "alias",
})
UNREACHABLE_UPSTREAM = ["127.0.0.1:1", "down"]
_SPECIAL = set(" \t\r\n;{}#\"'")


class ConfSyntaxError(ValueError):
    """The file is not nginx configuration syntax."""


@dataclass
class Directive:
    name: str
    args: list[str] = field(default_factory=list)
    block: list["Directive"] | None = None


@dataclass(frozen=True)
class Rules:
    """The inputs of a translation, every one explicit."""

    pod_ip: str
    conf_dir: str  # container directory of nginx.conf, the base of relative includes
    host_path: Callable[[str], str]
    endpoints: Mapping[str, Sequence[str]]  # "service:port" -> ["ip:port", ...]
    runtime: str  # host directory for pid, logs and temp files
    worker_user: str | None = None
    # Replace each ``include`` by the directives of the files it names (a glob may name none), so
    # that the rules above reach them too (the nginx image's conf.d/default.conf holds its listen).
    inline_includes: bool = False


def tokenize(text: str) -> Iterator[tuple[str, bool, int]]:
    """(token, was_quoted, line) for words, quoted strings, ``;``, ``{`` and ``}``."""
    i, line, n = 0, 1, len(text)
    while i < n:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
        elif char in " \t\r":
            i += 1
        elif char == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif char in ";{}":
            yield char, False, line
            i += 1
        elif char in "\"'":
            start_line, out, i = line, [], i + 1
            while i < n and text[i] != char:
                if text[i] == "\\" and i + 1 < n:
                    out.append(text[i : i + 2])  # escapes kept as written; dump() re-quotes
                    i += 2
                    continue
                line += text[i] == "\n"
                out.append(text[i])
                i += 1
            if i >= n:
                raise ConfSyntaxError(f"line {start_line}: unterminated quoted string")
            i += 1
            yield "".join(out), True, start_line
        else:
            start = i
            while i < n and text[i] not in _SPECIAL:
                # ${var} may contain braces that are not blocks
                if text[i] == "$" and i + 1 < n and text[i + 1] == "{":
                    close = text.find("}", i)
                    i = close + 1 if close != -1 else n
                    continue
                i += 1
            yield text[start:i], False, line


def parse(text: str) -> list[Directive]:
    """The directive tree of ``text``."""
    stack: list[list[Directive]] = [[]]
    words: list[tuple[str, bool, int]] = []
    for token, quoted, line in tokenize(text):
        if not quoted and token == ";":
            if not words:
                raise ConfSyntaxError(f"line {line}: unexpected ';'")
            stack[-1].append(Directive(words[0][0], [w for w, _q, _l in words[1:]]))
            words = []
        elif not quoted and token == "{":
            if not words:
                raise ConfSyntaxError(f"line {line}: block without a directive name")
            directive = Directive(words[0][0], [w for w, _q, _l in words[1:]], [])
            stack[-1].append(directive)
            stack.append(directive.block)
            words = []
        elif not quoted and token == "}":
            if words or len(stack) == 1:
                raise ConfSyntaxError(f"line {line}: unexpected '}}'")
            stack.pop()
        else:
            words.append((token, quoted, line))
    if words:
        raise ConfSyntaxError(f"directive {words[0][0]!r} (line {words[0][2]}) is not terminated by ';'")
    if len(stack) != 1:
        raise ConfSyntaxError("unexpected end of file, expecting '}'")
    return stack[0]


def _quote(arg: str) -> str:
    if arg and not any(c in _SPECIAL for c in arg):
        return arg
    # Escapes were kept as written, so only a bare double quote needs one now.
    return '"' + re.sub(r'(?<!\\)"', r'\\"', arg) + '"'


def dump(directives: list[Directive], depth: int = 0) -> str:
    pad = "    " * depth
    lines: list[str] = []
    for d in directives:
        head = " ".join([d.name, *(_quote(a) for a in d.args)])
        if d.block is None:
            lines.append(f"{pad}{head};")
        else:
            lines.append(f"{pad}{head} {{")
            body = dump(d.block, depth + 1)
            if body:
                lines.append(body)
            lines.append(f"{pad}}}")
    return "\n".join(lines)


def translate_listen(args: list[str], pod_ip: str) -> list[str] | None:
    """``listen`` arguments for the pod, or None to drop an IPv6 listen."""
    address, rest = args[0], [a for a in args[1:] if not a.startswith("ipv6only=")]
    if address.startswith("unix:"):
        return args
    if address.startswith("["):
        return None
    host, sep, port = address.rpartition(":")
    if not sep:
        port = address if address.isdigit() else "80"
    return [f"{pod_ip}:{port}", *rest]


def service_key(hostport: str) -> str:
    return hostport if ":" in hostport else f"{hostport}:80"


def translate(text: str, rules: Rules) -> tuple[str, list[str]]:
    """The translated configuration and a note for every change."""
    tree = parse(text)
    notes: list[str] = []
    if rules.inline_includes:
        tree = _inline(tree, rules, notes, 0)
    upstream_names = {d.args[0] for d in _walk(tree) if d.name == "upstream" and d.args}
    logs = f"{rules.runtime}/logs"
    _translate_block(tree, "main", rules, upstream_names, notes)
    forced = [Directive("daemon", ["off"]), Directive("pid", [f"{rules.runtime}/nginx.pid"])]
    main_logs = [d for d in tree if d.name == "error_log"]
    tree[:] = [d for d in tree if d.name not in ("daemon", "pid", "error_log")]
    level = main_logs[0].args[1:] if main_logs else []
    forced.append(Directive("error_log", [f"{logs}/error.log", *level]))
    if rules.worker_user:
        tree[:] = [d for d in tree if d.name != "user"]
        forced.insert(0, Directive("user", [rules.worker_user]))
        notes.append(f"user -> {rules.worker_user}")
    notes.append(f"daemon off; pid and error_log under {rules.runtime}")
    for http in (d for d in tree if d.name == "http" and d.block is not None):
        present = {d.name for d in http.block}
        for name in TEMP_PATHS:
            if name not in present:
                http.block.insert(0, Directive(name, [f"{rules.runtime}/tmp/{name[:-10]}"]))
        notes.append(f"temp paths under {rules.runtime}/tmp")
    return dump(forced + tree) + "\n", notes


def _inline(block: list[Directive], rules: Rules, notes: list[str], depth: int) -> list[Directive]:
    if depth > 10:
        raise ConfSyntaxError("include nesting deeper than 10 levels")
    out: list[Directive] = []
    for d in block:
        if d.name == "include" and d.args and "$" not in d.args[0]:
            pattern = _host_file(d.args[0], rules)
            found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            if not glob.has_magic(pattern) and not os.path.isfile(pattern):
                out.append(d)    # translated below; nginx itself will say it is missing
                continue
            for path in found:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    out.extend(_inline(parse(handle.read()), rules, notes, depth + 1))
            notes.append(f"include {d.args[0]} -> inlined ({len(found)} file(s))")
            continue
        if d.block is not None:
            d = Directive(d.name, d.args, _inline(d.block, rules, notes, depth))
        out.append(d)
    return out


def _walk(directives: list[Directive]) -> Iterator[Directive]:
    for d in directives:
        yield d
        if d.block:
            yield from _walk(d.block)


def _host_file(arg: str, rules: Rules) -> str:
    if "$" in arg:
        return arg  # computed at request time: nothing to translate mechanically
    path = PurePosixPath(arg)
    if not path.is_absolute():
        path = PurePosixPath(rules.conf_dir) / path
    return rules.host_path(str(path))


def _translate_block(block: list[Directive], context: str, rules: Rules,
                     upstreams: set[str], notes: list[str]) -> None:
    out: list[Directive] = []
    seen_listens: set[str] = set()
    for d in block:
        if d.name == "listen" and d.args:
            new = translate_listen(d.args, rules.pod_ip)
            if new is None or (new[0] in seen_listens and not new[0].startswith("unix:")):
                notes.append(f"listen {' '.join(d.args)} -> dropped")
                continue
            seen_listens.add(new[0])
            notes.append(f"listen {' '.join(d.args)} -> {' '.join(new)}")
            d = Directive("listen", new)
        elif context == "upstream" and d.name == "server" and d.args:
            key = service_key(d.args[0])
            if key in rules.endpoints:
                addresses = list(rules.endpoints[key])
                expanded = [Directive("server", [a, *d.args[1:]]) for a in addresses]
                out.extend(expanded or [Directive("server", list(UNREACHABLE_UPSTREAM))])
                notes.append(f"upstream server {d.args[0]} -> {', '.join(addresses) or 'none (down)'}")
                continue
        elif d.name == "proxy_pass" and d.args:
            d = Directive("proxy_pass", [_translate_proxy_pass(d.args[0], rules, upstreams, notes)])
        elif d.name in ("error_log", "access_log") and d.args and d.args[0] != "off" and context != "main":
            kind = d.name.split("_")[0]
            d = Directive(d.name, [f"{rules.runtime}/logs/{kind}.log", *d.args[1:]])
        elif d.name in TEMP_PATHS and d.args:
            d = Directive(d.name, [f"{rules.runtime}/tmp/{d.name[:-10]}", *d.args[1:]])
        elif d.name in PATH_DIRECTIVES and d.args:
            new_path = _host_file(d.args[0], rules)
            if new_path != d.args[0]:
                notes.append(f"{d.name} {d.args[0]} -> {new_path}")
            d = Directive(d.name, [new_path, *d.args[1:]], d.block)
        if d.block is not None:
            _translate_block(d.block, d.name, rules, upstreams, notes)
        out.append(d)
    block[:] = out


def _translate_proxy_pass(url: str, rules: Rules, upstreams: set[str], notes: list[str]) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "$" in url:
        return url
    hostport, slash, tail = rest.partition("/")
    if hostport in upstreams:
        return url
    target = (rules.endpoints.get(service_key(hostport)) or [None])[0]
    if target is None:
        return url
    new = f"{scheme}://{target}{slash}{tail}"
    notes.append(f"proxy_pass {url} -> {new}")
    return new


def first_listen_port(text: str) -> int | None:
    """The port of the first ``listen`` in a (translated) configuration."""
    for d in _walk(parse(text)):
        if d.name == "listen" and d.args and not d.args[0].startswith("unix:"):
            _host, _sep, port = d.args[0].rpartition(":")
            return int(port) if port.isdigit() else None
    return None
