"""The whole procedure, end to end, on both lab profiles: every runbook through `harborbook run`.

A first run deploys (steps ok / changed / unchanged / skipped, never failed); a second run
changes nothing; then the reference incident (make demo's second half): lab-node-3's root filled
to 92 %, 06 with the fix applied — the verdict MET before, the change written, DiskPressure
cleared after, every plot a PNG in the notebook and its HTML — and staged again to prove a demo
can be repeated; and no secret the lab generated appears in anything the runs produced.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from tests.leakscan import find_leaks

from .conftest import ROOT, harborbook, run_dir_of, sandbox_lab, slot_of

pytestmark = [pytest.mark.lab, pytest.mark.slow]
SLOT = slot_of(__file__)
GOOD = {"ok", "changed", "unchanged", "skipped"}


def steps(run_dir: Path) -> list[tuple[str, str, str, str]]:
    results = json.loads((run_dir / "results.json").read_text())
    return [(name, s["name"], s["status"], s["summary"]) for name, rb in results["runbooks"].items()
            for s in rb["steps"]]


def lab_secrets(state: Path) -> dict[str, str]:
    return {p.name: p.read_text().strip() for p in (state / "secrets").iterdir() if p.is_file()}


@pytest.mark.parametrize("profile", ["article", "modern"])
def test_the_whole_procedure_twice(profile, tmp_path):
    with sandbox_lab(profile, SLOT) as lab:
        first = harborbook("run", "--params", str(SLOT.params), "--out", str(tmp_path / "runs"))
        assert first.returncode == 0, first.stdout + first.stderr
        run1 = run_dir_of(first.stdout)
        done = steps(run1)
        # Every runbook ran (08 skips without a migrate section: the sandbox has none).
        assert len({name for name, *_ in done}) == len(list((ROOT / "runbooks").glob("[0-9][0-9]-*.ipynb")))
        assert [s for s in done if s[2] not in GOOD] == [] or all(s[2] == "warning" for s in done if s[2] not in GOOD)
        assert not [s for s in done if s[2] == "failed"]
        assert any(s[2] == "changed" for s in done), "a first run deploys something"

        second = harborbook("run", "--params", str(SLOT.params), "--out", str(tmp_path / "runs"))
        assert second.returncode == 0, second.stdout + second.stderr
        again = steps(run_dir_of(second.stdout))
        # Nothing to deploy twice; a backup, though, is a new point in time on every run (07).
        backups = [s for s in again if s[:2] == ("07-backup-restore", "backup")]
        assert [s[2] for s in backups] == ["changed"], backups
        changed = [s for s in again if s[2] == "changed" and s not in backups]
        assert changed == [], changed

        if profile == "article":
            # The reference incident needs the article's node: its images on a separate disk, so
            # the kubelet has nothing to reclaim at node level. On a modern node (images on the root
            # filesystem) the lab's kubelet, like the real one, deletes the unused layers first and
            # the pressure clears by itself.
            for _ in range(2):  # staged again after the fix, as a second `make demo` does
                stage_and_fix_the_incident(lab, tmp_path)

        secrets = lab_secrets(lab.state)
        assert len(secrets) >= 7
        leaks = find_leaks(secrets, [tmp_path / "runs", lab.state / "log"],
                           {"console": first.stdout + first.stderr + second.stdout + second.stderr})
        assert leaks == []


def after_checks(run_dir: Path) -> list[dict]:
    """The checks of 06's last step; "pending pods" may warn (pods anywhere in the cluster that
    are still Pending, e.g. a DaemonSet's pod recreated while the node was refusing pods)."""
    results = json.loads((run_dir / "results.json").read_text())
    step = next(s for s in results["runbooks"]["06-node-disk-pressure"]["steps"] if s["name"] == "after the fix")
    return step["data"]["checks"]


def disk_pressure(lab, node: str) -> str:
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(lab.state / "kubeconfig")))
    conditions = api.read_node(node).status.conditions or []
    return next((c.status for c in conditions if c.type == "DiskPressure"), "Unknown")


def stage_and_fix_the_incident(lab, tmp_path: Path, node: str = "lab-node-3") -> None:
    staged = harborbook("lab", "scenario", "disk-pressure", "--state", str(lab.state), "--node", node,
                        "--used", "92%", "--reset")
    assert staged.returncode == 0, staged.stderr
    deadline = time.monotonic() + 60
    while disk_pressure(lab, node) != "True":
        assert time.monotonic() < deadline, f"{node} never reported DiskPressure"
        time.sleep(0.5)
    fixed = harborbook("run", "06", "--params", str(SLOT.demo_params), "--out", str(tmp_path / "runs"))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    run_dir = run_dir_of(fixed.stdout)
    found = {s[1]: s for s in steps(run_dir)}
    assert found["verdict"][2] == "warning" and "nodefs.available is met" in found["verdict"][3]
    assert found["apply"][2] == "changed"
    after = {c["check"] if "check" in c else c["name"]: c["status"] for c in after_checks(run_dir)}
    assert found["after the fix"][2] in ("ok", "warning") and "DiskPressure: False" in found["after the fix"][3]
    assert {k: v for k, v in after.items() if k != "pending pods"} == {
        "thresholds in force": "ok", "signals": "ok", "DiskPressure": "ok", "disk-pressure taint": "ok"}
    assert disk_pressure(lab, node) == "False"
    # Every plot cell holds a picture, in the executed notebook and in its HTML export.
    notebook = json.loads((run_dir / "06-node-disk-pressure.ipynb").read_text())
    plots = [c for c in notebook["cells"] if c["cell_type"] == "code" and "plot_" in "".join(c["source"])]
    assert len(plots) == 3
    for cell in plots:
        images = [o["data"]["image/png"] for o in cell["outputs"] if "image/png" in o.get("data", {})]
        assert len(images) == 1, "".join(cell["source"])
        assert base64.b64decode(images[0]).startswith(b"\x89PNG")
    html = (run_dir / "06-node-disk-pressure.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
