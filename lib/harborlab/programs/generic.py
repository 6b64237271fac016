"""Generic images as host programs: ``busybox``, ``nginx``, ``python``, ``ubuntu`` and ``pause``.

What a container of one of these images executes is decided as Kubernetes decides it
(:func:`harborlab.images.container_argv`: ``command``/``args`` against the image's ENTRYPOINT/CMD,
with ``$(VAR)`` expanded from the container's environment); this module then finds the host
program that plays the image's file:

=============  ===============================================================================
image          what runs
=============  ===============================================================================
busybox        Debian's busybox, through a directory of applet links that is the container's
               whole ``PATH`` (the image has nothing but busybox): ``sh`` is busybox's ash,
               ``sleep``, ``echo``, ``wget``... its applets; any other program is "not found"
nginx          ``/docker-entrypoint.sh nginx ...`` (the image's default) is Debian's nginx with
               the image's default files (``nginx.conf``, ``conf.d/default.conf``, the welcome
               page) unless a volume is mounted over them, ``/etc/nginx/templates/*.template``
               rendered with the environment into ``conf.d`` as the entrypoint's
               ``20-envsubst-on-templates.sh`` does; any other command runs as on ``ubuntu``
python         ``python``/``python3``/``python3.X`` are Debian's python3; others as on ``ubuntu``
ubuntu         the machine's programs, found on the image's ``PATH`` (bash, sh, sleep, cat ...)
pause          ``/pause``: a sleeper that exits 0 on SIGTERM/SIGINT, as pause.c does
=============  ===============================================================================

No mount namespace (see the pod runner's README): a program sees the machine's filesystem,
except that arguments which are absolute paths under one of the container's ``volumeMounts``
are translated to the volume's host directory, and the working directory is the container's
``workingDir`` translated the same way (the pod's root directory by default).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from harborlab import images

from .layout import Launch, LaunchError, PodLayout
from .nginx import nginx_launch

BUSYBOX = "/usr/bin/busybox"     # Debian's busybox (harborlab.requirements)
PYTHON = "/usr/bin/python3"      # Debian's python3-minimal
# The PATH the images' configs set (Env PATH=... in each image's config on Docker Hub).
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX_DIRS = ("/bin", "/usr/bin", "/sbin", "/usr/sbin")
PYTHON_NAMES = re.compile(r"^python(3(\.\d+)?)?$")
NGINX_NAMES = ("nginx", "nginx-debug")

# kubernetes build/pause/linux/pause.c: SIGINT/SIGTERM -> "Shutting down, got signal: ..." and exit 0;
# otherwise pause() for ever.
SLEEPER = (
    "import signal, sys\n"
    "def stop(number, frame):\n"
    "    sys.stderr.write('Shutting down, got signal: %s\\n' % signal.Signals(number).name); sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "signal.signal(signal.SIGINT, stop)\n"
    "while True:\n"
    "    signal.pause()\n"
)

# The nginx image's own files (what `docker run nginx cat <file>` shows; the image's nginx.conf is
# the one of nginx.org's packages, default.conf serves /usr/share/nginx/html on port 80).
NGINX_IMAGE_FILES = {
    "/etc/nginx/nginx.conf": """user  nginx;
