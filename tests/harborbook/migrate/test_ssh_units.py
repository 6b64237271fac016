"""The SSH source's pieces that need no server: the ssh:// URL and the tar stream reader."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from harborbook.migrate.tarstream import TarStream, TarStreamError
from harborbook.params.sshurl import SshLocation, parse_url


# ---------------------------------------------------------------- ssh:// URLs
@pytest.mark.parametrize("url, expected", [
    ("ssh://root@old-harbor/data/registry", SshLocation("root", "old-harbor", 22, "/data/registry")),
    ("ssh://root@127.0.0.1:15022/srv/reg/", SshLocation("root", "127.0.0.1", 15022, "/srv/reg")),
    ("ssh://admin.x@h.example.com:2222//data//registry", SshLocation("admin.x", "h.example.com", 2222, "/data/registry")),
    ("ssh://u@[::1]:2200/x", SshLocation("u", "[::1]", 2200, "/x")),
    ("ssh://u@[fe80::1]/x", SshLocation("u", "[fe80::1]", 22, "/x")),
])
def test_ssh_urls_parse(url: str, expected: SshLocation) -> None:
    assert parse_url(url) == expected


def test_a_location_prints_as_a_full_url_and_names_its_known_hosts_entry() -> None:
    assert str(parse_url("ssh://root@old/data/registry")) == "ssh://root@old:22/data/registry"
    assert parse_url("ssh://root@old/x").known_hosts_name == "old"
    assert parse_url("ssh://root@127.0.0.1:15022/x").known_hosts_name == "[127.0.0.1]:15022"
    assert parse_url("ssh://root@[::1]:2200/x").address == "::1"


@pytest.mark.parametrize("url, said", [
    ("http://old/data", "expected ssh://"),
    ("ssh://old/data/registry", "names the user"),
    ("ssh://root@old", "needs the path"),
    ("ssh://root:secret@old/data", "a password in the URL is not allowed"),
    ("ssh://-oProxyCommand=x@old/data", "is not a user name"),
    ("ssh://root@-oProxyCommand=x/data", "is not a host name"),
    ("ssh://root@old:/data", "an empty port"),
    ("ssh://root@old:0/data", "is not a port"),
    ("ssh://root@old:70000/data", "is not a port"),
    ("ssh://root@old:22x/data", "is not a port"),
    ("ssh://root@[zz]/data", "is not a host name or [IPv6 address]"),
    ("ssh://root@[::1]x/data", "is not a host name or [IPv6 address]"),
    ("ssh://root@old/data/../etc", "'..' is not allowed"),
    ("ssh://root@old/data/\nregistry", "control characters"),
])
def test_bad_ssh_urls_say_what_is_wrong(url: str, said: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_url(url)
    assert said in str(caught.value)
    assert "secret" not in str(caught.value)


# ---------------------------------------------------------------- tar streams
def _tar(members: dict[str, bytes], dirs: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as archive:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _read_all(stream: TarStream) -> dict[str, bytes]:
    found = {}
    while (member := stream.next()) is not None:
        buf = bytearray(7)  # an odd chunk size: members and their padding cross chunks
        data = bytearray()
        while n := stream.readinto(buf):
            data += buf[:n]
        assert len(data) == member[1]
        found[member[0]] = bytes(data)
    return found


def test_the_tar_reader_gives_each_member_whole_and_skips_directories() -> None:
    members = {"ab/" + "a" * 64 + "/data": os.urandom(1000), "cd/" + "c" * 64 + "/data": b"",
               "ef/" + "e" * 64 + "/data": os.urandom(512 * 3)}
    stream = TarStream(io.BytesIO(_tar(members, dirs=("ab",))))
    assert _read_all(stream) == members
    assert stream.next() is None


def test_an_unread_member_is_skipped_and_read_keeps_a_limit() -> None:
    members = {"one": b"x" * 5000, "two": b"y" * 10, "three": b"z" * 3}
    stream = TarStream(io.BytesIO(_tar(members)))
    assert stream.next() == ("one", 5000)
    assert stream.read(100) == b"x" * 100  # the rest of "one" is skipped by the next call
    assert stream.next() == ("two", 10)
    assert stream.next() == ("three", 3)
    assert stream.read(100) == b"zzz"
    assert stream.next() is None


def test_a_stream_cut_inside_a_member_is_an_error_not_a_short_blob() -> None:
    data = _tar({"blob": os.urandom(5000)})
    stream = TarStream(io.BytesIO(data[:512 + 3000]))
    assert stream.next() == ("blob", 5000)
    buf = bytearray(1 << 16)
    with pytest.raises(TarStreamError, match="ended inside blob, 2000 bytes short"):
        while stream.readinto(buf):
            pass


def test_a_stream_cut_between_members_and_garbage_are_errors() -> None:
    with pytest.raises(TarStreamError, match="ended"):
        TarStream(io.BytesIO(b"")).next()
    with pytest.raises(TarStreamError, match="not a tar header"):
        TarStream(io.BytesIO(b"Permission denied\n" + bytes(494))).next()


# ---------------------------------------------------------------- the listing's blob sizes
def _listing_source():
    from harborbook.migrate.sshsource import SshSource

    src = object.__new__(SshSource)  # no connection: only the parsing of what the session sent
    src.what, src.location = "migrate.source.registry", parse_url("ssh://root@old-harbor:22/data/registry")
    return src


def _said(text: bytes) -> tuple[io.BufferedReader, io.BytesIO]:
    return io.BufferedReader(io.BytesIO(text)), io.BytesIO(b"find: 'blobs/sha256/ab': Permission denied\n")


class _Exited:
    def __init__(self, code: int):
        self.code = code

    def wait(self) -> int:
        return self.code


def test_the_blob_listing_ends_at_its_end_line_and_leaves_the_tar_that_follows() -> None:
    from harborbook.migrate.sshsource import LISTING_END

    good = "ab" + "0" * 62
    stream, err = _said(f"123 ab/{good}/data\n9 zz/not-a-digest/data\n{LISTING_END} 0\n".encode() + b"TAR")
    assert _listing_source()._blob_sizes(stream, err, _Exited(0)) == {f"sha256:{good}": 123}
    assert stream.read() == b"TAR"


def test_a_failed_find_or_a_listing_cut_short_is_a_lost_listing_naming_what_find_said() -> None:
    from harborbook.migrate.sshsource import LISTING_END, SshError

    stream, err = _said(f"{LISTING_END} 1\n".encode())
    with pytest.raises(SshError) as failed:
        _listing_source()._blob_sizes(stream, err, _Exited(0))
    assert "listing the blobs on root@old-harbor failed (exit status 1)" in str(failed.value)
    assert "Permission denied" in str(failed.value) and "run the step again" in failed.value.hint
    stream, err = _said(b"123 ab/" + b"0" * 64 + b"/data\n")  # the session ended before the end line
    with pytest.raises(SshError, match="exit status 255"):
        _listing_source()._blob_sizes(stream, err, _Exited(255))


def test_a_file_system_refusal_says_what_and_where_and_whether_room_would_help() -> None:
    import errno

    from harborbook.errors import file_system_refusal

    assert file_system_refusal(OSError(errno.ENOSPC, "No space left on device", "/cephfs/x")) == (
        "No space left on device (/cephfs/x)", True)
    assert file_system_refusal(OSError(errno.EDQUOT, "Disk quota exceeded"))[1] is True
    assert file_system_refusal(OSError(errno.EROFS, "Read-only file system", "/cephfs/y")) == (
        "Read-only file system (/cephfs/y)", False)
