"""`harborbook lab up | status | down`: parse, one library call, map the outcome to an exit status.

Plugged into the harborbook CLI through the ``harborbook.commands`` entry point
(harborbook never imports harborlab). The subcommand name ``scenario`` is
reserved for another part of the lab.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from harborlab.component import OK, StatusRow
from harborlab.lab import PROFILES, Lab, LabError, NotRootError, check_root, shifted_ports
from harborlab.requirements import MissingProgramsError

DEFAULT_STATE = Path(".lab")

# Exit statuses.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # also: not root
EXIT_UNHEALTHY = 3

# Extra `lab up` options, as data: (flag, Lab.options key, type, default, help).
# Add a row here (e.g. for a new emulator knob) and its value flows into Lab.options.
UP_OPTIONS: list[tuple[str, str, type, object, str]] = [
    ("--access-log-rows", "access_log_rows", int, 300, "access_log rows in the source harbor_db (benchmarks: millions)"),
    ("--legacy-images", "legacy_images", int, 24,
     "tagged images in the lab's legacy single-host Harbor (runbook 08's source; 0: none)"),
    ("--synthetic-nodes", "synthetic_nodes", int, 0, "extra synthetic nodes for the Kubernetes emulator"),
    ("--kubelet-housekeeping", "kubelet_housekeeping", float, 10.0, "seconds between the lab kubelets' eviction checks"),
    ("--kubelet-transition", "kubelet_transition", float, None,
     "seconds of evictionPressureTransitionPeriod where no kubelet config sets one (default: the kubelet's 5m)"),
    ("--node-root-mib", "node_root_mib", int, 256, "size of each lab node's root filesystem"),
    ("--kube-version", "kube_version", str, None, "the version the API reports, e.g. v1.31.0 (default: the profile's)"),
]

state_option = click.option(
    "--state", type=click.Path(path_type=Path), default=DEFAULT_STATE, show_default=True, help="lab state directory"
)


def fail(exc: LabError) -> None:
    """One message (plus hint) on stderr, never our stack; a machine that cannot run the lab
    (not root, programs missing) is a usage error (2)."""
    click.echo(exc.render(), err=True)
    raise SystemExit(EXIT_USAGE if isinstance(exc, (NotRootError, MissingProgramsError)) else EXIT_FAILED)


def require_root() -> None:
    try:
        check_root(os.geteuid())
    except LabError as exc:
        fail(exc)


def format_table(rows: list[StatusRow]) -> str:
    header = ("COMPONENT", "PID", "ADDRESS", "HEALTH", "DETAIL")
    cells = [header] + [(r.component, str(r.pid or "-"), r.address, r.health, r.detail) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths)) + "  " + row[-1] for row in cells
    )


@click.group(name="lab")
def lab() -> None:
    """The local lab: real Ceph, Galera, harbor_db, Redis, lab nodes and a Kubernetes API, on loopback."""


def _register_scenario() -> None:
    from harborlab.scenario_cli import scenario

    lab.add_command(scenario)


def _register_legacy() -> None:
    from harborlab.legacy_cli import legacy

    lab.add_command(legacy)


def _up_command(func):
    for flag, key, kind, default, text in reversed(UP_OPTIONS):
        func = click.option(flag, key, type=kind, default=default, show_default=True, help=text)(func)
    return func


@lab.command()
@state_option
@click.option("--profile", type=click.Choice(PROFILES), default="article", show_default=True)
@click.option("--port-offset", type=int, default=0, help="move every lab port by N (a second lab beside the first)")
@_up_command
def up(state: Path, profile: str, port_offset: int, **options) -> None:
    """Start the lab (idempotent: restarts only what is dead)."""
    require_root()
    started = time.monotonic()
    try:
        ports = shifted_ports(port_offset) if port_offset else None
        the_lab = Lab(state, profile, ports=ports, **options)
        results = the_lab.up()
    except LabError as exc:
        fail(exc)
    for name, result in results.items():
        took = the_lab.timings.get(name)
        click.echo(f"{name}: {result}" + (f" ({took:.1f}s)" if took is not None else ""))
    click.echo(f"lab up in {time.monotonic() - started:.1f}s; details in {state / 'lab.json'}")


@lab.command()
@state_option
def status(state: Path) -> None:
    """Show every daemon with the answer of a real probe."""
    require_root()
    try:
        rows = Lab(state, Lab(state).details.get("lab", {}).get("profile", "article")).status()
    except LabError as exc:
        fail(exc)
    click.echo(format_table(rows))
    if any(row.health != OK for row in rows):
        sys.exit(EXIT_UNHEALTHY)


@lab.command()
@state_option
@click.option("--purge", is_flag=True, help="also remove the state directory")
def down(state: Path, purge: bool) -> None:
    """Stop everything the lab started, by PID; unmount; optionally purge the state."""
    require_root()
    started = time.monotonic()
    try:
        Lab(state).down(purge=purge)
    except LabError as exc:
        fail(exc)
    click.echo(f"lab down in {time.monotonic() - started:.1f}s" + ("; state removed" if purge else ""))


_register_scenario()
_register_legacy()
