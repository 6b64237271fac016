"""Cron schedules as the CronJob controller reads them: robfig/cron v3's ``ParseStandard``.

Five fields — minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of
week (0-6 or SUN-SAT) — each a comma list of ``*``/``?``, ``N``, ``A-B``, with an optional
``/STEP`` (``N/STEP`` means ``N-max/STEP``); or a descriptor: ``@yearly``/``@annually``,
``@monthly``, ``@weekly``, ``@daily``/``@midnight``, ``@hourly``, ``@every <duration>``.

Day of month and day of week: when either field is a star (``*`` or ``?``, without a step over
1), both must match; otherwise either may (cron's traditional OR). ``next_after`` walks the
fields from the month down, as robfig's ``SpecSchedule.Next`` does, in the schedule's time zone
(wall clock), five years at most.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

MONTHS = {name: i for i, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
DAYS = {name: i for i, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (min, max, names) per field
FIELDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, MONTHS), (0, 6, DAYS))
DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


class CronError(ValueError):
    """The schedule does not parse (the message is robfig's)."""


@dataclass(frozen=True)
class Schedule:
    minute: frozenset[int] = frozenset()
    hour: frozenset[int] = frozenset()
    dom: frozenset[int] = frozenset()
    month: frozenset[int] = frozenset()
    dow: frozenset[int] = frozenset()
    dom_star: bool = False
    dow_star: bool = False
    every: Optional[timedelta] = None   # @every: a constant delay instead of fields

    def day_matches(self, day: datetime) -> bool:
        dom_ok, dow_ok = day.day in self.dom, (day.isoweekday() % 7) in self.dow
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next_after(self, after: datetime) -> Optional[datetime]:
        """The first activation strictly after ``after`` (an aware datetime), in ``after``'s zone;
        None when there is none within five years (e.g. February 30th)."""
        if self.every is not None:
            # robfig ConstantDelaySchedule: rounded to the second, from the given time.
            return after.replace(microsecond=0) + self.every
        zone = after.tzinfo
        t = after.replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        limit = t.year + 5
        while t.year <= limit:
            if t.month not in self.month:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self.day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if t.hour not in self.hour:
                t = t.replace(minute=0) + timedelta(hours=1)
                continue
            if t.minute not in self.minute:
                t += timedelta(minutes=1)
                continue
            return t.replace(tzinfo=zone)
        return None


def _number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not re.fullmatch(r"[0-9]+", text):
        raise CronError(f"failed to parse int from {text}: strconv.Atoi: parsing {text!r}: invalid syntax"
                        .replace("'", '"'))
    return int(text)


def _field(expr: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    values: set[int] = set()
    star = False
    for part in expr.split(","):
        range_step = part.split("/")
        if len(range_step) > 2:
            raise CronError(f"too many slashes: {part}")
        bounds = range_step[0].split("-")
        extra_star = False
        if bounds[0] in ("*", "?"):
            if len(bounds) > 1:
                raise CronError(f"too many hyphens: {part}")
            start, end, extra_star = low, high, True
        else:
            start = _number(bounds[0], names)
            if len(bounds) == 1:
                end = start
            elif len(bounds) == 2:
                end = _number(bounds[1], names)
            else:
                raise CronError(f"too many hyphens: {part}")
        step = 1
        if len(range_step) == 2:
            step = _number(range_step[1], {})
            if len(bounds) == 1 and bounds[0] not in ("*", "?"):
                end = high                       # "N/step" means "N-max/step"
            if step > 1:
                extra_star = False
        if start < low:
            raise CronError(f"beginning of range ({start}) below minimum ({low}): {part}")
        if end > high:
            raise CronError(f"end of range ({end}) above maximum ({high}): {part}")
        if start > end:
            raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {part}")
        if step == 0:
            raise CronError(f"step of range should be a positive number: {part}")
        values.update(range(start, end + 1, step))
        star = star or extra_star
    return values, star


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _duration(text: str) -> timedelta:
    """Go's time.ParseDuration (what @every takes), for positive durations."""
    if not text or _DURATION.sub("", text) != "":
        raise CronError(f"failed to parse duration @every {text}: time: invalid duration \"{text}\"")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text)))


def parse(spec: str) -> Schedule:
    """``cron.ParseStandard(spec)``; CronError with robfig's message when it does not parse."""
    text = spec.strip()
    if not text:
        raise CronError("empty spec string")
    if text.startswith(("TZ=", "CRON_TZ=")):
        text = split_tz(text)[1]
    if text.startswith("@"):
        if text.startswith("@every "):
            delay = _duration(text[len("@every "):].strip())
            return Schedule(every=max(delay, timedelta(seconds=1)))   # robfig: at least one second
        if text not in DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {text}")
        text = DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_field(f, low, high, names) for f, (low, high, names) in zip(fields, FIELDS)]
    return Schedule(frozenset(parsed[0][0]), frozenset(parsed[1][0]), frozenset(parsed[2][0]),
                    frozenset(parsed[3][0]), frozenset(parsed[4][0]), parsed[2][1], parsed[4][1])


def split_tz(spec: str) -> tuple[str | None, str]:
    """``CRON_TZ=Europe/Paris 0 6 * * *`` -> ("Europe/Paris", "0 6 * * *") (robfig's prefix, which
    servers before 1.27 accepted with a warning and later ones refuse)."""
    text = spec.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        head, _, rest = text.partition(" ")
        return head.split("=", 1)[1], rest.strip()
    return None, text


def zone(name: str | None):
    """The time zone of ``spec.timeZone`` (None: the controller's, UTC here)."""
    if not name:
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name}") from None


__all__ = ["CronError", "Schedule", "parse", "split_tz", "zone"]
