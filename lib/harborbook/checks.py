"""The one vocabulary of checks: a :class:`Check`, running one safely, and checks as a step.

Preflight (00), verification (05), the render findings (03) and the fix's verification (06) all
answer the same way: rows of (area, check, status, detail, hint), one table per step, the step
failed when a row failed and a warning when one warned. The mutating steps share
:func:`status_for` to say what they did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

from .errors import HarborbookError
from .runbook import Status, StepResult
from .secrets import mask

COLUMNS = ["area", "check", "status", "detail", "hint"]
DETAIL_LIMIT = 300
T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    """One checked fact: where (area), what (name), the outcome, what was seen, what to do."""

    area: str
    name: str
    status: Status
    detail: str
    hint: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    def row(self) -> dict[str, str]:
        return {"area": self.area, "check": self.name, "status": self.status.value, "detail": self.detail,
                "hint": self.hint}

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "Check":
        return cls(row.get("area", ""), row["check"], Status(row["status"]), row.get("detail", ""),
                   row.get("hint") or "")


def ok(area: str, name: str, detail: str) -> Check:
    return Check(area, name, Status.OK, detail)


def warning(area: str, name: str, detail: str, hint: str = "") -> Check:
    return Check(area, name, Status.WARNING, detail, hint)


def failed(area: str, name: str, detail: str, hint: str = "") -> Check:
    return Check(area, name, Status.FAILED, detail, hint)


def guard(area: str, name: str, probe: Callable[[], Check | Iterable[Check]], *,
          os_hint: str = "") -> list[Check]:
    """Run one probe; an error becomes a failed check carrying the error's own hint.

    Only our own errors (HarborbookError) and the OS's (a refused connection, a missing file)
    are answers here; anything else is a bug and propagates.
    """
    try:
        found = probe()
        return [found] if isinstance(found, Check) else list(found)
    except HarborbookError as exc:
        first = exc.message.splitlines()[0] if exc.message else type(exc).__name__
        return [failed(area, name, mask(first)[:DETAIL_LIMIT], exc.hint or "")]
    except OSError as exc:
        return [failed(area, name, mask(f"{type(exc).__name__}: {exc.strerror or exc}")[:DETAIL_LIMIT], os_hint)]


def worst(checks: Iterable[Check]) -> Status:
    statuses = {c.status for c in checks}
    if Status.FAILED in statuses:
        return Status.FAILED
    return Status.WARNING if Status.WARNING in statuses else Status.OK


def summary(checks: Sequence[Check]) -> str:
    bad = [c for c in checks if c.failed]
    if bad:
        return f"{len(bad)} of {len(checks)} checks failed: " + "; ".join(f"{c.name}: {c.detail}" for c in bad)
    counts = ", ".join(f"{sum(1 for c in checks if c.status is s)} {s.value}" for s in (Status.OK, Status.WARNING)
                       if any(c.status is s for c in checks))
    return f"{len(checks)} check{'' if len(checks) == 1 else 's'}: {counts or 'none'}"


def result(name: str, checks: Sequence[Check], value: T | None = None) -> StepResult[T]:
    """Checks as one step: the worst status, a summary naming the failures, the table, the rows."""
    checks = list(checks)
    rows = [c.row() for c in checks]
    bad = [c for c in checks if c.failed]
    return StepResult(name, worst(checks), summary(checks), table=pd.DataFrame(rows, columns=COLUMNS),
                      data={"checks": rows}, hint=bad[0].hint or None if bad else None, value=value)


def of_steps(steps: Iterable[StepResult[Any]]) -> list[Check]:
    """Every check recorded by earlier steps (their ``data["checks"]``)."""
    return [Check.from_row(row) for s in steps for row in s.data.get("checks", [])]


def verdict(name: str, steps: Iterable[StepResult[Any]], *, by_area: bool = True) -> StepResult[None]:
    """All the checks of a runbook in one table, sorted by area unless ``by_area`` is False."""
    found = of_steps(steps)
    out: StepResult[None] = result(name, found)
    if by_area and out.table is not None:
        out.table = out.table.sort_values(["area", "check"], kind="stable").reset_index(drop=True)
    return out


def status_for(changed: bool, dry_run: bool) -> Status:
    """What a mutating step did: nothing to do, would change (dry run), or changed."""
    if not changed:
        return Status.UNCHANGED
    return Status.SKIPPED if dry_run else Status.CHANGED
