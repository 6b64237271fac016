"""Redis: the external session store of the HA design, with a generated password.

The password lives only in ``secrets/redis-password``. Redis reads an ACL file
holding its SHA-256 (``#<hex>``), so no config file and no command line ever
carries the value itself.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import redis

from harborlab.component import DOWN, OK, RUNNING, STARTED, DEGRADED, StatusRow

from harborlab.lab import generate_password

if TYPE_CHECKING:
    from harborlab.lab import Lab

NAME = "redis"
SECRET = "redis-password"


def acl_line(password: str) -> str:
    """The default user, allowed everything, authenticated by the password's SHA-256."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    return f"user default on #{digest} ~* &* +@all\n"


def redis_conf(*, host: str, port: int, folder: str, aclfile: str) -> str:
    return "\n".join(
        [
            f"bind {host}",
            f"port {port}",
            "protected-mode yes",
            "daemonize no",
            f"dir {folder}",
            f"aclfile {aclfile}",
            "save ''",
            "appendonly no",
            "loglevel notice",
            "",
        ]
    )


def ping_says_pong(answer: object) -> bool:
    """redis-cli prints NOAUTH and exits 0 when auth fails: only a real PONG counts."""
    return answer is True or answer in (b"PONG", "PONG")


class Redis:
    name = NAME

    def planned_ports(self, lab: "Lab") -> list[int]:
        return [] if lab.pid(NAME) else [lab.ports["redis"]]

    def _client(self, lab: "Lab") -> redis.Redis:
        return redis.Redis(
            host=lab.host,
            port=lab.ports["redis"],
            password=lab.secret_value(SECRET),
            socket_timeout=2,
            socket_connect_timeout=2,
        )

    def _probe(self, lab: "Lab") -> tuple[bool, str]:
        client = self._client(lab)
        try:
            answer = client.ping()
        except redis.RedisError as exc:
            return False, type(exc).__name__
        finally:
            client.close()
        return ping_says_pong(answer), "PONG" if ping_says_pong(answer) else repr(answer)

    def up(self, lab: "Lab") -> str:
        if lab.pid(NAME):
            return RUNNING
        folder = lab.path("redis")
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        lab.secret(SECRET, generate_password)
        acl = folder / "users.acl"
        acl.write_text(acl_line(lab.secret_value(SECRET)))
        acl.chmod(0o600)
        conf = folder / "redis.conf"
        conf.write_text(redis_conf(host=lab.host, port=lab.ports["redis"], folder=str(folder), aclfile=str(acl)))
        lab.spawn(NAME, ["/usr/bin/redis-server", str(conf)])
        lab.wait_for("redis", lambda: self._probe(lab)[0], timeout=10, log=NAME)
        lab.record(
            NAME,
            {
                "host": lab.host,
                "port": lab.ports["redis"],
                "password_file": str(lab.secret(SECRET)),
                "pid": lab.pid(NAME),
            },
        )
        return STARTED

    def status(self, lab: "Lab") -> list[StatusRow]:
        pid = lab.pid(NAME)
        address = f"{lab.host}:{lab.ports['redis']}"
        if pid is None:
            return [StatusRow(NAME, None, address, DOWN, "not running")]
        good, detail = self._probe(lab)
        return [StatusRow(NAME, pid, address, OK if good else DEGRADED, detail)]

    def down(self, lab: "Lab") -> None:
        lab.stop(NAME)
