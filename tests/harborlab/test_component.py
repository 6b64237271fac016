"""The component vocabulary: what `lab up` reports per component and the worst health. No root, no daemons."""

from __future__ import annotations

import pytest

from harborlab.component import DEGRADED, DOWN, OK, REPAIRED, RUNNING, STARTED, up_result, worst


@pytest.mark.parametrize(
    ("before", "total", "expected"),
    [(0, 3, STARTED), (3, 3, RUNNING), (2, 3, REPAIRED), (1, 5, REPAIRED)],
    ids=["nothing-running", "all-running", "one-dead", "most-dead"],
)
def test_up_result(before, total, expected):
    assert up_result(before, total) == expected


@pytest.mark.parametrize(
    ("healths", "expected"),
    [([OK, OK], OK), ([OK, DEGRADED], DEGRADED), ([DEGRADED, DOWN, OK], DOWN), ([], OK)],
    ids=["all-ok", "one-degraded", "down-wins", "empty"],
)
def test_worst(healths, expected):
    assert worst(healths) == expected
