"""Where distribution's filesystem driver keeps things, below its ``rootdirectory``.

From distribution's own description of its storage layout (registry/storage/paths.go)::

    <root>/docker/registry/v2/
        blobs/<algorithm>/<first two hex>/<hex>/data          the content, addressed by digest
        repositories/<name>/                                  <name> may hold slashes
            _layers/<algorithm>/<hex>/link                    blobs linked into the repository
            _manifests/revisions/<algorithm>/<hex>/link       manifests of the repository
            _manifests/tags/<tag>/current/link                what the tag points at now
            _manifests/tags/<tag>/index/<algorithm>/<hex>/link  every manifest the tag held
            _uploads/<id>/...                                 uploads in progress (never copied)

A link file holds the digest text (``sha256:<hex>``), nothing else. A single-host Harbor keeps
this tree in ``/data/registry`` (mounted at ``/storage`` in its registry container); the HA
deployment keeps it in ``<storage.root>/registry`` on CephFS.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import HarborbookError

V2 = ("docker", "registry", "v2")
_HEX64 = re.compile(r"[0-9a-f]{64}")
# distribution's path component grammar (reference/regexp.go): lowercase alphanumerics with
# separators; a directory starting with '_' is the repository's own data, never a name.
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
# A link file holds 71 bytes; reading more of one that holds something else only lengthens the error.
LINK_MAX = 1024


class LayoutError(HarborbookError):
    """A path does not hold a registry tree, or a file in it is not what the layout says."""


def v2(root: Path) -> Path:
    return Path(root).joinpath(*V2)


def is_digest(text: str) -> bool:
    algo, _, hexpart = text.partition(":")
    return algo == "sha256" and bool(_HEX64.fullmatch(hexpart))


def blob_dir(root: Path, digest: str) -> Path:
    algo, hexpart = digest.split(":", 1)
    return v2(root) / "blobs" / algo / hexpart[:2] / hexpart


def blob_data(root: Path, digest: str) -> Path:
    return blob_dir(root, digest) / "data"


def repository_dir(root: Path, name: str) -> Path:
    return v2(root) / "repositories" / name


def layer_link(root: Path, name: str, digest: str) -> Path:
    algo, hexpart = digest.split(":", 1)
    return repository_dir(root, name) / "_layers" / algo / hexpart / "link"


def revision_link(root: Path, name: str, digest: str) -> Path:
    algo, hexpart = digest.split(":", 1)
    return repository_dir(root, name) / "_manifests" / "revisions" / algo / hexpart / "link"


def tag_current_link(root: Path, name: str, tag: str) -> Path:
    return repository_dir(root, name) / "_manifests" / "tags" / tag / "current" / "link"


def tag_index_link(root: Path, name: str, tag: str, digest: str) -> Path:
    algo, hexpart = digest.split(":", 1)
    return repository_dir(root, name) / "_manifests" / "tags" / tag / "index" / algo / hexpart / "link"


def is_component(text: str) -> bool:
    return bool(_COMPONENT.fullmatch(text))


def is_tag(text: str) -> bool:
    return bool(_TAG.fullmatch(text))


def read_link(path: Path) -> str:
    """The digest a link file holds; a LayoutError names the file when it holds anything else."""
    with open(path, "rb") as link:
        return parse_link(link.read(LINK_MAX), str(path))


def parse_link(data: bytes, where: str) -> str:
    """The digest in a link file's bytes (read from ``where``, named in the error)."""
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise LayoutError(f"{where}: a link file holding non-ASCII bytes") from None
    if not is_digest(text):
        shown = text[:40] + ("..." if len(text) > 40 else "")
        raise LayoutError(f"{where}: a link file should hold a sha256 digest, holds {shown!r}")
    return text


def check_root(root: Path, what: str) -> Path:
    """``root`` exists and holds ``docker/registry/v2`` (else a LayoutError naming ``what``)."""
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{what}: {root} is not a directory",
                          hint="give the registry's storage root (a single-host Harbor keeps it in /data/registry)")
    if not v2(root).is_dir():
        raise LayoutError(f"{what}: {root} holds no docker/registry/v2 tree",
                          hint="give the directory the registry's storage.filesystem.rootdirectory names "
                               "(a single-host Harbor: /data/registry)")
    return root
