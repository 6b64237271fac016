"""The `harborbook` command: parse, call the library once, map the outcome to an exit status.

Extra command groups (the lab's `harborbook lab ...`) plug in through the entry point group
``harborbook.commands``, so this package never imports ``harborlab``.
"""

from __future__ import annotations

import enum
import sys
from importlib.metadata import entry_points
from pathlib import Path

import click

from . import params as params_mod
from . import home, report, runner
from .errors import HarborbookError, ParamsError, UsageError
from .secrets import mask


class Exit(enum.IntEnum):
    OK = 0
    FAILED = 1  # a runbook or an operation failed
    USAGE = 2  # bad input: params, arguments
    INTERRUPTED = 130




class PluginGroup(click.Group):
    """A click group that also lists the command groups other packages register."""

    def _plugins(self) -> dict[str, click.Command]:
        found = {}
        for ep in entry_points(group="harborbook.commands"):
            try:
                found[ep.name] = ep.load()
            except Exception as exc:  # a broken plugin must not take the whole CLI down
                found[ep.name] = _broken(ep.name, exc)
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self._plugins().get(name)


def _broken(name: str, exc: Exception) -> click.Command:
    @click.command(name=name, help=f"(unavailable: {exc})")
    def cmd() -> None:
        raise HarborbookError(f"the '{name}' commands cannot load: {exc}",
                              hint="reinstall the project: make venv (or pip install -e '.[dev]')")

    return cmd


