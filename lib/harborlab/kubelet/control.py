"""The node's ``systemctl`` endpoint: an abstract unix socket served in the emulator's event loop.

One JSON request line (``{"cmd": "restart", "units": ["kubelet.service"]}``), one JSON answer
(``{"rc", "stdout", "stderr"}``) worded like systemctl's own output."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import TYPE_CHECKING

from harborlab.nodes.bin import nodeclient
from harborlab.nodes.layout import JOURNAL_PATH

from .simulator import UNIT

if TYPE_CHECKING:
    from .agent import LabNodeAgent

CHANGED_ON_DISK = (f"Warning: The unit file, source configuration file or drop-ins of {UNIT} changed on disk. "
                   "Run 'systemctl daemon-reload' to reload units.\n")


class Control:
    def __init__(self, agent: "LabNodeAgent"):
        self.agent = agent
        self.server: asyncio.AbstractServer | None = None

    def listen(self, name: str | None) -> None:
        if not name:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return          # built outside a loop (unit tests): no socket
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(nodeclient.socket_address(name.strip()))
        except OSError:
            sock.close()    # another emulator serves this node; ours stays silent
            return
        loop.create_task(self._serve(sock))

    async def _serve(self, sock: socket.socket) -> None:
        self.server = await asyncio.start_unix_server(self._handle, sock=sock)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            request = json.loads(line or b"{}")
            rc, out, err = self.run(str(request.get("cmd", "")), [str(u) for u in request.get("units") or []])
        except (ValueError, TypeError) as exc:
            rc, out, err = 1, "", f"bad request: {exc}\n"
        writer.write(json.dumps({"rc": rc, "stdout": out, "stderr": err}).encode())
        try:
            await writer.drain()
        finally:
            writer.close()

    def run(self, verb: str, units: list[str]) -> tuple[int, str, str]:
        sim = self.agent.sim
        if verb == "daemon-reload":
            sim.daemon_reload()
            return 0, "", ""
        unknown = [u for u in units if u != UNIT]
        if unknown:
            if verb in ("status", "cat", "show"):
                return 4, "", f"Unit {unknown[0]} could not be found.\n"
            return 5, "", f"Failed to {verb} {unknown[0]}: Unit {unknown[0]} not found.\n"
        warning = CHANGED_ON_DISK if verb in ("start", "restart", "status") and sim.files_changed() else ""
        if verb in ("start", "restart"):
            if verb == "restart" or not sim.active:
                sim.restart()
            if sim.load_error:
                return 1, "", (warning + f"Failed to {verb} {UNIT}: Unit {UNIT} has a bad unit file setting.\n"
                               f"See system logs and 'systemctl status {UNIT}' for details.\n")
            return 0, "", warning
        if verb == "stop":
            sim.stop()
            return 0, "", ""
        if verb == "is-active":
            word = "active" if sim.active else "activating" if sim.next_restart else "inactive"
            return (0 if sim.active else 3), word + "\n", ""
        if verb == "cat":
            return 0, "".join(f"# {path}\n{text}\n" for path, text in sim.loaded.items()), ""
        if verb == "show":
            return 0, show(sim), ""
        return (0 if sim.active else 3), status_text(sim), warning


def show(sim) -> str:
    state = "active" if sim.active else "activating" if sim.next_restart else "inactive"
    return (f"Id={UNIT}\nActiveState={state}\nMainPID={sim.pid if sim.active else 0}\n"
            f"ExecStart={{ path=/usr/bin/kubelet ; argv[]={' '.join(sim.argv)} }}\n"
            f"DropInPaths={' '.join(p for p in sim.loaded if '.d/' in p)}\n")


def status_text(sim) -> str:
    fragment = next((p for p in sim.loaded if p.endswith("/" + UNIT)), None)
    dropins = [p for p in sim.loaded if ".d/" in p]
    since = time.strftime("%a %Y-%m-%d %H:%M:%S %Z", time.localtime(sim.started_at or sim.clock()))
    if sim.load_error:
        loaded = f"error (Reason: Unit {UNIT} has a bad unit file setting.)"
    else:
        loaded = f"loaded ({fragment}; enabled; vendor preset: enabled)"
    if sim.active:
        active = f"active (running) since {since}"
    elif sim.next_restart:
        active = "activating (auto-restart) (Result: exit-code)"
    else:
        active = "inactive (dead)" if not sim.load_error else "failed (Result: resources)"
    lines = [f"● {UNIT} - kubelet: The Kubernetes Node Agent", f"     Loaded: {loaded}"]
    if dropins:
        lines.append(f"    Drop-In: {dropins[0].rsplit('/', 1)[0]}")
        lines += [f"             └─{p.rsplit('/', 1)[1]}" for p in dropins]
    lines.append(f"     Active: {active}")
    if sim.active:
        lines.append(f"   Main PID: {sim.pid} (kubelet)")
    hostname = (sim.read("/etc/hostname") or sim.name).strip()
    tail = nodeclient.read_records(str(sim.host_path(JOURNAL_PATH)))[-10:]
    lines += [""] + [nodeclient.format_record(r, "short", hostname) for r in tail]
    return "\n".join(lines) + "\n"