worker_processes  auto;
error_log  /var/log/nginx/error.log notice;
pid        /var/run/nginx.pid;
events {
    worker_connections  1024;
}
http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log  /var/log/nginx/access.log  main;
    sendfile        on;
    keepalive_timeout  65;
    include /etc/nginx/conf.d/*.conf;
}
""",
    "/etc/nginx/conf.d/default.conf": """server {
    listen       80;
    listen  [::]:80;
    server_name  localhost;
    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
""",
    "/usr/share/nginx/html/index.html": "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n"
                                        "</head>\n<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, "
                                        "the nginx web server is successfully installed and\nworking.</p>\n"
                                        "</body>\n</html>\n",
    "/usr/share/nginx/html/50x.html": "<!DOCTYPE html>\n<html>\n<head>\n<title>Error</title>\n</head>\n<body>\n"
                                      "<h1>An error occurred.</h1>\n</body>\n</html>\n",
}
HOST_MIME_TYPES = Path("/etc/nginx/mime.types")   # the same upstream file, from Debian's nginx-common


def applet_dir(home: Path) -> Path:
    """A directory of links ``<applet> -> busybox`` (made once per runner state): busybox picks the
    applet from the name it was started as, and ash finds them on PATH."""
    directory = home / "busybox-bin"
    if not (directory / "sh").exists():
        directory.mkdir(parents=True, exist_ok=True)
        listed = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=False).stdout
        for applet in listed.split():
            link = directory / applet
            if not link.is_symlink():
                link.symlink_to(BUSYBOX)
    return directory


def not_found(name: str) -> LaunchError:
    # runc's wording, as the kubelet reports it in the container's StartError.
    if "/" in name:
        return LaunchError(f'exec: "{name}": stat {name}: no such file or directory')
    return LaunchError(f'exec: "{name}": executable file not found in $PATH')


def image_env(image: images.Image, pod_name: str) -> dict[str, str]:
    env = {"PATH": IMAGE_PATH, "HOSTNAME": pod_name, "HOME": "/root"}
    if image.repository == "python":
        env["LANG"] = "C.UTF-8"
    return env


def resolve(image: images.Image, argv: Sequence[str], env: Mapping[str, str], applets: Path) -> list[str]:
    """The host argv for ``argv`` as the image's filesystem would run it; LaunchError when the
    image has no such program."""
    if not argv:
        raise LaunchError("no command specified")
    first, rest = argv[0], list(argv[1:])
    name = PurePosixPath(first).name
    repo = image.repository
    if repo.endswith("/pause"):
        if first == "/pause":
            return [PYTHON, "-c", SLEEPER]
        raise not_found(first)
    if repo == "busybox":
        if ("/" in first and str(PurePosixPath(first).parent) not in BUSYBOX_DIRS) or not (applets / name).exists():
            raise not_found(first)
        return [str(applets / name), *rest]
    if repo == "python" and PYTHON_NAMES.match(name) and ("/" not in first or first.startswith("/usr/")):
        return [PYTHON, *rest]
    if repo == "nginx" and first == "/docker-entrypoint.sh":
        return resolve(image, rest, env, applets) if rest else []
    if "/" in first:
        if not os.access(first, os.X_OK):
            raise not_found(first)
        return [first, *rest]
    found = shutil.which(first, path=env.get("PATH") or IMAGE_PATH)
    if found is None:
        raise not_found(first)
    return [found, *rest]


def translate_paths(argv: Sequence[str], pod: PodLayout) -> list[str]:
    """Arguments naming a path under one of the container's volume mounts -> the host path."""
    out = []
    for arg in argv:
        path = PurePosixPath(arg) if arg.startswith("/") else None
        if path is not None and any(path == PurePosixPath(m) or PurePosixPath(m) in path.parents for m in pod.volumes):
            out.append(str(pod.host_path(arg)))
        else:
            out.append(arg)
    return out


def in_volume(pod: PodLayout, container_path: str) -> bool:
    return pod.host_path(container_path) != pod.root.joinpath(*PurePosixPath(container_path).parts[1:])


def write_nginx_image_files(pod: PodLayout) -> None:
    """The image's files in the pod's root, except where a volume is mounted over them."""
    files = dict(NGINX_IMAGE_FILES)
    if HOST_MIME_TYPES.is_file():
        files["/etc/nginx/mime.types"] = HOST_MIME_TYPES.read_text()
    for path, text in files.items():
        if in_volume(pod, path):
            continue
        target = pod.host_path(path)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    render_templates(pod)


_SUBST = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render_templates(pod: PodLayout) -> None:
    """The nginx image's /docker-entrypoint.d/20-envsubst-on-templates.sh: every
    ``/etc/nginx/templates/*.template`` -> ``/etc/nginx/conf.d/<name>`` with ``${VAR}`` replaced by
    the variables defined in the environment (envsubst is given exactly those names)."""
    source = pod.host_path("/etc/nginx/templates")
    if not source.is_dir():
        return
    for template in sorted(source.rglob("*.template")):
        relative = template.relative_to(source).with_suffix("")
        target = pod.host_path(str(PurePosixPath("/etc/nginx/conf.d") / relative.as_posix()))
        text = _SUBST.sub(lambda m: pod.env.get(m.group(1), m.group(0)), template.read_text())
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def generic_launch(image: images.Image, argv: Sequence[str], pod: PodLayout, applets: Path,
                   working_dir: str = "", worker_user: str | None = None) -> Launch:
    """The Launch of a generic image's container whose argv (as Kubernetes composes it, variables
    expanded) is ``argv``."""
    env = {**image_env(image, pod.name), **pod.env}
    if image.repository == "busybox":
        env["PATH"] = str(applets)
    words = list(argv[1:]) if image.repository == "nginx" and argv[:1] == ["/docker-entrypoint.sh"] else list(argv)
    if image.repository == "nginx" and words and PurePosixPath(words[0]).name in NGINX_NAMES:
        write_nginx_image_files(pod)
        launch = nginx_launch(pod, {}, worker_user, inline_includes=True)
        # The image links /var/log/nginx/access.log to /dev/stdout and error.log to /dev/stderr, so
        # that its log is the container's; the translated paths get the same links.
        logs = pod.runtime / "nginx" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name, target in (("access.log", "/dev/stdout"), ("error.log", "/dev/stderr")):
            if not (logs / name).is_symlink():
                (logs / name).unlink(missing_ok=True)
                (logs / name).symlink_to(target)
        # No health URL: a container without a readinessProbe is Ready once started (the kubelet
        # runs no probe the pod does not declare).
        return Launch(launch.argv, {**env, **launch.env}, launch.files, launch.dirs, "",
                      launch.ready_statuses, launch.notes, clean_env=True, cwd=_cwd(pod, working_dir))
    host = translate_paths(resolve(image, argv, env, applets), pod)
    if not host:       # the nginx entrypoint with nothing to exec: it exits at once
        host = ["/bin/true"]
    return Launch(host, env, clean_env=True, cwd=_cwd(pod, working_dir),
                  notes=(f"{' '.join(argv)} -> {' '.join(host)}",))


def _cwd(pod: PodLayout, working_dir: str) -> Path:
    path = pod.host_path(working_dir or "/")
    return path if path.is_dir() else pod.root


def exec_argv(image: images.Image, command: Sequence[str], pod: PodLayout, applets: Path,
              working_dir: str = "") -> list[str]:
    """The host argv of ``kubectl exec`` into a running container of ``image``: the command
    resolved as the image resolves it, with the container's environment and working directory
    (``env -i -C``, since the exec stream starts the process itself)."""
    env = {**image_env(image, pod.name), **pod.env}
    if image.repository == "busybox":
        env["PATH"] = str(applets)
    host = translate_paths(resolve(image, command, env, applets), pod)
    return ["/usr/bin/env", "-i", "-C", str(_cwd(pod, working_dir)), *(f"{k}={v}" for k, v in env.items()), *host]


__all__ = ["BUSYBOX", "NGINX_IMAGE_FILES", "PYTHON", "SLEEPER", "applet_dir", "exec_argv", "generic_launch",
           "render_templates", "resolve", "translate_paths"]
