"""Does the old registry still take writes? Asked the way a push would: open a blob upload.

``POST /v2/<name>/blobs/uploads/`` answers 202 on a registry that takes writes (the upload just
opened is cancelled at once with ``DELETE``). A registry in distribution's read-only mode
(``storage.maintenance.readonly.enabled: true``) refuses the method; a stopped one does not
answer. A 401 we cannot get past tells nothing: the cut-over must not go on guessing.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from ..errors import TransportError, Unavailable
from ..registry import RegistryClient, repository_scope


@dataclass(frozen=True)
class WriteProbe:
    refused: bool | None  # None: cannot tell
    status: int | None
    detail: str


def probe_writes(client: RegistryClient, repository: str) -> WriteProbe:
    scope = repository_scope(repository, ("pull", "push"))
    url = client.url(f"/v2/{repository}/blobs/uploads/")
    try:
        response = client.send("POST", url, scope, {"Content-Length": "0"}, b"")
    except Unavailable as exc:
        return WriteProbe(True, None, f"the old registry does not answer (stopped): {exc.message}")
    except TransportError as exc:
        return WriteProbe(None, exc.status, f"cannot tell: {exc.message}")
    if response.status == 202:
        location = response.header("Location")
        if location:
            try:
                client.send("DELETE", urllib.parse.urljoin(response.url, location), scope)
            except TransportError:
                pass  # an abandoned empty upload; the registry's upload purging removes it
        return WriteProbe(False, 202, f"POST {url} -> 202: the old registry still accepts uploads")
    if response.status in (401, 403):
        return WriteProbe(None, response.status,
                          f"POST {url} -> {response.status}: the credentials given cannot push there, so "
                          "whether writes are refused cannot be told")
    return WriteProbe(True, response.status, f"POST {url} -> HTTP {response.status}: uploads refused")
