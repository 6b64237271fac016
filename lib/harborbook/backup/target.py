"""Where backups are stored: a directory or an S3 bucket, behind one small interface.

Objects are named with "/"-separated paths. A writer is a stream: the object appears under its
name only when the ``with`` block exits cleanly, so a backup killed mid-file leaves no object
that looks whole (a directory target writes a hidden temporary file and renames it; S3 completes
a multipart upload).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import posixpath
import secrets as pysecrets
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ContextManager, Iterator, Protocol

from ..errors import HarborbookError, NotFound

if TYPE_CHECKING:
    from ..params.backup import DirectoryTarget as DirectoryParams
    from ..params.backup import S3Target as S3Params

TEMP_MARK = ".partial-"  # hidden temporary files of the directory target: ".<name>.partial-<random>"


class Target(Protocol):
    def describe(self) -> str: ...
    def names(self, prefix: str = "") -> list[str]: ...
    def size(self, name: str) -> int | None: ...
    def writer(self, name: str) -> ContextManager[BinaryIO]: ...
    def reader(self, name: str) -> ContextManager[BinaryIO]: ...
    def delete(self, name: str) -> None: ...


def check_name(name: str) -> str:
    """An object name: relative, "/"-separated, no empty, '.' or '..' parts."""
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in name:
        raise HarborbookError(f"invalid backup object name {name!r}",
                              hint="object names are relative paths without '.' or '..' parts")
    return name


class DirectoryTarget:
    """Backups as files under a directory of this machine."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*check_name(name).split("/"))

    def names(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for folder, dirs, files in os.walk(self.root):
            rel = os.path.relpath(folder, self.root)
            base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            dirs.sort()
            for f in files:
                if f.startswith(".") and TEMP_MARK in f:
                    continue  # a writer in progress (or killed): not an object
                name = base + f
                if name.startswith(prefix):
                    found.append(name)
        return sorted(found)

    def size(self, name: str) -> int | None:
        try:
            path = self._path(name)
            return path.stat().st_size if path.is_file() else None
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def writer(self, name: str) -> Iterator[BinaryIO]:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}{TEMP_MARK}{pysecrets.token_hex(4)}")
        fh = open(tmp, "xb")
        try:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            os.replace(tmp, path)
        except BaseException:
            fh.close()
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    @contextlib.contextmanager
    def reader(self, name: str) -> Iterator[BinaryIO]:
        path = self._path(name)
        try:
            fh = open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"{self.describe()}: no object {name}", status=404) from None
        with fh:
            yield fh

    def delete(self, name: str) -> None:
        path = self._path(name)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # Empty folders left behind are removed up to the root (they are not objects).
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def remove_stale_temporaries(self, prefix: str) -> int:
        """Delete temporary files a killed writer left under ``prefix`` (a folder name)."""
        count = 0
        folder = self.root.joinpath(*[p for p in prefix.split("/") if p])
        for path in folder.rglob(f".*{TEMP_MARK}*") if folder.is_dir() else []:
            path.unlink(missing_ok=True)
            count += 1
        return count


def open_target(params: "DirectoryParams | S3Params") -> Target:
    """The target the params describe; secrets (S3 keys) are resolved here, at use."""
    if params.kind == "directory":
        return DirectoryTarget(Path(params.path))
    try:
        # The S3 target is written beside this module (issue #17, item 5); imported only when used.
        s3 = importlib.import_module("harborbook.backup.s3")
    except ModuleNotFoundError:
        raise HarborbookError("the S3 backup target is not available in this version of harborbook",
                              hint="use backup.target.kind: directory") from None
    made: Target = s3.S3Target(endpoint=params.endpoint, bucket=params.bucket, prefix=params.prefix,
                       region=params.region, access_key=params.access_key.reveal(),
                       secret_key=params.secret_key.reveal(), verify=params.verify_tls)
    return made


def join(*parts: str) -> str:
    return posixpath.join(*[p.strip("/") for p in parts if p.strip("/")])
