"""The S3 backup target: objects in a bucket of any S3-compatible service (AWS, Ceph radosgw, MinIO).

Streams both ways with bounded memory: a writer buffers at most one part (8 MiB by default) and
sends it as a multipart upload part; a small object is one PUT. The object exists only once the
upload completes, which happens when the ``with`` block exits cleanly; on an exception the
multipart upload is aborted, so neither an object nor a pending upload (billed storage on AWS)
stays behind.

The secret key goes into the boto3 client and nowhere else: not an attribute, not an error
message, not ``repr``. Errors name what failed and the params key to check.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any, BinaryIO, NoReturn, cast

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    HTTPClientError,
    ResponseStreamingError,
    SSLError,
)

from ..errors import Forbidden, HarborbookError, NotFound, TransportError, Unauthorized, Unavailable, transport_error

PART_SIZE = 8 << 20
MIN_PART_SIZE = 5 << 20  # S3's smallest part, except the last one
PAGE_SIZE = 1000  # S3's largest listing page

HINT_KEYS = "check backup.target.access_key / secret_key (the S3 service refused them)"
HINT_DENIED = "the key was accepted but may not do this; check backup.target.access_key / secret_key and the bucket's policy"
HINT_BUCKET = "check backup.target.bucket (and backup.target.endpoint), or create the bucket"
HINT_ENDPOINT = "check backup.target.endpoint, and that the S3 service is running and reachable"
HINT_TLS = "check backup.target.endpoint and backup.target.verify_tls (a CA bundle path, or false for a test service)"

# S3 error codes that mean "these credentials are wrong" (rather than "not allowed").
CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                    "AuthorizationHeaderMalformed", "InvalidSecurity")
MISSING_OBJECT_CODES = ("NoSuchKey", "404", "NotFound")


def object_key(prefix: str, name: str) -> str:
    """The bucket key of object ``name`` under the target's ``prefix`` (a folder)."""
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in name:
        raise HarborbookError(f"invalid backup object name {name!r}",
                              hint="object names are relative paths without '.' or '..' parts")
    return f"{prefix}/{name}" if prefix else name


class S3Target:
    """Backups as objects in one bucket, under a prefix."""

    def __init__(self, endpoint: str, bucket: str, prefix: str, region: str, access_key: str, secret_key: str,
                 verify: bool | str, *, part_size: int = PART_SIZE, page_size: int = PAGE_SIZE):
        if part_size < MIN_PART_SIZE:
            raise HarborbookError(f"S3 part size {part_size} is below S3's minimum of {MIN_PART_SIZE} bytes")
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.region = region
        self.part_size = part_size
        self.page_size = page_size
        config = Config(
            # Path-style (endpoint/bucket/key): every S3-compatible service answers it; the
            # virtual-hosted style needs wildcard DNS for the bucket names, which a loopback
            # or on-premises endpoint rarely has.
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 3},
            # boto3 >= 1.36 adds CRC checksums to every upload by default; S3-compatible
            # services that predate them (radosgw before Squid, older MinIO) reject such
            # requests. Checksums only where the API requires them; every backup object
            # carries its own sha256 in backup.json anyway.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of our own: nothing from the process-wide default session or its cache.
        self._client = boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, verify=verify, config=config)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} at {self.endpoint}"

    def __repr__(self) -> str:
        return f"S3Target({self.describe()!r})"

    # -- errors ---------------------------------------------------------------------

    def _raise(self, exc: Exception, doing: str) -> NoReturn:
        raise self.error(exc, doing) from None

    def error(self, exc: Exception, doing: str) -> TransportError:
        """The project's named error for a boto3 failure while ``doing`` (never the client's text)."""
        what = f"{self.describe()}: {doing}"
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in CREDENTIAL_CODES:
                return Unauthorized(f"{what}: the S3 service refused the credentials ({code})", hint=HINT_KEYS,
                                    status=status)
            if status == 403 or code == "AccessDenied":
                return Forbidden(f"{what}: access denied ({code or status})", hint=HINT_DENIED, status=status)
            if code == "NoSuchBucket":
                return NotFound(f"{what}: no bucket {self.bucket!r}", hint=HINT_BUCKET, status=status)
            if code in MISSING_OBJECT_CODES:
                return NotFound(f"{what}: no such object", status=status)
            if status is not None and status >= 500:
                return Unavailable(f"{what}: the S3 service failed ({code or status})", hint=HINT_ENDPOINT,
                                   status=status)
            return transport_error(status, f"{what}: the S3 service answered {code or status}")
        if isinstance(exc, SSLError):
            return Unavailable(f"{what}: TLS handshake with the S3 endpoint failed", hint=HINT_TLS)
        if isinstance(exc, (BotoConnectionError, HTTPClientError, ResponseStreamingError)):
            return Unavailable(f"{what}: cannot reach the S3 endpoint ({type(exc).__name__})", hint=HINT_ENDPOINT)
        return TransportError(f"{what}: {type(exc).__name__}", hint=HINT_ENDPOINT)

    @contextlib.contextmanager
    def _calling(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            self._raise(exc, doing)

    def _missing(self, name: str, doing: str) -> NotFound:
        """404 for an object: the object is absent, unless the bucket itself is (HEAD has no body to tell)."""
        with self._calling(doing):
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    return NotFound(f"{self.describe()}: {doing}: no bucket {self.bucket!r}", hint=HINT_BUCKET,
                                    status=404)
                raise
        return NotFound(f"{self.describe()}: no object {name}", status=404)

    # -- the Target protocol ------------------------------------------------------------

    def names(self, prefix: str = "") -> list[str]:
        root = f"{self.prefix}/" if self.prefix else ""
        found: list[str] = []
        with self._calling(f"listing {prefix or '/'}"):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=root + prefix, PaginationConfig={"PageSize": self.page_size})
            for page in pages:
                found += [item["Key"][len(root):] for item in page.get("Contents", [])]
        return sorted(found)

    def size(self, name: str) -> int | None:
        key = object_key(self.prefix, name)
        try:
            with self._calling(f"HEAD {name}"):
                head = self._client.head_object(Bucket=self.bucket, Key=key)
        except NotFound:
            missing = self._missing(name, f"HEAD {name}")
            if missing.hint == HINT_BUCKET:
                raise missing from None
            return None
        return int(head["ContentLength"])

    @contextlib.contextmanager
    def writer(self, name: str) -> Iterator[BinaryIO]:
        sink = _UploadSink(self, object_key(self.prefix, name), name)
        try:
            yield cast(BinaryIO, sink)
            sink.finish()
        except BaseException:
            sink.abort()
            raise

    @contextlib.contextmanager
    def reader(self, name: str) -> Iterator[BinaryIO]:
        key = object_key(self.prefix, name)
        try:
            with self._calling(f"GET {name}"):
                body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except NotFound as exc:
            if exc.hint == HINT_BUCKET:
                raise
            raise NotFound(f"{self.describe()}: no object {name}", status=404) from None
        stream = io.BufferedReader(_BodyReader(self, body, name), buffer_size=1 << 20)
        try:
            yield cast(BinaryIO, stream)
        finally:
            stream.close()

    def delete(self, name: str) -> None:
        # S3's DELETE of an absent key succeeds: idempotent as the protocol asks.
        with self._calling(f"DELETE {name}"):
            self._client.delete_object(Bucket=self.bucket, Key=object_key(self.prefix, name))

    # -- for tests and for cleaning up after a killed process ----------------------------

    def pending_uploads(self) -> list[str]:
        """Keys (relative to the prefix) with a multipart upload neither completed nor aborted."""
        root = f"{self.prefix}/" if self.prefix else ""
        found: list[str] = []
        with self._calling("listing multipart uploads"):
            pages = self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=root)
            for page in pages:
                found += [item["Key"][len(root):] for item in page.get("Uploads", [])]
        return sorted(found)


