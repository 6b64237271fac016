"""The legacy Harbor, for real: a distribution tree written by docker-registry, rows in harbor-db.

A lab of its own (the source database and the legacy Harbor only) in a temp state dir, on ports
shifted by HARBORLAB_LEGACY_TEST_PORT_SHIFT (default -2000) so it runs beside the shared test lab.
The tree is checked against distribution's storage layout (registry/storage/paths.go):
``blobs/sha256/<first two>/<hex>/data``, ``repositories/<name>/_layers/sha256/<hex>/link``,
``_manifests/revisions/sha256/<hex>/link`` and ``_manifests/tags/<tag>/current/link``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import tempfile
import time
from pathlib import Path

import pymysql
import pytest
from click.testing import CliRunner

from harborlab import cli, legacy, procs
from harborlab.component import DOWN, OK, RUNNING, STARTED
from harborlab.errors import LabError
from harborlab.lab import Lab, shifted_ports, why_unavailable
from harborlab.legacy import LegacyHarbor
from harborlab.pusher import Registry
from harborlab.sourcedb import SourceDb
from harborlab.ui.passwords import login_matches

pytestmark = pytest.mark.lab

PORT_SHIFT = int(os.environ.get("HARBORLAB_LEGACY_TEST_PORT_SHIFT", "-2000"))
IMAGES = 24


def make_lab(state: Path) -> Lab:
    return Lab(state, "article", ports=shifted_ports(PORT_SHIFT), components=[SourceDb(), LegacyHarbor()],
               access_log_rows=10, legacy_images=IMAGES)


@pytest.fixture(scope="module")
def legacy_lab():
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    state = Path(tempfile.mkdtemp(prefix="harborlab-legacy-test-"))
    os.chmod(state, 0o755)
    the_lab = make_lab(state)
    try:
        began = time.monotonic()
        results = the_lab.up()
        the_lab.up_seconds = time.monotonic() - began
        assert results == {"harbor-db": STARTED, "legacy-harbor": STARTED}
        yield the_lab
    finally:
        the_lab.down()
        shutil.rmtree(state, ignore_errors=True)


def source_rows(lab: Lab, sql: str, args=()):
    conn = pymysql.connect(host=lab.host, port=lab.ports["harbor-db"], user="harbor_src",
                           password=lab.secret_value("harbor-db-password"), database="registry", connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def tree_problems(root: Path) -> list[str]:
    """Everything that makes ``root`` not a valid distribution tree, as sentences (none: valid)."""
    v2 = root / "docker" / "registry" / "v2"
    problems = []
    blob_files = {}
    for data in (v2 / "blobs" / "sha256").glob("*/*/data"):
        hexdigest = data.parent.name
        if data.parent.parent.name != hexdigest[:2]:
            problems.append(f"{data}: not under its two-character prefix")
        if hashlib.sha256(data.read_bytes()).hexdigest() != hexdigest:
            problems.append(f"{data}: sha256 differs from its path")
        blob_files[f"sha256:{hexdigest}"] = data

    def linked(link: Path, digest: str) -> None:
        if not link.is_file():
            problems.append(f"missing link {link}")
        elif link.read_text().strip() != digest:
            problems.append(f"{link} says {link.read_text().strip()}, not {digest}")

    for repo, tags in legacy.read_tree(root)["tags"].items():
        repo_dir = v2 / "repositories" / repo
        for tag, digest in tags.items():
            if digest not in blob_files:
                problems.append(f"{repo}:{tag}: manifest {digest} has no blob")
                continue
            linked(repo_dir / "_manifests" / "revisions" / "sha256" / digest[7:] / "link", digest)
            manifest = json.loads(blob_files[digest].read_bytes())
            for entry in [manifest["config"], *manifest["layers"]]:
                if entry["digest"] not in blob_files:
                    problems.append(f"{repo}:{tag}: blob {entry['digest']} missing")
                elif blob_files[entry["digest"]].stat().st_size != entry["size"]:
                    problems.append(f"{repo}:{tag}: blob {entry['digest']} has the wrong size")
                linked(repo_dir / "_layers" / "sha256" / entry["digest"][7:] / "link", entry["digest"])
    return problems


def test_up_is_quick_at_the_default_size(legacy_lab):
    # The brief's budget for what the legacy Harbor adds to `lab up`.
    assert legacy_lab.timings["legacy-harbor"] < 5, legacy_lab.timings


def test_tree_is_a_valid_distribution_tree(legacy_lab):
    root = legacy.registry_path(legacy_lab)
    assert root == legacy_lab.state / "legacy" / "data" / "registry"
    assert tree_problems(root) == []
    tree = legacy.read_tree(root)
    assert sum(len(tags) for tags in tree["tags"].values()) == IMAGES
    # Some repositories hold several tags; some tags share one manifest.
    assert max(len(tags) for tags in tree["tags"].values()) >= 3
    assert len({d for tags in tree["tags"].values() for d in tags.values()}) < IMAGES


def test_tree_checker_catches_a_corrupt_blob_and_a_missing_link(legacy_lab, tmp_path):
    copy = tmp_path / "registry"
    shutil.copytree(legacy.registry_path(legacy_lab), copy)
    blob = next((copy / "docker/registry/v2/blobs/sha256").glob("*/*/data"))
    blob.write_bytes(blob.read_bytes() + b"x")
    link = next((copy / "docker/registry/v2/repositories").glob("*/*/_layers/sha256/*/link"))
    link.unlink()
    problems = tree_problems(copy)
    assert any("sha256 differs" in p and str(blob) in p for p in problems)
    assert any(f"missing link {link}" == p for p in problems)


def test_shared_layers_are_stored_once(legacy_lab):
    root = legacy.registry_path(legacy_lab)
    tree = legacy.read_tree(root)
    users_of: dict[str, set] = {}
    referenced = 0
    for repo, tags in tree["tags"].items():
        for digest in set(tags.values()):
            manifest = json.loads((root / "docker/registry/v2/blobs/sha256" / digest[7:9] / digest[7:] / "data").read_bytes())
            for layer in manifest["layers"]:
                users_of.setdefault(layer["digest"], set()).add(repo)
                referenced += layer["size"]
    shared = [d for d, repos in users_of.items() if len(repos) > 1]
    assert shared, "some layer must be used by several repositories"
    stored = sum(tree["blobs"][d] for d in users_of)
    assert stored < referenced  # one file per digest, however many images use it
    for digest in shared:
        assert len(list(root.glob(f"docker/registry/v2/blobs/sha256/*/{digest[7:]}"))) == 1


def test_every_tag_pulls_through_the_registry_with_its_tree_digest(legacy_lab):
    registry = Registry(legacy_lab.host, legacy_lab.ports["legacy-registry"])
    try:
        for repo, tags in legacy.read_tree(legacy.registry_path(legacy_lab))["tags"].items():
            assert sorted(registry.tags(repo)) == sorted(tags)
            for tag, digest in tags.items():
                body, served = registry.get_manifest(repo, tag)
                assert served == digest == "sha256:" + hashlib.sha256(body).hexdigest()
                layer = json.loads(body)["layers"][-1]
                assert "sha256:" + hashlib.sha256(registry.get_blob(repo, layer["digest"])).hexdigest() == layer["digest"]
    finally:
        registry.close()


def test_repository_rows_match_the_tree(legacy_lab):
    tree_repos = set(legacy.read_tree(legacy.registry_path(legacy_lab))["tags"])
    rows = source_rows(legacy_lab, "SELECT r.name, p.name FROM repository r JOIN project p USING (project_id)")
    assert {name for name, _ in rows} == tree_repos
    assert all(name.split("/")[0] == project for name, project in rows)
    assert source_rows(legacy_lab, "SELECT COUNT(*) FROM project WHERE name = 'legacy-apps'") == ((1,),)


def test_legacy_users_log_in_with_their_secret_files(legacy_lab):
    users = legacy_lab.details["legacy-harbor"]["users"]
    assert [u["name"] for u in users] == ["dave", "erin"]
    for user in users:
        path = Path(user["password_file"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        ((stored, salt),) = source_rows(legacy_lab, "SELECT password, salt FROM user WHERE username = %s", (user["name"],))
        assert len(salt) == 32 and login_matches(stored, path.read_text().strip(), salt)
        assert not login_matches(stored, path.read_text().strip() + "x", salt)
    members = source_rows(legacy_lab, "SELECT u.username, m.role FROM project_member m JOIN user u USING (user_id)"
                                      " JOIN project p USING (project_id) WHERE p.name = 'legacy-apps'")
    assert sorted(members) == [("dave", 1), ("erin", 2)]


def test_lab_json_describes_the_legacy_harbor(legacy_lab):
    info = legacy_lab.details["legacy-harbor"]
    port = legacy_lab.ports["legacy-registry"]
    assert info["registry_path"] == str(legacy.registry_path(legacy_lab))
    assert info["registry_url"] == f"http://127.0.0.1:{port}"
    assert info["images"] == IMAGES and info["repositories"] == sorted(info["tags"])
    assert info["frozen"] is False
    assert info["freeze_command"].startswith("harborbook lab legacy freeze --state ")
    assert info["thaw_command"].startswith("harborbook lab legacy thaw --state ")
    text = (legacy_lab.state / "lab.json").read_text()
    for user in info["users"]:
        assert Path(user["password_file"]).read_text().strip() not in text


def test_push_adds_a_tag_and_a_row(legacy_lab):
    result = legacy.push(legacy_lab, "library/between:1.0", 20000)
    assert result["row_added"] and result["previous"] is None
    tree = legacy.read_tree(legacy.registry_path(legacy_lab))
    assert tree["tags"]["library/between"] == {"1.0": result["digest"]}
    assert source_rows(legacy_lab, "SELECT COUNT(*) FROM repository WHERE name = 'library/between'") == ((1,),)
    assert legacy_lab.details["legacy-harbor"]["images"] == IMAGES + 1
    # Again with another seed: the tag moves, the row stays single.
    moved = legacy.push(legacy_lab, "library/between:1.0", 20000, seed="second")
    assert moved["previous"] == result["digest"] != moved["digest"] and not moved["row_added"]
    assert tree_problems(legacy.registry_path(legacy_lab)) == []


def test_push_to_an_unknown_project_leaves_nothing(legacy_lab):
    with pytest.raises(LabError, match="project 'nosuch' does not exist"):
        legacy.push(legacy_lab, "nosuch/app:1.0", 1000)
    assert "nosuch/app" not in legacy.read_tree(legacy.registry_path(legacy_lab))["tags"]
    assert source_rows(legacy_lab, "SELECT COUNT(*) FROM repository WHERE name = 'nosuch/app'") == ((0,),)


def test_cli_push_freeze_status_thaw(legacy_lab):
    runner = CliRunner()
    state = ["--state", str(legacy_lab.state)]
    done = runner.invoke(cli.lab, ["legacy", "push", "legacy-apps/cli:2.0", "--size", "4096", *state])
    assert done.exit_code == 0, done.output
    assert "legacy-apps/cli:2.0 sha256:" in done.output and "repository row added" in done.output

    frozen = runner.invoke(cli.lab, ["legacy", "freeze", *state])
    assert frozen.exit_code == 0 and "read-only" in frozen.output
    try:
        refused = runner.invoke(cli.lab, ["legacy", "push", "legacy-apps/cli:2.1", *state])
        assert refused.exit_code == 1
        assert "HTTP 405" in refused.output and "Allow: GET, HEAD" in refused.output
        assert "lab legacy thaw" in refused.output
        shown = runner.invoke(cli.lab, ["legacy", "status", *state])
        assert shown.exit_code == 0 and "read-only" in shown.output
    finally:
        thawed = runner.invoke(cli.lab, ["legacy", "thaw", *state])
    assert thawed.exit_code == 0 and "read-write" in thawed.output
    again = runner.invoke(cli.lab, ["legacy", "push", "legacy-apps/cli:2.1", "--size", "4096", *state])
    assert again.exit_code == 0, again.output


def test_freeze_refuses_writes_with_distributions_read_only_answer_and_serves_reads(legacy_lab):
    registry = Registry(legacy_lab.host, legacy_lab.ports["legacy-registry"])
    repo, tags = next(iter(legacy.read_tree(legacy.registry_path(legacy_lab))["tags"].items()))
    tag, digest = next(iter(tags.items()))
    before = legacy.read_tree(legacy.registry_path(legacy_lab))
    legacy.set_frozen(legacy_lab, True)
    try:
        assert legacy_lab.details["legacy-harbor"]["frozen"] is True
        assert "enabled: true" in legacy.config_path(legacy_lab).read_text()
        for method, path in [("POST", f"/v2/{repo}/blobs/uploads/"), ("PUT", f"/v2/{repo}/manifests/x"),
                             ("DELETE", f"/v2/{repo}/manifests/{digest}")]:
            answer = registry.request(method, path, body=b"{}" if method == "PUT" else None)
            assert (answer.status, answer.headers.get("allow")) == (405, "GET, HEAD"), (method, answer)
        with pytest.raises(LabError, match="HTTP 405"):
            legacy.push(legacy_lab, "library/frozen:1.0", 1000)
        body, served = registry.get_manifest(repo, tag)
        assert served == digest
        layer = json.loads(body)["layers"][0]["digest"]
        assert "sha256:" + hashlib.sha256(registry.get_blob(repo, layer)).hexdigest() == layer
        assert legacy.read_tree(legacy.registry_path(legacy_lab)) == before
        (row,) = LegacyHarbor().status(legacy_lab)
        assert row.health == OK and "read-only" in row.detail
    finally:
        legacy.set_frozen(legacy_lab, False)
        registry.close()
    assert "enabled: false" in legacy.config_path(legacy_lab).read_text()
    assert legacy.push(legacy_lab, "library/thawed:1.0", 1000)["row_added"]


def test_freeze_needs_a_running_registry(tmp_path):
    with pytest.raises(LabError, match="not running"):
        legacy.set_frozen(Lab(tmp_path, ports=shifted_ports(PORT_SHIFT)), True)


def test_up_again_reuses_the_tree_and_restarts_a_dead_registry(legacy_lab):
    root = legacy.registry_path(legacy_lab)
    files = sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file())
    pid = legacy_lab.pid("legacy-registry")
    again = make_lab(legacy_lab.state)
    assert again.up() == {"harbor-db": RUNNING, "legacy-harbor": RUNNING}
    assert again.pid("legacy-registry") == pid
    assert sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()) == files

    os.kill(pid, signal.SIGKILL)  # our own child, by its pid
    assert procs.wait_dead(pid, 5)
    (row,) = LegacyHarbor().status(again)
    assert row.health == DOWN
    third = make_lab(legacy_lab.state)
    assert third.up()["legacy-harbor"] == STARTED
    assert third.details["legacy-harbor"]["pushed_last_up"] == 0
    assert sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()) == files
    (row,) = LegacyHarbor().status(third)
    assert row.health == OK and row.pid != pid


def test_legacy_down_leaves_nothing_running(legacy_lab):
    pid = legacy_lab.pid("legacy-registry")
    port = legacy_lab.ports["legacy-registry"]
    assert pid is not None
    legacy_lab.down()
    assert legacy_lab.pid("legacy-registry") is None and legacy_lab.pid("harbor-db") is None
    assert not procs.conflicts(procs.listeners(), port, "127.0.0.1")
    assert not procs.alive(pid)
    (row,) = LegacyHarbor().status(legacy_lab)
    assert row.health == DOWN
    assert legacy.registry_path(legacy_lab).is_dir()  # the tree stays for the next up
