"""`harborbook run` over every runbook on a lab, per runbook, and the fixed cost of a notebook.

    .venv/bin/python bench/e2e.py --state .lab --runs 5

1. The whole procedure: ``harborbook run`` (the CLI, as an operator runs it) over all runbooks
   with a params file derived from params/sandbox.yaml for the lab in ``--state`` (written to a
   temp dir: a lab started with ``--port-offset`` has every port, path and secret elsewhere).
   Per runbook: papermill's time (kernel start, cells, shutdown) from results.json, and the
   whole command's wall time (CLI start, HTML exports, report). The first run on a fresh lab
   deploys; ``--reruns`` more runs show the idempotent re-run (everything unchanged).
2. The fixed cost per notebook: an empty notebook, and one holding only a runbook's import
   cell, through the same CLI and runner (``--runbooks-dir``), ``--runs`` times each; median.

The lab's NodePort is harbor.node_port in the params: the lab's kube-proxy binds whatever
nodePort the Service asks for on 127.0.0.1, so a second lab needs another one (``--node-port``,
by default moved with the lab's port offset and kept in the 30000-32767 range).
Goal: the deploy (00-05) under 90 s on this 2-core machine, fixed cost under 2 s a notebook.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, env_note, median, table  # noqa: E402

from ruamel.yaml import YAML  # noqa: E402

DEPLOY = ("00", "01", "02", "03", "04", "05")
DEPLOY_GOAL_S = 90.0
FIXED_GOAL_S = 2.0
SANDBOX = ROOT / "params" / "sandbox.yaml"
DEFAULT_NODE_PORT = 31777
IMPORT_CELL = ("from harborbook import runbook\nfrom harborbook.steps import database, preflight, rollout, storage, verify\n"
               "from harborbook.kube import Kube\n")


def node_port_for(offset: int) -> int:
    """The sandbox's NodePort moved by the lab's port offset, wrapped into 30000-32767."""
    return 30000 + (DEFAULT_NODE_PORT - 30000 + offset) % 2768


def lab_params(state: Path, node_port: int | None = None) -> dict:
    """params/sandbox.yaml with every address, path and secret of the lab in ``state``."""
    lab = json.loads((state / "lab.json").read_text())
    offset = lab["lab"]["ports"]["redis"] - 16379  # the lab records shifted ports, not the offset
    port = node_port or node_port_for(offset)
    data = YAML(typ="safe").load(SANDBOX.read_text())
    secrets = state / "secrets"
    data["cluster"]["kubeconfig"] = lab["kube-apiserver"]["kubeconfig"]
    data["harbor"].update(hostname=f"127.0.0.1:{port}", node_port=port,
                          admin_password=f"file:{secrets / 'harbor-admin-password'}")
    data["storage"].update(monitors=lab["ceph"]["monitors"], mount=lab["ceph"]["mountpoint"],
                           admin_key=f"file:{lab['ceph']['secret_file']}")
    src = lab["harbor-db"]
    data["database"]["source"].update(host=src["host"], port=src["port"], user=src["user"],
                                      password=f"file:{src['password_file']}")
    target = data["database"]["target"]
    target.update(endpoints=[{"host": n["host"], "port": n["port"]} for n in lab["galera"]["nodes"]],
                  admin_password=f"file:{lab['galera']['password_file']}",
                  password=f"file:{secrets / 'harbor-db-user-password'}")
    data["redis"].update(host=lab["redis"]["host"], port=lab["redis"]["port"],
                         password=f"file:{lab['redis']['password_file']}")
    data["node_pressure"]["access"]["root"] = str(state / "nodes" / "{node}" / "root")
    return data


def write_params(data: dict, folder: Path) -> Path:
    path = folder / "bench-lab.yaml"
    yaml = YAML()
    yaml.default_flow_style = False
    with open(path, "w") as fh:
        yaml.dump(data, fh)
    return path


def harborbook_run(params: Path, out: Path, *extra: str) -> tuple[float, dict]:
    """The CLI as an operator runs it: (wall seconds, results.json of the run)."""
    before = set(out.iterdir()) if out.exists() else set()
    started = time.perf_counter()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "harborbook"), "run", "--params", str(params),
                           "--out", str(out), *extra], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    run_dirs = sorted(set(out.iterdir()) - before)
    if not run_dirs:
        raise RuntimeError(f"harborbook run wrote no run directory:\n{proc.stderr[-2000:]}")
    results = json.loads((run_dirs[-1] / "results.json").read_text())
    if proc.returncode:
        failed = {n: r for n, r in results.get("runner", {}).items() if r.get("status") != "ok"}
        print(f"harborbook run failed (exit {proc.returncode}): {json.dumps(failed)[:1500]}", flush=True)
    return wall, results


def procedure_rows(wall: float, results: dict, label: str) -> list[dict]:
    runner = results.get("runner", {})
    rows = [{"run": label, "runbook": name, "status": r["status"], "papermill (s)": f"{r['duration_s']:.1f}"}
            for name, r in sorted(runner.items())]
    deploy = sum(r["duration_s"] for n, r in runner.items() if n[:2] in DEPLOY)
    complete = all(any(n.startswith(nn) and r["status"] == "ok" for n, r in runner.items()) for nn in DEPLOY)
    rows.append({"run": label, "runbook": "deploy 00-05 (papermill sum)",
                 "status": "ok" if complete else "incomplete",
                 "papermill (s)": f"{deploy:.1f}" + (" (goal < 90: met)" if complete and deploy < DEPLOY_GOAL_S
                                                     else " (goal < 90: NOT met)")})
    rows.append({"run": label, "runbook": "whole `harborbook run` (wall)", "status": "",
                 "papermill (s)": f"{wall:.1f}"})
    return rows


def notebook(folder: Path, name: str, source: str) -> Path:
    """A one-cell notebook (nbformat 4) in its own runbooks dir."""
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)] if source else [])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def fixed_cost(params: Path, tmp: Path, runs: int) -> list[dict]:
    rows = []
    for name, source in (("00-empty", ""), ("00-imports", IMPORT_CELL)):
        books = tmp / name
        notebook(books, name, source)
        walls, papermill = [], []
        for _ in range(runs):
            wall, results = harborbook_run(params, tmp / "runs", "--runbooks-dir", str(books))
            entry = results["runner"][name]
            if entry["status"] != "ok":
                raise RuntimeError(f"{name}: {entry}")
            walls.append(wall)
            papermill.append(entry["duration_s"])
        cost = median(papermill)
        rows.append({"notebook": name, "papermill (median s)": f"{cost:.2f}",
                     "whole CLI (median s)": f"{median(walls):.2f}",
                     "goal < 2 s": "met" if cost < FIXED_GOAL_S else "NOT met"})
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", type=Path, default=ROOT / ".lab", help="the lab's state directory")
    ap.add_argument("--runs", type=int, default=5, help="runs of each fixed-cost notebook")
    ap.add_argument("--reruns", type=int, default=1, help="idempotent re-runs after the first run")
    ap.add_argument("--node-port", type=int, help="harbor.node_port (default: moved with the lab's offset)")
    ap.add_argument("--access-log-rows", type=int, default=300,
                    help="access_log rows in the source before the run (the lab default: 300)")
    ap.add_argument("--runbooks", default="", help="comma-separated runbook numbers (default: all)")
    ap.add_argument("--skip-procedure", action="store_true", help="only the fixed cost per notebook")
    ap.add_argument("--keep", type=Path, help="write the params file and runs here instead of a temp dir")
    args = ap.parse_args(argv)
    state = args.state.resolve()
    with tempfile.TemporaryDirectory(prefix="hb-bench-e2e-") as scratch:
        tmp = (args.keep or Path(scratch)).resolve()
        tmp.mkdir(parents=True, exist_ok=True)
        params = write_params(lab_params(state, args.node_port), tmp)
        procedure: list[dict] = []
        if not args.skip_procedure:
            from db_migrate import ensure_rows, lab_servers

            ensure_rows(lab_servers(state)[0], args.access_log_rows)
            for i in range(1 + args.reruns):
                wall, results = harborbook_run(params, tmp / "runs", *filter(None, args.runbooks.split(",")))
                procedure += procedure_rows(wall, results, "first" if i == 0 else f"re-run {i}")
                print(table(procedure[-3:]), flush=True)
        fixed = fixed_cost(params, tmp, args.runs)
    print(f"\n{env_note()}; lab {state}\n")
    if procedure:
        print(table(procedure) + "\n")
    print(table(fixed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
