"""The ui pod: ``vmware/harbor-ui:v1.2.0`` run as the lab's stand-in, ``python -m harborlab.ui``.

``--config-dir`` is the host path of ``/etc/ui``, where Harbor 1.2's ui reads its token key
whatever ``CONFIG_PATH`` says (``src/ui/service/token/authutils.go``: ``privateKey =
"/etc/ui/private_key.pem"``, a constant; ``harborlab.images``), ``--listen`` the pod IP and the container port (80). The environment is
the pod's own plus the adminserver's database settings and admin password: the real ui asks
the adminserver for them at run time; the stand-in is handed the same values at start.
"""

from __future__ import annotations

import sys
from typing import Mapping

from .layout import Launch, PodLayout

UI_CONFIG = "/etc/ui/app.conf"
KEY_DIR = "/etc/ui"  # dirname of authutils.go's privateKey
# What the ui takes from the adminserver's configuration.
ADMINSERVER_KEYS = ("MYSQL_HOST", "MYSQL_PORT", "MYSQL_USR", "MYSQL_PWD", "MYSQL_DATABASE",
                    "HARBOR_ADMIN_PASSWORD", "TOKEN_EXPIRATION")


def ui_launch(
    pod: PodLayout,
    adminserver_env: Mapping[str, str],
    port: int = 80,
    python: str = sys.executable,
) -> Launch:
    """The ui stand-in for ``pod``, given the adminserver's configuration."""
    config_dir = pod.host_path(KEY_DIR)
    env = {**{k: adminserver_env[k] for k in ADMINSERVER_KEYS if k in adminserver_env}, **pod.env}
    return Launch(
        argv=[python, "-m", "harborlab.ui", "--config-dir", str(config_dir), "--listen", f"{pod.ip}:{port}"],
        env=env,
        health_url=f"http://{pod.ip}:{port}/",
        notes=(f"config dir: {config_dir}",),
    )


