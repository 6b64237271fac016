"""What every benchmark shares: a private API emulator, medians, peak RSS, a results table.

Benchmarks compare against a baseline measured in the same run (these machines are noisy):
each side runs several times, alternately, and the report gives medians and their ratio.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def emulator(*args: str, timeout: float = 60) -> Iterator[Path]:
    """A private harborlab.kube on a free port in a temp state dir; yields its kubeconfig."""
    with tempfile.TemporaryDirectory(prefix="hb-bench-") as tmp:
        state = Path(tmp)
        log = open(state / "server.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "harborlab.kube", "--state", str(state), "--port", "0", *args],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while not (state / "kubeconfig").exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start:\n" + (state / "server.log").read_text()[-2000:])
                time.sleep(0.1)
            yield state / "kubeconfig"
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # by PID: the process we started
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def alternate(runs: int, before: Callable[[str], object] | None = None,
              **sides: Callable[[], object]) -> dict[str, list[float]]:
    """Run each side ``runs`` times, interleaved (A B A B ...), so drift hits both alike;
    ``before(name)``, untimed, ahead of every run (e.g. an empty target)."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(runs):
        for name, fn in sides.items():
            if before is not None:
                before(name)
            times[name].append(timed(fn))
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a live process (its peak resident set), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def table(rows: list[dict]) -> str:
    """A markdown table for BENCHMARKS.md."""
    if not rows:
        return ""
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def env_note() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
