"""What the templates are given: the params, the generated secrets, and revealed credentials.

Secret values reach the manifests only through :class:`Credentials`, which the caller fills in
(usually with :func:`reveal_credentials`, at the moment of rendering). The rest is policy as
data: component names, ports, probes and the mapping of log levels between programs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import beego
from .. import secrets as secret_refs
from ..params.models import Params
from .secrets import GeneratedSecrets

COMPONENTS = ("adminserver", "ui", "jobservice", "registry", "nginx")
# Objects are applied (and listed) in this order: what a pod mounts exists before the pod.
KIND_ORDER = ("Secret", "ConfigMap", "Service", "Deployment")

# Readiness: an HTTP path where the program is known to answer, else a TCP connect.
# Harbor 1.2's adminserver and ui have no documented health path; the registry answers 200 on /.
PROBES: dict[str, dict[str, Any]] = {
    "adminserver": {"tcpSocket": {"port": 80}},
    "ui": {"tcpSocket": {"port": 80}},
    "jobservice": {"tcpSocket": {"port": 80}},
    "registry": {"httpGet": {"path": "/", "port": 5000}},
    "nginx": {"tcpSocket": {"port": 80}},
}
PROBE_TIMING = {"initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3}

# harbor.log_level -> distribution's log.level (it has no "warning" nor "fatal").
REGISTRY_LOG_LEVELS = {"debug": "debug", "info": "info", "warning": "warn", "error": "error", "fatal": "error"}

# Harbor's defaults for the settings the params file does not carry (LDAP is configured in the
# UI afterwards; RESET makes the adminserver take these env values on every start).
ADMINSERVER_DEFAULTS: dict[str, str] = {
    "AUTH_MODE": "db_auth",
    "LDAP_URL": "ldaps://ldap.mydomain.com",
    "LDAP_SEARCH_DN": "",
    "LDAP_BASE_DN": "ou=people,dc=mydomain,dc=com",
    "LDAP_FILTER": "",
    "LDAP_UID": "uid",
    "LDAP_SCOPE": "3",
    "LDAP_TIMEOUT": "5",
    "VERIFY_REMOTE_CERT": "on",
    "ADMIRAL_URL": "NA",
    "WITH_NOTARY": "False",
    "CFG_EXPIRATION": "5",
}


@dataclass(frozen=True)
class Credentials:
    """Secret values chosen by people (revealed from the params' references by the caller)."""

    db_password: str = field(repr=False)
    admin_password: str = field(repr=False)
    redis_password: str = field(default="", repr=False)
    email_password: str = field(default="", repr=False)
    ldap_search_password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        for value in (self.db_password, self.admin_password, self.redis_password,
                      self.email_password, self.ldap_search_password):
            secret_refs.remember(value)


def reveal_credentials(params: Params) -> Credentials:
    """Reveal the params' secret references (env/file reads only; no cluster I/O)."""
    email = params.harbor.email.password
    redis = params.redis.password
    return Credentials(
        db_password=params.database.target.password.reveal(),
        admin_password=params.harbor.admin_password.reveal(),
        redis_password=redis.reveal() if redis is not None else "",
        email_password=email.reveal() if email is not None else "",
    )


def host_only(hostport: str) -> str:
    """``hub.example.com:31777`` -> ``hub.example.com`` (nginx matches server_name without port)."""
    host, sep, port = hostport.rpartition(":")
    return host if sep and port.isdigit() else hostport


def context(params: Params, generated: GeneratedSecrets, credentials: Credentials) -> dict[str, Any]:
    """Every name a template may use; anything else is an error at render time."""
    harbor = params.harbor
    target = params.database.target
    endpoint = target.endpoints[0]  # Harbor takes one address: the first (or a VIP) of the cluster
    redis = params.redis
    return {
        "namespace": params.cluster.namespace,
        "harbor": harbor,
        "ext_endpoint": harbor.ext_endpoint,
        "server_name": host_only(harbor.hostname),
        "token_realm": f"{harbor.ext_endpoint}/service/token",
        "db": {"host": endpoint.host, "port": endpoint.port, "user": target.user, "database": target.database},
        "adminserver_defaults": ADMINSERVER_DEFAULTS,
        "registry_log_level": REGISTRY_LOG_LEVELS[harbor.log_level],
        "registry_config_dir": harbor.registry_config_mount_path,
        "probes": {name: {**probe, **PROBE_TIMING} for name, probe in PROBES.items()},
        "generated": generated,
        "credentials": credentials,
        "redis_url": beego.build_redis_url(redis.host, redis.port, credentials.redis_password,
                                           redis.db, redis.pool_size),
    }


__all__ = ["COMPONENTS", "Credentials", "KIND_ORDER", "PROBES", "context", "host_only", "reveal_credentials"]
