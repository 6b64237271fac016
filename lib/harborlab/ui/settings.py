"""What the ui stand-in reads at start: its config directory and its environment.

Like Harbor 1.2's ui: files under ``/etc/ui`` (``private_key.pem`` signs tokens, read as libtrust
reads it; ``app.conf`` and ``key`` are accepted as they are), ``_REDIS_URL`` for sessions: any
non-empty value, untrimmed, selects Redis (Harbor ``src/ui/main.go``), read as beego reads it
(:mod:`.redisurl`). The real ui asks the adminserver for its database settings; the stand-in is
given the adminserver's ``MYSQL_*`` and ``HARBOR_ADMIN_PASSWORD`` directly in its environment
(the lab copies them from the adminserver's ConfigMap and Secret): the same data, a shorter road.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import LabError
from .errors import UiConfigError
from .libtrust import load_private_key
from .redisurl import SessionSavePath, parse_save_path
from .tokens import DEFAULT_EXPIRATION_MINUTES

PRIVATE_KEY_FILE = "private_key.pem"


@dataclass(frozen=True)
class DatabaseSettings:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str


@dataclass(frozen=True)
class UiSettings:
    config_dir: Path
    signing_key: rsa.RSAPrivateKey = field(repr=False)
    database: DatabaseSettings
    admin_password: str | None = field(default=None, repr=False)
    redis: SessionSavePath | None = None
    token_expiration_minutes: int = DEFAULT_EXPIRATION_MINUTES


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise UiConfigError(
            f"{name} is not set",
            hint="the ui reads its database settings from the adminserver's configuration (MYSQL_*)",
        )
    return value


def load_settings(config_dir: Path, env: Mapping[str, str]) -> UiSettings:
    """Read ``config_dir`` and ``env``; every problem is a ``UiConfigError`` naming the input."""
    key_path = config_dir / PRIVATE_KEY_FILE
    try:
        key = load_private_key(key_path.read_bytes(), source=str(key_path))
    except LabError as exc:
        raise UiConfigError(exc.message, hint=exc.hint) from None
    except FileNotFoundError:
        raise UiConfigError(
            f"{key_path} does not exist",
            hint="mount the ui ConfigMap/Secret with private_key.pem at the ui's config dir",
        ) from None
    port_text = env.get("MYSQL_PORT", "3306") or "3306"
    if not port_text.isdigit():
        raise UiConfigError(f"MYSQL_PORT {port_text!r} is not a port number")
    database = DatabaseSettings(
        host=_require(env, "MYSQL_HOST"),
        port=int(port_text),
        user=_require(env, "MYSQL_USR"),
        password=env.get("MYSQL_PWD", ""),
        database=env.get("MYSQL_DATABASE", "registry") or "registry",
    )
    redis_text = env.get("_REDIS_URL", "")
    expiration_text = env.get("TOKEN_EXPIRATION", "")
    expiration = int(expiration_text) if expiration_text.isdigit() else DEFAULT_EXPIRATION_MINUTES
    return UiSettings(
        config_dir=config_dir,
        signing_key=key,
        database=database,
        admin_password=env.get("HARBOR_ADMIN_PASSWORD") or None,
        redis=parse_save_path(redis_text) if redis_text else None,
        token_expiration_minutes=expiration,
    )
