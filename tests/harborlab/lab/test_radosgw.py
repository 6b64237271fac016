"""radosgw in the lab, and the product's S3 target against it (a real S3 implementation).

A lab of its own (Ceph + radosgw only, in a temp state dir, ports shifted by RGW_SHIFT) so these
tests neither need nor disturb the session lab of tests/lab/conftest.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
import traceback
import tracemalloc
from pathlib import Path

import pytest

from harborbook.backup.s3 import MIN_PART_SIZE, S3Target
from harborbook.errors import Forbidden, NotFound, Unauthorized
from harborlab import procs
from harborlab.ceph import Ceph
from harborlab.component import DEGRADED, DOWN, OK, RUNNING, STARTED
from harborlab.lab import Lab, shifted_ports, why_unavailable
from harborlab.rgw import ACCESS_SECRET, BUCKET, NAME, SECRET_SECRET, Radosgw

pytestmark = pytest.mark.lab

RGW_SHIFT = int(os.environ.get("HARBORLAB_RGW_TEST_PORT_SHIFT", "-1000"))


@pytest.fixture(scope="module")
def rgw_lab():
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    state = Path(tempfile.mkdtemp(prefix="harborlab-rgw-"))
    os.chmod(state, 0o755)
    lab = Lab(state, components=[Ceph(), Radosgw()], ports=shifted_ports(RGW_SHIFT))
    try:
        lab.first_up = lab.up()  # type: ignore[attr-defined]
        lab.first_timings = dict(lab.timings)  # type: ignore[attr-defined]
        yield lab
    finally:
        keep = os.environ.get("HARBORLAB_RGW_TEST_LOGS")  # a folder to keep the daemons' logs in
        if keep:
            for sub in ("log", "ceph/log"):
                if lab.path(sub).is_dir():
                    shutil.copytree(lab.path(sub), Path(keep) / sub, dirs_exist_ok=True)
        lab.down(purge=True)
        shutil.rmtree(state, ignore_errors=True)


def same_lab(lab: Lab) -> Lab:
    """What a second `lab up` command sees: a new Lab object on the same state."""
    return Lab(lab.state, components=[Ceph(), Radosgw()], ports=lab.ports)


def s3_target(lab: Lab, *, secret: str | None = None, bucket: str = BUCKET, prefix: str = "t", **extra) -> S3Target:
    info = lab.details[NAME]
    return S3Target(endpoint=info["endpoint"], bucket=bucket, prefix=prefix, region=info["region"],
                    access_key=lab.secret_value(ACCESS_SECRET),
                    secret_key=secret if secret is not None else lab.secret_value(SECRET_SECRET), verify=True, **extra)


# -- the component ----------------------------------------------------------------------------

def test_up_starts_radosgw_on_loopback_with_keys_in_secret_files(rgw_lab):
    print(f"\nlab up (first, fresh Ceph): {json.dumps({k: round(v, 1) for k, v in rgw_lab.first_timings.items()})}")
    assert rgw_lab.first_up == {"ceph": STARTED, NAME: STARTED}
    port = rgw_lab.ports[NAME]
    info = rgw_lab.details[NAME]
    assert info["endpoint"] == f"http://127.0.0.1:{port}" and info["bucket"] == BUCKET
    assert [(s.host, s.port) for s in procs.listeners() if s.port == port] == [("127.0.0.1", port)]
    for name in (ACCESS_SECRET, SECRET_SECRET):
        path = rgw_lab.secret(name)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_text()) >= 20
    secret = rgw_lab.secret_value(SECRET_SECRET)
    assert secret not in json.dumps(rgw_lab.details)
    cmdline = Path(f"/proc/{rgw_lab.pid(NAME)}/cmdline").read_bytes().decode()
    assert secret not in cmdline and rgw_lab.secret_value(ACCESS_SECRET) not in cmdline


def test_status_probes_the_bucket_with_the_keys(rgw_lab):
    (row,) = Radosgw().status(rgw_lab)
    assert (row.health, row.pid) == (OK, rgw_lab.pid(NAME)), row.detail
    assert BUCKET in row.detail
    # A wrong key is seen by the probe: the signed request is refused.
    path = rgw_lab.secret(SECRET_SECRET)
    good = path.read_text()
    try:
        path.write_text("wrong" + good[5:])
        (row,) = Radosgw().status(rgw_lab)
        assert row.health == DEGRADED and "403" in row.detail, row.detail
    finally:
        path.write_text(good)


def test_up_again_is_running_and_keeps_the_keys(rgw_lab):
    keys = (rgw_lab.secret_value(ACCESS_SECRET), rgw_lab.secret_value(SECRET_SECRET))
    pid = rgw_lab.pid(NAME)
    assert same_lab(rgw_lab).up() == {"ceph": RUNNING, NAME: RUNNING}
    assert rgw_lab.pid(NAME) == pid
    assert (rgw_lab.secret_value(ACCESS_SECRET), rgw_lab.secret_value(SECRET_SECRET)) == keys


def test_up_restarts_a_dead_radosgw_only_and_keeps_user_keys_and_objects(rgw_lab):
    keys = (rgw_lab.secret_value(ACCESS_SECRET), rgw_lab.secret_value(SECRET_SECRET))
    with s3_target(rgw_lab).writer("survivor") as sink:
        sink.write(b"still here")
    mon = rgw_lab.pid("ceph-mon")
    rgw_lab.stop(NAME)
    assert Radosgw().status(rgw_lab)[0].health == DOWN
    again = same_lab(rgw_lab)
    assert again.up() == {"ceph": RUNNING, NAME: STARTED}
    print(f"\nlab up (radosgw restarted): {again.timings[NAME]:.1f}s")
    assert rgw_lab.pid("ceph-mon") == mon
    assert (rgw_lab.secret_value(ACCESS_SECRET), rgw_lab.secret_value(SECRET_SECRET)) == keys
    with s3_target(rgw_lab).reader("survivor") as src:
        assert src.read() == b"still here"


# -- the product's S3 target against it -----------------------------------------------------------

def test_round_trip_of_20_mib_streams_through_multipart_in_bounded_memory(rgw_lab):
    t = s3_target(rgw_lab, part_size=MIN_PART_SIZE)
    block = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB, not all one byte
    total = 20 << 20
    parts_sent = []
    t._client.meta.events.register("before-call.s3.UploadPart", lambda **kw: parts_sent.append(1))
    written = hashlib.sha256()
    tracemalloc.start()
    try:
        with t.writer("big/object.bin") as sink:
            for i in range(total // len(block)):
                chunk = bytes([i % 251]) + block[1:]
                written.update(chunk)
                sink.write(chunk)
        _, peak_write = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        read = hashlib.sha256()
        got = 0
        with t.reader("big/object.bin") as src:
            while data := src.read(1 << 20):
                read.update(data)
                got += len(data)
        _, peak_read = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\n20 MiB through S3: peak Python memory write {peak_write >> 20} MiB, read {peak_read >> 20} MiB")
    assert len(parts_sent) == 4  # 20 MiB in 5 MiB parts: a multipart upload, not one PUT
    assert (got, read.hexdigest()) == (total, written.hexdigest())
    assert t.size("big/object.bin") == total
    # Bounded: well under the object's size (about one part plus what the client copies).
    assert peak_write < 3 * MIN_PART_SIZE and peak_read < 3 * MIN_PART_SIZE
    t.delete("big/object.bin")


def test_an_exception_in_the_writer_leaves_no_object_and_no_pending_upload(rgw_lab):
    t = s3_target(rgw_lab, part_size=MIN_PART_SIZE)
    with pytest.raises(RuntimeError, match="killed midway"):
        with t.writer("partial/blob") as sink:
            sink.write(b"y" * (MIN_PART_SIZE + 1))  # one part already stored in the upload
            assert t.pending_uploads() == ["partial/blob"]  # the check below can fail
            raise RuntimeError("killed midway")
    assert t.names("partial/") == []
    assert t.size("partial/blob") is None
    assert t.pending_uploads() == []


def test_names_follow_pages_sorted_under_the_prefix(rgw_lab):
    t = s3_target(rgw_lab, prefix="pages", page_size=2)
    requests = []
    t._client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: requests.append(1))
    wanted = [f"b1/{n}" for n in ("e", "a", "d", "c", "b")] + ["b2/x"]
    for name in wanted:
        with t.writer(name) as sink:
            sink.write(name.encode())
    assert t.names("b1/") == ["b1/a", "b1/b", "b1/c", "b1/d", "b1/e"]
    assert len(requests) == 3  # 5 keys, 2 per page
    assert t.names() == sorted(wanted)
    assert s3_target(rgw_lab, prefix="other").names() == []  # another prefix sees none of them
    for name in wanted:
        t.delete(name)
    assert t.names() == []


def test_size_delete_and_not_found(rgw_lab):
    t = s3_target(rgw_lab)
    with t.writer("one") as sink:
        sink.write(b"12345")
    assert t.size("one") == 5
    t.delete("one")
    t.delete("one")  # idempotent
    assert t.size("one") is None
    with pytest.raises(NotFound, match="no object one"):
        with t.reader("one"):
            pass


def test_a_missing_bucket_is_not_found_naming_the_bucket_key(rgw_lab):
    t = s3_target(rgw_lab, bucket="no-such-bucket")
    for action in (lambda: t.size("x"), t.names, lambda: t.delete("x")):
        with pytest.raises(NotFound) as err:
            action()
        assert "no bucket 'no-such-bucket'" in err.value.message and "backup.target.bucket" in err.value.hint


def test_a_wrong_secret_key_is_refused_clearly_without_showing_it(rgw_lab, caplog):
    caplog.set_level(logging.DEBUG)  # botocore logs every request at debug
    wrong = "WrongSecretKeyThatMustNeverBeShown0123456"
    t = s3_target(rgw_lab, secret=wrong)
    shown = repr(t)
    with pytest.raises(Unauthorized) as err:
        t.names()
    assert err.value.message.endswith("the S3 service refused the credentials (SignatureDoesNotMatch)")
    shown += err.value.render() + "".join(traceback.format_exception(err.type, err.value, err.tb))
    with pytest.raises(Unauthorized) as err:
        with t.writer("x") as sink:
            sink.write(b"1")
    shown += err.value.render() + "".join(traceback.format_exception(err.type, err.value, err.tb))
    # HEAD answers carry no error code: a refused HEAD is a plain 403, still pointing at the keys.
    with pytest.raises(Forbidden) as head_err:
        t.size("x")
    shown += head_err.value.render()
    assert "backup.target.access_key / secret_key" in err.value.hint
    assert "backup.target.access_key / secret_key" in head_err.value.hint
    assert wrong not in shown and wrong not in caplog.text
    assert rgw_lab.secret_value(SECRET_SECRET) not in caplog.text


def test_down_stops_radosgw_and_frees_its_port(rgw_lab):
    pid = rgw_lab.pid(NAME)
    Radosgw().down(rgw_lab)
    assert rgw_lab.pid(NAME) is None and not procs.alive(pid)
    assert not [s for s in procs.listeners() if s.port == rgw_lab.ports[NAME]]
    (row,) = Radosgw().status(rgw_lab)
    assert row.health == DOWN
