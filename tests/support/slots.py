"""The sandbox labs' slots: where each lab of tests/procedure lives (state directory, ports,
params files), so two of them can run side by side (tests/procedure/conftest.py)."""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

from harborlab.lab import PORTS, shifted_ports

ROOT = Path(__file__).resolve().parents[2]
SLOTS_DIR = ROOT / ".lab-slots"  # the slots' locks and rewritten params (outside the purged states)
NODE_PORTS = (31777, 31778)  # harbor.node_port and backup.drill.node_port of params/sandbox.yaml


class Slot:
    """Where one lab of these tests lives: its state directory, its ports, its params files."""

    def __init__(self, name: str, state: Path, port_offset: int, node_port_offset: int):
        self.name, self.state = name, state
        self.port_offset, self.node_port_offset = port_offset, node_port_offset
        self.ports = shifted_ports(port_offset)
        self.node_port = NODE_PORTS[0] + node_port_offset
        self._lock: int | None = None

    def params_text(self, name: str = "sandbox.yaml") -> str:
        """params/<name> for this slot: absolute paths into its state, its ports."""
        moved = {port: port + self.port_offset for port in PORTS.values()}
        moved.update({port: port + self.node_port_offset for port in NODE_PORTS})
        text = (ROOT / "params" / name).read_text().replace("../.lab/", f"{self.state}/")
        return re.sub(r"\b\d{5}\b", lambda m: str(moved.get(int(m.group()), m.group())), text)

    @property
    def params(self) -> Path:
        return self._written("sandbox.yaml")

    @property
    def demo_params(self) -> Path:
        return self._written("demo.yaml")

    def _written(self, name: str) -> Path:
        if self.port_offset == 0 and self.node_port_offset == 0 and self.state == ROOT / ".lab":
            return ROOT / "params" / name  # slot A: the files an operator uses, untouched
        SLOTS_DIR.mkdir(exist_ok=True)
        path = SLOTS_DIR / f"{self.name}-{name}"
        path.write_text(self.params_text(name))
        return path

    def lock(self) -> None:
        """Hold this slot for the rest of the session; refuse, naming the holder, when another
        process holds it (another pytest here, or a broken xdist grouping): two runs on one lab
        purge each other's state and hang."""
        if self._lock is not None:
            return
        SLOTS_DIR.mkdir(exist_ok=True)
        fd = os.open(SLOTS_DIR / f"{self.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip()
            os.close(fd)
            raise RuntimeError(f"sandbox slot {self.name} ({self.state}) is in use by pid {holder or '?'}: "
                               "one process per slot (make test gives each slot its own xdist worker)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock = fd


A = Slot("a", ROOT / ".lab", 0, 0)
B = Slot("b", ROOT / ".lab-b", 3000, 100)
# Modules on slot B; every other module of this folder uses slot A.
SLOT_B_MODULES = ("test_backup_restore.py", "test_e2e.py", "test_version.py")


def slot_of(module_file: str) -> Slot:
    return B if Path(module_file).name in SLOT_B_MODULES else A
