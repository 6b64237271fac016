"""The runbook scaffold: start, one recorded step per cell, finish.

A notebook reads::

    rb = runbook.start("00-preflight", params_file, dry_run=dry_run)
    rb.step(preflight.check_kubernetes, rb.params)      # one call per cell, result displayed
    ...
    rb.finish()                                         # step summary + results.json

A step function is plain Python returning a :class:`StepResult`. ``rb.step`` records it in
``results.json`` (so ``harborbook run`` and the tests can read what happened), shows it, and
when it failed raises a :class:`RunbookError` that the notebook shows as three short lines —
message, hint, runbook to see — instead of a traceback of library internals.
"""

from __future__ import annotations

import datetime as dt
import enum
import fcntl
import html
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

import pandas as pd

from . import params as params_mod
from .errors import HarborbookError, RunbookError
from .secrets import mask

RUN_DIR_ENV = "HARBORBOOK_RUN_DIR"


class Status(str, enum.Enum):
    OK = "ok"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    WARNING = "warning"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


_COLOURS = {"ok": "#1a7f37", "changed": "#0969da", "unchanged": "#57606a", "skipped": "#57606a",
            "warning": "#9a6700", "failed": "#cf222e"}


T = TypeVar("T")


@dataclass
class StepResult(Generic[T]):
    """What one step did: a status, a one-line summary, an optional table and data.

    ``value`` is what a later cell needs (a connection, rendered objects, a probe): typed by the
    step, e.g. ``StepResult[list[dict]]`` for the rendered manifests.
    """

    name: str
    status: Status
    summary: str
    table: pd.DataFrame | None = None
    data: dict[str, Any] = field(default_factory=dict)
    hint: str | None = None
    see: str | None = None
    # What a later cell needs from this step (a connection, rendered objects); never saved.
    value: T | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status.value, "summary": self.summary}
        if self.hint:
            out["hint"] = self.hint
        if self.see:
            out["see"] = self.see
        if self.data:
            out["data"] = self.data
        return out

    def __repr__(self) -> str:
        lines = [f"[{self.status.value}] {self.name}: {self.summary}"]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        if self.table is not None and not self.table.empty:
            lines.append(self.table.to_string(index=False))
        return mask("\n".join(lines))

    def _repr_html_(self) -> str:
        colour = _COLOURS[self.status.value]
        parts = [
            f'<div><span style="background:{colour};color:white;padding:1px 6px;border-radius:3px">'
            f"{self.status.value}</span> <b>{html.escape(self.name)}</b>: {html.escape(self.summary)}</div>"
        ]
        if self.hint:
            parts.append(f"<div><i>hint:</i> {html.escape(self.hint)}</div>")
        if self.table is not None and not self.table.empty:
            parts.append(self.table.to_html(index=False, escape=True))
        # A step may quote a remote system's error; anything revealed in this kernel is scrubbed.
        return mask("\n".join(parts))


class Runbook:
    """The context of one runbook execution (returned by :func:`start`)."""

    def __init__(self, name: str, params_file: str | Path, dry_run: bool, run_dir: Path):
        self.name = name
        self.params_file = Path(params_file)
        self.dry_run = bool(dry_run)
        self.run_dir = run_dir
        self.steps: list[StepResult[Any]] = []
        self._started = time.time()
        self._params: params_mod.Params | None = None

    @property
    def params(self) -> params_mod.Params:
        if self._params is None:
            self._params = params_mod.load(self.params_file)
        return self._params

    def artifact(self, filename: str) -> Path:
        """A path for a file this runbook leaves behind (manifests, dumps) in the run directory."""
        folder = self.run_dir / "artifacts" / self.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder / filename

    def step(self, fn: Callable[..., StepResult[T]], *args: Any, critical: bool = True, **kwargs: Any) -> StepResult[T]:
        """Run one step, record it, and stop the runbook when it fails (unless not critical)."""
        name = getattr(fn, "__name__", "step").strip("_").replace("_", " ")
        result: StepResult[T]
        try:
            result = fn(*args, **kwargs)
        except HarborbookError as exc:
            result = StepResult(name, Status.FAILED, exc.message, hint=exc.hint, see=exc.see)
        if not isinstance(result, StepResult):
            raise TypeError(f"step {name} returned {type(result).__name__}, expected StepResult")
        self.steps.append(result)
        self._save(status="running")
        if result.failed and critical:
            _display(result)  # the table of checks is the most useful part of a failure
            self._save(status="failed", error=result)
            raise RunbookError(f"{self.name}: step '{result.name}' failed: {result.summary}",
                               hint=result.hint, see=result.see)
        return result

    def record(self, result: StepResult[T]) -> StepResult[T]:
        """Record a result computed in the cell itself (same bookkeeping as :meth:`step`)."""
        return self.step(lambda: result)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"step": s.name, "status": s.status.value, "summary": mask(s.summary)} for s in self.steps],
            columns=["step", "status", "summary"],
        )

    def finish(self) -> pd.DataFrame:
        """Write results.json, return the step summary table; raise if any step failed."""
        bad = [s for s in self.steps if s.failed]
        self._save(status="failed" if bad else "ok", error=bad[0] if bad else None)
        if bad:
            _display(self.summary())
            raise RunbookError(f"{self.name}: {len(bad)} step(s) failed: " + ", ".join(s.name for s in bad),
                               hint=bad[0].hint, see=bad[0].see)
        return self.summary()

    def _save(self, status: str, error: StepResult | None = None) -> None:
        entry: dict[str, Any] = {
            "status": status,
            "dry_run": self.dry_run,
            "started": _iso(self._started),
            "duration_s": round(time.time() - self._started, 3),
            "steps": [s.to_json() for s in self.steps],
        }
        if error is not None:
            entry["error"] = {"step": error.name, "message": error.summary, "hint": error.hint, "see": error.see}
        update_results(self.run_dir, lambda data: data.setdefault("runbooks", {}).update({self.name: entry}))


