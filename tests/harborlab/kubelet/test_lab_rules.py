"""The lab kubelet's own rules, without a lab: the eviction manager over a fake clock, the settings of
each era, and systemd's environment-file format. Each rule on its pass and its fail path."""

from __future__ import annotations

import pytest

from harborlab.errors import LabError
from harborlab.kubelet import eviction, settings, systemd

MODERN, ARTICLE = (1, 30), (1, 7)
GI = 2 ** 30


def disk(available: int, capacity: int = 100 * GI) -> dict[str, tuple[int, int]]:
    fs = eviction.Fs(available, capacity, 10 ** 6, 10 ** 6)
    return eviction.observe(fs, fs, ARTICLE)


def manager(thresholds, transition=300.0) -> eviction.Manager:
    return eviction.Manager([t for s, v, grace in thresholds
                             for t in [eviction.parse_statement(s, v, ARTICLE)]
                             if t is not None and not grace] +
                            [eviction.Threshold(s, eviction.parse_statement(s, v, ARTICLE).value, grace)
                             for s, v, grace in thresholds if grace], transition)


def test_a_hard_threshold_sets_the_condition_and_drives_eviction_at_once():
    m = manager([("nodefs.available", "10%", 0)])
    assert [t.signal for t in m.synchronize(disk(5 * GI), 0.0)] == ["nodefs.available"]
    assert m.node_conditions == {"DiskPressure"}
    assert m.synchronize(disk(50 * GI), 10.0) == []


def test_the_condition_stays_for_the_transition_period_after_it_was_last_observed():
    m = manager([("nodefs.available", "10%", 0)], transition=300.0)
    m.synchronize(disk(5 * GI), 0.0)
    m.synchronize(disk(50 * GI), 10.0)
    assert m.node_conditions == {"DiskPressure"}            # 10 s < 5 min
    m.synchronize(disk(50 * GI), 299.9)
    assert m.node_conditions == {"DiskPressure"}
    m.synchronize(disk(50 * GI), 300.0)
    assert m.node_conditions == frozenset()                 # now - last observed is not < period


def test_a_zero_transition_period_never_reports_the_condition():
    m = manager([("nodefs.available", "10%", 0)], transition=0.0)
    assert m.synchronize(disk(5 * GI), 0.0)                 # it still evicts...
    assert m.node_conditions == frozenset()                 # ...but 0 < 0 is false


def test_a_soft_threshold_reports_pressure_at_once_but_evicts_after_its_grace_period():
    m = manager([("nodefs.available", "20%", 60.0)])
    assert m.synchronize(disk(15 * GI), 0.0) == []
    assert m.node_conditions == {"DiskPressure"}
    assert m.synchronize(disk(15 * GI), 59.0) == []
    assert [t.signal for t in m.synchronize(disk(15 * GI), 60.0)] == ["nodefs.available"]


def test_a_soft_threshold_that_clears_starts_its_grace_period_again():
    m = manager([("nodefs.available", "20%", 60.0)])
    m.synchronize(disk(15 * GI), 0.0)
    m.synchronize(disk(50 * GI), 30.0)
    assert m.synchronize(disk(15 * GI), 70.0) == []         # first observed again at 70


def test_minimum_reclaim_keeps_a_threshold_met_until_threshold_plus_reclaim():
    t = eviction.parse_statement("nodefs.available", "10Gi", ARTICLE)
    m = eviction.Manager([eviction.Threshold(t.signal, t.value, 0.0, eviction.Value(quantity=2 * GI))], 300.0)
    assert m.synchronize(disk(9 * GI), 0.0)
    assert m.synchronize(disk(11 * GI), 10.0)               # above 10Gi, not above 12Gi
    assert m.synchronize(disk(12 * GI), 20.0) == []


@pytest.mark.parametrize("available, met", [(100000001, False), (100000000, True)])
def test_percentages_are_float32_and_the_comparison_strict(available, met):
    t = eviction.parse_statement("nodefs.available", "10%", MODERN)
    assert t.value.of(10 ** 9) == 100000001                 # int64(1e9 * float32(0.1))
    fs = eviction.Fs(available, 10 ** 9, 1, 1)
    assert bool(eviction.thresholds_met([t], eviction.observe(fs, fs, MODERN), False)) is met


@pytest.mark.parametrize("version, text, outcome", [
    (ARTICLE, "0%", "must be positive"), (MODERN, "0%", None), (ARTICLE, "150%", 1.5),
    (MODERN, "150%", "must be <= 100%"), ((1, 12), "150%", 1.5), (MODERN, "-1Gi", "must be positive"),
    (ARTICLE, "pid.available", "unsupported"),
])
def test_threshold_values_by_era(version, text, outcome):
    signal, value = ("pid.available", "5%") if text == "pid.available" else ("nodefs.available", text)
    if isinstance(outcome, str):
        with pytest.raises(LabError, match=outcome.replace("+", r"\+")):
            eviction.parse_statement(signal, value, version)
    elif outcome is None:
        assert eviction.parse_statement(signal, value, version) is None
    else:
        assert abs(eviction.parse_statement(signal, value, version).value.percentage - outcome) < 1e-6


