"""Templates -> manifests: Harbor 1.2's objects as plain dicts, ready to apply.

The templates (``harborbook/templates``) are rendered with ``StrictUndefined``: a value the
template names but the context lacks fails the render with the template and the name, where
``k8s-prepare`` warned and wrote an empty string. Every scalar is written through a quoting
filter, so the YAML is parsed back exactly as meant, and the manifests are written out again by
one canonical dumper: the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from typing import Any, Iterable, Mapping, overload

import jinja2
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..params.models import Params
from ..secrets import MASK, remember
from .findings import RenderError, object_name
from .secrets import GeneratedSecrets
from .values import COMPONENTS, KIND_ORDER, Credentials, context

TEMPLATE_PACKAGE = "harborbook"
TEMPLATE_FOLDER = "templates"
SECRET_FIELDS = ("data", "stringData")


def _defined(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value


def _quote(value: Any) -> str:
    """Any scalar as a YAML string (JSON string syntax is YAML)."""
    value = _defined(value)
    if isinstance(value, bool):
        value = str(value).lower()
    return json.dumps(str(value), ensure_ascii=False)


def _json(value: Any) -> str:
    return json.dumps(_defined(value), ensure_ascii=False, sort_keys=True)


def _b64(value: Any) -> str:
    return json.dumps(base64.b64encode(str(_defined(value)).encode("utf-8")).decode("ascii"))


def environment(loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=loader or jinja2.PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_FOLDER),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(q=_quote, json=_json, b64=_b64)
    return env


def render_template(env: jinja2.Environment, name: str, values: Mapping[str, Any]) -> list[dict]:
    """One template -> its objects; failures name the template and what was missing."""
    try:
        text = env.get_template(name).render(**values)
    except jinja2.UndefinedError as exc:
        raise RenderError(f"template {name}: {exc.message}",
                          hint="a value the template needs is missing from the rendering context "
                               "(params field or generated secret)") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"template {name}: {type(exc).__name__}: {exc}") from None
    try:
        docs = list(YAML(typ="safe", pure=True).load_all(text))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        # The rendered text holds secrets: name the place, never quote the text.
        raise RenderError(f"template {name} rendered invalid YAML at{line}: {getattr(exc, 'problem', '')}",
                          hint="a template bug: every value must go through |q, |json or |b64") from None
    return [doc for doc in docs if doc]


def render(
    params: Params,
    generated: GeneratedSecrets,
    credentials: Credentials,
    env: jinja2.Environment | None = None,
) -> list[dict]:
    """Every Harbor object (no mysql), in apply order: Secrets, ConfigMaps, Services, Deployments."""
    env = env or environment()
    values = context(params, generated, credentials)
    objects: list[dict] = []
    for component in COMPONENTS:
        objects += render_template(env, f"{component}.yaml.j2", values)
    for obj in objects:
        if obj.get("kind") == "Secret":
            # The base64 forms (and composites such as _REDIS_URL) are secrets too: mask() them.
            for value in (obj.get("data") or {}).values():
                remember(str(value))
    return sort_for_apply(objects)


def sort_for_apply(objects: Iterable[dict]) -> list[dict]:
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    # sorted() is stable: within a kind, component order stays.
    return sorted(objects, key=lambda o: rank.get(o.get("kind", ""), len(rank)))


def masked(manifests: Iterable[dict]) -> list[dict]:
    """Copies with every Secret value replaced by ``***`` (for files, diffs and displays)."""
    return [mask_object(obj) for obj in manifests]


@overload
def mask_object(obj: dict) -> dict: ...
@overload
def mask_object(obj: None) -> None: ...
def mask_object(obj: dict | None) -> dict | None:
    """A copy with every Secret value replaced by ``***``."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    if out.get("kind") == "Secret":
        for name in SECRET_FIELDS:
            if isinstance(out.get(name), dict):
                out[name] = {key: MASK for key in out[name]}
        annotations = (out.get("metadata") or {}).get("annotations") or {}
        # kubectl apply keeps the whole object, data included, in this annotation.
        if "kubectl.kubernetes.io/last-applied-configuration" in annotations:
            annotations["kubectl.kubernetes.io/last-applied-configuration"] = MASK
    return out


# Words YAML 1.1 readers (kubectl's, PyYAML) take for booleans: always quote them in files.
_YAML11_WORDS = {"y", "yes", "n", "no", "on", "off", "true", "false", "null", "~"}


def _str_representer(representer, value: str):
    style = "|" if "\n" in value else ("'" if value.lower() in _YAML11_WORDS else None)
    return representer.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def dump_yaml(obj: Any) -> str:
    """The canonical YAML of an object: block style, multi-line strings as literal blocks."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096  # never fold long lines (a folded PEM or URL is harder to read and diff)
    yaml.representer.add_representer(str, _str_representer)
    out = io.StringIO()
    yaml.dump(obj, out)
    return out.getvalue()


def dump_all(manifests: Iterable[dict]) -> str:
    return "---\n".join(dump_yaml(obj) for obj in manifests)


def find(manifests: Iterable[dict], kind: str, name: str) -> dict | None:
    return next((o for o in manifests if o.get("kind") == kind
                 and (o.get("metadata") or {}).get("name") == name), None)


def names(manifests: Iterable[dict]) -> list[str]:
    return [object_name(o) for o in manifests]


__all__ = ["dump_all", "dump_yaml", "environment", "find", "mask_object", "masked", "names", "render",
           "render_template", "sort_for_apply"]
