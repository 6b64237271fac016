"""Moving an existing single-host Harbor's registry storage into the HA deployment.

``inventory`` reads a registry tree (distribution's filesystem layout, :mod:`.layout`);
``copy`` publishes blobs verified by sha256, resumably (:mod:`.journal`), then the links;
``delta`` says what a copy would still do; ``rows`` reads and compares the database's view.
"""

from .copy import (COPIED, CORRUPT, GOOD, MISSING, PRESENT, REPLACED, STOPPED, BlobOutcome, CopyReport, LinkReport,
                   copy_blob, copy_blobs, link_repositories, write_link)
from .delta import Delta, delta
from .freeze import WriteProbe, probe_writes
from .inventory import Inventory, Repository, Tag, scan
from .journal import Journal
from .layout import LayoutError
from .rows import Agreement, SourceRows, compare, differences, read

__all__ = [
    "COPIED", "CORRUPT", "GOOD", "MISSING", "PRESENT", "REPLACED", "STOPPED", "Agreement", "BlobOutcome",
    "CopyReport", "Delta", "Inventory", "Journal", "LayoutError", "LinkReport", "Repository", "SourceRows", "Tag", "WriteProbe", "probe_writes",
    "compare", "copy_blob", "copy_blobs", "delta", "differences", "link_repositories", "read", "scan", "write_link",
]
