"""``harborbook lab scenario``: reproduce the reference incident on a lab node, or undo it.
(The lead adds ``scenario`` to the ``lab`` group.)"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harborlab.errors import LabError
from harborlab import scenario as scenarios

DEFAULT_STATE = Path(".lab")


@click.group(name="scenario")
def scenario() -> None:
    """Put a lab node into a known situation."""


@scenario.command("disk-pressure")
@click.option("--state", type=click.Path(path_type=Path), default=DEFAULT_STATE, show_default=True)
@click.option("--node", default="lab-node-3", show_default=True)
@click.option("--used", default="92%", show_default=True, help="root filesystem use to reach, as df shows it")
@click.option("--reset", is_flag=True,
              help="first undo an earlier run: remove the scenario's files, put the node's kubelet files back "
                   "and restart its kubelet (the reference incident again after a fix)")
def disk_pressure(state: Path, node: str, used: str, reset: bool) -> None:
    """Fill NODE's root filesystem with rotated logs, an old journal and unused image layers."""
    try:
        result = scenarios.disk_pressure(state, node, used, reset=reset)
    except LabError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(1)
    click.echo(f"{node}: / is {result['used_percent']}% used, {result['available_bytes']} bytes available "
               f"of {result['capacity_bytes']}; {len(result['files'])} files written")


@scenario.command("clear")
@click.option("--state", type=click.Path(path_type=Path), default=DEFAULT_STATE, show_default=True)
@click.option("--node", default=None, help="only this node (default: every node)")
def clear(state: Path, node: str | None) -> None:
    """Remove what the scenarios wrote."""
    removed = scenarios.clear(state, node)
    click.echo(f"removed {len(removed)} files" + "".join(f"\n  {p}" for p in removed))
