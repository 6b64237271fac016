"""The lab's own small client of the registry HTTP API v2 (no auth): push and read images.

Written from distribution's ``docs/spec/api.md``:

- ``HEAD /v2/<name>/blobs/<digest>``: 200 when the repository has the blob;
- ``POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>``: 201 when the blob was linked
  from another repository, else 202 and an upload as below;
- ``POST /v2/<name>/blobs/uploads/`` (202, ``Location``), then a monolithic
  ``PUT <location>&digest=<digest>`` with the bytes (201);
- ``PUT /v2/<name>/manifests/<tag>`` with the manifest's media type (201,
  ``Docker-Content-Digest``); ``GET``/``HEAD`` of manifests and blobs read them back.

Errors come back as ``{"errors": [{"code": ..., "message": ...}]}``; a method the server does
not route (a write to a read-only registry) is a plain 405. :class:`RegistryError` keeps the
status and the codes either way.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from harborlab.errors import LabError
from harborlab.legacy_images import Blob, Image, MANIFEST_V2


class RegistryError(LabError):
    def __init__(self, what: str, status: int, body: bytes, allow: str | None = None):
        self.status = status
        self.codes = error_codes(body)
        self.allow = allow
        detail = ", ".join(self.codes) or body.decode(errors="replace").strip()[:200]
        # A read-only distribution answers writes 405 with "Allow: GET, HEAD".
        extra = f" (Allow: {allow})" if allow else ""
        super().__init__(f"{what}: HTTP {status} {detail}".rstrip() + extra)


def error_codes(body: bytes) -> list[str]:
    """The ``code`` of each error in a registry error body (none for a non-JSON body)."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return []
    return [str(e.get("code")) for e in errors if isinstance(e, dict)]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Registry:
    """One registry at ``host:port``; a keep-alive connection per thread."""

    def __init__(self, host: str, port: int, timeout: float = 30):
        self.host, self.port, self.timeout = host, port, timeout
        self._local = threading.local()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Response:
        headers = dict(headers or {})
        if body is not None:
            headers.setdefault("Content-Type", "application/octet-stream")
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server closed: one fresh try.
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- reads ------------------------------------------------------------------

    def ping(self) -> int:
        return self.request("GET", "/v2/").status

    def has_blob(self, repository: str, digest: str) -> bool:
        resp = self.request("HEAD", f"/v2/{repository}/blobs/{digest}")
        if resp.status in (200, 404):
            return resp.status == 200
        raise RegistryError(f"HEAD blob {digest} in {repository}", resp.status, resp.body)

    def get_blob(self, repository: str, digest: str) -> bytes:
        resp = self.request("GET", f"/v2/{repository}/blobs/{digest}")
        if resp.status != 200:
            raise RegistryError(f"GET blob {digest} from {repository}", resp.status, resp.body)
        return resp.body

    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        """The manifest bytes and the digest the registry reports for them."""
        resp = self.request("GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_V2})
        if resp.status != 200:
            raise RegistryError(f"GET manifest {repository}:{reference}", resp.status, resp.body)
        return resp.body, resp.headers.get("docker-content-digest", "")

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        resp = self.request("HEAD", f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_V2})
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise RegistryError(f"HEAD manifest {repository}:{reference}", resp.status, resp.body)
        return resp.headers.get("docker-content-digest")

    def tags(self, repository: str) -> list[str]:
        resp = self.request("GET", f"/v2/{repository}/tags/list")
        if resp.status == 404:
            return []
        if resp.status != 200:
            raise RegistryError(f"GET tags of {repository}", resp.status, resp.body)
        return json.loads(resp.body).get("tags") or []

    # -- writes -----------------------------------------------------------------

    def _upload_path(self, location: str) -> str:
        parts = urlsplit(location)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def push_blob(self, repository: str, blob: Blob, mount_from: str | None = None) -> str:
        """Make ``blob`` part of ``repository``: "present", "mounted" or "uploaded"."""
        if self.has_blob(repository, blob.digest):
            return "present"
        query = urlencode({"mount": blob.digest, "from": mount_from}) if mount_from else ""
        resp = self.request("POST", f"/v2/{repository}/blobs/uploads/" + (f"?{query}" if query else ""))
        if resp.status == 201:
            return "mounted"
        if resp.status != 202 or "location" not in resp.headers:
            raise RegistryError(f"start upload of {blob.digest} to {repository}", resp.status, resp.body,
                                resp.headers.get("allow"))
        path = self._upload_path(resp.headers["location"])
        path += ("&" if "?" in path else "?") + urlencode({"digest": blob.digest})
        done = self.request("PUT", path, body=blob.data)
        if done.status != 201:
            raise RegistryError(f"upload {blob.digest} to {repository}", done.status, done.body)
        return "uploaded"

    def put_manifest(self, repository: str, tag: str, manifest: bytes, media_type: str = MANIFEST_V2) -> str:
        resp = self.request("PUT", f"/v2/{repository}/manifests/{tag}", body=manifest,
                            headers={"Content-Type": media_type})
        if resp.status != 201:
            raise RegistryError(f"PUT manifest {repository}:{tag}", resp.status, resp.body, resp.headers.get("allow"))
        return resp.headers.get("docker-content-digest", "")

    def push_image(self, repository: str, tag: str, image: Image, mount_from: dict[str, str] | None = None) -> str:
        """Blobs first, then the manifest (the registry refuses a manifest with unknown blobs)."""
        for blob in image.blobs:
            source = (mount_from or {}).get(blob.digest)
            self.push_blob(repository, blob, source if source != repository else None)
        return self.put_manifest(repository, tag, image.manifest)


__all__ = ["Registry", "RegistryError", "Response", "error_codes"]
