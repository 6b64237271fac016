"""05-verify's endpoint, UI login and session checks against a small fake Harbor front
(a real local HTTP server), each on its pass and its fail path."""

from __future__ import annotations

import pytest

from harborbook.errors import TransportError
from harborbook.params.models import Harbor, Redis
from harborbook.runbook import Status
from harborbook.steps import verify
from tests.support.httpfakes import QuietHandler

PASSWORD = "Harbor-Test-1234"


class Front(QuietHandler):
    realm = None  # None: the right one
    cookie = True

    def do_GET(self):
        host = self.headers["Host"]
        if self.path == "/":
            return self._answer(200, [("Content-Type", "text/html")], b"<html><body>Harbor</body></html>")
        if self.path == "/v2/":
            realm = Front.realm or f"http://{host}/service/token"
            return self._answer(401, [("WWW-Authenticate", f'Bearer realm="{realm}",service="harbor-registry"')])
        if self.path == "/api/users/current":
            good = "beegosessionID=abc123" in (self.headers.get("Cookie") or "")
            return self._answer(200 if good else 401, [], b"{}")
        self._answer(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = self.rfile.read(length).decode()
        if self.path == "/login" and f"password={PASSWORD}" in form and Front.cookie:
            return self._answer(200, [("Set-Cookie", "beegosessionID=abc123; Path=/; HttpOnly")])
        self._answer(401)


@pytest.fixture
def harbor(monkeypatch, local_http):
    Front.realm, Front.cookie = None, True
    url = local_http(Front)
    monkeypatch.setenv("HB_TEST_ADMIN", PASSWORD)
    return Harbor(hostname=url.removeprefix("http://"), admin_password="env:HB_TEST_ADMIN")


def rows(result):
    return {row["check"]: row for row in result.data["checks"]}


def test_endpoints_pass(harbor):
    result = verify.endpoints(harbor)
    assert result.status is Status.OK, result.summary
    assert rows(result)["token challenge"]["detail"].startswith("401 Bearer realm=http://127.0.0.1:")


def test_endpoints_fail_on_a_foreign_realm(harbor):
    Front.realm = "http://elsewhere/service/token"
    result = verify.endpoints(harbor)
    assert result.failed and rows(result)["UI page"]["status"] == "ok"
    assert "realm http://elsewhere/service/token" in rows(result)["token challenge"]["detail"]
    assert "auth.token.realm" in result.hint


def test_endpoints_fail_when_nothing_answers():
    harbor = Harbor(hostname="127.0.0.1:9", admin_password="env:HB_TEST_ADMIN")
    result = verify.endpoints(harbor)
    assert result.failed and {r["status"] for r in result.data["checks"]} == {"failed"}
    assert "cannot reach the server" in rows(result)["UI page"]["detail"]


def test_ui_login_returns_the_session_cookie(harbor):
    assert verify.ui_login(harbor) == "abc123"


def test_ui_login_without_a_cookie_is_a_transport_error(harbor):
    Front.cookie = False
    with pytest.raises(TransportError, match="without a beegosessionID cookie") as info:
        verify.ui_login(harbor)
    assert info.value.status == 401


def test_sessions_explain_every_failure_by_redis_when_it_is_down(harbor):
    result = verify.sessions(harbor, Redis(host="127.0.0.1", port=9), requests=3)
    found = rows(result)
    assert result.failed and found["Redis reachable"]["status"] == "failed"
    assert found["shared sessions"]["status"] == "ok"  # the fake front keeps its own sessions
    assert found["session in Redis"]["status"] == "failed"
    assert "_REDIS_URL" in found["session in Redis"]["hint"]


def test_skopeo_skips_without_an_image(harbor):
    assert verify.skopeo(harbor, verify.Probe(), "always").status is Status.SKIPPED


def test_verdict_keeps_the_order_checks_ran_in(harbor):
    Front.realm = "http://elsewhere/service/token"
    result = verify.verdict([verify.endpoints(harbor), verify.shared_storage(None, harbor, verify.Probe())])
    assert list(result.table["check"]) == ["UI page", "token challenge"] and result.failed


def test_failover_deletes_nothing_when_an_earlier_check_failed():
    from harborbook.runbook import Status, StepResult
    from harborbook.steps import verify

    class NoCluster:
        def __getattr__(self, name):
            raise AssertionError(f"failover touched the cluster ({name}) though a check had failed")

    earlier = [StepResult("login", Status.OK, "fine"), StepResult("sessions", Status.FAILED, "Redis is down")]
    result = verify.failover(kube=NoCluster(), namespace="harbor", harbor=None, redis_params=None, probe=None,
                             requests=3, timeout=1, earlier=earlier)
    assert result.status is Status.SKIPPED and "sessions failed above" in result.summary
    healthy = [StepResult("login", Status.OK, "fine")]
    try:
        verify.failover(kube=NoCluster(), namespace="harbor", harbor=None, redis_params=None, probe=None,
                        requests=3, timeout=1, earlier=healthy)
    except AssertionError as exc:
        assert "touched the cluster" in str(exc)  # with nothing failed it goes on to delete pods
    else:
        raise AssertionError("failover skipped a healthy deployment")
