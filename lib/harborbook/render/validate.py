"""Schema validation: every manifest against the OpenAPI schema of the cluster's version.

kubernetes-validate ships the JSON schemas of Kubernetes 1.25 and later. A server version maps to
the nearest shipped schema (1.25 for older clusters, the newest for newer ones, with a note).
Errors are collected, not stopped at the first, each a finding naming object and field path.
Secrets are validated with their values masked, so no error message can quote a secret.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Iterable

import jsonschema
from referencing import Registry, Resource

from .findings import Finding, Level, RenderError, object_name
from .manifests import mask_object

SCHEMA_PACKAGE = "kubernetes_validate"
SCHEMA_FOLDER = "kubernetes-json-schema"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)")
_MAX_MESSAGE = 240


def available_versions() -> list[tuple[int, int]]:
    """The (major, minor) schema versions shipped with kubernetes-validate, oldest first."""
    root = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FOLDER)
    found = set()
    for entry in root.iterdir():
        match = re.match(r"^v(\d+)\.(\d+)\.\d+-local$", entry.name)
        if match:
            found.add((int(match.group(1)), int(match.group(2))))
    return sorted(found)


def parse_version(server_version: str) -> tuple[int, int]:
    """``v1.30.2``, ``1.30``, ``v1.29.4+k3s1`` -> (1, 30)."""
    match = _VERSION.match(server_version.strip())
    if not match:
        raise RenderError(f"{server_version!r} is not a Kubernetes version",
                          hint="pass the server's gitVersion, e.g. v1.30.2")
    return int(match.group(1)), int(match.group(2))


def schema_version(server_version: str, available: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], str | None]:
    """The schema version to validate against, and a note when it is not the server's own."""
    wanted = parse_version(server_version)
    versions = sorted(available)
    if not versions:
        raise RenderError("kubernetes-validate ships no schemas", hint="reinstall kubernetes-validate")
    if wanted in versions:
        return wanted, None
    # Nearest by minor version; on a tie the older one (fields it lacks are rarer than new ones).
    best = min(versions, key=lambda v: (abs((v[0] - wanted[0]) * 1000 + v[1] - wanted[1]), v))
    return best, (f"no schema for Kubernetes {wanted[0]}.{wanted[1]}: validated against "
                  f"{best[0]}.{best[1]}, the nearest available")


@lru_cache(maxsize=8)
def _definitions(version: tuple[int, int], strict: bool) -> Resource:
    return Resource.from_contents(_load(version, strict, "_definitions.json"))


def _load(version: tuple[int, int], strict: bool, name: str) -> dict:
    folder = f"v{version[0]}.{version[1]}.0-local" + ("-strict" if strict else "")
    path = resources.files(SCHEMA_PACKAGE) / SCHEMA_FOLDER / folder / name
    return json.loads(path.read_text())


def _schema_file(manifest: dict) -> str:
    # apps/v1 -> apps-v1, v1 -> v1, rbac.authorization.k8s.io/v1 -> rbac-v1 (the package's names)
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", str(manifest.get("apiVersion", "")))
    return f"{str(manifest.get('kind', '')).lower()}-{api}.json"


def field_path(parts: Iterable) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(object)"


def validate_manifest(manifest: dict, version: tuple[int, int], strict: bool = True) -> list[Finding]:
    shown = mask_object(manifest)  # errors quote instances: never let them quote a secret
    label = object_name(manifest)
    try:
        schema = _load(version, strict, _schema_file(manifest))
    except FileNotFoundError:
        return [Finding(Level.FAILED, label, f"no schema for {manifest.get('apiVersion')} {manifest.get('kind')} "
                        f"in Kubernetes {version[0]}.{version[1]}",
                        "check apiVersion and kind (the API was removed or renamed?)", "schema")]
    registry = Registry().with_resources([("_definitions.json", _definitions(version, strict))])
    registry = Resource.from_contents(schema) @ registry
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    findings = []
    for error in sorted(validator.iter_errors(shown), key=lambda e: list(map(str, e.absolute_path))):
        message = error.message
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        findings.append(Finding(Level.FAILED, label, f"{field_path(error.absolute_path)}: {message}",
                                "fix the template or the params value behind this field", "schema"))
    return findings


def validate_manifests(manifests: Iterable[dict], server_version: str, strict: bool = True,
                       available: Iterable[tuple[int, int]] | None = None) -> tuple[str, list[Finding]]:
    """Validate every manifest; returns the schema version used ("1.30") and the findings.

    ``strict`` uses the schemas that refuse unknown fields (a typo such as ``mountpath`` is
    silently dropped by the API server otherwise).
    """
    version, note = schema_version(server_version, available_versions() if available is None else available)
    findings = []
    if note:
        findings.append(Finding(Level.WARNING, "(all)", note, "validation may miss version-specific fields",
                                "schema"))
    for manifest in manifests:
        findings += validate_manifest(manifest, version, strict)
    return f"{version[0]}.{version[1]}", findings


__all__ = ["available_versions", "field_path", "parse_version", "schema_version", "validate_manifest",
           "validate_manifests"]
