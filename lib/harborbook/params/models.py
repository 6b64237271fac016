"""The params file, section by section: what an environment must say about itself.

Unknown keys are errors (a typo must not silently fall back to a default), secrets are
references, paths on this machine resolve against the params file's folder.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .types import (
    DbName,
    DbUser,
    Host,
    HostPort,
    Image,
    K8sName,
    LocalPath,
    Quantity,
    RemotePath,
    Secret,
)

Port = Annotated[int, Field(ge=1, le=65535)]
NodePort = Annotated[int, Field(ge=30000, le=32767)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- cluster
class Cluster(Section):
    kubeconfig: LocalPath | None = None  # None: the default client lookup (KUBECONFIG, ~/.kube)
    context: str | None = None
    namespace: K8sName = "harbor"
    request_timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    rollout_timeout: Annotated[float, Field(gt=0, le=7200)] = 300.0


# ---------------------------------------------------------------- harbor
class Images(Section):
    adminserver: Image = "vmware/harbor-adminserver:v1.2.0"
    ui: Image = "vmware/harbor-ui:v1.2.0"
    jobservice: Image = "vmware/harbor-jobservice:v1.2.0"
    registry: Image = "vmware/registry:2.6.2-photon"
    nginx: Image = "vmware/nginx-photon:1.11.13"


class Replicas(Section):
    adminserver: Annotated[int, Field(ge=1, le=50)] = 3
    ui: Annotated[int, Field(ge=1, le=50)] = 3
    jobservice: Annotated[int, Field(ge=1, le=1)] = 1  # job logs and workers are not shared
    registry: Annotated[int, Field(ge=1, le=50)] = 3
    nginx: Annotated[int, Field(ge=1, le=50)] = 3


class Email(Section):
    host: str = "smtp.mydomain.com"
    port: Port = 25
    user: str = ""
    password: Secret | None = None
    ssl: bool = False
    sender: str = "admin <sample_admin@mydomain.com>"
    identity: str = ""


class Harbor(Section):
    hostname: HostPort
    protocol: Literal["http", "https"] = "http"
    node_port: NodePort = 31777
    admin_password: Secret
    images: Images = Images()
    replicas: Replicas = Replicas()
    max_job_workers: Annotated[int, Field(ge=1, le=100)] = 3
    token_expiration: Annotated[int, Field(ge=1, le=10080)] = 30  # minutes
    log_level: Literal["debug", "info", "warning", "error", "fatal"] = "info"
    self_registration: bool = True
    project_creation_restriction: Literal["everyone", "adminonly"] = "everyone"
    email: Email = Email()
    # The 2017 files mounted the registry config at /etc/docker/registry, where the image never
    # reads it. Settable only to reproduce that bug on purpose (tests), with allow_known_bugs.
    registry_config_mount_path: RemotePath = "/etc/registry"
    allow_known_bugs: bool = False

    @property
    def ext_endpoint(self) -> str:
        return f"{self.protocol}://{self.hostname}"


# ---------------------------------------------------------------- storage
class Volumes(Section):
    log: Quantity = "1Gi"
    registry: Quantity = "5Gi"


class Csi(Section):
    driver: str = "cephfs.csi.ceph.com"
    cluster_id: str = "harborbook-lab"
    fs_name: str = "cephfs"


class Storage(Section):
    backend: Literal["cephfs", "cephfs-csi"] = "cephfs"
    monitors: Annotated[list[HostPort], Field(min_length=1)]
    root: RemotePath = "/apps/harbor-k8s"  # inside CephFS
    mount: LocalPath  # where the CephFS root is mounted on the machine running the runbooks
    user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "admin"
    admin_key: Secret  # the bare key (file: a keyring file is accepted too, the key is extracted)
    owner_uid: Annotated[int, Field(ge=0, le=2**31 - 1)] = 10000  # the registry image runs as 10000
    owner_gid: Annotated[int, Field(ge=0, le=2**31 - 1)] = 10000
    volumes: Volumes = Volumes()
    csi: Csi = Csi()


# ---------------------------------------------------------------- database
class Endpoint(Section):
    host: Host
    port: Port = 3306


class ServerSource(Section):
    kind: Literal["server"]
    host: Host
    port: Port = 3306
    user: DbUser
    password: Secret
    database: DbName = "registry"


class DumpSource(Section):
    kind: Literal["dumpfile"]
    path: LocalPath
    database: DbName = "registry"  # the database name inside the dump


class Target(Section):
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]
    admin_user: DbUser
    admin_password: Secret
    database: DbName = "registry_k8s"
    user: DbUser = "harbork8s"
    password: Secret
    # The host part of the Harbor user's account; '%' lets pods connect from any address.
    user_host: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.%:-]{1,255}$")] = "%"


class Database(Section):
    source: Annotated[Union[ServerSource, DumpSource], Field(discriminator="kind")]
    target: Target
    replace: bool = False


# ---------------------------------------------------------------- redis
class Redis(Section):
    host: Host
    port: Port = 6379
    password: Secret | None = None
    db: Annotated[int, Field(ge=0, le=15)] = 11
    pool_size: Annotated[int, Field(ge=1, le=10000)] = 100


# ---------------------------------------------------------------- verify
class Verify(Section):
    repository: Annotated[str, Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$")] = "harborbook-smoke"
    project: K8sName = "library"
    session_requests: Annotated[int, Field(ge=1, le=10000)] = 30
    failover: bool = True
    skopeo: Literal["auto", "always", "never"] = "auto"
    timeout: Annotated[float, Field(gt=0, le=3600)] = 120.0


# ---------------------------------------------------------------- node_pressure
class ChrootAccess(Section):
    kind: Literal["chroot"]
    # '{node}' is replaced by the node name: one root directory per node.
    root: LocalPath


class SshAccess(Section):
    kind: Literal["ssh"]
    host: Annotated[str, Field(min_length=1)] = "{node}"
    port: Port = 22
    user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "root"
    identity_file: LocalPath | None = None
    known_hosts: LocalPath | None = None  # host keys are always checked; sudo -n is used when not root


class DebugPodAccess(Section):
    kind: Literal["debug-pod"]
    image: Image = "busybox:1.36"
    # kube-system: the pod gets system-node-critical priority, the only kind a kubelet under
    # DiskPressure still admits.
    namespace: K8sName = "kube-system"
    privileged: bool = False
    timeout: Annotated[float, Field(gt=0, le=600)] = 60.0


Access = Annotated[Union[ChrootAccess, SshAccess, DebugPodAccess], Field(discriminator="kind")]


class NodePressure(Section):
    node: Annotated[str, Field(pattern=r"^(all|[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$")] = "all"
    access: Access | None = None
    remedy: Literal["report", "cleanup", "threshold"] = "report"
    target: dict[str, str] = Field(default_factory=dict)
    apply: bool = False
    headroom: Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(%|Ki|Mi|Gi|Ti|k|M|G|T)?$")] = "2%"
    wait_transition: bool = True
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 200  # fleet view: requests in flight at most

    @model_validator(mode="after")
    def _apply_needs_one_node(self) -> "NodePressure":
        if self.apply and self.node == "all":
            raise ValueError("apply: true needs a single node; the fleet view (node: all) only reports")
        return self

    @field_validator("target")
    @classmethod
    def _target_keys(cls, value: dict[str, str]) -> dict[str, str]:
        known = {"memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available",
                 "imagefs.inodesFree", "pid.available"}
        for key in value:
            if key not in known:
                raise ValueError(f"unknown eviction signal '{key}' (expected one of {sorted(known)})")
        return value


# ---------------------------------------------------------------- the file
class Params(Section):
    cluster: Cluster = Cluster()
    harbor: Harbor
    storage: Storage
    database: Database
    redis: Redis
    verify: Verify = Verify()
    node_pressure: NodePressure = NodePressure()
    migrate: "Migrate | None" = None  # 08: an existing single-host Harbor to move in (optional)


from .migrate import Migrate  # noqa: E402  (migrate builds on this module's sections)

Params.model_rebuild()
