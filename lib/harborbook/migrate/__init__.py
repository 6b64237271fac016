"""Moving an existing single-host Harbor's registry storage into the HA deployment.

``inventory`` reads a registry tree (distribution's filesystem layout, :mod:`.layout`) from a
:mod:`.source`: a local directory, or the old host over SSH (:mod:`.sshsource`);
``copy`` publishes blobs verified by sha256, resumably (:mod:`.journal`), then the links;
``delta`` says what a copy would still do; ``rows`` reads and compares the database's view.
"""

from .copy import (COPIED, CORRUPT, GOOD, MISSING, PRESENT, REPLACED, STOPPED, BlobOutcome, CopyReport, LinkReport,
                   copy_blob, copy_blobs, copy_tree, link_repositories, write_link)
from .delta import Delta, delta
from .freeze import WriteProbe, probe_writes
from .inventory import Inventory, Repository, Tag, scan
from .journal import Journal
from .layout import LayoutError
from .rows import Agreement, SourceRows, compare, differences, read
from .source import LocalSource, Source, open_source
from .sshsource import SshError, SshSource

__all__ = [
    "COPIED", "CORRUPT", "GOOD", "MISSING", "PRESENT", "REPLACED", "STOPPED", "Agreement", "BlobOutcome",
    "CopyReport", "Delta", "Inventory", "Journal", "LayoutError", "LinkReport", "LocalSource", "Repository", "Source",
    "SourceRows", "SshError", "SshSource", "Tag", "WriteProbe", "open_source", "probe_writes",
    "compare", "copy_blob", "copy_blobs", "copy_tree", "delta", "differences", "link_repositories", "read", "scan", "write_link",
]
