"""Secret references: a secret is named, never written, until the moment it is used.

A params file says ``password: file:../.lab/secrets/redis-password`` or ``env:REDIS_PASSWORD``.
Papermill writes every notebook parameter in clear into the output notebook, so a secret
value must never be a parameter, a table cell or a log line: ``SecretRef`` prints as ``***``
everywhere and hands its value out only through :meth:`SecretRef.reveal`.

Every value revealed in this process is remembered so that :func:`mask` can scrub it from
text that is about to leave (error bodies from remote systems, files we write).
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from .errors import SecretError

MASK = "***"
_REF = re.compile(r"^(env|file):(.+)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Values revealed so far (this process): used by mask() as a last line of defence.
_revealed: set[str] = set()


class SecretRef:
    """A reference to a secret (``env:NAME`` or ``file:PATH``), resolved only by ``reveal()``."""

    __slots__ = ("ref", "kind", "target", "_base")

    def __init__(self, ref: str, base: Path | None = None):
        match = _REF.match(ref.strip()) if isinstance(ref, str) else None
        if not match:
            raise ValueError(
                "a secret must be a reference: 'env:NAME' or 'file:PATH' "
                "(a plain value would be written into every output notebook)"
            )
        self.kind, self.target = match.group(1), match.group(2).strip()
        if self.kind == "env" and not _ENV_NAME.match(self.target):
            raise ValueError(f"'{self.target}' is not a valid environment variable name")
        self.ref = f"{self.kind}:{self.target}"
        self._base = base

    @property
    def path(self) -> Path | None:
        """For ``file:`` references, the file (relative paths resolve against the params file)."""
        if self.kind != "file":
            return None
        path = Path(self.target).expanduser()
        if not path.is_absolute() and self._base is not None:
            path = self._base / path
        return Path(posixpath.normpath(path))

    def reveal(self) -> str:
        """The secret value. Errors name the reference, never a value."""
        if self.kind == "env":
            value = os.environ.get(self.target)
            if value is None:
                raise SecretError(
                    f"secret {self.ref}: environment variable {self.target} is not set",
                    hint=f"export {self.target}=... before running, or use a file: reference",
                )
        else:
            path = self.path
            assert path is not None  # a file: reference always has one
            try:
                value = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise SecretError(
                    f"secret {self.ref}: file {path} does not exist",
                    hint="create it (mode 0600) or fix the path; for the lab, run `harborbook lab up`",
                ) from None
            except (PermissionError, IsADirectoryError, UnicodeDecodeError) as exc:
                raise SecretError(
                    f"secret {self.ref}: file {path} is not readable ({type(exc).__name__})",
                    hint="check its owner and mode (0600, readable by the user running the runbook)",
                ) from None
            # A trailing newline is an artefact of `echo x > file`, never part of a secret.
            value = value.rstrip("\r\n")
        if not value:
            raise SecretError(f"secret {self.ref} is empty", hint="write the secret value into it")
        _revealed.add(value)
        return value

    def exists(self) -> bool:
        """Whether the reference can be resolved, without revealing anything."""
        if self.kind == "env":
            return bool(os.environ.get(self.target))
        path = self.path
        return path is not None and path.is_file() and os.access(path, os.R_OK)

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretRef) and (self.ref, self.path) == (other.ref, other.path)

    def __hash__(self) -> int:
        return hash(self.ref)

    def __reduce__(self):  # pickling keeps the reference, never the value
        return (SecretRef, (self.ref, self._base))


def remember(value: str) -> None:
    """Register a secret produced here (generated passwords, keys) so mask() scrubs it too."""
    if value:
        _revealed.add(value)


def mask(text: str, extra: tuple[str, ...] = ()) -> str:
    """Replace every secret this process has revealed (and ``extra``) with ``***``."""
    # Longest first, so a secret that contains another is masked whole.
    for value in sorted(_revealed.union(v for v in extra if v), key=len, reverse=True):
        if len(value) >= 4:  # masking "a" or "12" would shred ordinary text
            text = text.replace(value, MASK)
    return text
