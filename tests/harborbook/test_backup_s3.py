"""The S3 backup target without a server: the requests it makes (botocore's Stubber checks each
one against the S3 API model), the errors it raises, and the secret key kept out of all of them.

The same behaviour against a real S3 implementation (Ceph's radosgw) is in tests/lab/test_radosgw.py.
"""

from __future__ import annotations

import io
import logging
import traceback

import pytest
from botocore.stub import ANY, Stubber

from harborbook.backup.s3 import MIN_PART_SIZE, S3Target, object_key
from harborbook.backup.target import Target
from harborbook.errors import Forbidden, HarborbookError, NotFound, Unauthorized, Unavailable

SECRET = "sEcReT-kEy-0123456789-never-shown"
ACCESS = "AKIALABKEY"


def target(**extra) -> S3Target:
    return S3Target(endpoint="http://127.0.0.1:16480", bucket="harbor-backups", prefix="lab/", region="us-east-1",
                    access_key=ACCESS, secret_key=SECRET, verify=True, **extra)


@pytest.fixture
def s3():
    t = target(part_size=MIN_PART_SIZE)
    with Stubber(t._client) as stub:
        yield t, stub
        stub.assert_no_pending_responses()


def test_it_is_a_target_and_describes_itself_without_the_secret():
    t: Target = target()
    assert t.describe() == "s3://harbor-backups/lab at http://127.0.0.1:16480"
    assert SECRET not in repr(t) and SECRET not in t.describe()
    assert SECRET not in repr(vars(t)).replace(repr(t._client), "")  # no attribute holds it


def test_object_keys_live_under_the_prefix_and_bad_names_are_refused():
    assert object_key("lab", "2026/backup.json") == "lab/2026/backup.json"
    assert object_key("", "backup.json") == "backup.json"
    for bad in ("", "/abs", "a/../b", "a//b", "./a"):
        with pytest.raises(HarborbookError, match="invalid backup object name"):
            object_key("lab", bad)


def test_a_part_size_below_the_s3_minimum_is_refused():
    with pytest.raises(HarborbookError, match="minimum"):
        target(part_size=MIN_PART_SIZE - 1)


def test_a_small_object_is_one_put_when_the_block_exits(s3):
    t, stub = s3
    stub.add_response("put_object", {}, {"Bucket": "harbor-backups", "Key": "lab/b1/backup.json", "Body": b"{}\n"})
    with t.writer("b1/backup.json") as sink:
        sink.write(b"{}")
        sink.write(b"\n")


def test_a_large_object_goes_out_part_by_part_and_completes_at_exit(s3):
    t, stub = s3
    part = MIN_PART_SIZE
    key = {"Bucket": "harbor-backups", "Key": "lab/big"}
    stub.add_response("create_multipart_upload", {"UploadId": "u1"}, key)
    stub.add_response("upload_part", {"ETag": '"e1"'}, {**key, "UploadId": "u1", "PartNumber": 1, "Body": ANY})
    stub.add_response("upload_part", {"ETag": '"e2"'}, {**key, "UploadId": "u1", "PartNumber": 2, "Body": ANY})
    stub.add_response("complete_multipart_upload", {}, {
        **key, "UploadId": "u1",
        "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": '"e1"'}, {"PartNumber": 2, "ETag": '"e2"'}]}})
    with t.writer("big") as sink:
        for _ in range(part // (1 << 20) + 1):
            sink.write(b"x" * (1 << 20))  # the first part leaves while the block is still running
        assert len(sink._parts) == 1 and len(sink._buffer) < part


def test_an_exception_in_the_block_aborts_the_upload_and_is_reraised(s3):
    t, stub = s3
    key = {"Bucket": "harbor-backups", "Key": "lab/big"}
    stub.add_response("create_multipart_upload", {"UploadId": "u1"}, key)
    stub.add_response("upload_part", {"ETag": '"e1"'}, {**key, "UploadId": "u1", "PartNumber": 1, "Body": ANY})
    stub.add_response("abort_multipart_upload", {}, {**key, "UploadId": "u1"})
    with pytest.raises(RuntimeError, match="source broke"):
        with t.writer("big") as sink:
            sink.write(b"x" * MIN_PART_SIZE)
            raise RuntimeError("source broke")


def test_an_exception_before_the_first_part_sends_nothing(s3):
    t, _ = s3  # no response queued: any request would fail the Stubber
    with pytest.raises(RuntimeError):
        with t.writer("small") as sink:
            sink.write(b"abc")
            raise RuntimeError("source broke")


def test_names_follow_every_page_and_drop_the_prefix(s3):
    t, stub = s3
    t.page_size = 2
    base = {"Bucket": "harbor-backups", "Prefix": "lab/b1/", "MaxKeys": 2}
    stub.add_response("list_objects_v2", {"IsTruncated": True, "NextContinuationToken": "t2",
                                          "Contents": [{"Key": "lab/b1/c"}, {"Key": "lab/b1/a"}]}, base)
    stub.add_response("list_objects_v2", {"IsTruncated": False, "Contents": [{"Key": "lab/b1/b"}]},
                      {**base, "ContinuationToken": "t2"})
    assert t.names("b1/") == ["b1/a", "b1/b", "b1/c"]


def test_size_of_an_absent_object_is_none_but_a_missing_bucket_is_an_error(s3):
    t, stub = s3
    stub.add_client_error("head_object", "404", http_status_code=404)
    stub.add_response("head_bucket", {})
    assert t.size("nothing") is None
    stub.add_client_error("head_object", "404", http_status_code=404)
    stub.add_client_error("head_bucket", "404", http_status_code=404)
    with pytest.raises(NotFound) as err:
        t.size("nothing")
    assert "no bucket 'harbor-backups'" in err.value.message and "backup.target.bucket" in err.value.hint


def test_reader_of_an_absent_object_is_not_found(s3):
    t, stub = s3
    stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
    with pytest.raises(NotFound, match="no object b1/x"):
        with t.reader("b1/x"):
            pass


def test_reader_streams_the_body(s3):
    t, stub = s3
    from botocore.response import StreamingBody
    data = bytes(range(256)) * 9000
    stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(data), len(data))},
                      {"Bucket": "harbor-backups", "Key": "lab/obj"})
    with t.reader("obj") as src:
        assert src.read(10) == data[:10]
        assert src.read() == data[10:]


