"""A scan for secret values in files and text: the test of "secrets never leak".

It looks for each value as written, base64-encoded (Kubernetes Secret data) and URL-quoted,
in every file under the given folders (text and binary) and in captured console output.
"""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path


def forms(value: str) -> set[bytes]:
    raw = value.encode()
    return {raw, base64.b64encode(raw), urllib.parse.quote(value, safe="").encode()}


def find_leaks(secrets: dict[str, str], folders: list[Path] = (), texts: dict[str, str] | None = None) -> list[str]:
    """Where each secret appears: ['<file or stream>: <secret name>', ...]."""
    found = []
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            found += [f"{path}: {name}" for name, value in secrets.items() if any(f in data for f in forms(value))]
    for where, text in (texts or {}).items():
        data = text.encode()
        found += [f"{where}: {name}" for name, value in secrets.items() if any(f in data for f in forms(value))]
    return found
