"""Fixtures shared by the product's tests: a real local HTTP server for a test's handler class
(tests/harborbook/registry: the transport; tests/harborbook/steps: 05-verify's front), and a
harborbook Kube on the lab's API emulator (a subprocess, no root) for the steps that talk to a
cluster."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest

from harborbook.kube import Kube
from tests.support.emulator import start_server, stop_server


@pytest.fixture
def local_http() -> Callable[[type[BaseHTTPRequestHandler]], str]:
    """``local_http(Handler)`` serves ``Handler`` on 127.0.0.1 (a free port, its own thread) and
    returns ``http://127.0.0.1:<port>``; every server started is shut down at the test's end."""
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def serve(handler: type[BaseHTTPRequestHandler]) -> str:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((httpd, thread))
        return f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield serve
    finally:
        for httpd, thread in servers:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)


@pytest.fixture(scope="module")
def kube(tmp_path_factory) -> Iterator[Kube]:
    """A Kube on a fresh emulator per test module (article profile, pods Ready after 0.2 s). A
    module that needs other emulator options overrides this fixture with its own."""
    server = start_server(tmp_path_factory.mktemp("kube"), "--pod-ready-delay", "0.2", timeout=30)
    try:
        yield Kube(server.kubeconfig)
    finally:
        stop_server(server.process)
