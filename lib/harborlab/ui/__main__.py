"""``python -m harborlab.ui --config-dir DIR --listen HOST:PORT``: run the ui stand-in.

Exit status 2 with one line on stderr when the configuration is unusable (the lab shows it
as the pod's last log lines), so a broken ui pod crash-loops visibly rather than serving 503s.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from .app import build_app
from .sessions import RedisSessions, open_store
from .errors import LabError
from .settings import load_settings
from .users import UserStore


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harborlab.ui", description=__doc__)
    parser.add_argument("--config-dir", type=Path, required=True, help="the ui's /etc/ui")
    parser.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 8080))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = load_settings(args.config_dir, os.environ)
        users = UserStore(settings.database)
        users.check()
        if users.init_admin_password(settings.admin_password):
            logging.getLogger("harborlab.ui").info("admin password initialised from HARBOR_ADMIN_PASSWORD")
        sessions = open_store(settings.redis)
        if isinstance(sessions, RedisSessions):
            sessions.ping()
    except LabError as exc:
        print(f"ui: {exc.render()}", file=sys.stderr)
        return 2
    host, port = args.listen
    logging.getLogger("harborlab.ui").info("sessions: %s; listening on %s:%d", sessions.kind, host, port)
    web.run_app(build_app(settings, users, sessions), host=host, port=port, print=None,
                handle_signals=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
