"""What can be wrong with a dump file, as errors a runbook can show (file, line, what to do)."""

from __future__ import annotations

from ..errors import HarborbookError


class DumpError(HarborbookError):
    """The dump cannot be used as it is: empty, not SQL, truncated, of another database.

    The message always names the file and, when known, the line.
    """

    def __init__(self, message: str, *, source: str, line: int | None = None,
                 hint: str | None = None, see: str | None = "02-database"):
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}", hint=hint, see=see)
        self.source = source
        self.line = line


class SchemaError(DumpError):
    """A table in the dump breaks a rule of the target cluster (no primary key, bad engine)."""
