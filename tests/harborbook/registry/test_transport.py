"""HTTP exchange and error mapping, against a real local HTTP server (no patched client)."""

from __future__ import annotations

import socket

import pytest

from harborbook.errors import HarborbookError, TransportError
from harborbook.registry import RegistryClient, Response, http_error, short_body
from harborbook.registry.client import with_query
from harborbook.registry.transport import BODY_LIMIT, request
from harborbook.secrets import remember
from tests.support.httpfakes import QuietHandler


class Handler(QuietHandler):
    seen: list[tuple[str, str, str | None]] = []

    def do_GET(self):
        Handler.seen.append((self.command, self.path, self.headers.get("Authorization")))
        port = self.server.server_address[1]
        routes = {
            "/redirect-same": (302, [("Location", "/target")], b""),
            "/redirect-other": (302, [("Location", f"http://localhost:{port}/target")], b""),
            "/target": (200, [], b"arrived"),
            "/loop": (302, [("Location", "/loop")], b""),
            "/v2/": (401, [("WWW-Authenticate", 'Basic realm="r"')], b""),
            "/boom": (500, [], b"x" * 1000),
            "/v2/p/manifests/t": (401, [("WWW-Authenticate", 'Bearer realm="http://t/service/token",service="s"')], b""),
            "/v2/p/manifests/err": (500, [], b""),
        }
        if self.path == "/v2/" and self.headers.get("Authorization"):
            return self._answer(200, [], b"{}")
        self._answer(*routes.get(self.path, (404, [], b"not here")))

    do_HEAD = do_GET

    def do_PUT(self):
        Handler.seen.append((self.command, self.path, self.headers.get("Authorization")))
        self._answer(302, [("Location", "/target")], b"")


@pytest.fixture
def server(local_http):
    Handler.seen = []
    return local_http(Handler)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_statuses_come_back_as_data(server):
    assert request("GET", server + "/nothing").status == 404
    assert request("GET", server + "/v2/").header("www-authenticate") == 'Basic realm="r"'


def test_get_follows_redirects_and_keeps_auth_on_same_host(server):
    response = request("GET", server + "/redirect-same", {"Authorization": "Bearer t"})
    assert (response.status, response.body, response.url) == (200, b"arrived", server + "/target")
    assert Handler.seen[-1] == ("GET", "/target", "Bearer t")


def test_redirect_to_another_host_drops_credentials(server):
    request("GET", server + "/redirect-other", {"Authorization": "Bearer t"})
    assert Handler.seen[-1] == ("GET", "/target", None)


def test_put_does_not_follow_redirects(server):
    assert request("PUT", server + "/anything", body=b"x").status == 302


def test_redirect_loop_is_an_error(server):
    with pytest.raises(TransportError, match="redirects"):
        request("GET", server + "/loop")


def test_unreachable_server_is_a_transport_error():
    url = f"http://127.0.0.1:{closed_port()}/v2/"
    with pytest.raises(TransportError, match="cannot reach") as info:
        request("GET", url)
    assert isinstance(info.value, HarborbookError) and info.value.hint
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize("url", ["ftp://x/", "not a url"], ids=["scheme", "garbage"])
def test_bad_urls_are_transport_errors(url):
    with pytest.raises(TransportError):
        request("GET", url)


def test_short_body_truncates_and_masks():
    remember("hunter2-secret")
    body = ("password=hunter2-secret " + "y" * 1000).encode()
    text = short_body(body, secrets=("extra-token",))
    assert "hunter2-secret" not in text and "***" in text
    assert len(text) <= BODY_LIMIT + 3 and text.endswith("...")
    assert "extra-token" not in short_body(b"got extra-token back", secrets=("extra-token",))


@pytest.mark.parametrize(
    ("status", "needle"), [(401, "credentials"), (404, "does not exist"), (418, "logs")],
    ids=["401", "404", "default"],
)
def test_http_error_message_and_hint(status, needle):
    error = http_error("GET", Response(status, "http://r/v2/x", [], b'{"errors":"no"}'), what="pull")
    assert error.message.startswith("pull: GET http://r/v2/x -> HTTP ")
    assert str(status) in error.message and needle in error.hint


def test_client_error_carries_masked_short_body(server):
    client = RegistryClient(server, "admin", "p4ssw0rd-never-shown")
    with pytest.raises(TransportError) as info:
        client._expect("GET", request("GET", server + "/boom"), 200, what="probe")
    assert "HTTP 500" in info.value.message and len(info.value.message) < 500
    assert "p4ssw0rd" not in repr(client) and "p4ssw0rd" not in info.value.render()


