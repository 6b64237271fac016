"""What earlier copies verified, kept beside the target tree so a re-run need not hash it again.

One line per blob published after its sha256 matched: ``<digest> <size> <mtime_ns>``. A blob in
the target whose size and mtime still match its line is "present and verified"; any other
present blob is hashed before it is trusted. A line lost to a crash only costs one re-hash.
The directory (``.harborbook-migrate`` in the registry's root directory, beside ``docker/``)
is invisible to the registry, which reads ``docker/registry/v2`` only.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

DIRNAME = ".harborbook-migrate"


class Journal:
    def __init__(self, root: Path):
        self.dir = Path(root) / DIRNAME
        self.path = self.dir / "verified"
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[int, int]] = {}
        try:
            for line in self.path.read_text(encoding="ascii", errors="replace").splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    self._seen[parts[0]] = (int(parts[1]), int(parts[2]))
        except FileNotFoundError:
            pass

    def verified(self, digest: str, st: os.stat_result) -> bool:
        return self._seen.get(digest) == (st.st_size, st.st_mtime_ns)

    def record(self, digest: str, st: os.stat_result) -> None:
        self.record_many([(digest, st)])

    def record_many(self, entries: list[tuple[str, os.stat_result]]) -> None:
        """Lines for many blobs in one append (on CephFS each open is a round trip)."""
        if not entries:
            return
        with self._lock:
            for digest, st in entries:
                self._seen[digest] = (st.st_size, st.st_mtime_ns)
            self.dir.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="ascii") as out:
                out.write("".join(f"{digest} {st.st_size} {st.st_mtime_ns}\n" for digest, st in entries))

    # -- the state of the last bulk copy (for the cut-over plan) ------------------------------
    def state(self) -> dict[str, Any]:
        try:
            return json.loads((self.dir / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def save_state(self, **values: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".state.json.{os.getpid()}"
        tmp.write_text(json.dumps({**self.state(), **values}, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.dir / "state.json")
