"""Units of 07's backup machinery: the encrypted stream, the directory target, backup.json's
tree rules, retention and the params section; each check on its pass and its fail path."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from harborbook.backup import crypto, store
from harborbook.backup.manifest import (Listing, Manifest, TagRef, blob_digest, listing, plan_retention,
                                        skip_in_tree, tags_in_tree)
from harborbook.backup.target import DirectoryTarget, check_name, open_target
from harborbook.errors import HarborbookError, NotFound
from harborbook.params.backup import Backup

FAST = dict(log2_n=10, r=8, p=1)  # scrypt cost for tests only


def keyring(secret: str = "correct horse battery staple") -> crypto.Keyring:
    return crypto.Keyring(secret, **FAST)


def seal(data: bytes, ring: crypto.Keyring, compress: bool = True) -> bytes:
    out = io.BytesIO()
    w = crypto.EncryptingWriter(out, ring, compress=compress)
    for i in range(0, len(data), 70_000):
        w.write(data[i:i + 70_000])
    w.close()
    return out.getvalue()


def open_(blob: bytes, ring: crypto.Keyring) -> bytes:
    return b"".join(crypto.decrypt(io.BytesIO(blob), ring))


# ------------------------------------------------------------------ the stream
@pytest.mark.parametrize("size", [0, 1, crypto.CHUNK - 1, crypto.CHUNK, crypto.CHUNK + 1, 3 * crypto.CHUNK + 5])
@pytest.mark.parametrize("compress", [True, False])
def test_round_trip(size, compress):
    data = os.urandom(size)
    ring = keyring()
    assert open_(seal(data, ring, compress), ring) == data


def test_compressible_data_is_compressed_and_not_in_clear():
    data = b"CREATE TABLE access_log (...);\n" * 50_000
    sealed = seal(data, keyring())
    assert len(sealed) < len(data) / 10
    assert b"access_log" not in sealed


def test_wrong_key_is_a_clear_error():
    sealed = seal(b"secret manifests", keyring("right"))
    with pytest.raises(crypto.WrongKey, match="not the key this backup was made with"):
        open_(sealed, keyring("wrong"))


@pytest.mark.parametrize("where", [crypto.HEADER.size + 10, -5])
def test_a_flipped_bit_fails_authentication(where):
    sealed = bytearray(seal(os.urandom(3 * crypto.CHUNK), keyring(), compress=False))
    sealed[where] ^= 0x01
    with pytest.raises(crypto.Damaged, match="failed authentication"):
        open_(bytes(sealed), keyring())


def test_a_changed_header_fails_authentication():
    sealed = bytearray(seal(b"x" * 100, keyring()))
    sealed[crypto.HEADER.size - 1] ^= 0x01  # the object nonce: another key, every chunk fails
    with pytest.raises(crypto.Damaged):
        open_(bytes(sealed), keyring())


def test_truncation_at_a_chunk_boundary_is_refused():
    ring = keyring()
    sealed = seal(os.urandom(2 * crypto.CHUNK + 10), ring, compress=False)
    first = crypto.HEADER.size + crypto.LENGTH.size + crypto.CHUNK + crypto.TAG
    with pytest.raises(crypto.Damaged, match="truncated"):
        open_(sealed[:first], ring)  # a whole, authentic chunk - but not the last one
    with pytest.raises(crypto.Damaged, match="truncated"):
        open_(sealed[:-3], ring)


def test_dropped_or_reordered_chunks_are_refused():
    ring = keyring()
    sealed = seal(os.urandom(2 * crypto.CHUNK + 10), ring, compress=False)
    h = crypto.HEADER.size
    size = crypto.LENGTH.size + crypto.CHUNK + crypto.TAG
    c0, c1, rest = sealed[h:h + size], sealed[h + size:h + 2 * size], sealed[h + 2 * size:]
    with pytest.raises(crypto.Damaged):
        open_(sealed[:h] + c1 + c0 + rest, ring)
    with pytest.raises(crypto.Damaged):
        open_(sealed[:h] + c0 + rest, ring)


def test_trailing_garbage_and_a_foreign_file_are_refused():
    ring = keyring()
    with pytest.raises(crypto.Damaged, match="after the last chunk"):
        open_(seal(b"abc", ring) + b"x", ring)
    with pytest.raises(crypto.Damaged, match="not a harborbook backup object"):
        open_(b"PK\x03\x04 a zip file", ring)


def test_one_scrypt_per_backup_and_distinct_object_keys():
    ring = keyring()
    a, b = seal(b"same", ring), seal(b"same", ring)
    assert a[:crypto.HEADER.size - 16] == b[:crypto.HEADER.size - 16]  # same salt and key check
    assert a != b  # different object nonce, so different keys and ciphertexts


# ------------------------------------------------------------------ the directory target
def test_directory_target_writer_is_all_or_nothing(tmp_path):
    t = DirectoryTarget(tmp_path / "b")
    with t.writer("x/a.bin") as fh:
        fh.write(b"hello")
    assert t.names() == ["x/a.bin"] and t.size("x/a.bin") == 5
    with pytest.raises(RuntimeError):
        with t.writer("x/b.bin") as fh:
            fh.write(b"half")
            raise RuntimeError("killed")
    assert t.names() == ["x/a.bin"]
    assert not [p for p in (tmp_path / "b" / "x").iterdir() if p.name != "a.bin"]
    with t.reader("x/a.bin") as fh:
        assert fh.read() == b"hello"
    with pytest.raises(NotFound):
        with t.reader("x/none"):
            pass
    assert t.size("x/none") is None
    t.delete("x/a.bin")
    t.delete("x/a.bin")  # idempotent
    assert t.names() == [] and not (tmp_path / "b" / "x").exists()


def test_directory_target_names_prefix_and_refuses_escapes(tmp_path):
    t = DirectoryTarget(tmp_path)
    for n in ("b/2", "a/1", "a/sub/3"):
        with t.writer(n) as fh:
            fh.write(b".")
    assert t.names() == ["a/1", "a/sub/3", "b/2"]
    assert t.names("a/") == ["a/1", "a/sub/3"]
    for bad in ("../x", "/abs", "a//b", "a/./b", ""):
        with pytest.raises(HarborbookError):
            check_name(bad)


def test_store_put_verifies_and_rejects_a_wrong_digest(tmp_path):
    t, ring = DirectoryTarget(tmp_path), keyring()
    data = os.urandom(5000)
    entry = store.put(t, "r/blob", io.BytesIO(data), ring, expect_sha256=hashlib.sha256(data).hexdigest())
    assert (entry.size, entry.sha256) == (5000, hashlib.sha256(data).hexdigest())
    assert store.verify(t, "r/blob", ring, entry) == ""
    with pytest.raises(store.DigestMismatch):
        store.put(t, "r/bad", io.BytesIO(data), ring, expect_sha256="0" * 64)
    assert t.names() == ["r/blob"]  # nothing kept under the bad name


def test_open_target_s3_without_the_module_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BK_A", "access-key-value")
    monkeypatch.setenv("BK_S", "secret-key-value")
    section = Backup.model_validate({"target": {"kind": "s3", "endpoint": "http://127.0.0.1:9000", "bucket": "bk1",
                                                "access_key": "env:BK_A", "secret_key": "env:BK_S"},
                                     "encryption_key": "env:BK_K"})
    try:
        import harborbook.backup.s3  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(HarborbookError, match="S3 backup target is not available"):
            open_target(section.target)
    else:  # the S3 target (issue #17, item 5): built from the params, secrets resolved, never shown
        target = open_target(section.target)
        assert target.describe() == "s3://bk1 at http://127.0.0.1:9000" or target.describe().startswith("s3://bk1")
        assert "key-value" not in target.describe() + repr(target)
    assert isinstance(open_target(Backup.model_validate(
        {"target": {"kind": "directory", "path": str(tmp_path)}, "encryption_key": "env:BK_K"}).target), DirectoryTarget)


# ------------------------------------------------------------------ params
def test_params_section_rules():
    base = {"target": {"kind": "directory", "path": "/var/backups/harbor"}, "encryption_key": "file:/k"}
    assert Backup.model_validate(base).restore_drill is True
    with pytest.raises(ValueError, match="confirm: true"):
        Backup.model_validate({**base, "mode": "restore"})
    assert Backup.model_validate({**base, "mode": "restore", "confirm": True}).mode == "restore"
    with pytest.raises(ValueError, match="secret reference"):
        Backup.model_validate({**base, "encryption_key": "plain-passphrase"})
    with pytest.raises(ValueError):
        Backup.model_validate({**base, "target": {"kind": "tape"}})


# ------------------------------------------------------------------ backup.json and the tree
def test_blob_paths_and_uploads():
    hexa = "ab" + "0" * 62
    assert blob_digest(f"docker/registry/v2/blobs/sha256/ab/{hexa}/data") == "sha256:" + hexa
    assert blob_digest(f"docker/registry/v2/blobs/sha256/cd/{hexa}/data") is None
    assert blob_digest(f"docker/registry/v2/repositories/x/_layers/sha256/{hexa}/link") is None
    assert skip_in_tree("docker/registry/v2/repositories/x/_uploads/u/data")
    assert not skip_in_tree("docker/registry/v2/repositories/x/_layers/sha256/a/link")


def test_tags_in_tree(tmp_path):
    for repo, tag, digest in (("library/a", "1", "sha256:" + "1" * 64), ("p/nested/b", "v2", "sha256:" + "2" * 64)):
        link = tmp_path / "docker/registry/v2/repositories" / repo / "_manifests/tags" / tag / "current/link"
        link.parent.mkdir(parents=True)
        link.write_text(digest)
    assert tags_in_tree(tmp_path) == [("library/a", "1", "sha256:" + "1" * 64), ("p/nested/b", "v2", "sha256:" + "2" * 64)]


def test_manifest_round_trip_and_tags_using():
    m = Manifest("harbor-20260101T000000Z", "2026-01-01T00:00:00+00:00",
                 tags=[TagRef("library/a", "1", "sha256:m", ("sha256:c", "sha256:l"))])
    back = Manifest.from_json(m.to_json())
    assert back.tags == m.tags
    assert back.tags_using("sha256:l") == ["library/a:1"] and back.tags_using("sha256:x") == []
    with pytest.raises(HarborbookError, match="cannot be read"):
        Manifest.from_json(b"{not json")


# ------------------------------------------------------------------ retention
def names(*backups: tuple[str, bool]) -> list[str]:
    out = []
    for name, complete in backups:
        out.append(f"{name}/database/registry_k8s.sql")
        if complete:
            out.append(f"{name}/backup.json")
    return out


def test_listing_tells_complete_from_partial():
    found = listing(names(("harbor-20260101T000000Z", True), ("harbor-20260102T000000Z", False)) + ["other/x"])
    assert found == Listing(["harbor-20260101T000000Z"], ["harbor-20260102T000000Z"])


def test_retention_keeps_the_newest_and_never_the_only_one():
    days = [f"harbor-202601{d:02d}T000000Z" for d in range(1, 6)]
    plan = plan_retention(listing(names(*[(d, True) for d in days])), keep=2)
    assert plan.keep == days[-2:] and plan.delete == days[:3]
    only = plan_retention(listing(names((days[0], True))), keep=0)
    assert only.keep == [days[0]] and only.delete == []
    mixed = plan_retention(listing(names((days[0], False), (days[1], True), (days[2], False))), keep=1)
    assert mixed.partial == [days[0]]  # abandoned; the newer incomplete one is resumed, not deleted


# ------------------------------------------------------------------ the frozen node, cleaned objects
class FakeCursor:
    def __init__(self, conn):
        self.conn = conn
        self.rows: list[tuple] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=None):
        import pymysql

        self.conn.log.append(sql)
        if self.conn.fail_on and self.conn.fail_on in sql:
            raise pymysql.err.OperationalError(1227, "Access denied; you need (at least one of) the RELOAD privilege")
        if "@@GLOBAL.wsrep_desync" in sql:
            self.rows = [(self.conn.desync,)]
        elif sql.startswith("SET GLOBAL wsrep_desync="):
            self.conn.desync = sql.rsplit("=", 1)[1]
        elif "information_schema.TABLES" in sql:
            self.rows = [(1,)] if self.conn.marked else []
        elif sql.startswith("SELECT 1 FROM `harborbook_meta`"):
            self.rows = [(1,)] if self.conn.marked else []
        else:
            self.rows = []

    def fetchall(self):
        return self.rows


class FakeConn:
    def __init__(self, fail_on=None, desync="OFF", marked=False):
        self.log, self.fail_on, self.desync, self.marked = [], fail_on, desync, marked

    def cursor(self):
        return FakeCursor(self)


def galera_node():
    from harborbook.db import ServerInfo

    return ServerInfo("127.0.0.1:3308", "10.11", "galera", True, "Synced")


def test_frozen_desyncs_locks_and_undoes_even_when_the_dump_fails():
    from harborbook.backup.capture import frozen

    conn = FakeConn()
    with pytest.raises(RuntimeError):
        with frozen(conn, galera_node()):
            assert conn.desync == "ON" and "FLUSH TABLES WITH READ LOCK" in conn.log
            raise RuntimeError("mariadb-dump died")
    assert conn.desync == "OFF"
    assert conn.log.index("UNLOCK TABLES") < conn.log.index("SET GLOBAL wsrep_desync=OFF")


def test_frozen_undoes_the_desync_when_the_lock_is_refused():
    from harborbook.backup.capture import frozen

    conn = FakeConn(fail_on="FLUSH TABLES")
    with pytest.raises(HarborbookError, match="desyncing and locking"):
        with frozen(conn, galera_node()):
            pytest.fail("must not get here")
    assert conn.desync == "OFF"


def test_a_desync_left_by_a_killed_backup_is_undone_by_the_next():
    from harborbook.backup.capture import frozen

    conn = FakeConn(desync="ON", marked=True)
    with frozen(conn, galera_node()):
        pass
    assert conn.desync == "OFF"  # not "restored" to the ON a killed run left behind
    unmarked = FakeConn(desync="ON")  # somebody else's desync (no mark of ours): left as it was
    with frozen(unmarked, galera_node()):
        pass
    assert unmarked.desync == "ON"


def test_clean_drops_server_set_fields():
    from harborbook.backup.capture import clean

    live = {"metadata": {"name": "ui", "namespace": "harbor", "uid": "u", "resourceVersion": "7",
                         "creationTimestamp": "t", "managedFields": [{}], "generation": 3,
                         "annotations": {"deployment.kubernetes.io/revision": "2", "team": "registry"}},
            "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80}], "x": None},
            "status": {"loadBalancer": {}}}
    out = clean(live, "v1", "Service")
    assert out == {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "ui", "namespace": "harbor", "annotations": {"team": "registry"}},
                   "spec": {"ports": [{"port": 80}]}}
    pv = clean({"metadata": {"name": "pv"}, "spec": {"claimRef": {"name": "c"}, "capacity": {"storage": "1Gi"}}},
               "v1", "PersistentVolume")
    assert "claimRef" not in pv["spec"]


def test_deployed_version_is_the_ui_image_tag():
    from harborbook.backup.capture import deployed_version

    ui = {"metadata": {"name": "ui"}, "spec": {"template": {"spec": {"containers": [
        {"image": "registry.local:5000/vmware/harbor-ui:v1.2.0"}]}}}}
    assert deployed_version([{"metadata": {"name": "nginx"}}, ui]) == "v1.2.0"
    assert deployed_version([{"metadata": {"name": "ui"}, "spec": {"template": {"spec": {"containers": [
        {"image": "registry.local:5000/harbor-ui"}]}}}}]) == ""
