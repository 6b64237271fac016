"""Shared by the in-node programs and the kubelet simulator (stdlib only: it is copied into the
node's /usr/local/bin and imported from there by the programs).

* the journal: one JSON record per line ``{"t": epoch, "pid": N, "ident": "kubelet", "unit":
  "kubelet.service", "msg": "..."}``, shown the way journalctl shows it;
* the control socket: an abstract unix socket whose name is in /etc/harborlab/kubelet-socket;
  one JSON request line in, one JSON answer ``{"rc", "stdout", "stderr"}`` out;
* the image store: unused image layers are directories carrying a ``lab-unused`` marker under the
  runtime's layer directory; pruning deletes them and reports the bytes freed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time

JOURNAL = "/var/lib/harborlab/journal/kubelet.jsonl"
SOCKET_NAME_FILE = "/etc/harborlab/kubelet-socket"
UNUSED_MARKER = "lab-unused"
LAYER_DIRS = {"docker": "overlay2", "containerd": "io.containerd.snapshotter.v1.overlayfs/snapshots"}


# --- journal -----------------------------------------------------------------------------------

def append_record(path: str, record: dict) -> None:
    """Append one record (opened and closed each time: nothing keeps the node's disk busy)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, separators=(",", ":")) + "\n")


def read_records(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue        # a torn last line (disk full) is skipped, as journald skips corruption
    return records


def format_record(record: dict, output: str, hostname: str) -> str:
    """One record as ``journalctl -o short|short-iso|cat`` prints it (local time)."""
    if output == "cat":
        return record["msg"]
    when = time.localtime(record["t"])
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z" if output == "short-iso" else "%b %d %H:%M:%S", when)
    return f"{stamp} {hostname} {record['ident']}[{record['pid']}]: {record['msg']}"


# --- control socket --------------------------------------------------------------------------

def socket_address(name: str) -> str:
    return "\0" + name      # abstract namespace: no file, no path-length limit, nothing to unmount


def request(command: dict, name_file: str = SOCKET_NAME_FILE, timeout: float = 60.0) -> dict:
    """Send one command to the node's kubelet simulator; raises OSError when nobody listens."""
    with open(name_file, encoding="utf-8") as fh:
        name = fh.read().strip()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_address(name))
        sock.sendall(json.dumps(command).encode() + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return json.loads(b"".join(chunks) or b"{}")


# --- image store -------------------------------------------------------------------------------

def runtime_root(read) -> tuple[str, str]:
    """(runtime, data root) of the node from its runtime config files; ``read(path)`` -> text|None."""
    toml_text = read("/etc/containerd/config.toml")
    if toml_text is not None:
        import tomllib
        return "containerd", tomllib.loads(toml_text).get("root") or "/var/lib/containerd"
    text = read("/etc/docker/daemon.json")
    config = json.loads(text) if text and text.strip() else {}
    return "docker", config.get("data-root") or config.get("graph") or "/var/lib/docker"


def tree_size(path: str) -> int:
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_blocks * 512
            except OSError:
                pass
    return total


def unused_layers(layer_dir: str) -> list[str]:
    try:
        names = sorted(os.listdir(layer_dir))
    except FileNotFoundError:
        return []
    return [os.path.join(layer_dir, n) for n in names
            if os.path.exists(os.path.join(layer_dir, n, UNUSED_MARKER))]


def prune(layer_dir: str) -> list[tuple[str, int]]:
    """Delete unused layers; [(layer id, bytes freed)]."""
    freed = []
    for path in unused_layers(layer_dir):
        size = tree_size(path)
        shutil.rmtree(path, ignore_errors=True)
        freed.append((os.path.basename(path), size))
    return freed


def human_bytes(amount: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            return f"{amount:.3g}{unit}" if unit != "B" else f"{amount}B"
        amount /= 1000
    return f"{amount}B"
