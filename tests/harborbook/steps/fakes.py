"""Small real servers for the checks of 00-preflight and 05-verify, each on its pass and its fail
path without the lab: a Redis that speaks RESP on a loopback socket, and a Harbor front (UI page,
/login with sessions, the token service, a V2 registry keeping blobs and manifests in memory).

They answer the way the real programs do where the checks look (status codes, challenges, the
Redis error prefixes redis-py maps to its exceptions); each can be told to misbehave the way a
broken deployment does, so that a check's fail path is reached by a real exchange.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socketserver
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.httpfakes import QuietHandler

# ------------------------------------------------------------------ Redis


class FakeRedis:
    """Enough of Redis for the checks: HELLO (RESP2/3, as redis-py opens), AUTH, SELECT, PING,
    CONFIG GET databases, SET, GET, EXISTS.

    ``password``: required when set (AUTH answers WRONGPASS otherwise, other commands NOAUTH).
    ``config=False``: CONFIG is unknown, as on managed Redis where it is renamed away.
    """

    def __init__(self, password: str | None = None, databases: int = 16, config: bool = True):
        self.password, self.databases, self.config = password, databases, config
        self.data: list[dict[bytes, bytes]] = [{} for _ in range(databases)]
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                session = {"authed": fake.password is None, "db": 0}
                while True:
                    command = _read_command(self.rfile)
                    if command is None:
                        return
                    reply = fake.answer(session, command)
                    self.wfile.write(reply)
                    if command[0].upper() == b"QUIT":
                        return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> "FakeRedis":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def answer(self, session: dict, command: list[bytes]) -> bytes:
        name, args = command[0].upper(), command[1:]
        if name == b"HELLO":  # redis-py's handshake: HELLO 3 [AUTH user password]
            if b"AUTH" in (a.upper() for a in args):
                if self.password is None or args[-1].decode() != self.password:
                    return b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
                session["authed"] = True
            elif not session["authed"]:
                return b"-NOAUTH HELLO must be called with the client already authenticated\r\n"
            session["resp3"] = bool(args) and args[0] == b"3"
            fields = [(b"server", _bulk(b"redis")), (b"version", _bulk(b"7.0.15")), (b"proto", b":3\r\n"),
                      (b"id", b":1\r\n"), (b"mode", _bulk(b"standalone")), (b"role", _bulk(b"master")),
                      (b"modules", b"*0\r\n")]
            return b"%%%d\r\n" % len(fields) + b"".join(_bulk(k) + v for k, v in fields)
        if name == b"AUTH":
            if self.password is None:
                return b"-ERR AUTH <password> called without any password configured for the default user. " \
                       b"Are you sure your configuration is correct?\r\n"
            if args[-1].decode() != self.password:
                return b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
            session["authed"] = True
            return b"+OK\r\n"
        if not session["authed"]:
            return b"-NOAUTH Authentication required.\r\n"
        store = self.data[session["db"]]
        if name == b"SELECT":
            index = int(args[0])
            if not 0 <= index < self.databases:
                return b"-ERR DB index is out of range\r\n"
            session["db"] = index
            return b"+OK\r\n"
        if name in (b"PING", b"QUIT", b"CLIENT"):
            return b"+PONG\r\n" if name == b"PING" else b"+OK\r\n"
        if name == b"CONFIG" and self.config and args[0].upper() == b"GET" and args[1] == b"databases":
            pair = _bulk(b"databases") + _bulk(str(self.databases).encode())
            return b"%1\r\n" + pair if session.get("resp3") else b"*2\r\n" + pair
        if name == b"SET":
            store[args[0]] = args[1]
            return b"+OK\r\n"
        if name == b"GET":
            value = store.get(args[0])
            return b"$-1\r\n" if value is None else _bulk(value)
        if name == b"EXISTS":
            return f":{sum(key in store for key in args)}\r\n".encode()
        return b"-ERR unknown command '" + command[0] + b"'\r\n"


def _read_command(rfile) -> list[bytes] | None:
    header = rfile.readline()
    if not header:
        return None
    if not header.startswith(b"*"):  # an inline command
        return header.strip().split()
    parts = []
    for _ in range(int(header[1:])):
        length = int(rfile.readline()[1:])
        parts.append(rfile.read(length + 2)[:-2])
    return parts


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)




# ------------------------------------------------------------------ Harbor's front


@dataclass
class FrontState:
    """What the front serves and how it misbehaves (each flag is one broken deployment)."""

    password: str
    redis: FakeRedis | None = None          # where /login keeps sessions (None: in memory)
    redis_db: int = 11                      # the db index of _REDIS_URL
    realm: str | None = None                # None: the right realm, <base>/service/token
    service: str = "harbor-registry"
    token_auth: bool = True                 # False: the registry on its example config (no auth)
    ui_page: bool = True                    # False: / answers 404 (nginx not routing to the ui)
    any_password: bool = False              # True: the token service accepts any password
    sessions_shared: bool = True            # False: every other request misses the session
    corrupt_blobs: bool = False             # True: pulls get other bytes (private storage)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    sessions: set[str] = field(default_factory=set)
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    requests: int = 0


BLOB = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
UPLOAD_START = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/$")
UPLOAD = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<id>[0-9a-f]+)$")
MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$")


def harbor_front(state: FrontState) -> type[BaseHTTPRequestHandler]:
    """A handler class serving ``state`` (for the ``local_http`` fixture)."""

    class Front(QuietHandler):
        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorized(self) -> bool:
            return not state.token_auth or self.headers.get("Authorization") == f"Bearer {state.token}"

        def _challenge(self):
            realm = state.realm or f"http://{self.headers['Host']}/service/token"
            self._answer(401, [("WWW-Authenticate", f'Bearer realm="{realm}",service="{state.service}"')])

        def do_GET(self):
            url = urlsplit(self.path)
            path = url.path
            if path == "/":
                if not state.ui_page:
                    return self._answer(404, [], b"404 page not found")
                return self._answer(200, [("Content-Type", "text/html")], b"<html><body>Harbor</body></html>")
            if path == "/service/token":
                basic = self.headers.get("Authorization", "")
                user, _, password = base64.b64decode(basic.removeprefix("Basic ")).decode().partition(":")
                if user == "admin" and (password == state.password or state.any_password):
                    return self._answer(200, [("Content-Type", "application/json")],
                                        json.dumps({"token": state.token}).encode())
                return self._answer(401, [], b'{"errors": "unauthorized"}')
            if path == "/api/users/current":
                state.requests += 1
                cookie = (self.headers.get("Cookie") or "").partition("beegosessionID=")[2].split(";")[0]
                known = cookie in state.sessions and (state.sessions_shared or state.requests % 2)
                return self._answer(200 if known else 401, [], b"{}")
            if not path.startswith("/v2/"):
                return self._answer(404)
            if not self._authorized():
                return self._challenge()
            if path == "/v2/":
                return self._answer(200, [], b"{}")
            if match := BLOB.match(path):
                data = state.blobs.get(match["digest"])
                if data is None:
                    return self._answer(404)
                return self._answer(200, [("Docker-Content-Digest", match["digest"])],
                                    data[::-1] if state.corrupt_blobs else data)
            if match := MANIFEST.match(path):
                found = state.manifests.get((match["name"], match["reference"]))
                if found is None:
                    return self._answer(404)
                body, media_type = found
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                return self._answer(200, [("Content-Type", media_type), ("Docker-Content-Digest", digest)], body)
            self._answer(404)

        do_HEAD = do_GET

        def do_POST(self):
            body = self._body()
            if self.path == "/login":
                form = parse_qs(body.decode())
                if form.get("password") == [state.password]:
                    session = uuid.uuid4().hex
                    state.sessions.add(session)
                    if state.redis is not None:  # beego's Redis provider: the session id is the key
                        state.redis.data[state.redis_db][session.encode()] = b"session"
                    return self._answer(200, [("Set-Cookie", f"beegosessionID={session}; Path=/; HttpOnly")])
                return self._answer(401)
            if not self._authorized():
                return self._challenge()
            if match := UPLOAD_START.match(self.path):
                upload = uuid.uuid4().hex
                state.uploads[upload] = b""
                return self._answer(202, [("Location", f"/v2/{match['name']}/blobs/uploads/{upload}")])
            self._answer(404)

        def do_PATCH(self):
            body = self._body()
            match = UPLOAD.match(urlsplit(self.path).path)
            if not self._authorized():
                return self._challenge()
            if not match or match["id"] not in state.uploads:
                return self._answer(404)
            state.uploads[match["id"]] += body
            return self._answer(202, [("Location", self.path)])

        def do_PUT(self):
            body = self._body()
            url = urlsplit(self.path)
            if not self._authorized():
                return self._challenge()
            if (match := UPLOAD.match(url.path)) and match["id"] in state.uploads:
                data = state.uploads.pop(match["id"]) + body
                digest = parse_qs(url.query)["digest"][0]
                if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
                    return self._answer(400, [], b'{"errors": [{"code": "DIGEST_INVALID"}]}')
                state.blobs[digest] = data
                return self._answer(201, [("Location", f"/v2/{match['name']}/blobs/{digest}")])
            if match := MANIFEST.match(url.path):
                state.manifests[(match["name"], match["reference"])] = (body, self.headers["Content-Type"])
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                return self._answer(201, [("Docker-Content-Digest", digest)])
            self._answer(404)

    return Front
