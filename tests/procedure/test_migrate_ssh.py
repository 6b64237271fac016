"""08 end to end with the old registry read over SSH, as from a real old host.

The lab's legacy Harbor is reachable through the lab's own sshd (key-only, its host key in a
known_hosts file); the params say ``registry: ssh://root@127.0.0.1:<port>/<tree>`` with the lab's
client key as a ``file:`` reference. 08 runs the way an operator runs it: a plan (inventory and
bulk copy over SSH, every blob verified here), then a cut-over executed on the frozen old registry
with a tag pushed in between, every tag verified through the new Harbor; a corrupted source blob
named over SSH; a refused key and an unknown host key failing with errors that say what to do;
and the key nowhere in what the runs wrote. The tests run in this order and share the lab.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harborbook import migrate
from harborbook.migrate import layout
from tests.leakscan import find_leaks

from .conftest import STATE, harborbook, run_dir_of, sandbox_lab
from .migrate_params import migrate_params

pytestmark = [pytest.mark.lab, pytest.mark.slow]

IMAGES = 6
RUNBOOK = "08"
OUTPUTS: dict[str, str] = {}  # every run's console output, for the leak scan


@pytest.fixture(scope="module")
def legacy_lab():
    with sandbox_lab("article", legacy_images=IMAGES) as lab:
        yield lab


def ssh_params(folder: Path, name: str, legacy: dict, cutover: str = "plan", key: str | None = None,
               known_hosts: str | None = None) -> Path:
    """The sandbox params with a migrate section reading the lab's legacy tree over SSH."""
    return migrate_params(folder, name, legacy, cutover=cutover, ssh=True, key=key, known_hosts=known_hosts)


@pytest.fixture(scope="module")
def env(legacy_lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("migrate-ssh")
    legacy = json.loads((STATE / "lab.json").read_text())["legacy-harbor"]
    assert legacy["ssh"]["url"].startswith("ssh://root@127.0.0.1:")
    deployed = harborbook("run", "01", "02", "03", "04", "--out", str(folder / "runs"))
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    return {"folder": folder, "legacy": legacy, "source": Path(legacy["registry_path"])}


def run_08(env, params: Path) -> tuple[int, dict, subprocess.CompletedProcess]:
    result = harborbook("run", RUNBOOK, "--params", str(params), "--out", str(env["folder"] / "runs"))
    OUTPUTS[f"{params.name} stdout#{len(OUTPUTS)}"] = result.stdout
    OUTPUTS[f"{params.name} stderr#{len(OUTPUTS)}"] = result.stderr
    results = json.loads((run_dir_of(result.stdout) / "results.json").read_text())
    steps = {s["name"]: s for s in results["runbooks"]["08-migrate-existing-harbor"]["steps"]}
    return result.returncode, steps, result


def legacy_cli(*args: str) -> str:
    done = harborbook("lab", "legacy", *args, "--state", str(STATE))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def target_root() -> Path:
    return STATE / "cephfs" / "apps" / "harbor-k8s" / "registry"


def tree(root: Path) -> dict[str, bytes]:
    base = layout.v2(root)
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file() and "_uploads" not in p.parts}


def test_the_plan_over_ssh_copies_every_blob_verified(env):
    code, steps, _ = run_08(env, ssh_params(env["folder"], "plan", env["legacy"]))
    assert code == 0, {n: (s["status"], s["summary"]) for n, s in steps.items()}
    inv = migrate.scan(env["source"])
    inventory = steps["inventory"]
    assert inventory["status"] == "ok" and inventory["data"]["tags"] == IMAGES
    assert inventory["data"]["blobs"] == len(inv.blobs) and env["legacy"]["ssh"]["url"] in inventory["summary"]
    bulk = steps["bulk copy"]
    assert bulk["status"] == "changed" and bulk["data"]["counts"] == {"copied": len(inv.blobs)}
    assert bulk["data"]["tags_linked"] == IMAGES
    assert tree(target_root()) == tree(env["source"])  # the same bytes, every link
    assert steps["cut-over plan"]["status"] == "ok" and steps["cut-over plan"]["data"]["copy"] == 0


