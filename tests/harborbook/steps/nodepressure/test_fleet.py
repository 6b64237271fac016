"""The fleet view (node: all) over 1000 synthetic nodes: every node judged, sorted by margin."""

from __future__ import annotations


import pytest

from harborbook.kube import Kube
from harborbook.steps.nodepressure import fleet_view, scan_fleet
from harborbook.params.models import NodePressure
from tests.support.emulator import start_server, stop_server

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


def test_fleet_view_over_1000_synthetic_nodes(tmp_path, monkeypatch):
    monkeypatch.setenv("HARBORLAB_KUBELET_RTT", "0")  # the emulator inherits it: no simulated round trip
    server = start_server(tmp_path / "kube", "--profile", "modern", "--synthetic-nodes", "1000", timeout=60)
    try:
        kube = Kube(server.kubeconfig)
        result = scan_fleet(kube, concurrency=16)
        table = result.value
        assert len(table) == 1003
        assert not table["verdict"].str.startswith("error").any()
        # The fleet view agrees with every node's own DiskPressure condition (the same rules).
        conditions = {n["metadata"]["name"]: any(c["type"] == "DiskPressure" and c["status"] == "True"
                                                  for c in n["status"]["conditions"])
                      for n in kube.list("v1", "Node")}
        judged = dict(zip(table["node"], table["verdict"] == "PRESSURE"))
        assert judged == conditions
        assert 0 < sum(judged.values()) < 200
        margins = table["margin %"].dropna().tolist()
        assert margins == sorted(margins)
        assert result.data["pressured"] == sorted(n for n, p in judged.items() if p)
        # Apply is refused for the fleet, before anything runs.
        with pytest.raises(ValueError, match="apply: true needs a single node"):
            NodePressure(node="all", apply=True)
        # Pointed at one node, 06 still shows the fleet (read-only): the same table.
        single = fleet_view(kube, NodePressure(node="lab-node-3", concurrency=16)).value
        assert list(single["node"]) == list(table["node"])
    finally:
        stop_server(server.process)