@click.group(cls=PluginGroup)
@click.option("--traceback", is_flag=True, help="Show the full Python traceback on errors.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """Executable runbooks: highly available Harbor 1.2 on Kubernetes, and a node in DiskPressure."""
    ctx.obj = {"traceback": traceback}


@cli.group("params")
def params_group() -> None:
    """Validate params files."""


@params_group.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def params_check(file: Path) -> None:
    """Validate FILE and print the resolved params, secrets shown as ***.

    Exit status 2 when the file is invalid; every problem is listed as file:line key.path.
    """
    loaded = params_mod.load(file)
    click.echo(f"# {file}: valid (hash {params_mod.params_hash(loaded)})")
    click.echo(_yaml(_masked(params_mod.masked_dump(loaded), set(params_mod.secret_fields(loaded)))))


def _masked(data: object, secret_paths: set[str], prefix: str = "") -> object:
    if isinstance(data, dict):
        return {k: _masked(v, secret_paths, f"{prefix}.{k}" if prefix else k) for k, v in data.items()}
    if isinstance(data, list):
        return [_masked(v, secret_paths, f"{prefix}[{i}]") for i, v in enumerate(data)]
    if prefix in secret_paths and data is not None:
        return f"*** ({data})"  # the reference, never the value
    return data


def _yaml(data: object) -> str:
    import io

    from ruamel.yaml import YAML

    out = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.dump(data, out)
    return out.getvalue().rstrip()


@cli.command("run")
@click.argument("runbooks", nargs=-1)
@click.option("--params", "params_file", type=click.Path(path_type=Path),
              default=lambda: home.home() / "params" / "sandbox.yaml",
              show_default="params/sandbox.yaml", help="The params file describing the environment.")
@click.option("--out", type=click.Path(path_type=Path), default=lambda: (home.find_home() or Path.cwd()) / "runs",
              show_default="runs/",
              help="Where run directories are created.")
@click.option("--from", "start_from", metavar="NN", help="Start at this runbook number (e.g. 03).")
@click.option("--resume", type=click.Path(path_type=Path, exists=True, file_okay=False), metavar="RUN_DIR",
              help="Continue an earlier run: skip runbooks that succeeded there (params must be unchanged).")
@click.option("--dry-run", is_flag=True, help="Show what each runbook would change; change nothing.")
@click.option("--cell-timeout", type=click.FloatRange(min=1), default=600, show_default=True, metavar="S",
              help="Fail a cell that runs longer than S seconds.")
@click.option("--runbooks-dir", type=click.Path(path_type=Path, file_okay=False), default=None, hidden=True)
def run_cmd(runbooks: tuple[str, ...], params_file: Path, out: Path, start_from: str | None, resume: Path | None,
            dry_run: bool, cell_timeout: float, runbooks_dir: Path | None) -> None:
    """Execute RUNBOOKS (names or numbers; default: all, in order) with papermill.

    Writes runs/<run-id>/ with each executed notebook, its HTML export, results.json,
    summary.md and index.html. Stops at the first failure and prints how to resume.
    """
    project = runbooks_dir is None
    runbooks_dir = runbooks_dir or home.home() / "runbooks"
    tty = sys.stdout.isatty()
    status = _StatusLine(tty)
    result = runner.run(runbooks_dir, params_file, list(runbooks), out=out, start_from=start_from, resume=resume,
                        dry_run=dry_run, cell_timeout=cell_timeout, progress=tty, on_event=status,
                        expected=runner.EXPECTED if project else [])
    click.echo("")
    click.echo(mask(report.table(result)))
    if result.missing:
        click.echo(f"\nnot written yet: {', '.join(result.missing)}")
    click.echo(f"\nreport: {result.run_dir / 'index.html'}")
    failed = [o for o in result.outcomes if o.status not in ("ok", "skipped")]
    if failed:
        o = failed[0]
        click.echo(f"\n{o.name} {o.status}" + (f" at {o.cell}" if o.cell else ""), err=True)
        if o.message:
            click.echo(mask(o.message), err=True)
        if o.hint:
            click.echo(f"hint: {mask(o.hint)}", err=True)
        click.echo(f"resume with: {result.resume_command()}", err=True)
        sys.exit(Exit.INTERRUPTED if o.status == "interrupted" else Exit.FAILED)
    if not result.outcomes:
        click.echo("no runbook to run", err=True)
        sys.exit(Exit.FAILED)


@cli.command("notebook", context_settings={"ignore_unknown_options": True})
@click.option("--port", type=click.IntRange(1, 65535), default=8888, show_default=True,
              help="Port on 127.0.0.1 for JupyterLab.")
@click.option("--dir", "root_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=None, show_default="the project's runbooks/", help="The folder JupyterLab opens.")
@click.argument("jupyter_args", nargs=-1, type=click.UNPROCESSED)
def notebook_cmd(port: int, root_dir: Path | None, jupyter_args: tuple[str, ...]) -> None:
    """Step through the runbooks interactively: JupyterLab on 127.0.0.1 with a fresh token.

    Prints the URL to open (token included) and runs until Ctrl-C. Arguments after `--` go to
    `jupyter lab` unchanged.
    """
    import os
    import secrets as pysecrets
    import shutil
    import socket

    root_dir = root_dir or home.home() / "runbooks"
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or shutil.which("jupyter")
    if jupyter is None:
        raise HarborbookError("jupyter is not installed in this environment", hint="make venv")
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise UsageError(f"port 127.0.0.1:{port} is already in use", hint="choose another: --port 8899") from None
    token = pysecrets.token_hex(24)
    argv = [jupyter, "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir.resolve()}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")  # root in a container or a lab VM: Jupyter refuses it otherwise
    argv += list(jupyter_args)
    click.echo(f"JupyterLab on {root_dir.resolve()}\nopen: http://127.0.0.1:{port}/lab?token={token}", err=False)
    sys.stdout.flush()
    os.execv(jupyter, argv)  # Jupyter's own Ctrl-C handling from here on


class _StatusLine:
    """One live line per runbook: rewritten in place on a terminal, two plain lines otherwise."""

    def __init__(self, tty: bool):
        self.tty = tty

    def __call__(self, event: str, outcome: runner.Outcome) -> None:
        if event == "start":
            click.echo(f"… {outcome.name:<24} running", nl=not self.tty)
            return
        mark = {"ok": "✔", "skipped": "↷"}.get(outcome.status, "✘")
        line = f"{mark} {outcome.name:<24} {outcome.status:<12} {outcome.duration_s:6.1f}s"
        click.echo(("\r" if self.tty else "") + line)


def main(argv: list[str] | None = None) -> None:
    """Entry point: errors become one short message and an exit status, not a traceback."""
    args = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=args, prog_name="harborbook", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(Exit.USAGE)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(Exit.INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(Exit.INTERRUPTED)
    except HarborbookError as exc:
        if "--traceback" in args:
            raise
        click.echo(mask(exc.render()), err=True)
        sys.exit(Exit.USAGE if isinstance(exc, (ParamsError, UsageError)) else Exit.FAILED)


if __name__ == "__main__":  # pragma: no cover
    main()
