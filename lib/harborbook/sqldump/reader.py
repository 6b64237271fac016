"""Streaming reader of mysqldump / mariadb-dump output: one SQL statement at a time.

A dump can be gigabytes, with multi-megabyte extended INSERT lines, so the reader never holds
more than one statement plus one chunk. It works on bytes: every byte the SQL grammar cares
about is ASCII, and a UTF-8 multi-byte sequence never contains an ASCII byte, so splitting and
rewriting bytes is safe and saves a decode/encode of every row.

Speed comes from one compiled regex (``_bulk``) that swallows plain code and complete quoted
strings in C; the Python loop only runs at the few places where something happens (a statement
ends, a comment starts, a string crosses a chunk boundary). Each byte is scanned a bounded
number of times, so a 50 MB single line costs what fifty 1 MB lines cost.

What the mysql client does and we copy: statements end at the current delimiter outside quotes
and comments; ``DELIMITER x`` at the start of a statement changes it; ``--``/``#`` comments and
plain ``/* */`` comments between statements are dropped; ``/*!NNNNN ... */`` is code (the
delimiter is not recognised inside it); MariaDB's sandbox-mode first line is a client command.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from .errors import DumpError

CHUNK = 1 << 20
# Bytes left unscanned at the end of a buffer until the next chunk arrives, so that no
# multi-byte token (``--``, ``/*!``, ``*/``, ``\'``, ``''``, a delimiter) is ever split.
MARGIN = 16
# A top-level comment line is examined (trailer, header) only up to this length.
COMMENT_PEEK = 4096
LOOKAHEAD = 64
# The plain-statement shortcut reads on up to this many bytes of one statement (longer ones:
# the full scanner, which keeps pieces instead of growing the buffer).
PLAIN_MAX = 4 * CHUNK

SANDBOX_LINE = b"/*M!999999\\- enable the sandbox mode */"
TRAILER = re.compile(rb"--\s+Dump completed\b")
HEADER = re.compile(rb"--\s+(MySQL|MariaDB) dump\b[^\n]*")
_WS = re.compile(rb"\s*")
_DELIMITER_CMD = re.compile(rb"(?i)delimiter[ \t]+(\S+)[ \t]*(?:\r?\n|\Z)")
_COND_START = re.compile(rb"/\*M?!\d*")
_QUOTE_STOP = {ord("'"): re.compile(rb"[\\']"), ord('"'): re.compile(rb'[\\"]'),
               ord("`"): re.compile(rb"`")}

# Magic bytes of compressed formats we cannot stream ourselves: name them in the error.
_OTHER_COMPRESSION = {b"\x28\xb5\x2f\xfd": "zstd", b"\xfd7zXZ": "xz", b"BZh": "bzip2",
                      b"PK\x03\x04": "zip"}
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement as the server will receive it (without its delimiter)."""

    sql: bytes
    line: int  # 1-based line where the statement starts
    delimiter: bytes = b";"


def _end(match: re.Match[bytes] | None) -> int:
    """Where a pattern that always matches (it may match nothing) stopped."""
    assert match is not None
    return match.end()


def _bulk(delimiter: bytes, conditional: bool) -> re.Pattern[bytes]:
    """Plain code and complete quoted strings, up to the next byte that needs a decision."""
    stop = set(b"'\"`#/-") | {delimiter[0]}
    if conditional:
        stop.add(ord("*"))
    cls = b"".join(re.escape(bytes([b])) for b in sorted(stop))
    return re.compile(
        rb"(?:[^" + cls + rb"]+"
        # Strings in "unrolled loop" form: no two ways to match the same bytes, so a string
        # cut by the window's edge fails in linear time (no catastrophic backtracking).
        # A closing quote is one not followed by another: with the next byte beyond the window
        # (or the stream's end) the string is left to the slow path, which sees further.
        rb"|'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'(?=[^'])"
        rb'|"[^"\\]*(?:(?:\\.|"")[^"\\]*)*"(?=[^"])'
        rb"|`[^`]*(?:``[^`]*)*`(?=[^`])"
        # A positive lookahead needs the next byte inside the scanned window, so a '-', '/'
        # or '*' right at the window's edge is left to the slow path, which sees further.
        rb"|-(?=[^-])|/(?=[^*])"
        + (rb"|\*(?=[^/])" if conditional else b"")
        + rb")*",
        re.S,
    )