@pytest.mark.parametrize(("code", "status", "error", "hint"), [
    ("InvalidAccessKeyId", 403, Unauthorized, "backup.target.access_key / secret_key"),
    ("SignatureDoesNotMatch", 403, Unauthorized, "backup.target.access_key / secret_key"),
    ("AccessDenied", 403, Forbidden, "backup.target.access_key / secret_key"),
    ("NoSuchBucket", 404, NotFound, "backup.target.bucket"),
    ("ServiceUnavailable", 503, Unavailable, "backup.target.endpoint"),
])
def test_s3_errors_become_named_errors_with_the_params_key(s3, code, status, error, hint):
    t, stub = s3
    stub.add_client_error("delete_object", code, http_status_code=status)
    with pytest.raises(error) as err:
        t.delete("b1/x")
    assert hint in err.value.hint
    assert err.value.status == status
    assert SECRET not in err.value.render()


def test_an_unreachable_endpoint_is_unavailable_and_never_shows_the_secret(caplog):
    caplog.set_level(logging.DEBUG)  # botocore logs requests at debug: the secret must not be among them
    t = S3Target(endpoint="http://127.0.0.1:9", bucket="b-1", prefix="", region="us-east-1", access_key=ACCESS,
                 secret_key=SECRET, verify=True)
    with pytest.raises(Unavailable) as err:
        t.names()
    assert "cannot reach the S3 endpoint" in err.value.message
    assert "backup.target.endpoint" in err.value.hint
    shown = "".join(traceback.format_exception(err.type, err.value, err.tb))
    assert "127.0.0.1:9" in shown
    assert SECRET not in shown and SECRET not in caplog.text
    assert err.value.__suppress_context__  # the client's own exception is not printed with ours


def test_the_writer_holds_about_one_part_however_large_the_object(s3):
    import tracemalloc

    t, stub = s3
    key = {"Bucket": "harbor-backups", "Key": "lab/big"}
    stub.add_response("create_multipart_upload", {"UploadId": "u1"}, key)
    for number in range(1, 5):
        stub.add_response("upload_part", {"ETag": f'"e{number}"'},
                          {**key, "UploadId": "u1", "PartNumber": number, "Body": ANY})
    stub.add_response("complete_multipart_upload", {}, {**key, "UploadId": "u1", "MultipartUpload": ANY})
    block = b"z" * (1 << 20)
    tracemalloc.start()
    try:
        with t.writer("big") as sink:
            for _ in range(4 * MIN_PART_SIZE // len(block)):
                sink.write(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The buffer (a part plus one write) and the part being sent: 11 MiB for a 20 MiB object.
    assert peak < 2 * MIN_PART_SIZE + 2 * len(block), peak
