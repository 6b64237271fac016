"""The vocabulary of checks on rendered manifests: a finding, its level, and object names.

Lints and schema validation both answer with findings; an empty list means the check passed.
Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..errors import HarborbookError


class Level(str, enum.Enum):
    # The words match harborbook.runbook.Status, so a findings table reads like every other one.
    FAILED = "failed"
    WARNING = "warning"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Finding:
    """One problem: how bad, in which object ("Deployment/registry"), what and what to do."""

    level: Level
    object: str
    message: str
    hint: str | None = None
    check: str = ""  # which check produced it (lint name, "schema")

    def as_row(self) -> dict[str, str]:
        return {"check": self.check, "level": self.level.value, "object": self.object,
                "message": self.message, "hint": self.hint or ""}


class RenderError(HarborbookError):
    """Rendering cannot produce manifests (a missing value, an unusable input)."""


def object_name(manifest: Mapping) -> str:
    """``Kind/name``: how findings and plan rows name an object."""
    return f"{manifest.get('kind', '?')}/{(manifest.get('metadata') or {}).get('name', '?')}"


def object_key(manifest: Mapping) -> str:
    """``Kind/namespace/name``: unique across namespaces (cluster-scoped objects have '-')."""
    meta = manifest.get("metadata") or {}
    return f"{manifest.get('kind', '?')}/{meta.get('namespace') or '-'}/{meta.get('name', '?')}"


def failed(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level is Level.FAILED]


__all__ = ["Finding", "Level", "RenderError", "failed", "object_key", "object_name"]
