"""The base of the tests' small HTTP fakes (served by the ``local_http`` fixture)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class QuietHandler(BaseHTTPRequestHandler):
    """No access log on stderr (it would fill the test output), and one way to answer."""

    def log_message(self, *args):
        pass

    def _answer(self, status: int, headers=(), body: bytes = b"") -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
