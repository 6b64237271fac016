"""Fixtures: a private MariaDB and Redis, token keys, and ui processes (see harborlab.ui.fixtures)."""

from harborlab.ui.fixtures import ips, mariadb, procs, redis_server, redis_url, token_keys  # noqa: F401
