"""Runbook 08's cut-over on the lab: the measured write-unavailability window for a 1 % delta.

    .venv/bin/python bench/migrate_cutover.py --state .lab

On a lab with a legacy single-host Harbor (``harborbook lab up --legacy-images N``), as an
operator would: 01-04 deploy the HA Harbor; 08 with ``cutover: plan`` copies the old registry
(read over the lab's sshd, as from another host); about 1 % of the old tree's bytes are pushed
to the old Harbor as a new image (``harborbook lab legacy push``); the old registry is made
read-only (``harborbook lab legacy freeze``); 08 with ``cutover: execute`` runs. The figures are
08's own ``write window`` step: each phase (final inventory, delta copy, database, rollout) and
the total from the moment writes were found refused until the new Harbor was ready. The old
registry is made writable again at the end (``thaw``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, env_note, table  # noqa: E402
from e2e import harborbook_run, lab_params, write_params  # noqa: E402

HARBORBOOK = str(ROOT / ".venv" / "bin" / "harborbook")


def legacy(state: Path, *args: str) -> None:
    subprocess.run([HARBORBOOK, "lab", "legacy", *args, "--state", str(state)], check=True, capture_output=True)


def migrate_section(state: Path, cutover: str) -> dict:
    """The params' migrate section for the lab's legacy Harbor, its tree read over SSH."""
    old = json.loads((state / "lab.json").read_text())["legacy-harbor"]
    db = json.loads((state / "lab.json").read_text())["harbor-db"]
    return {"source": {"registry": old["ssh"]["url"], "ssh_key": f"file:{old['ssh']['key_file']}",
                       "known_hosts": old["ssh"]["known_hosts"], "url": old["registry_url"],
                       "database": {"host": db["host"], "port": db["port"], "user": db["user"],
                                    "password": f"file:{db['password_file']}", "database": "registry"}},
            "parallel": 4, "cutover": cutover,
            "users": [{"name": u["name"], "password": f"file:{u['password_file']}"} for u in old["users"]]}


def steps_of(results: dict) -> dict:
    return {s["name"]: s for s in results["runbooks"]["08-migrate-existing-harbor"]["steps"]}


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", type=Path, default=ROOT / ".lab", help="a running lab with a legacy Harbor")
    ap.add_argument("--delta", type=float, default=0.01, help="the delta, as a share of the old tree's bytes")
    args = ap.parse_args(argv)
    state = args.state.resolve()
    details = json.loads((state / "lab.json").read_text()).get("legacy-harbor", {})
    if not details.get("enabled"):
        raise SystemExit(f"the lab at {state} has no legacy Harbor (lab up --legacy-images N)")
    with tempfile.TemporaryDirectory(prefix="hb-cutover-") as tmp:
        folder = Path(tmp)
        base = lab_params(state)
        wall, results = harborbook_run(write_params(base, folder), folder / "runs", "01", "02", "03", "04")
        if any(r.get("status") != "ok" for r in results.get("runner", {}).values()):
            raise SystemExit("01-04 did not deploy on the lab: see the run above")
        plan = folder / "plan"
        plan.mkdir()
        _, results = harborbook_run(write_params({**base, "migrate": migrate_section(state, "plan")}, plan),
                                    folder / "runs", "08")
        bulk = steps_of(results)["bulk copy"]
        total = json.loads((state / "lab.json").read_text())["legacy-harbor"]["bytes"]
        delta = max(4096, int(total * args.delta))
        legacy(state, "push", "legacy-apps/cutover-bench:1.0", "--size", str(delta), "--seed", f"bench-{total}")
        legacy(state, "freeze")
        try:
            execute = folder / "execute"
            execute.mkdir()
            _, results = harborbook_run(write_params({**base, "migrate": migrate_section(state, "execute")}, execute),
                                        folder / "runs", "08")
        finally:
            legacy(state, "thaw")
    steps = steps_of(results)
    window = steps["write window"]
    if window["status"] != "ok":
        raise SystemExit(f"the cut-over did not complete: {json.dumps({n: s['summary'] for n, s in steps.items()})[:2000]}")
    copied = steps["delta copy"]["data"]
    rows = [{"phase": name, "seconds": f"{seconds:.2f}"} for name, seconds in window["data"]["phases"].items()]
    rows.append({"phase": "**write window** (writes refused, until the new Harbor was ready)",
                 "seconds": f"{window['data']['seconds']:.2f}"})
    out = (f"old tree {total / 1e6:.1f} MB ({details.get('images')} images at lab up); bulk copy "
           f"{bulk['data']['bytes_copied'] / 1e6:.1f} MB in {bulk['data']['seconds']:.2f} s; delta pushed "
           f"{delta / 1e6:.2f} MB, copied {copied['bytes_copied'] / 1e6:.2f} MB "
           f"({copied['counts']}); tags verified after: {steps['tags']['data'].get('tags')} "
           f"({steps['tags']['status']}); {env_note()}\n\n" + table(rows))
    print(out)
    return out


if __name__ == "__main__":
    main()
