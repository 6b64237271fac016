"""The start-up line: each era's shape, round trips, wrapped and truncated logs."""

from __future__ import annotations

from datetime import datetime

import pytest

from harborbook.eviction import ERAS, default_hard, era_for, format_startup_line, thresholds_from_log
from harborbook.eviction.messages import evicted_message, log_line, recognise

WHEN = datetime(2017, 8, 15, 10, 12, 13, 123456)

# As a 1.7 kubelet printed it (glog header, Go %+v struct).
LINE_1_7 = (
    "I0815 10:12:13.123456   12345 container_manager_linux.go:245] Creating Container Manager object "
    "based on Node Config: {RuntimeCgroupsName: SystemCgroupsName: KubeletCgroupsName: "
    "ContainerRuntime:docker CgroupsPerQOS:true CgroupRoot:/ CgroupDriver:cgroupfs "
    "ProtectKernelDefaults:false NodeAllocatableConfig:{KubeReservedCgroupName: SystemReservedCgroupName: "
    "EnforceNodeAllocatable:map[pods:{}] KubeReserved:map[] SystemReserved:map[] HardEvictionThresholds:["
    "{Signal:memory.available Operator:LessThan Value:{Quantity:100Mi Percentage:0} GracePeriod:0s "
    "MinReclaim:<nil>} {Signal:nodefs.available Operator:LessThan Value:{Quantity:<nil> Percentage:0.1} "
    "GracePeriod:0s MinReclaim:<nil>} {Signal:nodefs.inodesFree Operator:LessThan Value:{Quantity:<nil> "
    "Percentage:0.05} GracePeriod:0s MinReclaim:<nil>}]} ExperimentalQOSReserved:map[] "
    "ExperimentalCPUManagerPolicy:none ExperimentalCPUManagerReconcilePeriod:10s}"
)
LINE_1_24 = (
    'I0301 08:00:00.000001    4321 container_manager_linux.go:262] "Creating Container Manager object '
    'based on Node Config" nodeConfig={RuntimeCgroupsName: SystemCgroupsName: KubeletCgroupsName: '
    "CgroupsPerQOS:true CgroupRoot:/ CgroupDriver:systemd NodeAllocatableConfig:{KubeReservedCgroupName: "
    "EnforceNodeAllocatable:map[pods:{}] KubeReserved:map[] SystemReserved:map[] HardEvictionThresholds:["
    "{Signal:imagefs.available Operator:LessThan Value:{Quantity:<nil> Percentage:0.15} GracePeriod:0s "
    "MinReclaim:<nil>} {Signal:memory.available Operator:LessThan Value:{Quantity:500Mi Percentage:0} "
    "GracePeriod:0s MinReclaim:<nil>}]} QOSReserved:map[] CPUManagerPolicy:none}"
)
LINE_1_30 = (
    'I0301 08:00:00.000001    4321 container_manager_linux.go:270] "Creating Container Manager object '
    'based on Node Config" nodeConfig={"NodeName":"n1","CgroupRoot":"/","KubeReserved":null,'
    '"HardEvictionThresholds":[{"Signal":"nodefs.available","Operator":"LessThan","Value":'
    '{"Quantity":null,"Percentage":0.05},"GracePeriod":0,"MinReclaim":null},{"Signal":"memory.available",'
    '"Operator":"LessThan","Value":{"Quantity":"100Mi","Percentage":0},"GracePeriod":0,"MinReclaim":null}],'
    '"QOSReserved":{},"CgroupVersion":2}'
)
LINE_NONE = ('I0301 08:00:00.000001    4321 container_manager_linux.go:270] "Creating Container Manager '
             'object based on Node Config" nodeConfig={"NodeName":"n1","HardEvictionThresholds":null}')

