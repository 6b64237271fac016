"""The ``backup`` section: where backups go, the key that encrypts them, what 07 does.

Secrets of Harbor's namespace are part of a backup, so a backup is always encrypted: the
key is a secret reference like every other secret, and is required.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .types import DbName, HostPort, K8sName, LocalPath, RemotePath, Secret

NodePort = Annotated[int, Field(ge=30000, le=32767)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DirectoryTarget(_Section):
    kind: Literal["directory"]
    path: LocalPath  # a directory on this machine (another disk, an NFS mount, ...)


class S3Target(_Section):
    kind: Literal["s3"]
    endpoint: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")]
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    prefix: Annotated[str, Field(pattern=r"^([A-Za-z0-9._-]+/)*[A-Za-z0-9._-]*$")] = ""
    region: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")] = "us-east-1"
    access_key: Secret
    secret_key: Secret
    verify_tls: bool = True


BackupTarget = Annotated[Union[DirectoryTarget, S3Target], Field(discriminator="kind")]


class Drill(_Section):
    """Where the restore drill puts its scratch copy (torn down at its end)."""

    namespace: K8sName = "harbor-drill"
    node_port: NodePort = 31778
    hostname: HostPort | None = None  # default: harbor.hostname's host with node_port
    database: DbName = "registry_drill"
    root: RemotePath = "/apps/harbor-drill"  # inside CephFS
    keep_on_failure: bool = False  # leave a failed drill's scratch deployment for inspection


class Backup(_Section):
    target: BackupTarget
    encryption_key: Secret
    keep: Annotated[int, Field(ge=1, le=1000)] = 7
    restore_drill: bool = True
    mode: Literal["backup", "restore-drill", "restore"] = "backup"
    # Which backup a restore or a drill without a new backup uses: a name, or the newest.
    backup: Annotated[str, Field(pattern=r"^(latest|harbor-[0-9]{8}T[0-9]{6}Z)$")] = "latest"
    confirm: bool = False
    drill: Drill = Drill()

    @model_validator(mode="after")
    def _restore_needs_confirm(self) -> "Backup":
        if self.mode == "restore" and not self.confirm:
            raise ValueError("mode: restore replaces the live database and registry tree; "
                             "set confirm: true to do it (what is there is moved aside first)")
        return self
