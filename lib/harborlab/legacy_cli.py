"""``harborbook lab legacy``: act on the lab's legacy single-host Harbor (runbook 08's source)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harborlab import legacy as legacy_harbor
from harborlab.component import OK
from harborlab.errors import LabError
from harborlab.lab import Lab

DEFAULT_STATE = Path(".lab")

state_option = click.option(
    "--state", type=click.Path(path_type=Path), default=DEFAULT_STATE, show_default=True, help="lab state directory"
)


def _fail(exc: LabError) -> None:
    click.echo(exc.render(), err=True)
    sys.exit(1)


def _lab(state: Path) -> Lab:
    if not (state / "lab.json").exists():
        _fail(LabError(f"no lab in {state} (no lab.json)", hint="run: harborbook lab up"))
    return Lab(state)


@click.group(name="legacy")
def legacy() -> None:
    """The legacy single-host Harbor: its registry tree, its rows in harbor-db, read-only mode."""


@legacy.command("push")
@click.argument("reference", metavar="REPO:TAG")
@click.option("--size", type=int, default=1024 * 1024, show_default=True, help="bytes of the new layer's payload")
@click.option("--seed", default=None, help="seed of the layer bytes (default: the reference; another seed moves the tag)")
@state_option
def push(reference: str, size: int, seed: str | None, state: Path) -> None:
    """Push one generated image into the running legacy registry and add its repository row."""
    try:
        result = legacy_harbor.push(_lab(state), reference, size, seed)
    except LabError as exc:
        _fail(exc)
    moved = f" (was {result['previous']})" if result["previous"] and result["previous"] != result["digest"] else ""
    row = "repository row added" if result["row_added"] else "repository row already there"
    click.echo(f"{result['repository']}:{result['tag']} {result['digest']}{moved}; {result['bytes']} bytes; {row}")


def _freeze(state: Path, frozen: bool) -> None:
    try:
        result = legacy_harbor.set_frozen(_lab(state), frozen)
    except LabError as exc:
        _fail(exc)
    mode = "read-only (storage.maintenance.readonly.enabled: true)" if frozen else "read-write"
    click.echo(f"legacy registry restarted {mode} in {result['restart_seconds']}s (pid {result['pid']})")


@legacy.command("freeze")
@state_option
def freeze(state: Path) -> None:
    """Restart the legacy registry in distribution's read-only mode: pulls work, pushes fail."""
    _freeze(state, True)


@legacy.command("thaw")
@state_option
def thaw(state: Path) -> None:
    """Restart the legacy registry read-write."""
    _freeze(state, False)


@legacy.command("status")
@state_option
def status(state: Path) -> None:
    """Probe the legacy registry and show what its tree holds."""
    the_lab = _lab(state)
    try:
        rows = legacy_harbor.LegacyHarbor().status(the_lab)
        held = legacy_harbor.inventory(the_lab)
    except LabError as exc:
        _fail(exc)
    if not rows:
        click.echo("the legacy Harbor is not enabled in this lab (lab up --legacy-images N)")
        sys.exit(3)
    for row in rows:
        click.echo(f"{row.component}  pid {row.pid or '-'}  {row.address}  {row.health}  {row.detail}")
    click.echo(f"tree {legacy_harbor.registry_path(the_lab)}: {len(held['repositories'])} repositories, "
               f"{held['images']} tags, {held['manifests']} manifests, {held['blobs']} blobs, {held['bytes']} bytes")
    if any(row.health != OK for row in rows):
        sys.exit(3)
