"""The portforward subresource's pure parts: the ports query and the channel opening frames."""

from __future__ import annotations

import pytest

from harborlab.kube.portforward import opening_frame, parse_ports, reachable
from harborlab.kube.status import ApiError


@pytest.mark.parametrize(("values", "expected"), [
    (["5000"], [5000]), (["5000,5001"], [5000, 5001]), (["80", "443"], [80, 443]),
], ids=["one", "comma", "repeated"])
def test_parse_ports(values, expected):
    assert parse_ports(values) == expected


@pytest.mark.parametrize("values", [[], ["0"], ["65536"], ["http"], ["80,80"]],
                         ids=["none", "zero", "too-big", "name", "duplicate"])
def test_parse_ports_refuses(values):
    with pytest.raises(ApiError) as info:
        parse_ports(values)
    assert info.value.code == 400


def test_opening_frame_is_channel_then_little_endian_port():
    assert opening_frame(2, 5000) == bytes((2, 0x88, 0x13))


@pytest.mark.parametrize(("ip", "expected"), [("127.77.0.4", True), ("10.244.1.3", False), (None, False)],
                         ids=["lab-process", "simulated", "no-ip"])
def test_reachable(ip, expected):
    assert reachable(ip) is expected