HAND_WRITTEN = [
    ("1.7-go-struct", LINE_1_7, {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%"}),
    ("1.24-structured", LINE_1_24, {"imagefs.available": "15%", "memory.available": "500Mi"}),
    ("1.30-json", LINE_1_30, {"nodefs.available": "5%", "memory.available": "100Mi"}),
    ("json-null-thresholds", LINE_NONE, {}),
]


@pytest.mark.parametrize("case,line,expected", HAND_WRITTEN, ids=[h[0] for h in HAND_WRITTEN])
def test_reads_each_era(case, line, expected):
    assert thresholds_from_log(f"I0815 10:12:12.000000   12345 server.go:1] starting\n{line}\n") == expected


def test_the_last_start_up_line_wins():
    log = f"{LINE_1_7}\nI0815 10:13:00.000000   12345 kubelet.go:1] restarting\n{LINE_1_30}\n"
    assert thresholds_from_log(log) == {"nodefs.available": "5%", "memory.available": "100Mi"}


@pytest.mark.parametrize("width", [80, 137, 500], ids=["80-cols", "137-cols", "500-cols"])
def test_wrapped_lines_are_joined(width):
    wrapped = "\n".join(LINE_1_7[i:i + width] for i in range(0, len(LINE_1_7), width))
    assert thresholds_from_log(wrapped + "\nI0815 10:12:14.000000   12345 x.go:1] next") == \
        thresholds_from_log(LINE_1_7)


def test_journald_split_continuations_are_joined():
    prefix = "Aug 15 10:12:13 node-3 kubelet[12345]: "
    half = len(LINE_1_30) // 2
    log = f"{prefix}{LINE_1_30[:half]}\n{prefix}{LINE_1_30[half:]}\n{prefix}I0815 10:12:14.000000 1 x.go:1] hi"
    assert thresholds_from_log(log) == {"nodefs.available": "5%", "memory.available": "100Mi"}


@pytest.mark.parametrize("cut", [
    pytest.param(lambda line: line[: len(line) // 2], id="cut-in-half"),
    pytest.param(lambda line: line[: len(line) - 40] + "…", id="pager-ellipsis"),
    pytest.param(lambda line: line[: line.index("HardEviction") + 30], id="cut-inside-thresholds"),
])
@pytest.mark.parametrize("line", [LINE_1_7, LINE_1_30], ids=["go-struct", "json"])
def test_truncated_line_falls_back_to_the_previous_complete_one(cut, line):
    previous = LINE_1_24
    log = f"{previous}\nI0815 10:12:14.000000   1 x.go:1] restart\n{cut(line)}\nI0815 10:12:15.000000   1 x.go:1] hi\n"
    assert thresholds_from_log(log) == {"imagefs.available": "15%", "memory.available": "500Mi"}
    assert thresholds_from_log(cut(line)) is None


def test_no_start_up_line_gives_none():
    assert thresholds_from_log("I0815 10:12:14.000000   1 x.go:1] hi\n") is None


ROUND_TRIP_MAPS = [
    ("defaults-1.7", default_hard("1.7")),
    ("defaults-1.30", default_hard("1.30")),
    ("lowered-nodefs", {**default_hard("1.7"), "nodefs.available": "5%"}),
    ("decimal-values", {"memory.available": "1536Mi", "nodefs.available": "7.5%", "pid.available": "1k"}),
    ("empty", {}),
]


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("case,thresholds", ROUND_TRIP_MAPS, ids=[r[0] for r in ROUND_TRIP_MAPS])
def test_formatter_round_trips_through_the_parser(era, case, thresholds):
    line = format_startup_line(thresholds, era, when=WHEN, pid=12345, node_name="lab-node-3",
                               min_reclaim={"nodefs.available": "500Mi"})
    assert thresholds_from_log(line) == thresholds
    assert line.startswith("I0815 10:12:13.123456   12345 container_manager_linux.go:")


def test_formatter_canonicalises_quantities_like_the_kubelet():
    line = format_startup_line({"memory.available": "1.5Gi"}, "gostruct", when=WHEN, pid=1)
    assert "Value:{Quantity:1536Mi Percentage:0}" in line
    assert thresholds_from_log(line) == {"memory.available": "1536Mi"}


@pytest.mark.parametrize("version,era", [("v1.7.5", "gostruct"), ("1.20", "gostruct"), ("1.21", "structured"),
                                         ("1.27.3", "structured"), ("1.28", "json"), ("v1.33.1", "json")])
def test_era_by_version(version, era):
    assert era_for(version) == era


def test_the_1_7_shape_matches_the_reference_line():
    line = format_startup_line(default_hard("1.7"), "gostruct", when=WHEN, pid=12345)
    assert line.split("HardEvictionThresholds:")[1].split("]")[0] == \
        LINE_1_7.split("HardEvictionThresholds:")[1].split("]")[0]


@pytest.mark.parametrize("version,expected", [
    ("1.7", "eviction manager: attempting to reclaim nodefs"),
    ("1.30", '"Eviction manager: attempting to reclaim" resourceName="ephemeral-storage"'),
])
def test_eviction_manager_lines_by_era(version, expected):
    from harborbook.eviction import resource_name
    text = log_line("attempting_reclaim", version, resource=resource_name("nodefs.available", version))
    assert text == expected
    assert recognise(f"I0815 10:12:13.000000 1 eviction_manager.go:1] {text}")[0] == "attempting_reclaim"


def test_recognise_ignores_other_lines():
    assert recognise("I0815 10:12:13.000000 1 kubelet.go:1] Started kubelet") is None


def test_evicted_message_by_era():
    assert evicted_message("1.7", "nodefs", "10%", "1") == "The node was low on resource: nodefs."
    assert evicted_message("1.30", "ephemeral-storage", "593Mi", "427Mi") == (
        "The node was low on resource: ephemeral-storage. Threshold quantity: 593Mi, available: 427Mi. ")
