"""Quantities, percentages and thresholds, against hand-computed values."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from harborbook.eviction import (EvictionSettingError, is_met, is_met_with_reclaim, parse_eviction_flag,
                                 parse_quantity, threshold_bytes)
from harborbook.eviction.quantity import canonical_string, go_float32_text, parse_percentage

QUANTITIES = [
    ("100Mi", 100 * 2**20, "100Mi"), ("1.5Gi", 3 * 2**29, "1536Mi"), ("500M", 500 * 10**6, "500M"),
    ("1e9", 10**9, "1e9"), ("1E3", 1000, "1e3"), ("1Ki", 1024, "1Ki"), ("2Ti", 2 * 2**40, "2Ti"),
    ("1Pi", 2**50, "1Pi"), ("1Ei", 2**60, "1Ei"), ("3k", 3000, "3k"), ("2G", 2 * 10**9, "2G"),
    ("1T", 10**12, "1T"), ("1P", 10**15, "1P"), ("1E", 10**18, "1E"), ("1500", 1500, "1500"),
    ("1500m", 2, "1500m"), ("0.5Ki", 512, "512"), ("1024Ki", 2**20, "1Mi"), (".5", 1, "500m"),
    ("1.5", 2, "1500m"), ("100000", 100000, "100k"),
]


@pytest.mark.parametrize("text,value,canonical", QUANTITIES, ids=[q[0] for q in QUANTITIES])
def test_quantity_value_rounds_up_and_prints_canonically(text, value, canonical):
    quantity = parse_quantity(text)
    assert quantity.bytes() == value
    assert quantity.canonical() == canonical


@pytest.mark.parametrize("text", ["", "5%", "1K", "1 Mi", "abc", "1.2.3", "1Mb"], ids=lambda t: repr(t))
def test_quantity_rejects_what_apimachinery_rejects(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


PERCENTS = [("10%", "0.1"), ("5%", "0.05"), ("7.5%", "0.075"), ("15%", "0.15"),
            ("0.001%", "1.0000001e-05"), ("33.3%", "0.333"), ("1e1%", "0.1")]


@pytest.mark.parametrize("text,go_text", PERCENTS, ids=[p[0] for p in PERCENTS])
def test_percentage_is_a_float32_fraction(text, go_text):
    # numpy's float32 arithmetic is the independent oracle for Go's float32(v)/100.
    expected = float(np.float32(text.rstrip("%")) / np.float32(100))
    parsed = parse_percentage(text)
    assert parsed == expected
    assert parsed != float(text.rstrip("%")) / 100  # not the float64 answer
    assert go_float32_text(parsed) == go_text


def test_ten_percent_of_a_real_capacity_is_a_few_bytes_more_than_a_tenth():
    capacity = 6_226_157_568  # a 5.8 GiB root filesystem
    exact_tenth = Fraction(capacity, 10)
    computed = threshold_bytes("10%", capacity)
    assert computed == 622_615_766
    assert 0 < computed - exact_tenth < 16


THRESHOLDS = [
    ("quantity", "100Mi", 10**9, 104_857_600),
    ("decimal-quantity", "1.5Gi", 10**9, 1_610_612_736),
    ("si-quantity", "500M", 10**9, 500_000_000),
    ("exponent", "1e9", 10**12, 1_000_000_000),
    ("percent-of-capacity", "10%", 1_000_000_000, 100_000_001),
    ("decimal-percent", "7.5%", 1_000_000_000, 75_000_002),
    ("disabled-0", "0%", 10**9, 0),
    ("disabled-100", "100%", 10**9, 0),
]


@pytest.mark.parametrize("case,value,capacity,expected", THRESHOLDS, ids=[t[0] for t in THRESHOLDS])
def test_threshold_bytes(case, value, capacity, expected):
    assert threshold_bytes(value, capacity) == expected


CAP = 6_226_157_568
MET = [
    ("reference-10pct-met", 448 * 10**6, CAP, "10%", True),
    ("reference-5pct-not-met", 448 * 10**6, CAP, "5%", False),
    ("equal-is-not-met", 104_857_600, 10**9, "100Mi", False),
    ("one-byte-below-is-met", 104_857_599, 10**9, "100Mi", True),
    ("equal-percent-not-met", 622_615_766, CAP, "10%", False),
    ("percent-one-below-met", 622_615_765, CAP, "10%", True),
    ("zero-percent-disables", 0, CAP, "0%", False),
    ("hundred-percent-disables", 0, CAP, "100%", False),
    ("fraction-quantity-above-zero", 0, 10, "500m", True),
    ("fraction-quantity-vs-one", 1, 10, "500m", False),
]


@pytest.mark.parametrize("case,available,capacity,value,expected", MET, ids=[m[0] for m in MET])
def test_is_met_strictly_less_than(case, available, capacity, value, expected):
    assert is_met(available, capacity, value) is expected


RECLAIM = [
    ("not-met-before-below", 90, False, True),
    ("met-before-above-threshold-below-reclaim", 120, True, True),
    ("met-before-at-threshold-plus-reclaim", 150, True, False),
    ("not-met-before-above-threshold", 120, False, False),
]


@pytest.mark.parametrize("case,available,was_met,expected", RECLAIM, ids=[r[0] for r in RECLAIM])
def test_min_reclaim_keeps_a_met_threshold_met(case, available, was_met, expected):
    assert is_met_with_reclaim(available, 1000, "100", was_met=was_met, min_reclaim="50") is expected


FLAGS = [
    ("two-signals", "nodefs.available<5%,memory.available<100Mi",
     {"nodefs.available": "5%", "memory.available": "100Mi"}),
    ("spaces-trimmed", " nodefs.available < 5% , memory.available<100Mi ",
     {"nodefs.available": "5%", "memory.available": "100Mi"}),
    ("repeated-last-wins", "nodefs.available<10%,nodefs.available<5%", {"nodefs.available": "5%"}),
    ("trailing-comma", "nodefs.available<5%,", {"nodefs.available": "5%"}),
    ("decimal-percent", "imagefs.available<7.5%", {"imagefs.available": "7.5%"}),
    ("disable-with-zero", "imagefs.available<0%", {"imagefs.available": "0%"}),
]


@pytest.mark.parametrize("case,flag,expected", FLAGS, ids=[f[0] for f in FLAGS])
def test_parse_eviction_flag(case, flag, expected):
    assert parse_eviction_flag(flag) == expected


BAD_FLAGS = [
    ("unknown-signal", "disk.available<5%", "unsupported eviction signal disk.available"),
    ("greater-than", "nodefs.available>5%", "malformed pair, expect string<string"),
    ("over-100", "nodefs.available<150%", "must be <= 100%"),
    ("negative-percent", "nodefs.available<-5%", "must be >= 0%"),
    ("zero-quantity", "memory.available<0", "must be positive"),
    ("negative-quantity", "memory.available<-100Mi", "must be positive"),
    ("empty", "", "empty --eviction-hard"),
    ("empty-value", "memory.available<", "quantities must match"),
    ("bad-suffix", "memory.available<100MB", "quantities must match"),
    ("containerfs-before-1.29-accepted-signal", "bogus<1Gi", "unsupported eviction signal bogus"),
]


@pytest.mark.parametrize("case,flag,message", BAD_FLAGS, ids=[b[0] for b in BAD_FLAGS])
def test_parse_eviction_flag_refuses_what_the_kubelet_refuses(case, flag, message):
    with pytest.raises(ValueError) as caught:
        parse_eviction_flag(flag)
    assert message in str(caught.value)
    assert isinstance(caught.value, EvictionSettingError)


def test_empty_flag_is_the_kubelets_empty_map_when_allowed():
    assert parse_eviction_flag("", allow_empty=True) == {}


@pytest.mark.parametrize("value,fmt,expected", [
    (Fraction(3, 2), "BinarySI", "1500m"), (Fraction(2048), "BinarySI", "2Ki"),
    (Fraction(10**9), "DecimalSI", "1G"), (Fraction(-2048), "BinarySI", "-2Ki"), (Fraction(0), "DecimalSI", "0"),
], ids=["binary-fraction", "binary-exact", "decimal", "negative", "zero"])
def test_canonical_string(value, fmt, expected):
    assert canonical_string(value, fmt) == expected
