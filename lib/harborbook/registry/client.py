"""A small Docker Registry V2 client: login like ``docker login``, push, pull, HEAD.

Auth follows the registry's lead: a request goes out with whatever we hold for its scope;
a ``401`` carries a challenge; for ``Bearer`` we ask the realm for a token (basic auth with
the user's credentials, ``service`` and ``scope`` from the challenge) and retry once; for
``Basic`` we send the credentials. Tokens are cached per scope for the client's life.

Upload ``Location`` headers may be absolute or relative (and carry query state): they are
resolved against the URL of the response that sent them.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.parse
from dataclasses import dataclass, field

from ..errors import TransportError
from .challenge import Challenge, find_challenge, repository_scope
from .image import ACCEPT_MANIFESTS, Image, manifest_blob_digests, sha256_digest
from .transport import Response, http_error, request


@dataclass(frozen=True)
class Pulled:
    """What a pull got back: the manifest bytes, the digest the registry claims, the blobs."""

    manifest: bytes
    content_type: str | None
    header_digest: str | None
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)


@dataclass(frozen=True)
class ManifestHead:
    """What a manifest ``HEAD`` found. ``challenge`` is set when the answer was a registry 401."""

    status: int
    digest: str | None
    content_type: str | None
    challenge: Challenge | None = None

    @property
    def present(self) -> bool:
        return self.status == 200


def compare_pull(image: Image, pulled: Pulled) -> list[str]:
    """Every way ``pulled`` differs from what was pushed (empty when identical)."""
    problems: list[str] = []
    if pulled.digest != image.digest:
        problems.append(f"manifest digest {pulled.digest} != pushed {image.digest}")
    if pulled.header_digest and pulled.header_digest != image.digest:
        problems.append(f"Docker-Content-Digest {pulled.header_digest} != pushed {image.digest}")
    for blob in image.blobs:
        got = pulled.blobs.get(blob.digest)
        if got is None:
            problems.append(f"blob {blob.digest} was not pulled")
        elif got != blob.data:
            problems.append(f"blob {blob.digest}: {len(got)} bytes differ from the {blob.size} pushed")
    return problems


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` appended to whatever query it already carries."""
    parts = urllib.parse.urlsplit(url)
    extra = urllib.parse.urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urllib.parse.urlunsplit(parts._replace(query=query))


