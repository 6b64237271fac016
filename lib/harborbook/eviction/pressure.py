"""Pressure over time: the decisions the eviction manager takes each housekeeping pass.

Pure functions with the clock passed in (``now``), like the kubelet's
nodeConditionsObservedSince and thresholdsMetGracePeriod, so the runbook can say
"pending until HH:MM:SS" and the lab simulator can step a fake clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable, Mapping

DEFAULT_TRANSITION = timedelta(minutes=5)


def transition_period(configured: timedelta | None) -> timedelta:
    """evictionPressureTransitionPeriod as the kubelet applies it: unset or 0s means 5m."""
    return DEFAULT_TRANSITION if not configured else configured


def record_observed(last_observed: Mapping[str, datetime], conditions_now: Iterable[str],
                    now: datetime) -> dict[str, datetime]:
    """Remember when each condition was last seen over threshold (nodeConditionsLastObservedAt)."""
    updated = dict(last_observed)
    for condition in conditions_now:
        updated[condition] = now
    return updated


def conditions_in_force(last_observed: Mapping[str, datetime], period: timedelta,
                        now: datetime) -> frozenset[str]:
    """A condition stays True while less than ``period`` has passed since it was last observed."""
    return frozenset(c for c, seen in last_observed.items() if now - seen < period)


def clears_at(last_observed: Mapping[str, datetime], condition: str, period: timedelta) -> datetime | None:
    """When a condition will be reported False if it is not observed again (None if never seen)."""
    seen = last_observed.get(condition)
    return None if seen is None else seen + period


def record_first_observed(first_observed: Mapping[str, datetime], met_now: Iterable[str],
                          now: datetime) -> dict[str, datetime]:
    """When each currently met threshold was first seen met; thresholds no longer met are forgotten."""
    met = set(met_now)
    return {signal: first_observed.get(signal, now) for signal in met}


def soft_thresholds_due(first_observed: Mapping[str, datetime], grace: Mapping[str, timedelta],
                        now: datetime) -> frozenset[str]:
    """Soft thresholds met continuously for at least their grace period (thresholdsMetGracePeriod)."""
    return frozenset(s for s, since in first_observed.items()
                     if s in grace and now - since >= grace[s])
