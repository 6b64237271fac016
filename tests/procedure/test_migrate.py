"""08 end to end on the lab: its legacy single-host Harbor moved into the HA deployment.

One lab (a few legacy images), 01–04 deploy the HA Harbor, then 08 runs the way an operator
runs it: a bulk copy interrupted and resumed, a tag pushed to the old Harbor after the bulk
copy arriving through the delta once the old registry is read-only, every tag verified through
the new Harbor, a second run changing nothing, and a corrupted source blob named and not copied.
The tests run in this order and share the lab.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from harborbook import migrate
from harborbook.migrate import layout
from tests.leakscan import find_leaks

from .conftest import STATE, harborbook, run_dir_of, sandbox_lab
from .migrate_params import migrate_params

pytestmark = [pytest.mark.lab, pytest.mark.slow]

IMAGES = 8
RUNBOOK = "08"
OUTPUTS: dict[str, str] = {}  # every run's console output, for the leak scan


@pytest.fixture(scope="module")
def legacy_lab():
    with sandbox_lab("article", legacy_images=IMAGES) as lab:
        yield lab


@pytest.fixture(scope="module")
def env(legacy_lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("migrate")
    legacy = json.loads((STATE / "lab.json").read_text())["legacy-harbor"]
    deployed = harborbook("run", "01", "02", "03", "04", "--out", str(folder / "runs"))
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    return {"folder": folder, "legacy": legacy, "plan": migrate_params(folder, "plan", legacy),
            "execute": migrate_params(folder, "execute", legacy, cutover="execute")}


def run_08(env, cutover: str) -> tuple[int, dict]:
    result = harborbook("run", RUNBOOK, "--params", str(env[cutover]), "--out", str(env["folder"] / "runs"))
    OUTPUTS[f"{cutover} console#{len(OUTPUTS)}"] = result.stdout + result.stderr
    results = json.loads((run_dir_of(result.stdout) / "results.json").read_text())
    steps = {s["name"]: s for s in results["runbooks"]["08-migrate-existing-harbor"]["steps"]}
    return result.returncode, steps


def legacy_cli(*args: str) -> str:
    done = harborbook("lab", "legacy", *args, "--state", str(STATE))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def target_root() -> Path:
    return STATE / "cephfs" / "apps" / "harbor-k8s" / "registry"


def test_an_interrupted_bulk_copy_resumes(env):
    source = Path(env["legacy"]["registry_path"])
    inv = migrate.scan(source)
    assert len(inv.tags()) == IMAGES
    stop = threading.Event()
    seen = [0]

    def progress(n: int) -> None:
        seen[0] += n
        if seen[0] > inv.bytes * 0.4:
            stop.set()

    first = migrate.copy_blobs(source, target_root(), inv.blobs, parallel=2, journal=migrate.Journal(target_root()),
                               progress=progress, stop=stop)
    assert first.interrupted and first.counts().get("stopped", 0) >= 1
    published = {o.digest for o in first.outcomes if o.action == "copied"}
    assert published, "the interruption came before any blob was published"

    code, steps = run_08(env, "plan")
    assert code == 0, steps
    bulk = steps["bulk copy"]
    assert bulk["status"] == "changed"
    assert bulk["data"]["counts"] == {"present": len(published), "copied": len(inv.blobs) - len(published)}
    assert steps["inventory"]["data"]["tags"] == IMAGES
    assert steps["cut-over plan"]["status"] == "ok" and steps["cut-over plan"]["data"]["copy"] == 0
    assert steps["tags"]["status"] == "skipped"  # the plan changes nothing on the new Harbor


def test_a_tag_pushed_after_the_bulk_copy_arrives_through_the_delta_and_every_tag_verifies(env):
    legacy_cli("push", "legacy-apps/late:1.0", "--size", "300000")
    legacy_cli("freeze")
    code, steps = run_08(env, "execute")
    assert code == 0, {n: (s["status"], s["summary"]) for n, s in steps.items()}
    assert steps["bulk copy"]["status"] == "skipped"  # already read-only: all of it is the delta
    assert steps["cut-over"]["status"] == "ok" and "405" in steps["cut-over"]["summary"]
    delta = steps["delta copy"]
    assert delta["status"] == "changed" and delta["data"]["counts"].get("copied", 0) >= 2
    assert layout.tag_current_link(target_root(), "legacy-apps/late", "1.0").is_file()
    assert steps["tags"]["status"] == "ok" and steps["tags"]["data"]["tags"] == IMAGES + 1
    assert steps["tags"]["data"]["failed"] == []
    accounts = {c["check"]: c["status"] for c in steps["accounts and rows"]["data"]["checks"]}
    assert accounts == {"login admin": "ok", "login dave": "ok", "login erin": "ok", "users": "ok",
                        "repositories": "ok"}
    assert steps["write window"]["status"] == "ok" and steps["write window"]["data"]["seconds"] > 0
    assert steps["migration"]["status"] == "ok"


def test_a_second_run_changes_nothing(env):
    code, steps = run_08(env, "execute")
    assert code == 0
    statuses = {n: s["status"] for n, s in steps.items()}
    assert "changed" not in statuses.values(), statuses
    assert statuses["delta copy"] == statuses["database"] == statuses["rollout"] == "unchanged"
    assert statuses["tags"] == "ok"


def test_a_corrupted_source_blob_is_named_and_not_copied(env):
    legacy_cli("thaw")
    legacy_cli("push", "legacy-apps/broken:1.0", "--size", "400000")
    source = Path(env["legacy"]["registry_path"])
    inv = migrate.scan(source)
    tag = next(t for t in inv.tags() if t.ref == "legacy-apps/broken:1.0")
    # The image's own layer (its base layers are shared with other tags, which must stay whole).
    own = [d for d in inv.closure(tag.digest) - {tag.digest} if inv.users(d) == ["legacy-apps/broken:1.0"]]
    layer = max(own, key=lambda d: inv.blobs[d])
    assert inv.blobs[layer] > 100_000
    path = layout.blob_data(source, layer)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, as a failing disk does
    path.write_bytes(bytes(data))

    code, steps = run_08(env, "plan")
    assert code == 0
    bulk = steps["bulk copy"]
    assert bulk["status"] == "warning"
    assert bulk["data"]["bad"] == [{"digest": layer, "action": "corrupt", "tags": ["legacy-apps/broken:1.0"]}]
    assert layer in bulk["summary"] and "legacy-apps/broken:1.0" in bulk["summary"]
    assert not layout.blob_data(target_root(), layer).exists()
    assert not layout.tag_current_link(target_root(), "legacy-apps/broken", "1.0").exists()


def test_no_secret_is_in_what_the_runs_wrote(env):
    """The old Harbor's database password, its users' passwords (08 logs them in to prove them),
    and every other secret of the lab: in no notebook, report or console line of the runs above."""
    secrets = {p.name: p.read_text().strip() for p in (STATE / "secrets").iterdir() if p.is_file()}
    assert {"harbor-db-password", *(f"legacy-user-{u['name']}-password" for u in env["legacy"]["users"])} <= set(secrets)
    assert len(OUTPUTS) >= 3, "the runs of 08 were not recorded"
    assert find_leaks(secrets, [env["folder"] / "runs"], OUTPUTS) == []
