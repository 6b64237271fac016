"""06's parsing and table-building decisions that need no node."""

from __future__ import annotations

import pytest

from harborbook.errors import HarborbookError
from harborbook.steps.nodepressure import clusterview
from harborbook.steps.nodepressure.inforce import comparable
from harborbook.steps.nodepressure.observe import parse_df


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/sda1 6226157568 5700000000 448000000 93% /\n",
         ("/dev/sda1", 6226157568, 448000000, "/")),
        ("Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/mapper/very-long-volume-name\n"
         " 106300440576 6000000000 100300440576 6% /data\n", ("/dev/mapper/very-long-volume-name", 106300440576,
                                                            100300440576, "/data")),
        ("Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/loop2 24576 66 24510 1% /mnt/a b\n",
         ("/dev/loop2", 24576, 24510, "/mnt/a b")),
    ],
    ids=["reference-root", "wrapped-device", "inodes-with-space-in-mount"],
)
def test_parse_df(text, expected):
    assert parse_df(text) == expected


@pytest.mark.parametrize("text", ["", "Filesystem only header\n", "a b\nc d\n"], ids=["empty", "header", "short"])
def test_parse_df_refuses_garbage(text):
    with pytest.raises(HarborbookError, match="unexpected df output"):
        parse_df(text)


def test_equal_maps_compare_like_the_kubelet():
    assert comparable({"nodefs.available": "10%"}) == comparable({"nodefs.available": "10.0%"})
    assert comparable({"memory.available": "100Mi"}) == comparable({"memory.available": "104857600"})
    assert comparable({"nodefs.available": "10%"}) != comparable({"nodefs.available": "5%"})


def test_node_row_orders_conditions_and_taints():
    node = {"metadata": {"name": "n1"},
            "spec": {"taints": [{"key": "z", "effect": "NoSchedule"}, {"key": "a", "effect": "NoExecute"}]},
            "status": {"conditions": [{"type": "DiskPressure", "status": "True"}, {"type": "Ready", "status": "True"}],
                       "nodeInfo": {"kubeletVersion": "v1.7.5"}}}
    row = clusterview.node_row(node)
    assert row == {"node": "n1", "Ready": "True", "DiskPressure": "True", "MemoryPressure": "Unknown",
                   "PIDPressure": "Unknown", "taints": "a:NoExecute, z:NoSchedule", "kubelet": "v1.7.5"}
