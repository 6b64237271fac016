"""Loading and validating a params file, with errors an operator can act on.

Every error names the file, the line, the key path and what was expected::

    params/prod.yaml:14 database.target.port: expected an integer, got '33o6'

The YAML is read with ruamel.yaml's round-trip loader only to learn where each key sits;
validation is pydantic's. Nothing here ever echoes the value of a secret field.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ..errors import ParamsError
from ..secrets import SecretRef
from .models import Params

__all__ = ["Params", "load", "params_hash", "masked_dump"]

MAX_BYTES = 1 << 20  # a params file is a page of YAML; a megabyte is a mistake


def load(path: str | Path) -> Params:
    """Read, validate and return the params file; raise ParamsError with every problem found."""
    path = Path(path)
    shown = _shown(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ParamsError(f"{shown}: no such params file",
                          hint="pass --params with the path of a YAML file, e.g. params/sandbox.yaml") from None
    except OSError as exc:
        raise ParamsError(f"{shown}: cannot read the params file ({exc.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise ParamsError(f"{shown}: the params file is larger than {MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ParamsError(f"{shown}:{line}: the params file is not UTF-8 text") from None
    tree = _parse_yaml(text, shown)
    if not isinstance(tree, dict):
        raise ParamsError(f"{shown}:1: expected a mapping of sections (cluster, harbor, storage, ...), "
                          f"got {_kind(tree)}")
    data = _plain(tree)
    try:
        return Params.model_validate(data, context={"base": path.resolve().parent})
    except ValidationError as exc:
        problems = [_describe(err, tree, shown) for err in exc.errors()]
        raise ParamsError("\n".join(problems), hint="fix the keys above; `harborbook params check FILE` "
                          "validates without running anything") from None
    except RecursionError:
        raise ParamsError(f"{shown}: the params file nests too deeply") from None


def _parse_yaml(text: str, shown: str) -> Any:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "duplicate key" in problem:
            # ruamel's message quotes both values, which may be secrets: keep only the key.
            problem = problem.split(" with value")[0]
        raise ParamsError(f"{shown}:{line}: invalid YAML: {problem}") from None
    except (YAMLError, ValueError, RecursionError) as exc:
        raise ParamsError(f"{shown}: invalid YAML: {type(exc).__name__}") from None


def _plain(node: Any) -> Any:
    """ruamel's commented containers to plain dicts/lists (keys as strings, as YAML writers mean)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if hasattr(node, "__float__") and type(node).__name__.startswith("Scalar"):
        return float(node)
    return node


def _line_of(tree: Any, loc: tuple) -> int:
    """The line of the deepest key of ``loc`` that exists in the YAML tree (1-based)."""
    line = 1
    node = tree
    for key in loc:
        if isinstance(node, CommentedMap) and str(key) in {str(k) for k in node}:
            real = next(k for k in node if str(k) == str(key))
            line = node.lc.key(real)[0] + 1
            node = node[real]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line = node.lc.item(key)[0] + 1
            node = node[key]
        elif isinstance(key, str) and isinstance(node, CommentedMap):
            continue  # a union tag such as 'server' in database.source: stay on this node
        else:
            break
    return line


_EXPECTED = {
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "missing": "required key is missing",
    "union_tag_not_found": "missing 'kind'",
}
_SHOW_INPUT = {"int_parsing", "int_type", "int_from_float", "float_parsing", "float_type", "bool_parsing",
               "bool_type", "string_type", "literal_error", "greater_than_equal", "less_than_equal",
               "greater_than", "less_than", "string_pattern_mismatch", "union_tag_invalid"}


def _describe(err: Mapping[str, Any], tree: Any, shown: str) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    # Discriminated unions put the tag in loc ('source', 'server', 'port'): drop it from the path.
    path = _key_path(p for p in loc if not (isinstance(p, str) and p in _UNION_TAGS))
    line = _line_of(tree, loc + ("kind",) if kind == "union_tag_invalid" else loc)
    if kind == "extra_forbidden":
        key = str(loc[-1])
        siblings = _siblings(loc[:-1])
        close = difflib.get_close_matches(key, siblings, n=1)
        suggestion = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{shown}:{line} {path}: unknown key{suggestion}"
    message = _EXPECTED.get(kind) or _visible(_clean(err["msg"]))
    if kind in _SHOW_INPUT and not isinstance(err.get("input"), (dict, list)):
        shown_input = _visible(err.get("input"))
        if len(shown_input) > 60:
            shown_input = shown_input[:57] + "..."
        message += f", got '{shown_input}'"
    return f"{shown}:{line} {path or '(top level)'}: {message}"


def _key_path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{_visible(part)}" if out else _visible(part))
    return out


def _visible(text: Any) -> str:
    """``text`` with control characters escaped: a key or value from the file must not break the
    one-line-per-problem message (\x1e and friends are line breaks to ``str.splitlines``)."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


_UNION_TAGS = {"server", "dumpfile", "chroot", "ssh", "debug-pod"}


def _clean(msg: str) -> str:
    # pydantic's 'Value error, ...' prefix says nothing to an operator.
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg[:1].lower() + msg[1:]


def _siblings(loc: tuple) -> list[str]:
    """The keys a model accepts at ``loc`` (for 'did you mean')."""
    model: Any = Params
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(str(part))
        if field is None:
            return []
        model = _model_of(field.annotation)
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))


def _model_of(annotation: Any) -> Any:
    from typing import get_args

    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "an empty file"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def _shown(path: Path) -> str:
    """The path as the user would recognise it: relative to cwd when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def masked_dump(params: Params) -> dict:
    """The resolved params as plain data, secrets shown as their references only."""
    return params.model_dump(mode="json")


def params_hash(params: Params) -> str:
    """A stable hash of the resolved params (secret references, never values)."""
    blob = json.dumps(masked_dump(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def secret_fields(params: Params) -> dict[str, SecretRef]:
    """Every secret reference in the params, by key path (for preflight and leak scans)."""
    found: dict[str, SecretRef] = {}

    def walk(obj: Any, prefix: str) -> None:
        if isinstance(obj, SecretRef):
            found[prefix] = obj
        elif hasattr(obj, "model_fields"):
            for name in type(obj).model_fields:
                walk(getattr(obj, name), f"{prefix}.{name}" if prefix else name)
        elif isinstance(obj, (list, tuple)):
            for i, item in enumerate(obj):
                walk(item, f"{prefix}[{i}]")

    walk(params, "")
    return found