def open_dump(path: Path) -> BinaryIO:
    """Open a plain or gzip dump, chosen by magic bytes (never by the file name)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - handed to the caller
    except OSError as exc:
        raise DumpError(f"cannot open the dump ({exc.strerror})", source=str(path),
                        hint="check database.source.path and the file's permissions") from None
    magic = raw.read(4)
    raw.seek(0)
    if magic.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    for prefix, name in _OTHER_COMPRESSION.items():
        if magic.startswith(prefix):
            raw.close()
            raise DumpError(f"the dump is {name}-compressed", source=str(path),
                            hint="decompress it (or recompress it with gzip) and run again")
    return raw


class DumpReader:
    """Iterate over the statements of a dump stream.

    After iteration: ``header`` (the ``-- MariaDB dump ...`` line), ``completed`` (the
    ``-- Dump completed`` trailer was seen), ``sandbox`` (MariaDB's sandbox first line),
    ``bytes_read`` (uncompressed bytes consumed, for progress).
    """

    def __init__(self, stream: BinaryIO, source: str, *, require_trailer: bool = True,
                 chunk_size: int = CHUNK):
        self.stream = stream
        self.source = source
        self.require_trailer = require_trailer
        self.chunk_size = chunk_size
        self.header: str | None = None
        self.completed = False
        self.sandbox = False
        self.bytes_read = 0
        self.statements = 0
        self.delimiter = b";"
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._cond = False
        self._content = False  # anything but whitespace seen
        self._pieces: list[bytes] = []
        self._start: int | None = None  # where the current statement starts in _buf
        self._line = 1  # line number at _counted
        self._counted = 0
        self._bulk = _bulk(b";", False)
        self._bulk_cond = _bulk(b";", True)
        self.fast = True  # the plain-statement shortcut (off: the full scanner only, for tests)

    @classmethod
    def open(cls, path: Path | str, **kwargs: Any) -> "DumpReader":
        path = Path(path)
        return cls(open_dump(path), str(path), **kwargs)

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> "DumpReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ public iteration
    def __iter__(self) -> Iterator[Statement]:
        self._fill()
        self._check_looks_like_text()
        while self._skip_between():
            yield self._scan_statement()
            self.statements += 1
        if self.statements == 0 and not self._content:
            raise DumpError("the dump is empty", source=self.source,
                            hint="the dump produced no output: check the dump command's errors")
        if self.statements == 0:
            raise DumpError("the dump contains no SQL statement", source=self.source,
                            hint="the file is empty or holds only comments: dump again")
        if self.require_trailer and not self.completed:
            raise DumpError(
                "the dump is truncated: it has no '-- Dump completed' trailer",
                source=self.source, line=self._line_at(self._pos),
                hint="the dump was cut short (disk full, interrupted copy?): dump again; "
                     "a dump made with --skip-comments has no trailer, in which case pass "
                     "require_trailer=False")

    # ------------------------------------------------------------------ buffer management
    def _fill(self) -> bool:
        """Drop what is consumed (keeping the current statement's bytes) and read a chunk."""
        if self._eof:
            return False
        buf, pos = self._buf, self._pos
        if self._start is not None:
            self._pieces.append(buf[self._start:pos])
            self._start = 0
        self._line += buf.count(b"\n", self._counted, pos)
        self._counted = 0
        try:
            chunk = self.stream.read(self.chunk_size)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise DumpError(f"cannot read the dump ({exc})", source=self.source,
                            line=self._line, hint="the file is damaged or was cut short") from None
        self.bytes_read += len(chunk)
        self._buf = buf[pos:] + chunk
        self._pos = 0
        if not chunk:
            self._eof = True
        return bool(chunk)

    def _limit(self) -> int:
        return len(self._buf) if self._eof else len(self._buf) - MARGIN

    def _line_at(self, index: int) -> int:
        if index > self._counted:
            self._line += self._buf.count(b"\n", self._counted, index)
            self._counted = index
        return self._line

    def _error(self, message: str, line: int | None = None, hint: str | None = None) -> DumpError:
        return DumpError(message, source=self.source,
                         line=line if line is not None else self._line_at(self._pos), hint=hint)

    def _check_looks_like_text(self) -> None:
        head = self._buf[:4096]
        if not head.strip():
            if self._eof:
                raise DumpError("the dump is empty", source=self.source,
                                hint="the dump produced no output: check the dump command's errors")
            return
        if b"\x00" in head:
            raise DumpError("this is not a SQL dump (binary content)", source=self.source, line=1,
                            hint="pass the output of `mysqldump --databases <db>`, plain or gzip")

    # ------------------------------------------------------------------ between statements
    def _skip_between(self) -> bool:
        """Skip whitespace, comments and client commands; True when a statement starts."""
        while True:
            self._pos = _end(_WS.match(self._buf, self._pos))
            # Enough bytes to recognise the longest thing that can start here (sandbox line).
            if len(self._buf) - self._pos < LOOKAHEAD and not self._eof:
                self._fill()
                continue
            buf, pos = self._buf, self._pos
            if pos >= len(buf):
                return False
            self._content = True
            byte = buf[pos]
            if byte == 0x23 or (buf.startswith(b"--", pos)
                                and (pos + 2 >= len(buf) or buf[pos + 2] in b" \t\r\n\f\v")):
                self._top_line_comment()
            elif buf.startswith(SANDBOX_LINE, pos):
                self.sandbox = True
                self._pos = pos + len(SANDBOX_LINE)
            elif buf.startswith(b"/*", pos) and not _COND_START.match(buf, pos):
                self._skip_block_comment()
            elif byte in b"dD" and buf[pos:pos + 9].lower() == b"delimiter":
                self._delimiter_command()
            else:
                self._start = pos
                self._pieces = []
                return True

    def _top_line_comment(self) -> None:
        """A comment line between statements: note the header and the trailer, then drop it."""
        end = self._buf.find(b"\n", self._pos)
        while end < 0 and not self._eof and len(self._buf) - self._pos < COMMENT_PEEK:
            self._fill()
            end = self._buf.find(b"\n", self._pos)
        text = self._buf[self._pos:self._pos + COMMENT_PEEK]
        if TRAILER.match(text):
            self.completed = True
        elif self.header is None and (match := HEADER.match(text)):
            self.header = match.group(0)[2:].strip().decode("utf-8", "replace")
        self._skip_line_comment()

    def _delimiter_command(self) -> None:
        while (self._buf.find(b"\n", self._pos) < 0 and not self._eof
               and len(self._buf) - self._pos < COMMENT_PEEK):
            self._fill()
        match = _DELIMITER_CMD.match(self._buf, self._pos)
        if not match:
            raise self._error("a DELIMITER command without a delimiter",
                              hint="the dump is damaged: dump again")
        delimiter = match.group(1)
        if len(delimiter) > MARGIN or b"\\" in delimiter or delimiter[0] in b"'\"`#":
            raise self._error(f"unsupported delimiter {delimiter!r}")
        self.delimiter = delimiter
        self._bulk = _bulk(delimiter, False)
        self._bulk_cond = _bulk(delimiter, True)
        self._pos = match.end()

    # ------------------------------------------------------------------ comments and quotes
    def _skip_line_comment(self) -> None:
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                self._pos = end + 1
                return
            self._pos = len(self._buf)
            if not self._fill():
                return

    def _skip_block_comment(self) -> None:
        line = self._line_at(self._pos)
        self._pos += 2
        while True:
            end = self._buf.find(b"*/", self._pos)
            if end >= 0:
                self._pos = end + 2
                return
            self._pos = max(self._pos, len(self._buf) - 1)
            if not self._fill():
                raise self._error("the dump ends inside a /* comment */ (truncated)", line)

    def _skip_quoted(self) -> None:
        quote = self._buf[self._pos]
        line = self._line_at(self._pos)
        stop = _QUOTE_STOP[quote]
        self._pos += 1
        while True:
            limit = self._limit()
            match = stop.search(self._buf, self._pos, limit)
            if match is None:
                # At the end of the stream the last MARGIN bytes may still be unsearched: the
                # dump ends inside the string only when there is nothing left to search.
                searched_all = limit >= len(self._buf)
                self._pos = max(self._pos, limit)
                if not self._fill() and searched_all:
                    what = "identifier" if quote == 0x60 else "string"
                    raise self._error(f"the dump ends inside a quoted {what} that starts here "
                                      "(truncated)", line, hint="dump again")
                continue
            at = match.start()
            if self._buf[at] == 0x5C:  # backslash: the next byte is escaped
                if at + 1 >= len(self._buf):
                    self._pos = at
                    if not self._fill():
                        raise self._error("the dump ends inside a string (truncated)", line)
                    continue
                self._pos = at + 2
            elif at + 1 < len(self._buf) and self._buf[at + 1] == quote:
                self._pos = at + 2  # a doubled quote stands for itself
            else:
                self._pos = at + 1
                return

    # ------------------------------------------------------------------ one statement
    def _plain_statement(self, line: int) -> Statement | None:
        """mysqldump's common statement (an extended INSERT line) at C speed, or None.

        Up to the first ';' in the buffer, if the bytes before it hold nothing that can hide a
        delimiter but single quotes (no backslash, double quote, comment start, and backticks
        only before the first single quote): then a ';' is outside a string exactly when the
        single quotes before it are even in number ('' inside a string counts twice), which
        is where the full scanner below would end the statement too. Anything else: None.
        """
        if self.delimiter != b";" or self._cond or self._pieces or self._start != self._pos:
            return None
        end = self._buf.find(b";", self._pos, self._limit())
        while end < 0 and not self._eof and len(self._buf) - self._pos < PLAIN_MAX:
            # Keep the statement's bytes in the buffer (no pieces): read on and look again.
            self._start = None
            self._fill()
            self._start = self._pos
            end = self._buf.find(b";", self._pos, self._limit())
        if end < 0:
            return None
        buf, pos = self._buf, self._pos
        text = buf[pos:end]
        if (b"\\" in text or b'"' in text or b"#" in text or b"--" in text or b"/*" in text
                or text.count(b"'") % 2 or text.count(b"`") % 2
                or text.rfind(b"`") > text.find(b"'") >= 0):
            return None
        self._start = None
        self._pos = end + 1
        return Statement(text.rstrip(), line, b";")

    def _scan_statement(self) -> Statement:
        line = self._line_at(self._pos)
        if self.fast:
            found = self._plain_statement(line)
            if found is not None:
                return found
        delimiter = self.delimiter
        while True:
            bulk = self._bulk_cond if self._cond else self._bulk
            limit = self._limit()
            self._pos = _end(bulk.match(self._buf, self._pos, limit))
            buf, pos = self._buf, self._pos
            if pos >= limit:
                if not self._eof:
                    self._fill()
                    continue
                text = b"".join(self._pieces) + buf[self._start:pos]
                self._start = None
                if self._cond:
                    raise self._error("the dump ends inside a /*! ... */ block (truncated)", line)
                raise self._error(
                    f"the statement starting here has no terminating {delimiter.decode()!r} "
                    f"(truncated dump?): {_excerpt(text)}", line,
                    hint="the dump was cut short: dump again")
            byte = buf[pos]
            if byte in (0x27, 0x22, 0x60):
                self._skip_quoted()
            elif byte == 0x23:
                self._skip_line_comment()
            elif byte == 0x2D:  # '-': a comment only when followed by whitespace
                if buf.startswith(b"--", pos) and (pos + 2 >= len(buf)
                                                   or buf[pos + 2] in b" \t\r\n\f\v"):
                    self._skip_line_comment()
                else:
                    self._pos = pos + 1
            elif byte == 0x2F:  # '/*'
                cond = _COND_START.match(buf, pos)
                if cond and not self._cond:
                    self._cond = True
                    self._pos = cond.end()
                else:
                    self._skip_block_comment()
            elif self._cond and buf.startswith(b"*/", pos):
                self._cond = False
                self._pos = pos + 2
            elif not self._cond and buf.startswith(delimiter, pos):
                text = b"".join(self._pieces) + buf[self._start:pos] if self._pieces \
                    else buf[self._start:pos]
                self._pieces = []
                self._start = None
                self._pos = pos + len(delimiter)
                return Statement(text.rstrip(), line, delimiter)
            else:
                self._pos = pos + 1


def _excerpt(text: bytes, size: int = 60) -> str:
    head = text[:size].decode("utf-8", "replace").replace("\n", " ")
    return head + ("..." if len(text) > size else "")


def read_statements(path: Path | str, **kwargs: Any) -> Iterator[Statement]:
    """Convenience: the statements of a dump file (plain or gzip), closing it at the end."""
    with DumpReader.open(path, **kwargs) as reader:
        yield from reader


def reader_for_bytes(data: bytes, source: str = "<bytes>", **kwargs: Any) -> DumpReader:
    """A reader over in-memory bytes (tests, small dumps)."""
    return DumpReader(io.BytesIO(data), source, **kwargs)
