"""`harborbook run`: papermill over the runbooks in order, stop at the first failure, resume later.

Each runbook executes in ``runbooks/`` (so its default ``../params/...`` paths work) and is
written to ``runs/<run-id>/NN-name.ipynb`` with an HTML export beside it. The kernel records
its steps in ``results.json`` (see :mod:`harborbook.runbook`); the runner adds each runbook's
outcome and duration. Only two values cross into the notebook as papermill parameters — the
params file's path and ``dry_run`` — because papermill writes parameters in clear into every
output notebook: secrets stay references inside the params file.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets as pysecrets
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from . import params as params_mod
from . import report
from .errors import UsageError
from .runbook import RUN_DIR_ENV, read_results, update_results

# The procedure, in the order an operator runs it (DESIGN.md).
EXPECTED = [
    "00-preflight",
    "01-cephfs-storage",
    "02-database",
    "03-render-config",
    "04-rollout",
    "05-verify",
    "06-node-disk-pressure",
    "07-backup-restore",
]


@dataclass
class Outcome:
    """How one runbook went."""

    name: str
    status: str  # ok | failed | skipped | interrupted | pending
    duration_s: float = 0.0
    changed: int = 0
    failed_steps: int = 0
    message: str | None = None
    hint: str | None = None
    cell: str | None = None
    notebook: Path | None = None
    html: Path | None = None
    earlier: bool = False  # succeeded in the earlier part of a resumed run


@dataclass
class Run:
    run_dir: Path
    outcomes: list[Outcome] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # What the run was asked to do: the report shows it and builds the resume command from it.
    params_file: Path | None = None
    params_hash: str | None = None
    names: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def stopped(self) -> Outcome | None:
        """The runbook that stopped the run (failed or interrupted), if any."""
        return next((o for o in self.outcomes if o.status not in ("ok", "skipped")), None)

    def resume_command(self) -> str | None:
        """The command that continues this run where it stopped (None when nothing stopped it)."""
        if self.stopped is None:
            return None
        argv = ["harborbook", "run", *self.names]
        if self.params_file is not None:
            argv += ["--params", str(self.params_file)]
        argv += ["--resume", str(self.run_dir)]
        if self.dry_run:
            argv.append("--dry-run")
        return shlex.join(argv)

    @property
    def succeeded(self) -> bool:
        return bool(self.outcomes) and all(o.status in ("ok", "skipped") for o in self.outcomes)


def discover(runbooks_dir: Path) -> dict[str, Path]:
    """The runbook notebooks present, by name (NN-name), in order."""
    found = sorted(p for p in runbooks_dir.glob("[0-9][0-9]-*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    return {p.stem: p for p in found}


def select(available: dict[str, Path], names: list[str], start_from: str | None) -> list[str]:
    """Resolve the runbooks asked for (by full name or number) against what exists."""
    chosen: list[str] = []
    for wanted in names or list(available):
        match = [n for n in available if n == wanted or n.split("-", 1)[0] == wanted]
        if not match:
            raise UsageError(f"no runbook named '{wanted}'",
                                  hint="available: " + ", ".join(available) if available else None)
        chosen.extend(m for m in match if m not in chosen)
    if start_from:
        numbers = [n.split("-", 1)[0] for n in chosen]
        if start_from not in numbers and start_from not in chosen:
            raise UsageError(f"--from {start_from}: not among the selected runbooks ({', '.join(chosen)})")
        index = numbers.index(start_from) if start_from in numbers else chosen.index(start_from)
        chosen = chosen[index:]
    return chosen


def new_run_dir(out: Path) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = out / f"{stamp}-{pysecrets.token_hex(2)}"
    run_dir.mkdir(parents=True, exist_ok=False)
    return run_dir


def run(
    runbooks_dir: Path,
    params_file: Path,
    names: list[str] | None = None,
    out: Path = Path("runs"),
    start_from: str | None = None,
    resume: Path | None = None,
    dry_run: bool = False,
    cell_timeout: float = 600,
    progress: bool = False,
    expected: Sequence[str] = (),
    on_event: Callable[[str, Outcome], None] = lambda event, outcome: None,
) -> Run:
    """Execute the selected runbooks in order; stop at the first failure."""
    params = params_mod.load(params_file)  # fail fast, before any kernel starts
    digest = params_mod.params_hash(params)
    available = discover(runbooks_dir)
    chosen = select(available, names or [], start_from)

    if resume is not None:
        run_dir = Path(resume)
        previous = read_results(run_dir)
        if not previous:
            raise UsageError(f"{run_dir}: nothing to resume (no results.json)",
                                  hint="pass the directory of an earlier run, e.g. runs/<run-id>")
        if previous.get("params_hash") not in (None, digest):
            raise UsageError(
                f"{run_dir}: the params changed since this run started "
                f"(hash {previous.get('params_hash')} then, {digest} now)",
                hint="resume only with the same params; start a new run to use the new ones",
            )
        done = {n for n, r in previous.get("runner", {}).items() if r.get("status") == "ok"}
    else:
        run_dir = new_run_dir(out)
        previous, done = {}, set()

    update_results(run_dir, lambda d: d.update(params_file=str(params_file.resolve()), params_hash=digest,
                                               run_id=run_dir.name))
    result = Run(run_dir=run_dir, missing=[n for n in expected if n not in available and not names],
                 params_file=params_file, params_hash=digest, names=list(names or []), dry_run=dry_run)
    for name in chosen:
        if name in done:
            # Carried over from the earlier part of this run, so the report still shows it whole.
            before = previous["runner"][name]
            notebook, html = run_dir / available[name].name, run_dir / f"{name}.html"
            outcome = Outcome(name, "skipped", before.get("duration_s", 0.0), before.get("changed", 0),
                              message="already succeeded in this run", earlier=True,
                              notebook=notebook if notebook.exists() else None, html=html if html.exists() else None)
            result.outcomes.append(outcome)
            on_event("skip", outcome)
            continue
        outcome = Outcome(name, "running")
        on_event("start", outcome)
        try:
            _execute(available[name], run_dir, params_file, dry_run, cell_timeout, progress, outcome)
        except KeyboardInterrupt:
            outcome.status = "interrupted"
            outcome.message = "interrupted (SIGINT)"
        result.outcomes.append(outcome)
        _record(run_dir, outcome)
        on_event("end", outcome)
        if outcome.status != "ok":
            break
    report.write(run_dir, result)
    return result


def _execute(notebook: Path, run_dir: Path, params_file: Path, dry_run: bool, cell_timeout: float,
             progress: bool, outcome: Outcome) -> None:
    import papermill as pm  # heavy import: only when a notebook actually runs

    out_nb = run_dir / notebook.name
    outcome.notebook = out_nb
    started = time.monotonic()
    old = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir.resolve())  # the kernel inherits it
    sockets = Path(tempfile.mkdtemp(prefix="harborbook-kernel-"))  # 0700: this user's alone
    try:
        pm.execute_notebook(
            str(notebook),
            str(out_nb),
            parameters={"params_file": str(params_file.resolve()), "dry_run": bool(dry_run)},
            cwd=str(notebook.parent),
            progress_bar=progress,
            log_output=False,
            execution_timeout=cell_timeout,
            start_timeout=120,
            kernel_name="python3",
            config=_kernel_config(sockets),
        )
        outcome.status = "ok"
    except pm.PapermillExecutionError as exc:
        outcome.status = "failed"
        outcome.cell = f"cell {exc.exec_count}: {(exc.source or '').strip().splitlines()[0][:100] if exc.source else ''}"
        outcome.message = f"{exc.ename}: {exc.evalue}".strip()
    except Exception as exc:  # kernel died, timeout, missing kernel: report, never a traceback
        outcome.status = "failed"
        outcome.message = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        if old is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = old
        outcome.duration_s = round(time.monotonic() - started, 2)
        close_leftover_sockets()
        shutil.rmtree(sockets, ignore_errors=True)
    _from_kernel(run_dir, outcome)
    if out_nb.exists():
        outcome.html = report.export_html(out_nb)


def close_leftover_sockets() -> int:
    """Close the ZeroMQ sockets a notebook run left open; return how many.

    After a failed run, the kernel client's sockets can be left in a reference cycle together with
    their Context. When the garbage collector later frees that cycle (at any allocation: it hung
    `harborbook run` while exporting the HTML), it clears the Context's weak references to its
    sockets first, so the Context's ``__del__`` closes none of them and its ``term()`` waits
    forever for a socket that is still open. Closing them here, with no linger (the kernel is
    gone), leaves the collector nothing to wait for.
    """
    import gc

    import zmq

    closed = 0
    for obj in gc.get_objects():
        if isinstance(obj, zmq.Socket) and not obj.closed:
            obj.close(linger=0)
            closed += 1
    return closed


def _kernel_config(sockets: Path):
    """The kernel talks over IPC sockets: local-only, and no "TCP without encryption" noise. They
    live in a short private directory, not in the run directory: a socket path has at most 107
    bytes (sockaddr_un), and a run directory can be deeper than that leaves room for, so the
    kernel could not start."""
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(sockets.resolve() / "k")
    # On Ctrl-C the kernel is interrupted, then asked to shut down, sent SIGTERM after half this
    # wait and SIGKILL after all of it: the interrupted cell's clean-up must fit in the first half
    # (07 removing its CephFS snapshot needed more than the default 5 s gave it).
    config.KernelManager.shutdown_wait_time = 60.0
    return config


def _from_kernel(run_dir: Path, outcome: Outcome) -> None:
    """Steps changed/failed and the hint, as the kernel recorded them."""
    entry = read_results(run_dir).get("runbooks", {}).get(outcome.name, {})
    steps = entry.get("steps", [])
    outcome.changed = sum(1 for s in steps if s.get("status") == "changed")
    outcome.failed_steps = sum(1 for s in steps if s.get("status") == "failed")
    error = entry.get("error") or {}
    if outcome.status == "failed":
        if error.get("message"):
            outcome.message = f"step '{error.get('step')}': {error['message']}"
        outcome.hint = error.get("hint") or outcome.hint
    elif outcome.status == "ok" and entry.get("status") not in ("ok", None):
        # The notebook ran to the end without calling finish(), or finish() saw a failure.
        outcome.status = "failed"
        outcome.message = f"the runbook ended with status '{entry.get('status')}'"


def _record(run_dir: Path, outcome: Outcome) -> None:
    def change(data: dict) -> None:
        data.setdefault("runner", {})[outcome.name] = {
            "status": outcome.status,
            "duration_s": outcome.duration_s,
            "changed": outcome.changed,
            "failed_steps": outcome.failed_steps,
            "message": outcome.message,
            "hint": outcome.hint,
            "cell": outcome.cell,
        }

    update_results(run_dir, change)