def start(name: str, params_file: str | Path, dry_run: bool = False, run_dir: str | Path | None = None) -> Runbook:
    """Begin a runbook: validate the params file and prepare results.json.

    The run directory comes from ``harborbook run`` (environment) or defaults to
    ``runs/interactive`` beside the runbooks folder when a person steps through in JupyterLab.
    """
    _install_short_errors()
    _show_whole_cells()
    folder = Path(run_dir or os.environ.get(RUN_DIR_ENV) or _default_run_dir())
    folder.mkdir(parents=True, exist_ok=True)
    rb = Runbook(name, params_file, dry_run, folder)
    try:
        loaded = rb.params
    except HarborbookError as exc:
        raise RunbookError(f"{name}: the params file is invalid:\n{exc.message}", hint=exc.hint) from None
    update_results(folder, lambda data: data.update(params_file=str(rb.params_file.resolve()),
                                                    params_hash=params_mod.params_hash(loaded)))
    rb._save(status="running")
    return rb


def _default_run_dir() -> Path:
    here = Path.cwd()
    root = here.parent if here.name == "runbooks" else here
    return root / "runs" / "interactive"


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def read_results(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "results.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise HarborbookError(f"{path}:{exc.lineno}: results.json is corrupt ({exc.msg})",
                              hint="start a new run instead of resuming this one") from None


def update_results(run_dir: Path, change: Callable[[dict], None]) -> dict[str, Any]:
    """Apply ``change`` to run_dir/results.json atomically (lock, write a temp file, rename).

    The kernel (steps) and the runner (status, durations) both write it, one after the other.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = read_results(run_dir)
        change(data)
        text = mask(json.dumps(data, indent=2, sort_keys=True, default=str))
        tmp = run_dir / f".results.json.{os.getpid()}"
        tmp.write_text(text + "\n")
        os.replace(tmp, run_dir / "results.json")
    return data


def _display(obj: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is a dependency of jupyterlab
        print(repr(obj))
        return
    display(obj)


class _Shown:
    """What the kernel reports as the error value: the masked text of the exception."""

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text


def _show_whole_cells() -> None:
    """Tables show every cell whole: pandas cuts a cell at 50 characters by default, which hid
    the end of a summary (the part that says what happened) and made where it was cut depend on
    the length of the checkout's path."""
    pd.set_option("display.max_colwidth", None)


def _install_short_errors() -> None:
    """In a notebook, show a HarborbookError as message + hint + see, not as a traceback."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "_harborbook_short_errors", False):
        return

    def short(shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
              tb_offset: int | None = None) -> list[str]:  # IPython's custom_exc signature
        text = value.render() if isinstance(value, HarborbookError) else str(value)
        lines = [f"{etype.__name__}: {text.splitlines()[0] if text else ''}"] + text.splitlines()[1:]
        stb = [mask(line) for line in lines]
        # IPython leaves showing the structured traceback to the handler.
        shell._showtraceback(etype, _Shown(mask(str(value))), stb)
        return stb

    shell.set_custom_exc((HarborbookError,), short)
    shell._harborbook_short_errors = True
