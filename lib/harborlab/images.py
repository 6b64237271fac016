"""The images the lab can "pull": what each one runs, and where that program reads its config.

The lab's own table, written from the images' build files (not from the product's catalog):
each row names its source. Kubernetes runs ``command`` in place of the image's ENTRYPOINT and
``args`` in place of its CMD (a ``command`` alone drops the CMD too), so where a program reads
its config is a function of the container spec, not of the image alone: :func:`config_path`.

Harbor v1.2.0 sources are paths in vmware/harbor (now goharbor/harbor) at tag v1.2.0 unless a
commit is named.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

Argv = Sequence[str]
Env = Mapping[str, str]


def _registry_reads(argv: Argv, env: Env) -> str | None:
    # make/photon/registry/entrypoint.sh: `*.yaml|*.yml) set -- registry serve "$@"`,
    # `serve|garbage-collect|help|-*) set -- registry "$@"`, then `exec "$@"`.
    first = argv[0] if argv else ""
    if first.endswith((".yaml", ".yml")):
        argv = ["registry", "serve", *argv]
    elif first in ("serve", "garbage-collect", "help") or first.startswith("-"):
        argv = ["registry", *argv]
    if len(argv) < 2 or posixpath.basename(argv[0]) != "registry" or argv[1] != "serve":
        return None
    # distribution registry/registry.go resolveConfiguration: args[0], else the env variable.
    return argv[2] if len(argv) > 2 else (env.get("REGISTRY_CONFIGURATION_PATH") or None)


def _nginx_reads(argv: Argv, env: Env) -> str:
    # nginx -c FILE, else the compiled-in --conf-path: vmware/photon SPECS/nginx/nginx.spec
    # (1.11.13-2) configures --prefix=/etc/nginx --conf-path=/etc/nginx/nginx.conf; a relative
    # -c is taken from the prefix.
    for i, arg in enumerate(argv[:-1]):
        if arg == "-c":
            return posixpath.join("/etc/nginx", argv[i + 1])
    return "/etc/nginx/nginx.conf"


def _beego_app_reads(binary_dir: str) -> Callable[[Argv, Env], str]:
    # Harbor src/ui/controllers/base.go init() and src/jobservice/main.go init(): a non-empty
    # CONFIG_PATH is loaded with beego.LoadAppConfig (filepath.Abs: relative to the workdir,
    # which the Dockerfiles set to /harbor/); otherwise beego v1.6.1 config.go init() reads
    # <dir of the binary>/conf/app.conf.
    def reads(argv: Argv, env: Env) -> str:
        path = env.get("CONFIG_PATH") or ""
        return posixpath.join("/harbor", path) if path else posixpath.join(binary_dir, "conf", "app.conf")
    return reads


@dataclass(frozen=True)
class Image:
    repository: str
    tags: tuple[str, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    reads: Callable[[Argv, Env], str | None] | None  # argv, env -> the config file it reads
    other_files: tuple[str, ...] = ()                # fixed paths it also reads
    source: str = field(default="", compare=False)

    def refs(self) -> tuple[str, ...]:
        return tuple(f"{self.repository}:{tag}" for tag in self.tags)


TABLE: tuple[Image, ...] = (
    # The tag 2.6.2-photon was built twice. Harbor v1.2.0's Dockerfile had
    # CMD ["/etc/docker/registry/config.yml"]; commit 6f335bdb1a (2017-11-01, "Deprivilege ...
    # registry image", Makefile REGISTRYVERSION=2.6.2-photon still) rebuilt it with the
    # distribution example config at /etc/registry/config.yml and CMD ["/etc/registry/config.yml"],
    # which is what the tag served from then on (commit ee8144b98a, 2017-11-20, moved Harbor's own
    # k8s mountPath "to fit with what defined in Dockerfile"). docker-compose.tpl never noticed: it
    # passes `command: ["serve", "/etc/registry/config.yml"]` itself.
    Image("vmware/registry", ("2.6.2-photon",), ("/entrypoint.sh",), ("/etc/registry/config.yml",),
          _registry_reads, (),
          "make/photon/registry/Dockerfile @6f335bdb1a + entrypoint.sh; distribution resolveConfiguration"),
    # make/common/nginx/Dockerfile: tdnf install nginx; CMD ["nginx", "-g", "daemon off;"].
    Image("vmware/nginx-photon", ("1.11.13",), (), ("nginx", "-g", "daemon off;"), _nginx_reads, (),
          "make/common/nginx/Dockerfile; photon SPECS/nginx/nginx.spec --conf-path"),
    # make/photon/ui/Dockerfile: WORKDIR /harbor/, ENTRYPOINT ["/harbor/harbor_ui"]. The token key
    # is a constant (src/ui/service/token/authutils.go privateKey); the secret key is KEY_PATH or
    # /etc/ui/key (src/ui/config/config.go), mounted by docker-compose.tpl.
    Image("vmware/harbor-ui", ("v1.2.0",), ("/harbor/harbor_ui",), (), _beego_app_reads("/harbor"),
          ("/etc/ui/private_key.pem", "/etc/ui/key"),
          "make/photon/ui/Dockerfile; src/ui/controllers/base.go init; authutils.go privateKey"),
    # make/photon/jobservice/Dockerfile: ENTRYPOINT ["/harbor/harbor_jobservice"]; key
    # /etc/jobservice/key (src/jobservice/config/config.go defaultKeyPath).
    Image("vmware/harbor-jobservice", ("v1.2.0",), ("/harbor/harbor_jobservice",), (),
          _beego_app_reads("/harbor"), ("/etc/jobservice/key",),
          "make/photon/jobservice/Dockerfile; src/jobservice/main.go init"),
    # make/photon/adminserver/Dockerfile: ENTRYPOINT ["/harbor/harbor_adminserver"]; configured by
    # env (make/common/templates/adminserver/env), key /etc/adminserver/key
    # (src/adminserver/systemcfg/systemcfg.go defaultKeyPath); no config file.
    Image("vmware/harbor-adminserver", ("v1.2.0",), ("/harbor/harbor_adminserver",), (), None,
          ("/etc/adminserver/key",), "make/photon/adminserver/Dockerfile; systemcfg.go"),
    # -- generic images, any tag (ANY_TAG): the images tutorials and test suites use. Each runs as a
    # host program (harborlab.programs.generic says which). ENTRYPOINT/CMD are those of the images'
    # published configs (Docker Hub `docker image inspect`, .Config.Entrypoint/.Cmd), which the
    # docker-library Dockerfiles set; they have been the same for every tag in use.
    # library/busybox: `CMD ["sh"]` (docker-library/busybox Dockerfile-builder template).
    Image("busybox", ("*",), (), ("sh",), None, (), "Docker Hub library/busybox config: Cmd [sh]"),
    # library/nginx: `ENTRYPOINT ["/docker-entrypoint.sh"]`, `CMD ["nginx", "-g", "daemon off;"]`
    # (nginxinc/docker-nginx mainline/debian/Dockerfile); nginx built with --prefix=/etc/nginx
    # --conf-path=/etc/nginx/nginx.conf, so -c is read as _nginx_reads does.
    Image("nginx", ("*",), ("/docker-entrypoint.sh",), ("nginx", "-g", "daemon off;"), _nginx_reads, (),
          "Docker Hub library/nginx config; nginxinc/docker-nginx Dockerfile"),
    # library/python (3.x): `CMD ["python3"]` (docker-library/python Dockerfile-linux.template).
    Image("python", ("*",), (), ("python3",), None, (), "Docker Hub library/python config: Cmd [python3]"),
    # library/ubuntu: `CMD ["/bin/bash"]` (the rootfs Dockerfile of docker-library/official-images' ubuntu).
    Image("ubuntu", ("*",), (), ("/bin/bash",), None, (), "Docker Hub library/ubuntu config: Cmd [/bin/bash]"),
    # kubernetes/kubernetes build/pause/Dockerfile: `ENTRYPOINT ["/pause"]`, no CMD; the same image
    # under its old registry name too.
    Image("registry.k8s.io/pause", ("*",), ("/pause",), (), None, (), "kubernetes build/pause/Dockerfile"),
    Image("k8s.gcr.io/pause", ("*",), ("/pause",), (), None, (), "kubernetes build/pause/Dockerfile"),
)

ANY_TAG = "*"   # a row for every tag (and digest) of its repository

# distribution/reference ParseNormalizedNamed: docker.io (and its old alias index.docker.io) is
# the default domain, "library/" the default namespace of one-component names; TagNameOnly adds
# "latest" when neither a tag nor a digest is given.
_DEFAULT_DOMAINS = ("docker.io/", "index.docker.io/")


def normalize(ref: str) -> str:
    """``docker.io/library/busybox`` -> ``busybox:latest`` (familiar form; digests kept)."""
    ref = ref.strip()
    for domain in _DEFAULT_DOMAINS:
        if ref.startswith(domain):
            ref = ref[len(domain):]
            break
    if ref.startswith("library/") and ref.count("/") == 1:
        ref = ref[len("library/"):]
    last = ref.rsplit("/", 1)[-1]
    if "@" not in last and ":" not in last:
        ref += ":latest"
    return ref


_BY_REF = {ref: image for image in TABLE for ref in image.refs() if ANY_TAG not in image.tags}
_ANY_TAG = {image.repository: image for image in TABLE if ANY_TAG in image.tags}


def repository_of(ref: str) -> str:
    """``busybox:1.36`` / ``busybox@sha256:...`` / ``host:5000/x:y`` -> the repository part."""
    ref = normalize(ref)
    if "@" in ref:
        ref = ref.split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    if ":" in last:
        last = last.rsplit(":", 1)[0]
    return f"{head}/{last}" if head else last


def lookup(ref: str) -> Image | None:
    """The row of an image reference, or None when the lab does not have that image."""
    return _BY_REF.get(normalize(ref)) or _ANY_TAG.get(repository_of(ref))


def is_generic(image: Image | None) -> bool:
    """Whether ``image`` is one of the generic images (any tag) rather than a Harbor image."""
    return image is not None and ANY_TAG in image.tags


def container_argv(image: Image, container: Mapping) -> list[str]:
    """What the runtime executes: ``command`` replaces ENTRYPOINT (and drops CMD), ``args``
    replaces CMD (kubernetes.io "Define a Command and Arguments for a Container")."""
    # The four cases of that page: command and args -> both (image's ENTRYPOINT and CMD ignored);
    # command alone -> command (CMD ignored too); args alone -> ENTRYPOINT + args; neither -> the
    # image's ENTRYPOINT + CMD. An empty list counts as not given (the CRI runtime's len() == 0).
    command, args = container.get("command"), container.get("args")
    if command:
        return [*command, *(args or [])]
    return [*image.entrypoint, *(args if args else image.cmd)]


def config_path(container: Mapping, env: Env | None = None) -> str | None:
    """Where the program of ``container`` reads its config; None for an unknown image or one
    configured without a file. ``env``: the container's resolved environment (literal ``env``
    values when not given)."""
    image = lookup(container.get("image", ""))
    if image is None or image.reads is None:
        return None
    if env is None:
        env = {e["name"]: e.get("value", "") for e in container.get("env") or [] if "value" in e}
    argv = container_argv(image, container)
    # The entrypoint script receives everything after its own name.
    if image.entrypoint == ("/entrypoint.sh",) and argv[:1] == ["/entrypoint.sh"]:
        argv = argv[1:]
    return image.reads(argv, env)


__all__ = ["ANY_TAG", "TABLE", "Image", "config_path", "container_argv", "is_generic", "lookup", "normalize",
           "repository_of"]