def test_a_flag_replaces_the_whole_map_in_both_eras():
    argv = ["/usr/bin/kubelet", "--eviction-hard=nodefs.available<5%"]
    assert settings.assemble(argv, ARTICLE, {}.get).hard == {"nodefs.available": "5%"}
    assert settings.assemble(argv, MODERN, {}.get).hard == {"nodefs.available": "5%"}
    assert settings.assemble(["/usr/bin/kubelet"], MODERN, {}.get).hard == settings.default_hard(MODERN)


def test_the_config_file_then_the_flags_modern():
    files = {"/c.yaml": "evictionHard:\n  memory.available: 200Mi\nevictionPressureTransitionPeriod: 0s\n"}
    got = settings.assemble(["/usr/bin/kubelet", "--config=/c.yaml"], MODERN, files.get)
    assert got.hard == {"memory.available": "200Mi"} and got.transition == 300.0 and got.transition_defaulted
    got = settings.assemble(["/usr/bin/kubelet", "--config=/c.yaml", "--eviction-hard=nodefs.available<5%",
                             "--eviction-hard=imagefs.available<7%", "--eviction-pressure-transition-period=0s"],
                            MODERN, files.get)
    assert got.hard == {"nodefs.available": "5%", "imagefs.available": "7%"} and got.transition == 0.0


@pytest.mark.parametrize("argv, message", [
    (["k", "--config=/c.yaml"], "unknown flag: --config"),
    (["k", "--eviction-hard=nodefs.available<5%,"], "invalid eviction threshold syntax"),
    (["k", "--eviction-hard=nodefs.available<5%,nodefs.available<6%"], "found duplicate"),
    (["k", "--eviction-soft=nodefs.available<20%"], "grace period must be specified"),
])
def test_what_a_1_7_kubelet_refuses(argv, message):
    with pytest.raises(LabError, match=message):
        settings.assemble(argv, ARTICLE, {"/c.yaml": ""}.get)


def test_a_missing_config_file_is_refused_modern():
    with pytest.raises(LabError, match="no such file or directory"):
        settings.assemble(["k", "--config=/nope.yaml"], MODERN, {}.get)


@pytest.mark.parametrize("text, pairs", [
    ("A=1\nB=two  words\n", [("A", "1"), ("B", "two  words")]),
    ("A='x y' \n# c\n; d\nNOEQ\n", [("A", "x y")]),
    ('A="a \\"q\\" \\$x \\n"\n', [("A", 'a "q" $x \\n')]),
    ("A=a\\\nb\n", [("A", "ab")]),
    ("A=a\"b c\"\n", [("A", 'a"b c"')]),
    ("export A=1\n", []),
])
def test_environment_files(text, pairs):
    assert systemd.env_file(text) == pairs


def test_dropins_by_name_across_directories_and_the_same_name_hidden():
    files = {"/lib/systemd/system/k.service": "[Service]\nExecStart=/bin/k $A\n",
             "/lib/systemd/system/k.service.d/20-b.conf": "[Service]\nEnvironment=A=lib20\n",
             "/etc/systemd/system/k.service.d/10-a.conf": "[Service]\nEnvironment=A=etc10\n",
             "/etc/systemd/system/k.service.d/20-b.conf": "[Service]\nEnvironment=A=etc20\n"}
    unit = systemd.load("k.service", files)
    assert unit.dropins == ["/etc/systemd/system/k.service.d/10-a.conf", "/etc/systemd/system/k.service.d/20-b.conf"]
    assert systemd.argv(unit, {}.get) == ["/bin/k", "etc20"]


def test_a_second_execstart_without_reset_is_refused_and_a_reset_replaces():
    base = {"/lib/systemd/system/k.service": "[Service]\nExecStart=/bin/k\n"}
    with pytest.raises(systemd.UnitError, match="more than one ExecStart"):
        systemd.load("k.service", {**base,
                                   "/etc/systemd/system/k.service.d/a.conf": "[Service]\nExecStart=/bin/j\n"})
    unit = systemd.load("k.service", {**base, "/etc/systemd/system/k.service.d/a.conf":
                                      "[Service]\nExecStart=\nExecStart=/bin/j ${X} $$X \\\n  $X\nEnvironment=\"X=1 2\"\n"})
    assert systemd.argv(unit, {}.get) == ["/bin/j", "1 2", "$X", "1", "2"]


def test_an_unknown_specifier_drops_the_setting_on_a_modern_systemd_only():
    files = {"/lib/systemd/system/k.service": '[Service]\nEnvironment="A=x<5%"\nExecStart=/bin/k $A\n'}
    assert systemd.argv(systemd.load("k.service", files, legacy_specifiers=True), {}.get) == ["/bin/k", "x<5%"]
    unit = systemd.load("k.service", files, legacy_specifiers=False)
    assert systemd.argv(unit, {}.get) == ["/bin/k"] and "Failed to resolve unit specifiers" in unit.warnings[0]
