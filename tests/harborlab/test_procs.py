"""/proc parsing: listeners and port conflicts, process state, mounts. No root, no daemons."""

from __future__ import annotations

import pytest

from harborlab import procs


NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:3FD3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0
   2: 0100007F:3FD3 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4444 1 0
"""


NET_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5151 1 0
"""


def test_parse_net_tcp_keeps_only_listeners():
    found = procs.parse_net_tcp(NET_TCP)
    assert found == [procs.Listener("127.0.0.1", 16339, 4242), procs.Listener("0.0.0.0", 8080, 4343)]


def test_parse_net_tcp6():
    assert procs.parse_net_tcp(NET_TCP6, ipv6=True) == [procs.Listener("::1", 22, 5151)]


@pytest.mark.parametrize(
    ("port", "host", "inodes"),
    [(16339, "127.0.0.1", [4242]), (8080, "127.0.0.1", [4343]), (16339, "127.0.0.2", []), (9999, "127.0.0.1", [])],
    ids=["same-host", "wildcard-blocks", "other-loopback-free", "free-port"],
)
def test_conflicts(port, host, inodes):
    assert [x.inode for x in procs.conflicts(procs.parse_net_tcp(NET_TCP), port, host)] == inodes


def test_proc_state_and_start_ticks_survive_odd_names():
    text = "123 (a) b (c)) S 1 123 123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10"
    assert procs.proc_state(text) == "S"
    assert procs.start_ticks(text) == 987654


def test_parse_mounts_decodes_spaces():
    text = "ceph-fuse /tmp/my\\040lab/cephfs fuse.ceph-fuse rw 0 0\nproc /proc proc rw 0 0\n"
    assert procs.parse_mounts(text)["/tmp/my lab/cephfs"] == "fuse.ceph-fuse"