class _UploadSink(io.BufferedIOBase):
    """A write-only stream to one S3 object: whole parts go out as they fill, the rest at finish."""

    def __init__(self, target: S3Target, key: str, name: str):
        super().__init__()
        self._target = target
        self._key = key
        self._name = name
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._done = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._done or self.closed:
            raise ValueError(f"write to the finished S3 object {self._name}")
        view = memoryview(data).cast("B")
        self._buffer += view
        size = self._target.part_size
        while len(self._buffer) >= size:
            # One copy of the part (a bytearray slice would make a second one).
            with memoryview(self._buffer) as whole:
                part = bytes(whole[:size])
            self._send_part(part)
            del part  # freed before the buffer is trimmed: at most one part and the buffer live
            del self._buffer[:size]
        return len(view)

    def close(self) -> None:
        # The caller may close the stream (a wrapping writer does); the object is finished
        # only when the target's ``with`` block exits cleanly, so the buffer stays.
        super().close()

    def _send_part(self, data: bytes) -> None:
        client = self._target._client
        bucket = self._target.bucket
        if self._upload_id is None:
            with self._target._calling(f"starting the upload of {self._name}"):
                self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=self._key)["UploadId"]
        number = len(self._parts) + 1
        with self._target._calling(f"uploading part {number} of {self._name}"):
            answer = client.upload_part(Bucket=bucket, Key=self._key, UploadId=self._upload_id,
                                        PartNumber=number, Body=data)
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def finish(self) -> None:
        client = self._target._client
        bucket = self._target.bucket
        if self._upload_id is None:
            # Smaller than one part: a single PUT, just as atomic.
            with self._target._calling(f"PUT {self._name}"):
                client.put_object(Bucket=bucket, Key=self._key, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._send_part(bytes(self._buffer))
            with self._target._calling(f"completing the upload of {self._name}"):
                client.complete_multipart_upload(Bucket=bucket, Key=self._key, UploadId=self._upload_id,
                                                 MultipartUpload={"Parts": self._parts})
        self._buffer = bytearray()
        self._done = True

    def abort(self) -> None:
        """Drop the buffer and the multipart upload; the caller's exception is the one that counts."""
        self._buffer = bytearray()
        if self._upload_id is not None and not self._done:
            with contextlib.suppress(ClientError, BotoCoreError):
                self._target._client.abort_multipart_upload(Bucket=self._target.bucket, Key=self._key,
                                                            UploadId=self._upload_id)
        self._done = True


class _BodyReader(io.RawIOBase):
    """A GET response body as a raw stream, with transport failures mapped to our errors."""

    def __init__(self, target: S3Target, body: Any, name: str):
        super().__init__()
        self._target = target
        self._body = body
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        with self._target._calling(f"reading {self._name}"):
            data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self._body.close()
        super().close()
