"""Differential: disk states x thresholds -> which thresholds are met, as the product
(harborbook.eviction.evaluate) decides and as the lab's eviction manager does
(harborlab.kubelet.eviction, from helpers.go thresholdsMet / GetThresholdQuantity).

The states are drawn around the edges that matter: available exactly at the threshold (strict
``<``: not met), one byte either side, and percentages whose float32 value is a little above the
exact fraction (10% of capacity is int64(capacity * 0.10000000149...)). A signal met before stays
met until available reaches threshold + minimum reclaim.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harborbook.eviction import FsUsage, evaluate, observations_from_df
from harborlab.kubelet import eviction as lab

MODERN = (1, 30)
DISK = ("nodefs.available", "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree")
percentages = st.one_of(st.sampled_from(["10%", "5%", "15%", "7.5%", "33.3%", "0.1%", "99%", "12.34%"]),
                        st.integers(1, 99).map(lambda n: f"{n}%"))
quantities = st.sampled_from(["1Gi", "100Mi", "1.5Gi", "500M", "2G", "123456789", "1e9", "1k"])


def lab_met(thresholds: dict[str, str], nodefs: FsUsage, imagefs: FsUsage, previously: set[str],
            reclaim: dict[str, str], met=lab.thresholds_met) -> set[str]:
    parsed = [lab.Threshold(t.signal, t.value, 0.0,
                            lab.parse_min_reclaim(t.signal, reclaim[t.signal], MODERN) if t.signal in reclaim else None)
              for s, v in thresholds.items() if (t := lab.parse_statement(s, v, MODERN)) is not None]
    observed = lab.observe(lab.Fs(nodefs.available, nodefs.capacity, nodefs.inodes_free, nodefs.inodes),
                           lab.Fs(imagefs.available, imagefs.capacity, imagefs.inodes_free, imagefs.inodes),
                           MODERN)
    result = {t.signal for t in met(parsed, observed, False)}
    result |= {t.signal for t in met([t for t in parsed if t.signal in previously], observed, True)}
    return result


def product_met(thresholds, nodefs, imagefs, separate, previously, reclaim) -> set[str]:
    verdict = evaluate(observations_from_df(nodefs, imagefs), thresholds, imagefs_separate=separate,
                       version=MODERN, min_reclaim=reclaim, previously_met=previously)
    return set(verdict.met)


def check(thresholds, nodefs, imagefs, separate, previously=frozenset(), reclaim=None, met=lab.thresholds_met):
    """The property: the same thresholds are met, signal by signal."""
    reclaim = reclaim or {}
    lab_image = imagefs if separate else nodefs      # one disk: cadvisor's imagefs is the root fs
    product = product_met(thresholds, nodefs, imagefs, separate, set(previously), reclaim)
    witness = lab_met(thresholds, nodefs, lab_image, set(previously), reclaim, met)
    assert product == witness, (thresholds, nodefs, imagefs, separate, previously, reclaim, product, witness)


def edge(capacity: int, value: str, offset: int) -> int:
    """available placed ``offset`` away from the threshold the kubelet computes for ``value``."""
    parsed = lab.parse_statement("nodefs.available", value, MODERN)
    return max(0, int(parsed.value.of(capacity)) + offset)


@st.composite
def disk_states(draw):
    signal = draw(st.sampled_from(DISK))
    value = draw(percentages if "inodes" in signal else st.one_of(percentages, quantities))
    capacity = draw(st.one_of(st.integers(1, 10 ** 6), st.integers(10 ** 9, 2 * 10 ** 12),
                              st.sampled_from([10 ** 10, 2 ** 34, 1000, 999_999_999_999])))
    offset = draw(st.sampled_from([-1, 0, 1]) | st.integers(-5000, 5000))
    exact_tenth = value.endswith("%") and draw(st.booleans())
    at = int(Fraction(capacity) * Fraction(value[:-1]) / 100) if exact_tenth else edge(capacity, value, offset)
    available = max(0, min(capacity, at))
    usage = FsUsage(available, capacity, available, capacity)
    other = FsUsage(capacity, capacity, capacity, capacity)
    separate = signal.startswith("imagefs") and draw(st.booleans())
    nodefs, imagefs = (other, usage) if separate else (usage, usage)
    extra = draw(st.dictionaries(st.sampled_from(DISK), percentages, max_size=2))
    return {**extra, signal: value}, nodefs, imagefs, separate


PINNED = [
    # available exactly at int64(capacity * float32(10%)): not met (strict <).
    ({"nodefs.available": "10%"}, FsUsage(100000001, 1000000000, 10 ** 6, 10 ** 7),
     FsUsage(100000001, 1000000000, 10 ** 6, 10 ** 7), False),
    # one byte below it: met; the exact tenth (100000000) is below the float32 threshold: met.
    ({"nodefs.available": "10%"}, FsUsage(100000000, 1000000000, 10 ** 6, 10 ** 7),
     FsUsage(100000000, 1000000000, 10 ** 6, 10 ** 7), False),
    # a quantity: available equal is not met, one below is.
    ({"imagefs.available": "1Gi"}, FsUsage(2 ** 30, 2 ** 34, 10, 10), FsUsage(2 ** 30, 2 ** 34, 10, 10), False),
    ({"imagefs.available": "1Gi"}, FsUsage(2 ** 30 - 1, 2 ** 34, 10, 10), FsUsage(2 ** 30 - 1, 2 ** 34, 10, 10), False),
    # a separate image filesystem: imagefs thresholds look at it, nodefs ones at the root.
    ({"imagefs.available": "15%", "nodefs.available": "10%"}, FsUsage(10 ** 9, 10 ** 10, 10, 10),
     FsUsage(10 ** 8, 10 ** 10, 10, 10), True),
]


@pytest.mark.parametrize("case", PINNED, ids=[str(i) for i in range(len(PINNED))])
def test_pinned_edges_agree(case):
    check(*case)


def test_minimum_reclaim_keeps_a_met_signal_met_until_threshold_plus_reclaim():
    capacity = 10 ** 10
    threshold = edge(capacity, "10%", 0)
    for available in (threshold, threshold + 2 ** 30 - 1, threshold + 2 ** 30):
        usage = FsUsage(available, capacity, 10, 10)
        check({"nodefs.available": "10%"}, usage, usage, False, {"nodefs.available"}, {"nodefs.available": "1Gi"})


@settings(max_examples=400, deadline=None)
@given(disk_states())
@example(({"nodefs.available": "10%"}, FsUsage(100000001, 1000000000, 10 ** 6, 10 ** 7),
          FsUsage(100000001, 1000000000, 10 ** 6, 10 ** 7), False))
def test_disk_states_give_the_same_verdict(state):
    check(*state)


@settings(max_examples=150, deadline=None)
@given(disk_states(), st.sampled_from(["1Gi", "5%", "0", "100Mi"]))
def test_the_same_verdict_with_minimum_reclaim_for_a_signal_met_before(state, reclaim):
    thresholds, nodefs, imagefs, separate = state
    check(thresholds, nodefs, imagefs, separate, set(thresholds), {s: reclaim for s in thresholds})


def met_at_or_below(thresholds, observations, enforce_min_reclaim):
    """A wrong lab: ``>=`` where the kubelet has ``>`` (available equal to the threshold counts as met)."""
    result = []
    for threshold in thresholds:
        available, capacity = observations[threshold.signal]
        quantity = threshold.value.of(capacity)
        if enforce_min_reclaim and threshold.min_reclaim is not None:
            quantity += threshold.min_reclaim.of(capacity)
        if quantity >= available:
            result.append(threshold)
    return result


def test_the_property_catches_a_lab_that_compares_with_less_or_equal():
    check(*PINNED[0])                              # the real lab agrees on the equality edge...
    with pytest.raises(AssertionError):
        check(*PINNED[0], met=met_at_or_below)     # ...the mutant does not
    with pytest.raises(AssertionError):
        check(*PINNED[2], met=met_at_or_below)


def test_the_pinned_edges_are_the_edges_they_claim():
    met = {i: product_met(*PINNED[i], set(), {}) for i in range(4)}
    assert met == {0: set(), 1: {"nodefs.available"}, 2: set(), 3: {"imagefs.available"}}
