"""Field types shared by the params models: secret references, paths, names with real grammars.

Each type validates what it can before anything touches a remote system: a database name that
is not a MySQL identifier is refused here, not by a failed ``CREATE DATABASE`` half-way through.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

from ..secrets import SecretRef


def _base(info: ValidationInfo) -> Path | None:
    return (info.context or {}).get("base")


def _secret(value: Any, info: ValidationInfo) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    if not isinstance(value, str) or not value.strip().startswith(("env:", "file:")):
        # Never echo the value: it may be the password itself.
        raise PydanticCustomError(
            "secret_plain",
            "expected a secret reference 'env:NAME' or 'file:PATH', got a plain value "
            "(put the secret in a file with mode 0600 and write file:PATH, or export it and "
            "write env:NAME; plain values end up in every output notebook)",
        )
    try:
        return SecretRef(value, base=_base(info))
    except ValueError as exc:
        raise PydanticCustomError("secret_ref", str(exc)) from None


Secret = Annotated[
    SecretRef,
    PlainValidator(_secret),
    PlainSerializer(lambda ref: ref.ref, return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^(env|file):.+$"}),
]


def _local_path(value: Any, info: ValidationInfo) -> Path:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise PydanticCustomError("path", "expected a path (a non-empty string)")
    path = Path(value).expanduser()
    base = _base(info)
    if not path.is_absolute() and base is not None:
        path = base / path
    return Path(posixpath.normpath(path))


# A path on this machine; relative paths resolve against the params file's folder.
LocalPath = Annotated[Path, BeforeValidator(_local_path), PlainSerializer(str, return_type=str)]


def _remote_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise PydanticCustomError("abs_path", "expected an absolute path such as /apps/harbor-k8s")
    if "\x00" in value or any(part == ".." for part in value.split("/")):
        raise PydanticCustomError("path_traversal", "'..' is not allowed in this path")
    # normpath keeps exactly two leading slashes (POSIX leaves "//x" implementation-defined);
    # Linux, and so every container, reads "//etc/registry" as "/etc/registry".
    return "/" + posixpath.normpath(value).lstrip("/")


# A path on another system (inside CephFS, inside a container): absolute, no '..'.
RemotePath = Annotated[str, BeforeValidator(_remote_path)]


def _pattern(name: str, regex: str, what: str):
    compiled = re.compile(regex)

    def check(value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise PydanticCustomError(name, what)
        return value

    return BeforeValidator(check)


# MySQL/MariaDB unquoted identifier, kept to the portable subset; never only digits.
DbName = Annotated[
    str,
    _pattern("db_name", r"(?!\d+$)[A-Za-z0-9_]{1,64}",
             "expected a database name: 1-64 letters, digits or '_' (not only digits)"),
]
# MySQL 5.7 limits user names to 32 characters; keep to characters that need no quoting.
DbUser = Annotated[
    str,
    _pattern("db_user", r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}",
             "expected a database user name: 1-32 letters, digits, '_', '.' or '-'"),
]
# Kubernetes namespace and object names (RFC 1123 label).
K8sName = Annotated[
    str,
    _pattern("k8s_name", r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?",
             "expected a Kubernetes name: lowercase letters, digits and '-', at most 63, "
             "starting and ending with a letter or digit"),
]
# RFC 1123 host name or IPv4 address, optionally with :port.
HostPort = Annotated[
    str,
    _pattern("host_port",
             r"(?=.{1,253}(:\d{1,5})?$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
             r"(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*(:\d{1,5})?",
             "expected a host name or address, optionally with :port"),
]
Host = Annotated[
    str,
    _pattern("host",
             r"(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
             r"(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*",
             "expected a host name or IP address"),
]
# A Kubernetes quantity as used for volume sizes (e.g. 1Gi, 500M).
Quantity = Annotated[
    str,
    _pattern("quantity", r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?",
             "expected a Kubernetes quantity such as 1Gi or 500M"),
]
# A container image reference.
Image = Annotated[
    str,
    _pattern("image", r"[a-z0-9]+([._/:@-][A-Za-z0-9_.-]+)*",
             "expected an image reference such as vmware/registry:2.6.2-photon"),
]
