"""`harborbook run` must never hang in the garbage collector after a notebook (runner.close_leftover_sockets)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A Context and an open socket in one garbage cycle, as a failed kernel client leaves them.
SCRIPT = textwrap.dedent("""
    import gc, sys
    import zmq
    sys.path.insert(0, sys.argv[1])
    from harborbook import runner

    class Holder:
        pass

    def leave_a_cycle():
        holder = Holder()
        holder.context = zmq.Context()
        holder.socket = holder.context.socket(zmq.DEALER)
        holder.socket.linger = -1
        holder.socket.connect("ipc:///nonexistent/harborbook-test-peer")
        holder.socket.send(b"queued for a peer that will never come")
        holder.self = holder

    gc.disable()
    leave_a_cycle()
    if sys.argv[2] == "close":
        print("closed", runner.close_leftover_sockets())
    gc.collect()
    print("collected")
""")


@pytest.mark.parametrize("close", [True, False])
def test_a_context_and_its_open_socket_in_a_garbage_cycle(close):
    args = [sys.executable, "-c", SCRIPT, str(ROOT / "lib"), "close" if close else "leave"]
    if close:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["closed", "1", "collected"]
    else:
        # The control: without closing, collecting the cycle never returns.
        with pytest.raises(subprocess.TimeoutExpired):
            subprocess.run(args, capture_output=True, text=True, timeout=5)
