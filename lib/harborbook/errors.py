"""The one exception family of harborbook.

Every failure a user can meet is a ``HarborbookError`` carrying what failed, a
hint saying what to do next, and (for runbooks) the runbook to see. The CLI and
the notebooks show these three lines, not our stack.
"""

from __future__ import annotations

import errno


class HarborbookError(Exception):
    """Base class: a message, an optional hint and an optional runbook to see next."""

    def __init__(self, message: str, hint: str | None = None, see: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.see = see

    def __str__(self) -> str:
        return self.message

    def render(self) -> str:
        """The short, human form: message, then hint and pointer when present."""
        lines = [self.message]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        if self.see:
            lines.append(f"see: {self.see}")
        return "\n".join(lines)


class ParamsError(HarborbookError):
    """A params file is invalid; the message names file:line and the key path."""


class UsageError(HarborbookError):
    """The command line asks for something that does not exist or cannot be (exit status 2)."""


class SecretError(HarborbookError):
    """A secret reference cannot be resolved (names the reference, never a value)."""


class RunbookError(HarborbookError):
    """A runbook step failed; shown as message + hint + the runbook to see next."""


class TransportError(HarborbookError):
    """A remote system (Kubernetes API, database, Redis, HTTP, node shell) failed.

    ``status`` is the remote's own status code when it answered (HTTP status), else None.
    Callers that must tell one answer from another catch the named subclasses below instead of
    looking at the client library's exception underneath.
    """

    def __init__(self, message: str, hint: str | None = None, see: str | None = None, *,
                 status: int | None = None):
        super().__init__(message, hint=hint, see=see)
        self.status = status


class Unauthorized(TransportError):
    """401: the credentials were refused."""


class Forbidden(TransportError):
    """403: authenticated, but not allowed."""


class NotFound(TransportError):
    """404: the object or path does not exist."""


class Conflict(TransportError):
    """409: somebody else changed or owns the object."""


class Unavailable(TransportError):
    """The remote cannot serve now: unreachable, or it answered 502/503/504."""


_BY_STATUS: dict[int, type[TransportError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
                                               502: Unavailable, 503: Unavailable, 504: Unavailable}


def transport_error(status: int | None, message: str, hint: str | None = None,
                    see: str | None = None) -> TransportError:
    """The named TransportError for a remote's status (plain TransportError for the others)."""
    cls = _BY_STATUS.get(status, TransportError) if status is not None else TransportError
    return cls(message, hint=hint, see=see, status=status)


def file_system_refusal(exc: OSError) -> tuple[str, bool]:
    """What a file system said, with the file it said it of; and whether it is out of room
    (full or over quota: making room is then what to do)."""
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}", exc.errno in (errno.ENOSPC, errno.EDQUOT)
