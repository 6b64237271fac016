"""The verdict on the reference numbers, missing observations, and the pressure timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from harborbook.eviction import (FsUsage, default_hard, evaluate, observations_from_df,
                                 observations_from_summary)
from harborbook.eviction.pressure import (clears_at, conditions_in_force, record_first_observed,
                                          record_observed, soft_thresholds_due, transition_period)

ROOT_CAP, ROOT_AVAIL = 5_800_000_000, 448_000_000  # the reference node's 5.8 GB root
DATA_CAP, DATA_AVAIL = 99_000_000_000, 93_000_000_000  # its nearly empty Docker disk


def reference(imagefs_separate=True):
    return observations_from_df(FsUsage(ROOT_AVAIL, ROOT_CAP, 300_000, 380_000),
                                FsUsage(DATA_AVAIL, DATA_CAP, 6_000_000, 6_500_000) if imagefs_separate else None)


@pytest.mark.parametrize("nodefs,met", [("10%", True), ("5%", False)], ids=["default-10pct-met", "5pct-not-met"])
def test_reference_node(nodefs, met):
    thresholds = {**default_hard("1.7"), "nodefs.available": nodefs}
    verdict = evaluate(reference(), thresholds, imagefs_separate=True, pods_active=0, version="1.7")
    row = next(r for r in verdict.rows if r.signal == "nodefs.available")
    assert row.met is met
    assert row.threshold_bytes == int(ROOT_CAP * float(__import__("numpy").float32(nodefs[:-1]) / 100))
    assert row.margin_bytes == ROOT_AVAIL - row.threshold_bytes
    assert row.percent_used == round(100 * (ROOT_CAP - ROOT_AVAIL) / ROOT_CAP, 1)
    assert ("nodefs.available" in verdict.met) is met
    assert ("DiskPressure" in verdict.conditions) is met
    if met:
        assert "no pods are active to evict" in verdict.explanation
        assert "must evict pods" in verdict.explanation
        assert verdict.reclaim["nodefs.available"] == ()
    else:
        assert verdict.explanation.startswith("No threshold is met")


def test_single_disk_reclaims_images_first():
    verdict = evaluate(reference(imagefs_separate=False), default_hard("1.9"), imagefs_separate=False,
                       pods_active=3)
    assert set(verdict.met) == {"nodefs.available", "imagefs.available"}
    assert "delete dead containers then delete unused images" in verdict.explanation
    assert "3 pods are candidates" in verdict.explanation


def test_without_separate_imagefs_imagefs_uses_nodefs_numbers():
    obs = reference(imagefs_separate=True)  # even when given, the imagefs IS nodefs here
    verdict = evaluate(obs, {"imagefs.available": "15%"}, imagefs_separate=False)
    assert verdict.rows[0].available == ROOT_AVAIL and verdict.rows[0].met is True


SUMMARY = {"node": {"fs": {"availableBytes": ROOT_AVAIL, "capacityBytes": ROOT_CAP, "inodesFree": 10},
                    "memory": {"availableBytes": 2 * 2**30, "workingSetBytes": 2**30},
                    "rlimit": {"maxpid": 4_194_304, "curproc": 400}}}


def test_summary_with_missing_fields_skips_with_a_reason():
    verdict = evaluate(observations_from_summary(SUMMARY), default_hard("1.30"), imagefs_separate=True)
    rows = {r.signal: r for r in verdict.rows}
    assert rows["memory.available"].met is False and rows["memory.available"].capacity == 3 * 2**30
    assert rows["nodefs.available"].met is True
    assert rows["nodefs.inodesFree"].met is None and "node.fs.inodes not reported" in rows["nodefs.inodesFree"].note
    assert rows["imagefs.available"].met is None and "skipped" in rows["imagefs.available"].note


def test_pid_signal_from_rlimit():
    verdict = evaluate(observations_from_summary(SUMMARY), {"pid.available": "4194000"}, imagefs_separate=False)
    assert verdict.rows[0].available == 4_194_304 - 400 and verdict.rows[0].met is True
    assert verdict.conditions == {"PIDPressure"}


def test_nothing_observable_says_so():
    verdict = evaluate(observations_from_summary({}), {"nodefs.available": "10%"}, imagefs_separate=False)
    assert verdict.rows[0].met is None
    assert verdict.explanation.startswith("No threshold could be evaluated")


def test_disabled_signal_is_reported_not_evaluated():
    verdict = evaluate(reference(), {"nodefs.available": "0%"}, imagefs_separate=True)
    assert verdict.rows[0].met is None and "disabled" in verdict.rows[0].note


@pytest.mark.parametrize("previously,expected", [((), False), (("nodefs.available",), True)],
                         ids=["fresh-not-met", "previously-met-held-by-min-reclaim"])
def test_min_reclaim_in_the_verdict(previously, expected):
    thresholds = {"nodefs.available": "5%"}  # 290 MB; available 448 MB < 290 MB + 500Mi
    verdict = evaluate(reference(), thresholds, imagefs_separate=True, min_reclaim={"nodefs.available": "500Mi"},
                       previously_met=previously)
    assert verdict.rows[0].met is expected


def test_containerfs_copies_nodefs_from_1_29():
    summary = {"node": {"fs": {"availableBytes": 5, "capacityBytes": 100},
                        "runtime": {"containerFs": {"availableBytes": 5, "capacityBytes": 100}}}}
    thresholds = {"nodefs.available": "10%", "containerfs.available": "1%"}
    new = evaluate(observations_from_summary(summary), thresholds, imagefs_separate=False, version="1.29")
    old = evaluate(observations_from_summary(summary), {"nodefs.available": "10%"}, imagefs_separate=False,
                   version="1.28")
    row = next(r for r in new.rows if r.signal == "containerfs.available")
    assert row.threshold == "10%" and row.met is True and "ignored" in row.note
    assert [r.signal for r in old.rows] == ["nodefs.available"]


T0 = datetime(2026, 1, 1, 12, 0, 0)


@pytest.mark.parametrize("elapsed,in_force", [(0, True), (299, True), (300, False), (600, False)],
                         ids=["just-seen", "within-period", "period-over", "long-gone"])
def test_transition_period(elapsed, in_force):
    seen = record_observed({}, ["DiskPressure"], T0)
    now = T0 + timedelta(seconds=elapsed)
    assert ("DiskPressure" in conditions_in_force(seen, transition_period(timedelta(0)), now)) is in_force
    assert clears_at(seen, "DiskPressure", timedelta(minutes=5)) == T0 + timedelta(minutes=5)


def test_soft_threshold_needs_its_grace_period():
    first = record_first_observed({}, ["memory.available"], T0)
    grace = {"memory.available": timedelta(seconds=90)}
    assert soft_thresholds_due(first, grace, T0 + timedelta(seconds=89)) == frozenset()
    assert soft_thresholds_due(first, grace, T0 + timedelta(seconds=90)) == {"memory.available"}
    assert record_first_observed(first, [], T0 + timedelta(seconds=10)) == {}
