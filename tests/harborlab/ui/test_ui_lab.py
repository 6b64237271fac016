"""The ui stand-in as a real process, with a real MariaDB and Redis on loopback."""

from __future__ import annotations

import base64
import http.cookies
import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest
import redis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from harborbook import tokenkeys
from harborbook.beego import password_hash
from harborlab.ui.fixtures import ADMIN_PASSWORD, start_ui
from harborlab.ui.sessions import COOKIE_NAME
from harborlab.ui.tokens import decode_unverified

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def call(url, data=None, headers=None, opener=None):
    """(status, headers, body) whatever the status."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def login(base, password=ADMIN_PASSWORD):
    """Log in like the browser; returns the status and the session id."""
    status, headers, _ = call(base + "/login", {"principal": "admin", "password": password})
    cookie = http.cookies.SimpleCookie(headers.get("Set-Cookie", ""))
    return status, cookie[COOKIE_NAME].value if COOKIE_NAME in cookie else None


def current(base, sid):
    return call(base + "/api/users/current", headers={"Cookie": f"{COOKIE_NAME}={sid}"} if sid else {})


@pytest.fixture
def ui(procs, tmp_path, ips, token_keys, mariadb):
    pod = start_ui(procs, tmp_path / "ui-0", ips(1), token_keys, mariadb)
    return f"http://{pod.ip}:80"


def test_index_and_login(ui):
    status, headers, body = call(ui + "/")
    assert status == 200 and b"Harbor" in body and headers["Content-Type"].startswith("text/html")
    status, sid = login(ui)
    assert status == 200 and sid
    status, _h, body = current(ui, sid)
    user = json.loads(body)
    assert status == 200 and user["username"] == "admin" and user["has_admin_role"] == 1
    assert "Salt" in user and user["Salt"] == "" and user["password"] == ""


@pytest.mark.parametrize(("principal", "password"), [("admin", "wrong"), ("nobody", ADMIN_PASSWORD),
                                                     ("anonymous", ""), ("", "")],
                         ids=["wrong-password", "unknown-user", "deleted-user", "empty"])
def test_login_refused(ui, principal, password):
    status, headers, _ = call(ui + "/login", {"principal": principal, "password": password})
    assert status == 401 and COOKIE_NAME not in (headers.get("Set-Cookie") or "")


def test_login_by_email(ui):
    status, _h, _b = call(ui + "/login", {"principal": "admin@example.com", "password": ADMIN_PASSWORD})
    assert status == 200


@pytest.mark.parametrize("sid", [None, "0123456789abcdef0123456789abcdef"], ids=["no-cookie", "unknown-session"])
def test_current_user_needs_a_session(ui, sid):
    assert current(ui, sid)[0] == 401


def test_token_service(ui, token_keys):
    url = ui + "/service/token?" + urllib.parse.urlencode(
        [("service", "harbor-registry"), ("scope", "repository:library/x:pull,push"), ("account", "admin")])
    status, _h, body = call(url, headers=basic("admin", ADMIN_PASSWORD))
    assert status == 200
    token = json.loads(body)["token"]
    header, claims = decode_unverified(token)
    assert header["kid"] == token_keys.kid and header["alg"] == "RS256"
    assert claims["iss"] == "harbor-token-issuer" and claims["aud"] == "harbor-registry"
    assert claims["access"] == [{"type": "repository", "name": "library/x", "actions": ["pull", "push"]}]
    head, payload, sig = token.split(".")
    cert = tokenkeys.cert_from_pem(token_keys.cert_pem)
    cert.public_key().verify(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), f"{head}.{payload}".encode(),
                             padding.PKCS1v15(), hashes.SHA256())


def test_token_service_refuses_wrong_credentials(ui):
    status, _h, body = call(ui + "/service/token?service=harbor-registry", headers=basic("admin", "nope"))
    assert status == 401 and b"token" not in body


def test_anonymous_token_grants_nothing(ui):
    status, _h, body = call(ui + "/service/token?service=harbor-registry&scope=repository:library/x:pull")
    assert status == 200
    assert decode_unverified(json.loads(body)["token"])[1]["access"][0]["actions"] == []


def test_notifications(ui):
    req = urllib.request.Request(ui + "/service/notifications", data=json.dumps({"events": [{"id": "1"}]}).encode(),
                                 headers={"Content-Type": "application/vnd.docker.distribution.events.v1+json"})
    assert urllib.request.urlopen(req, timeout=10).status == 200
    bad = urllib.request.Request(ui + "/service/notifications", data=b"not json")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad, timeout=10)
    assert info.value.code == 400


def test_admin_password_set_once_from_env(procs, tmp_path, ips, token_keys, mariadb):
    conn = mariadb.admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f"UPDATE `{mariadb.database}`.`user` SET salt = '', password = '' WHERE user_id = 1")
        first = start_ui(procs, tmp_path / "ui-a", ips(2), token_keys, mariadb, admin_password="First-pw-1")
        assert login(f"http://{first.ip}:80", "First-pw-1")[0] == 200
        procs.stop("ui-a")
        # A restart with another value changes nothing: the salt is no longer empty.
        second = start_ui(procs, tmp_path / "ui-b", ips(3), token_keys, mariadb, admin_password="Second-pw-2")
        assert login(f"http://{second.ip}:80", "Second-pw-2")[0] == 401
        assert login(f"http://{second.ip}:80", "First-pw-1")[0] == 200
        assert "Second-pw-2" not in procs.log("ui-b") and "First-pw-1" not in procs.log("ui-a")
    finally:
        with conn.cursor() as cur:
            cur.execute(f"UPDATE `{mariadb.database}`.`user` SET salt = 'fixed', password = %s WHERE user_id = 1",
                        (password_hash(ADMIN_PASSWORD, "fixed"),))
        conn.close()


def test_sessions_shared_through_redis(procs, tmp_path, ips, token_keys, mariadb, redis_url, redis_server):
    one = start_ui(procs, tmp_path / "ui-1", ips(4), token_keys, mariadb, redis_url)
    two = start_ui(procs, tmp_path / "ui-2", ips(5), token_keys, mariadb, redis_url)
    status, sid = login(f"http://{one.ip}:80")
    assert status == 200
    assert current(f"http://{two.ip}:80", sid)[0] == 200
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, password=redis_server.password, db=3)
    try:
        assert client.exists(sid) == 1 and 0 < client.ttl(sid) <= 3600
    finally:
        client.close()
    assert redis_server.password not in procs.log("ui-1")


def test_sessions_not_shared_in_memory(procs, tmp_path, ips, token_keys, mariadb):
    one = start_ui(procs, tmp_path / "ui-1", ips(6), token_keys, mariadb)
    two = start_ui(procs, tmp_path / "ui-2", ips(7), token_keys, mariadb)
    status, sid = login(f"http://{one.ip}:80")
    assert status == 200
    assert current(f"http://{one.ip}:80", sid)[0] == 200
    assert current(f"http://{two.ip}:80", sid)[0] == 401


def test_unusable_config_exits_with_one_line(tmp_path, mariadb):
    env = {**mariadb.env(), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "harborlab.ui", "--config-dir", str(tmp_path),
                             "--listen", "127.0.0.1:1"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "private_key.pem" in result.stderr and "Traceback" not in result.stderr
    assert mariadb.password not in result.stderr


def test_database_down_is_a_clear_exit(tmp_path, token_keys, mariadb):
    (tmp_path / "private_key.pem").write_bytes(token_keys.key_pem)
    env = {**mariadb.env(), "MYSQL_PORT": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "harborlab.ui", "--config-dir", str(tmp_path),
                             "--listen", "127.0.0.1:1"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot connect to the database" in result.stderr
    assert "Traceback" not in result.stderr and mariadb.password not in result.stderr
