"""The fleet scan's lean HTTP/1.1 client against raw servers: lengths, chunks, closes, garbage."""

from __future__ import annotations

import asyncio

import pytest

from harborbook.steps.nodepressure.fleethttp import HTTPError, LeanClient


async def _serve(answers: list[bytes], seen: list[bytes]):
    """A server answering each request on a connection with the next scripted bytes; b"" closes."""
    script = list(answers)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while script:
                head = await reader.readuntil(b"\r\n\r\n")
                seen.append(head)
                answer = script.pop(0)
                if not answer:
                    break
                writer.write(answer)
                await writer.drain()
                if answer.endswith(b"#close"):
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _run(answers: list[bytes], paths: list[str]):
    seen: list[bytes] = []

    async def main():
        server, port = await _serve(answers, seen)
        client = LeanClient(f"http://127.0.0.1:{port}/prefix", {"Authorization": "Bearer t"}, False, timeout=5)
        try:
            return [await client.get(p) for p in paths]
        finally:
            client.close()
            server.close()

    return asyncio.run(main()), seen


def test_content_length_and_keep_alive():
    answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
               b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"]
    results, seen = _run(answers, ["/a", "/b"])
    assert [(s, b) for s, _, b in results] == [(200, b"hello"), (404, b"")]
    assert seen[0].startswith(b"GET /prefix/a HTTP/1.1\r\nHost: 127.0.0.1:") and b"Authorization: Bearer t" in seen[0]
    assert len(seen) == 2  # both on the one kept-alive connection (the server saw both heads)


def test_chunked_body_and_retry_after_header():
    answers = [b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4\r\nToo \r\n6;ext=1\r\nmany.\n\r\n0\r\n\r\n"]
    (result,), _ = _run(answers, ["/x"])
    status, headers, body = result
    assert (status, headers[b"retry-after"], body) == (429, b"1", b"Too many.\n")


def test_body_until_close_and_a_reconnect_after_it():
    answers = [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it#close",
               b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
    results, _ = _run(answers, ["/a", "/b"])
    assert [b for _, _, b in results] == [b"all of it#close", b"ok"]


def test_garbage_and_a_cut_answer_are_errors():
    with pytest.raises(HTTPError, match="not an HTTP/1.1 answer"):
        _run([b"SSH-2.0-OpenSSH\r\n\r\n"], ["/a"])
    with pytest.raises(HTTPError, match="closed the connection"):
        _run([b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort#close"], ["/a"])
    with pytest.raises(HTTPError, match="ValueError"):
        _run([b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n"], ["/a"])


def test_nothing_listening_is_an_error():
    async def main():
        client = LeanClient("http://127.0.0.1:9", {}, False, timeout=5)
        await client.get("/")

    with pytest.raises(HTTPError, match="ConnectionRefusedError"):
        asyncio.run(main())
