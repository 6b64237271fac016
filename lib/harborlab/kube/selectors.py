"""Label and field selectors: parsing the query-string forms and matching objects.

Pure functions. Label selectors follow the real grammar (``=``, ``==``, ``!=``, ``in``, ``notin``,
``key`` for exists, ``!key`` for does-not-exist); field selectors accept ``=``, ``==`` and ``!=``
on the fields a resource declares (resources.py), anything else is a 400 like the real server's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from .status import bad_request

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


SELECTOR_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                      # "in" | "notin" | "exists" | "!exists" | "=" | "!="
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op == "never":
            return False
        # "!=" and "notin" match objects without the key, as the real selector does.
        return not present or value not in self.values


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _check(key: str, values: Iterable[str], text: str) -> None:
    if not _KEY.match(key):
        raise bad_request(f'unable to parse requirement: invalid label key "{key}" in "{text}"')
    for value in values:
        if len(value) > 63 or not _VALUE.match(value):
            raise bad_request(f'unable to parse requirement: invalid label value: "{value}"')


_SET = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")
_EQ = re.compile(r"^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$")


def parse_labels(text: str | None) -> tuple[Requirement, ...]:
    """Parse a ``labelSelector`` query value; raises a 400 ApiError on bad syntax."""
    if not text:
        return ()
    reqs = []
    for part in _split_top(text):
        if m := _SET.match(part):
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            _check(m.group(1), values, text)
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQ.match(part):
            _check(m.group(1), [m.group(3)], text)
            op = "!=" if m.group(2) == "!=" else "="
            reqs.append(Requirement(m.group(1), op, (m.group(3),)))
        elif part.startswith("!"):
            _check(part[1:].strip(), [], text)
            reqs.append(Requirement(part[1:].strip(), "!exists"))
        else:
            _check(part, [], text)
            reqs.append(Requirement(part, "exists"))
    return tuple(reqs)


def from_label_selector(selector: dict | None) -> tuple[Requirement, ...] | None:
    """A LabelSelector object (matchLabels/matchExpressions) as requirements; None matches nothing."""
    if selector is None:
        return None
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        # An operator validation would refuse matches nothing here rather than failing a controller.
        op = SELECTOR_OPERATORS.get(expr.get("operator"), "never")
        reqs.append(Requirement(str(expr.get("key")), op, tuple(str(v) for v in expr.get("values") or ())))
    return tuple(reqs)


def from_map(labels: dict[str, str] | None) -> tuple[Requirement, ...]:
    """An equality map (a Service's or an RC's selector) as requirements."""
    return tuple(Requirement(k, "=", (str(v),)) for k, v in (labels or {}).items())


def labels_match(reqs: tuple[Requirement, ...], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in reqs)


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    equal: bool
    value: str


def parse_fields(text: str | None, allowed: Iterable[str], kind: str) -> tuple[FieldRequirement, ...]:
    if not text:
        return ()
    allowed = set(allowed)
    reqs = []
    for part in _split_top(text):
        m = _EQ.match(part)
        if not m:
            raise bad_request(f'invalid selector: \'{text}\'; can\'t understand \'{part}\'')
        path, op, value = m.groups()
        if path not in allowed:
            raise bad_request(f'field label not supported: {path}')
        reqs.append(FieldRequirement(path, op != "!=", value))
    return tuple(reqs)


def field_value(obj: dict, path: str) -> str:
    """The string form of a dotted field, as the real field selector compares it."""
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is None:
            return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, dict):   # e.g. Event.source: compare on the component
        return str(cur.get("component", ""))
    return str(cur)


def fields_match(reqs: tuple[FieldRequirement, ...], obj: dict) -> bool:
    return all((field_value(obj, r.path) == r.value) == r.equal for r in reqs)


__all__ = ["Requirement", "parse_labels", "labels_match", "from_label_selector",
           "from_map", "parse_fields", "fields_match", "field_value"]
