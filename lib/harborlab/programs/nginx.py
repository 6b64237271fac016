"""The nginx pod: ``vmware/nginx-photon:1.11.13`` run as Debian's nginx.

The pod's ``/etc/nginx/nginx.conf`` is translated by :mod:`.nginxconf` (addresses and paths
only, see the table there) into the pod's runtime directory, and nginx runs in the
foreground with that directory as its prefix. When a Service's endpoints change, the lab
produces a new launch and :func:`reload` applies it to the running master.
"""

from __future__ import annotations

import os
import signal
from pathlib import PurePosixPath
from typing import Mapping, Sequence

from . import nginxconf
from .layout import Launch, LaunchError, PodLayout

NGINX_CONFIG = "/etc/nginx/nginx.conf"


def nginx_launch(
    pod: PodLayout,
    endpoints: Mapping[str, Sequence[str]],
    worker_user: str | None = None,
    program: str = "nginx",
    inline_includes: bool = False,
) -> Launch:
    """Debian's nginx with the pod's ``nginx.conf``, translated by :mod:`.nginxconf`."""
    wanted = pod.config_path or NGINX_CONFIG  # nginx -c, else the compiled-in --conf-path
    source = pod.host_path(wanted)
    if not source.is_file():
        raise LaunchError(
            f"pod {pod.name}: no nginx.conf at {wanted}",
            hint="mount the nginx ConfigMap at /etc/nginx",
        )
    runtime = pod.runtime / "nginx"
    rules = nginxconf.Rules(
        pod_ip=pod.ip,
        conf_dir=str(PurePosixPath(wanted).parent),  # nginx's conf prefix: the config's directory
        host_path=lambda p: str(pod.host_path(p)),
        endpoints=endpoints,
        runtime=str(runtime),
        worker_user=worker_user,
        inline_includes=inline_includes,
    )
    try:
        text, notes = nginxconf.translate(source.read_text(), rules)
    except nginxconf.ConfSyntaxError as exc:
        raise LaunchError(f"pod {pod.name}: {wanted}: {exc}") from None
    conf = runtime / "nginx.conf"
    port = nginxconf.first_listen_port(text) or 80
    return Launch(
        argv=[program, "-p", f"{runtime}/", "-e", str(runtime / "logs" / "error.log"), "-c", str(conf)],
        env=dict(pod.env),
        files={conf: text},
        dirs=(runtime / "logs", runtime / "tmp"),
        health_url=f"http://{pod.ip}:{port}/",
        ready_statuses=tuple(range(200, 600)),  # any answer: nginx is up, upstreams may not be
        notes=tuple(notes),
    )




def reload(pid: int, launch: Launch) -> None:
    """Apply a new launch (new endpoints) to a running nginx: rewrite its files, SIGHUP the master.

    nginx re-reads its configuration on SIGHUP and replaces its workers gracefully, so requests
    in flight finish; a broken new configuration leaves the old one running (and logs why).
    """
    launch.prepare()
    os.kill(pid, signal.SIGHUP)