class RegistryClient:
    """A V2 client for one base URL (``http://host[:port][/prefix]``, without ``/v2``)."""

    def __init__(
        self,
        base_url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        timeout: float = 30.0,
        context: ssl.SSLContext | None = None,
        extra_headers: dict[str, str] | None = None,
        _tokens: dict[str, str] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.timeout = timeout
        self.context = context
        self.extra_headers = dict(extra_headers or {})
        self._tokens: dict[str, str] = {} if _tokens is None else _tokens

    def __repr__(self) -> str:
        return f"RegistryClient({self.base_url!r}, username={self.username!r})"

    def with_base(
        self,
        base_url: str,
        *,
        context: ssl.SSLContext | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> "RegistryClient":
        """The same user (and token cache) through another base URL, e.g. a pod proxy URL."""
        return RegistryClient(
            base_url, self.username, self._password, timeout=self.timeout,
            context=context, extra_headers=extra_headers, _tokens=self._tokens,
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _secrets(self) -> tuple[str, ...]:
        # Cached credentials are "Bearer <token>" / "Basic <b64>": mask the bare values too.
        values = [self._password, *self._tokens.values()]
        values += [v.partition(" ")[2] for v in self._tokens.values()]
        return tuple(v for v in values if v)

    def _basic(self) -> str | None:
        if self.username is None or self._password is None:
            return None
        raw = f"{self.username}:{self._password}".encode("utf-8")
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def url(self, path: str) -> str:
        return self.base_url + path

    def fetch_token(self, challenge: Challenge, scope: str | None) -> str:
        """A token from the challenge's realm, authenticated like ``docker login``."""
        if not challenge.realm:
            raise TransportError("the registry's Bearer challenge has no realm", hint="check auth.token.realm")
        params = {}
        if challenge.service:
            params["service"] = challenge.service
        if scope:
            params["scope"] = scope
        if self.username:
            params["account"] = self.username
        url = with_query(challenge.realm, **params) if params else challenge.realm
        headers = {"Accept": "application/json"}
        basic = self._basic()
        if basic:
            headers["Authorization"] = basic
        response = request("GET", url, headers, timeout=self.timeout, context=self.context)
        if response.status != 200:
            raise http_error("GET", response, self._secrets(), what="token request refused")
        try:
            doc = json.loads(response.body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            raise TransportError(
                f"GET {url}: the token service answered without a token",
                hint="is the realm really the ui's /service/token?",
            )
        return token

    def send(
        self,
        method: str,
        url: str,
        scope: str | None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """One request with auth: the cached credential for ``scope``, or the challenge's."""
        base_headers = {**self.extra_headers, **(headers or {})}
        cached = self._tokens.get(scope or "")
        if cached:
            base_headers["Authorization"] = cached
        response = request(method, url, base_headers, body, timeout=self.timeout, context=self.context)
        if response.status != 401:
            return response
        challenges = response.header_all("WWW-Authenticate")
        bearer = find_challenge(challenges, "bearer")
        if bearer is not None:
            credential = "Bearer " + self.fetch_token(bearer, bearer.scope or scope)
        elif find_challenge(challenges, "basic") is not None and self._basic():
            credential = self._basic() or ""
        else:
            return response
        self._tokens[scope or ""] = credential
        base_headers["Authorization"] = credential
        return request(method, url, base_headers, body, timeout=self.timeout, context=self.context)

    def _expect(self, method: str, response: Response, *statuses: int, what: str = "") -> Response:
        if response.status not in statuses:
            raise http_error(method, response, self._secrets(), what=what)
        return response

    # -- the API ----------------------------------------------------------------------------

    def ping(self) -> Response:
        """``GET /v2/`` without credentials: 200 (open) or 401 with the challenge."""
        return request("GET", self.url("/v2/"), dict(self.extra_headers), timeout=self.timeout, context=self.context)

    def challenge(self) -> Challenge | None:
        """The registry's Bearer (or Basic) challenge, None when it needs no auth."""
        response = self.ping()
        if response.status == 200:
            return None
        if response.status != 401:
            raise http_error("GET", response, self._secrets(), what="registry ping")
        headers = response.header_all("WWW-Authenticate")
        return find_challenge(headers, "bearer") or find_challenge(headers, "basic")

    def login(self) -> None:
        """What ``docker login`` does: obtain a token for no scope, then ``GET /v2/`` with it."""
        response = self.send("GET", self.url("/v2/"), scope=None)
        self._expect("GET", response, 200, what="login")

    def blob_exists(self, name: str, digest: str) -> bool:
        scope = repository_scope(name, ("pull", "push"))
        response = self.send("HEAD", self.url(f"/v2/{name}/blobs/{digest}"), scope)
        if response.status == 404:
            return False
        self._expect("HEAD", response, 200, what="blob check")
        return True

    def upload_blob(self, name: str, data: bytes, digest: str, chunk_size: int | None = None) -> str:
        """Upload one blob (monolithic, or chunked when ``chunk_size`` is set); returns its URL."""
        scope = repository_scope(name, ("pull", "push"))
        start = self.url(f"/v2/{name}/blobs/uploads/")
        response = self._expect("POST", self.send("POST", start, scope, {"Content-Length": "0"}, b""), 202,
                                what="start upload")
        location = self._location(response)
        if chunk_size:
            for offset in range(0, len(data), chunk_size):
                chunk = data[offset : offset + chunk_size]
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(len(chunk)),
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                }
                response = self._expect("PATCH", self.send("PATCH", location, scope, headers, chunk), 202,
                                        what="upload chunk")
                location = self._location(response)
            final_body = b""
        else:
            final_body = data
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(final_body))}
        response = self.send("PUT", with_query(location, digest=digest), scope, headers, final_body)
        self._expect("PUT", response, 201, what="finish upload")
        return self._location(response)

    def _location(self, response: Response) -> str:
        location = response.header("Location")
        if not location:
            raise TransportError(
                f"{response.url}: HTTP {response.status} without a Location header",
                hint="a proxy between us and the registry may drop headers",
            )
        return urllib.parse.urljoin(response.url, location)

    def put_manifest(self, name: str, reference: str, manifest: bytes, media_type: str) -> str | None:
        scope = repository_scope(name, ("pull", "push"))
        headers = {"Content-Type": media_type, "Content-Length": str(len(manifest))}
        response = self.send("PUT", self.url(f"/v2/{name}/manifests/{reference}"), scope, headers, manifest)
        self._expect("PUT", response, 201, what="push manifest")
        return response.header("Docker-Content-Digest")

    def push(self, name: str, tag: str, image: Image, chunk_size: int | None = None) -> str:
        """Push ``image`` as ``name:tag``; returns the digest the registry reports."""
        for blob in image.blobs:
            if not self.blob_exists(name, blob.digest):
                self.upload_blob(name, blob.data, blob.digest, chunk_size)
        reported = self.put_manifest(name, tag, image.manifest, image.manifest_type)
        return reported or image.digest

    def get_manifest(self, name: str, reference: str) -> tuple[bytes, str | None, str | None]:
        scope = repository_scope(name, ("pull",))
        response = self.send("GET", self.url(f"/v2/{name}/manifests/{reference}"), scope,
                             {"Accept": ACCEPT_MANIFESTS})
        self._expect("GET", response, 200, what="pull manifest")
        return response.body, response.header("Content-Type"), response.header("Docker-Content-Digest")

    def get_blob(self, name: str, digest: str) -> bytes:
        scope = repository_scope(name, ("pull",))
        response = self.send("GET", self.url(f"/v2/{name}/blobs/{digest}"), scope)
        self._expect("GET", response, 200, what="pull blob")
        return response.body

    def pull(self, name: str, reference: str) -> Pulled:
        """The manifest and every blob it references."""
        manifest, content_type, header_digest = self.get_manifest(name, reference)
        blobs = {digest: self.get_blob(name, digest) for digest in manifest_blob_digests(manifest)}
        return Pulled(manifest, content_type, header_digest, blobs)

    def head_manifest(self, name: str, reference: str, authenticate: bool = True) -> ManifestHead:
        """``HEAD`` a manifest: status and digest, without raising on 404 (a check decides).

        ``authenticate=False`` sends only ``extra_headers`` and reports a registry 401 with its
        challenge instead of raising. That is the only way through the Kubernetes API's pod
        proxy: the API server consumes the ``Authorization`` header (it authenticates the
        operator with it and strips it), so a registry token can never reach the pod that way.
        A replica answering 401 with the expected Bearer challenge is running its token config;
        one answering 200/404 without auth is running the image's example config (the 2017 bug).
        """
        url = self.url(f"/v2/{name}/manifests/{reference}")
        headers = {"Accept": ACCEPT_MANIFESTS}
        if authenticate:
            response = self.send("HEAD", url, repository_scope(name, ("pull",)), headers)
        else:
            response = request("HEAD", url, {**self.extra_headers, **headers},
                               timeout=self.timeout, context=self.context)
        challenge = None
        if response.status == 401 and not authenticate:
            headers_401 = response.header_all("WWW-Authenticate")
            challenge = find_challenge(headers_401, "bearer") or find_challenge(headers_401, "basic")
        if response.status not in (200, 404) and challenge is None:
            raise http_error("HEAD", response, self._secrets(), what="manifest check")
        return ManifestHead(response.status, response.header("Docker-Content-Digest"),
                            response.header("Content-Type"), challenge)
