"""The lab's own exception family.

The lab is a witness, not part of the product (DESIGN.md), so it carries its own error type
instead of borrowing ``harborbook``'s. It has the same shape — a one-line message and a hint —
so the CLI plug-in shows both the same way.
"""

from __future__ import annotations


class LabError(Exception):
    """The lab cannot do what was asked (not root, a package missing, a port busy, a probe failed)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def render(self) -> str:
        return self.message + (f"\nhint: {self.hint}" if self.hint else "")


class NotRootError(LabError):
    """The lab was asked to run without root."""
