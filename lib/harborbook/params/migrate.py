"""The ``migrate`` section: an existing single-host Harbor to move into the HA deployment (08).

Optional: an environment without an old Harbor has no such section, and runbook 08 then skips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from .models import Section, ServerSource
from .sshurl import SshLocation, parse_url
from .types import LocalPath, Secret, _local_path


def _registry(value: Any, info: ValidationInfo) -> Path | SshLocation:
    """A local path, or ``ssh://user@host[:port]/path`` (the tree on the old host itself)."""
    if isinstance(value, (Path, SshLocation)):
        return value
    if isinstance(value, str) and "://" in value:
        if not value.startswith("ssh://"):
            raise PydanticCustomError("registry_url", "expected a local path or ssh://user@host[:port]/path "
                                                      "(the only URL scheme read is ssh)")
        try:
            return parse_url(value)
        except ValueError as exc:
            raise PydanticCustomError("ssh_url", str(exc)) from None
    return _local_path(value, info)


# Where the old registry tree is: a path here (or mounted here), or on the old host over SSH.
RegistryLocation = Annotated[
    Union[Path, SshLocation],
    PlainValidator(_registry),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "description": "a path, or ssh://user@host[:port]/path"}),
]


class SourceDatabase(ServerSource):
    """The old Harbor's MySQL, as 02's ``database.source`` of kind ``server``."""

    kind: Literal["server"] = "server"


class SourceHarbor(Section):
    # The old registry's storage root (a single-host Harbor: /data/registry), holding docker/registry/v2:
    # a path on this machine, or ssh://user@host[:port]/data/registry to read it on the old host.
    registry: RegistryLocation
    # For an ssh:// registry: the private key (a secret reference, written to a 0600 temporary file
    # only while connecting) and the known_hosts file its host key is checked against (always).
    ssh_key: Secret | None = None
    known_hosts: LocalPath | None = None
    database: SourceDatabase
    # The old registry's API (http://old-harbor, or its registry container's address): the cut-over
    # checks there that writes are refused before the final copy. Credentials of a user allowed
    # to push, when the registry asks for them (the old Harbor's admin).
    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")] | None = None
    user: Annotated[str, Field(min_length=1, max_length=255)] = "admin"
    password: Secret | None = None

    @model_validator(mode="after")
    def _ssh_needs_a_key(self) -> "SourceHarbor":
        if isinstance(self.registry, SshLocation):
            if self.ssh_key is None:
                raise ValueError("an ssh:// registry needs ssh_key: the private key as file:PATH or env:NAME")
            if self.known_hosts is None:
                raise ValueError("an ssh:// registry needs known_hosts: the file holding the old host's key "
                                 "(host keys are always checked)")
        elif self.ssh_key is not None or self.known_hosts is not None:
            raise ValueError("ssh_key and known_hosts are for an ssh:// registry; this one is a local path")
        return self


class UserLogin(Section):
    """An account of the old Harbor whose password must still work after the move."""

    name: Annotated[str, Field(min_length=1, max_length=255)]
    password: Secret


class Migrate(Section):
    source: SourceHarbor
    parallel: Annotated[int, Field(ge=1, le=64)] = 4  # blob copy workers (a local source; over SSH one stream)
    cutover: Literal["plan", "execute"] = "plan"
    users: list[UserLogin] = Field(default_factory=list)
