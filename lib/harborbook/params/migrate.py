"""The ``migrate`` section: an existing single-host Harbor to move into the HA deployment (08).

Optional: an environment without an old Harbor has no such section, and runbook 08 then skips.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from .models import Section, ServerSource
from .types import LocalPath, Secret


def _local_only(value: Any) -> Any:
    if isinstance(value, str) and "://" in value:
        # ssh://user@host/path is planned (issue #18); until then the tree must be reachable here.
        raise PydanticCustomError(
            "registry_path",
            "only a local path is supported for now (got a URL): mount the old host's /data/registry "
            "here (e.g. sshfs, NFS) and give that path",
        )
    return value


class SourceDatabase(ServerSource):
    """The old Harbor's MySQL, as 02's ``database.source`` of kind ``server``."""

    kind: Literal["server"] = "server"


class SourceHarbor(Section):
    # The old registry's storage root (a single-host Harbor: /data/registry), holding docker/registry/v2.
    registry: Annotated[LocalPath, BeforeValidator(_local_only)]
    database: SourceDatabase
    # The old registry's API (http://old-harbor, or its registry container's address): the cut-over
    # checks there that writes are refused before the final copy. Credentials of a user allowed
    # to push, when the registry asks for them (the old Harbor's admin).
    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")] | None = None
    user: Annotated[str, Field(min_length=1, max_length=255)] = "admin"
    password: Secret | None = None


class UserLogin(Section):
    """An account of the old Harbor whose password must still work after the move."""

    name: Annotated[str, Field(min_length=1, max_length=255)]
    password: Secret


class Migrate(Section):
    source: SourceHarbor
    parallel: Annotated[int, Field(ge=1, le=64)] = 4  # blob copy workers
    cutover: Literal["plan", "execute"] = "plan"
    users: list[UserLogin] = Field(default_factory=list)