def test_execute_over_ssh_moves_the_delta_and_every_tag_verifies(env):
    legacy_cli("push", "legacy-apps/late-ssh:1.0", "--size", "250000")
    legacy_cli("freeze")
    code, steps, _ = run_08(env, ssh_params(env["folder"], "execute", env["legacy"], cutover="execute"))
    assert code == 0, {n: (s["status"], s["summary"]) for n, s in steps.items()}
    assert steps["cut-over"]["status"] == "ok"
    delta = steps["delta copy"]
    assert delta["status"] == "changed" and delta["data"]["counts"].get("copied", 0) >= 2
    assert layout.tag_current_link(target_root(), "legacy-apps/late-ssh", "1.0").is_file()
    assert steps["tags"]["status"] == "ok" and steps["tags"]["data"]["tags"] == IMAGES + 1
    assert steps["tags"]["data"]["failed"] == []
    assert steps["migration"]["status"] == "ok"


def test_a_corrupted_source_blob_is_named_over_ssh_and_not_copied(env):
    legacy_cli("thaw")
    legacy_cli("push", "legacy-apps/broken-ssh:1.0", "--size", "400000")
    inv = migrate.scan(env["source"])
    tag = next(t for t in inv.tags() if t.ref == "legacy-apps/broken-ssh:1.0")
    own = [d for d in inv.closure(tag.digest) - {tag.digest} if inv.users(d) == [tag.ref]]
    layer = max(own, key=lambda d: inv.blobs[d])
    path = layout.blob_data(env["source"], layer)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    code, steps, _ = run_08(env, ssh_params(env["folder"], "plan", env["legacy"]))
    assert code == 0
    bulk = steps["bulk copy"]
    assert bulk["status"] == "warning"
    assert bulk["data"]["bad"] == [{"digest": layer, "action": "corrupt", "tags": [tag.ref]}]
    assert f"{layer} (corrupt, used by {tag.ref})" in bulk["summary"]
    assert not layout.blob_data(target_root(), layer).exists()
    assert not layout.tag_current_link(target_root(), "legacy-apps/broken-ssh", "1.0").exists()


def test_a_refused_key_fails_naming_the_key(env):
    other = env["folder"] / "not-authorized"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30)
    code, steps, result = run_08(env, ssh_params(env["folder"], "other-key", env["legacy"], key=str(other)))
    assert code != 0
    inventory = steps["inventory"]
    assert inventory["status"] == "failed"
    assert f"refused the key file:{other}" in inventory["summary"] and "authorized_keys" in inventory["hint"]
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unknown_host_key_fails_saying_how_to_add_it(env):
    empty = env["folder"] / "empty_known_hosts"
    empty.write_text("")
    port = env["legacy"]["ssh"]["port"]
    code, steps, _ = run_08(env, ssh_params(env["folder"], "unknown-host", env["legacy"], known_hosts=str(empty)))
    assert code != 0
    inventory = steps["inventory"]
    assert inventory["status"] == "failed" and "is unknown" in inventory["summary"]
    assert f"ssh-keyscan -p {port} 127.0.0.1 >> {empty}" in inventory["hint"]


def test_the_key_is_nowhere_in_what_the_runs_wrote(env):
    key = Path(env["legacy"]["ssh"]["key_file"]).read_text()
    body = [line for line in key.splitlines() if line and not line.startswith("-----")]
    secrets = {"legacy-ssh-key": key.strip(), **{f"legacy-ssh-key line {i}": line for i, line in enumerate(body)}}
    assert OUTPUTS, "no run of 08 was recorded"
    assert find_leaks(secrets, [env["folder"] / "runs"], OUTPUTS) == []
