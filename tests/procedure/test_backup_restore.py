"""07-backup-restore end to end on the lab: one lab, 00-05 deployed, a few images pushed, then
backups, drills, faults and a live restore through `harborbook run`, the way an operator runs it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.leakscan import find_leaks

from harborbook.registry import RegistryClient, build_image
from harborbook.registry.pullcheck import verify_tag

from .conftest import ROOT, harborbook, run_dir_of, sandbox_lab, slot_of

pytestmark = [pytest.mark.lab, pytest.mark.slow]
SLOT = slot_of(__file__)
STATE = SLOT.state
IMAGES = [("library/bk-a", "1"), ("library/bk-b", "1"), ("library/bk-b", "2")]
BACKUPS = STATE / "backups"
KEY = STATE / "secrets" / "backup-key"
OUTPUTS: list[str] = []


def params(tmp: Path, mode: str = "backup", key: Path = KEY, keep: int = 2, drill: bool = True,
           extra: str = "", target: str | None = None) -> Path:
    sandbox = SLOT.params_text()
    text = sandbox.split("\nbackup:", 1)[0]  # the sandbox's own backup section is replaced below
    target = target or f"{{kind: directory, path: {BACKUPS}}}"
    text += (f"\nbackup:\n  target: {target}\n  encryption_key: file:{key}\n"
             f"  keep: {keep}\n  mode: {mode}\n  restore_drill: {str(drill).lower()}\n{extra}")
    path = tmp / f"params-{mode}-{time.monotonic_ns()}.yaml"
    path.write_text(text)
    return path


def run07(tmp: Path, params_file: Path) -> subprocess.CompletedProcess:
    result = harborbook("run", "07", "--params", str(params_file), "--out", str(tmp / "runs"), timeout=900)
    OUTPUTS.append(result.stdout + result.stderr)
    return result


def step(result: subprocess.CompletedProcess, name: str) -> dict:
    data = json.loads((run_dir_of(result.stdout) / "results.json").read_text())
    return next(s for s in data["runbooks"]["07-backup-restore"]["steps"] if s["name"] == name)


def client() -> RegistryClient:
    return RegistryClient(f"http://127.0.0.1:{SLOT.node_port}", "admin", (STATE / "secrets" / "harbor-admin-password").read_text().strip())


def complete() -> list[str]:
    return sorted(p.name for p in BACKUPS.iterdir() if (p / "backup.json").exists()) if BACKUPS.exists() else []


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    with sandbox_lab("article", SLOT) as lab:
        out = tmp_path_factory.mktemp("deploy")
        first = harborbook("run", "00", "01", "02", "03", "04", "05", "--params", str(SLOT.params), "--out", str(out / "runs"))
        assert first.returncode == 0, first.stdout + first.stderr
        KEY.write_text(base64.b64encode(os.urandom(24)).decode())
        KEY.chmod(0o600)
        pushed = {}
        for i, (repo, tag) in enumerate(IMAGES):
            image = build_image(f"bk07-{repo}-{tag}-{i}", "2026-01-01T00:00:00Z")
            pushed[(repo, tag)] = client().push(repo, tag, image)
        yield lab, pushed


def test_backup_then_drill_passes(deployed, tmp_path):
    _, pushed = deployed
    result = run07(tmp_path, params(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    taken = step(result, "backup")
    assert taken["status"] == "changed"
    tags = {(t["repository"], t["tag"]): t["digest"] for t in taken["data"]["tags"]}
    for key, digest in pushed.items():
        assert tags[key] == digest
    drill = step(result, "restore drill")
    assert drill["status"] == "ok", drill
    pulled = [c for c in drill["data"]["checks"] if c["check"].startswith("pull ")]
    assert len(pulled) == len(tags) and all(c["status"] == "ok" for c in pulled)
    assert any(c["check"].startswith("table ") for c in drill["data"]["checks"])
    assert len(complete()) == 1


def test_wrong_key_fails_clearly(deployed, tmp_path):
    other = tmp_path / "other-key"
    other.write_text("not-the-key")
    result = run07(tmp_path, params(tmp_path, mode="restore-drill", key=other))
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "not the key this backup was made with" in text
    assert "Traceback" not in text


def test_a_corrupted_blob_is_caught_by_the_drill_naming_blob_and_tag(deployed, tmp_path):
    _, pushed = deployed
    name = complete()[-1]
    manifest_digest = pushed[("library/bk-a", "1")]
    # The layer of bk-a:1 (the last blob its manifest references), damaged in the backup.
    layer = json.loads(client().get_manifest("library/bk-a", "1")[0])["layers"][0]["digest"]
    hexa = layer.split(":", 1)[1]
    path = BACKUPS / name / "registry/docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"
    original = path.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    try:
        result = run07(tmp_path, params(tmp_path, mode="restore-drill"))
    finally:
        path.write_bytes(original)
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert layer in text and "library/bk-a:1" in text, text[-3000:]
    assert manifest_digest


def galera_desync(lab) -> list[str]:
    import pymysql

    password = (STATE / "secrets" / "galera-admin-password").read_text().strip()
    out = []
    for port in (SLOT.ports[f"galera-{n}-mysql"] for n in (1, 2, 3)):
        conn = pymysql.connect(host="127.0.0.1", port=port, user="harborbook_admin", password=password)
        with conn.cursor() as cur:
            cur.execute("SELECT @@GLOBAL.wsrep_desync")
            out.append(str(cur.fetchone()[0]))
        conn.close()
    return out


@pytest.fixture
def slow_tree():
    """A 64 MiB blob (unreferenced, valid under its digest path) in the registry tree, so that the
    backup is still copying the tree when the test interrupts it: with only the small images, a
    backup could finish between the test seeing its registry folder and the SIGINT (CI did)."""
    data = os.urandom(64 << 20)
    digest = hashlib.sha256(data).hexdigest()
    folder = STATE / "cephfs/apps/harbor-k8s/registry/docker/registry/v2/blobs/sha256" / digest[:2] / digest
    folder.mkdir(parents=True)
    (folder / "data").write_bytes(data)
    yield
    shutil.rmtree(folder)


def test_an_interrupted_backup_is_not_complete_and_the_next_run_resumes_it(deployed, slow_tree, tmp_path):
    lab, _ = deployed
    before = complete()
    proc = subprocess.Popen([sys.executable, "-m", "harborbook.cli", "run", "07", "--params",
                             str(params(tmp_path, drill=False)), "--out", str(tmp_path / "runs")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True,
                            # SIGINT as a terminal delivers it: pytest-xdist's workers ignore it,
                            # and an ignored SIGINT is inherited (the backup then never stopped).
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        partial = [p for p in BACKUPS.glob("*") if p.name not in before and (p / "registry").exists()]
        if partial:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the backup never reached the registry tree")
    os.killpg(proc.pid, signal.SIGINT)
    OUTPUTS.append(proc.communicate(timeout=120)[0])
    assert complete() == before, "an interrupted backup must not look complete"
    assert all(v in ("0", "OFF") for v in galera_desync(lab))
    assert not list((STATE / "cephfs/apps/harbor-k8s/registry/.snap").iterdir())
    again = run07(tmp_path, params(tmp_path, drill=False))
    assert again.returncode == 0, again.stdout + again.stderr
    taken = step(again, "backup")
    assert taken["data"]["resumed"] is True
    assert len(complete()) == len(before) + 1


def test_retention_keeps_keep(deployed, tmp_path):
    while len(complete()) < 3:
        result = run07(tmp_path, params(tmp_path, drill=False, keep=5))
        assert result.returncode == 0, result.stdout + result.stderr
    newest = complete()[-2:]
    result = run07(tmp_path, params(tmp_path, drill=False, keep=2))
    assert result.returncode == 0
    assert complete()[-2:] != newest and len(complete()) == 2  # a new one plus the newest before it


def test_restore_after_deleting_a_repository_brings_it_back(deployed, tmp_path):
    _, pushed = deployed
    shutil.rmtree(STATE / "cephfs/apps/harbor-k8s/registry/docker/registry/v2/repositories/library/bk-b")
    assert not verify_tag(client(), "library/bk-b", "1", pushed[("library/bk-b", "1")]).ok
    result = run07(tmp_path, params(tmp_path, mode="restore", extra="  confirm: true\n"))
    assert result.returncode == 0, result.stdout + result.stderr
    for tag in ("1", "2"):
        check = verify_tag(client(), "library/bk-b", tag, pushed[("library/bk-b", tag)])
        assert check.ok, check.problems
    assert list((STATE / "cephfs/apps/harbor-k8s").glob("registry.before-restore-*"))


def test_the_s3_target_backs_up_and_drills_on_the_labs_radosgw(deployed, tmp_path):
    """The same backup and drill into a real S3 implementation (Ceph's radosgw on loopback)."""
    rgw = json.loads((STATE / "lab.json").read_text())["radosgw"]
    prefix = f"e2e-{time.monotonic_ns()}/"
    target = (f"{{kind: s3, endpoint: \"{rgw['endpoint']}\", bucket: {rgw['bucket']}, prefix: {prefix}, "
              f"region: {rgw['region']}, access_key: \"file:{rgw['access_key_file']}\", "
              f"secret_key: \"file:{rgw['secret_key_file']}\"}}")
    result = run07(tmp_path, params(tmp_path, target=target))
    assert result.returncode == 0, result.stdout + result.stderr
    assert step(result, "backup")["status"] == "changed"
    drill = step(result, "restore drill")
    assert drill["status"] == "ok", drill
    assert rgw["endpoint"] in step(result, "target")["summary"] or prefix in result.stdout + json.dumps(drill)
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-secret-key")
    wrong.chmod(0o600)
    refused = run07(tmp_path, params(tmp_path, drill=False, target=target.replace(rgw["secret_key_file"], str(wrong))))
    assert refused.returncode != 0
    text = refused.stdout + refused.stderr
    assert "backup.target" in text and "Traceback" not in text and "not-the-secret-key" not in text, text[-2000:]


def test_a_full_backup_target_fails_saying_what_to_do_and_the_next_run_resumes(deployed, tmp_path):
    """A directory target on a 16 KiB tmpfs (four pages: a backup has dozens of files): the backup stops with what happened and what to do
    (not a traceback), nothing looks complete, the snapshot is gone; with room made, the next run
    resumes the same backup and completes it."""
    lab, _ = deployed
    small = tmp_path / "small-target"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs", str(small)], check=True)
    try:
        target = f"{{kind: directory, path: {small}}}"
        full = run07(tmp_path, params(tmp_path, drill=False, target=target))
        assert full.returncode != 0
        failed = step(full, "backup")
        assert failed["status"] == "failed" and "No space left on device" in failed["summary"], failed
        assert str(small) in failed["summary"] and "make room on" in failed["hint"], failed
        assert "Traceback" not in full.stdout + full.stderr
        assert not any((p / "backup.json").exists() for p in small.iterdir())
        assert all(v in ("0", "OFF") for v in galera_desync(lab))
        assert not list((STATE / "cephfs/apps/harbor-k8s/registry/.snap").iterdir())
        subprocess.run(["mount", "-o", "remount,size=64m", str(small)], check=True)
        again = run07(tmp_path, params(tmp_path, drill=False, target=target))
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        taken = step(again, "backup")
        assert taken["data"]["resumed"] is True and taken["data"]["name"] in failed["summary"]
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_no_secret_in_any_output(deployed, tmp_path_factory):
    lab, _ = deployed
    secrets = {p.name: p.read_text().strip() for p in (STATE / "secrets").iterdir() if p.is_file()}
    base = tmp_path_factory.getbasetemp()
    leaks = find_leaks(secrets, [p for p in base.iterdir() if p.is_dir()] + [BACKUPS],
                       {f"console {i}": text for i, text in enumerate(OUTPUTS)})
    assert leaks == []