def test_client_answers_basic_challenge(server):
    client = RegistryClient(server, "u", "pw")
    client.login()
    assert Handler.seen[-1][2].startswith("Basic ")


def test_client_without_credentials_gets_the_401(server):
    with pytest.raises(TransportError, match="HTTP 401"):
        RegistryClient(server).login()


@pytest.mark.parametrize(
    ("url", "expected"),
    [("http://r/v2/x/blobs/uploads/u1", "http://r/v2/x/blobs/uploads/u1?digest=sha256%3Aab"),
     ("http://r/u1?_state=s%3D", "http://r/u1?_state=s%3D&digest=sha256%3Aab")],
    ids=["no-query", "keeps-state"],
)
def test_with_query(url, expected):
    assert with_query(url, digest="sha256:ab") == expected


class UploadHandler(QuietHandler):
    """Just enough of the blob upload protocol, answering with relative Locations."""

    requests: list[tuple[str, str, bytes]] = []

    def _moved(self, status, location=None):
        self._answer(status, [("Location", location)] if location else [])

    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        UploadHandler.requests.append((self.command, self.path, self.rfile.read(length)))

    def do_HEAD(self):
        self._record()
        self._answer(404)

    def do_POST(self):
        self._record()
        self._moved(202, "/v2/lib/x/blobs/uploads/u1?_state=0")  # absolute path, no host

    def do_PATCH(self):
        self._record()
        step = len([r for r in UploadHandler.requests if r[0] == "PATCH"])
        self._moved(202, f"u1?_state={step}")  # relative to the current path

    def do_PUT(self):
        self._record()
        self._moved(201, "/v2/lib/x/blobs/sha256:done")


@pytest.fixture
def upload_server(local_http):
    UploadHandler.requests = []
    return local_http(UploadHandler)


def test_chunked_upload_follows_relative_locations(upload_server):
    data = bytes(range(250))
    client = RegistryClient(upload_server)
    assert client.upload_blob("lib/x", data, "sha256:abc", chunk_size=100) == upload_server + "/v2/lib/x/blobs/sha256:done"
    calls = [(method, path) for method, path, _body in UploadHandler.requests]
    assert calls == [
        ("POST", "/v2/lib/x/blobs/uploads/"),
        ("PATCH", "/v2/lib/x/blobs/uploads/u1?_state=0"),
        ("PATCH", "/v2/lib/x/blobs/uploads/u1?_state=1"),
        ("PATCH", "/v2/lib/x/blobs/uploads/u1?_state=2"),
        ("PUT", "/v2/lib/x/blobs/uploads/u1?_state=3&digest=sha256%3Aabc"),
    ]
    assert b"".join(body for method, _p, body in UploadHandler.requests if method == "PATCH") == data


def test_monolithic_upload_sends_the_blob_with_the_digest(upload_server):
    RegistryClient(upload_server).upload_blob("lib/x", b"blob", "sha256:abc")
    method, path, body = UploadHandler.requests[-1]
    assert (method, path, body) == ("PUT", "/v2/lib/x/blobs/uploads/u1?_state=0&digest=sha256%3Aabc", b"blob")


def test_refused_upload_is_a_transport_error(server):
    # The plain test server answers POST with 501 (no handler): not the 202 an upload needs.
    with pytest.raises(TransportError, match="start upload"):
        RegistryClient(server).upload_blob("lib/x", b"blob", "sha256:abc")


def test_cached_tokens_are_masked_in_errors(server):
    client = RegistryClient(server, "u", "pw-long-enough")
    client._tokens["scope"] = "Bearer eyJ.token-value.sig"
    error = http_error("GET", Response(500, server, [], b"echo: eyJ.token-value.sig"), client._secrets())
    assert "token-value" not in error.message


def test_unauthenticated_head_reports_the_challenge(server):
    client = RegistryClient(server, "u", "pw", extra_headers={"X-Through": "proxy"})
    head = client.head_manifest("p", "t", authenticate=False)
    assert (head.status, head.present, head.challenge.service) == (401, False, "s")
    assert Handler.seen[-1] == ("HEAD", "/v2/p/manifests/t", None)  # no credential was sent
    missing = client.head_manifest("p", "absent", authenticate=False)
    assert (missing.status, missing.challenge) == (404, None)
    with pytest.raises(TransportError, match="HTTP 500"):
        client.head_manifest("p", "err", authenticate=False)
