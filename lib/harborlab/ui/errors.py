"""The ui stand-in's errors: members of the lab's own family (:class:`harborlab.errors.LabError`)."""

from __future__ import annotations

from ..errors import LabError


class UiConfigError(LabError):
    """The stand-in cannot start with the configuration it was given."""


class BackendError(LabError):
    """The database or the session store did not answer (the message names it, never a credential)."""


__all__ = ["BackendError", "LabError", "UiConfigError"]
