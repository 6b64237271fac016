"""Threshold values: reading them as the kubelet does, and deciding when they are met.

Error messages reuse the kubelet's own wording (so an operator can match them to the
kubelet's log), followed by what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping

from harborbook.errors import HarborbookError

from .quantity import Quantity, parse_percentage, parse_quantity, percentage_of
from .signals import SIGNALS, KubeletVersion, signals_for

DISABLED_VALUES = ("0%", "100%")  # the kubelet skips these exact strings: that signal is off


class EvictionSettingError(HarborbookError, ValueError):
    """An eviction setting the kubelet would refuse; the message is the kubelet's wording."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message, hint or "fix the value; the kubelet refuses to start with it",
                         "runbooks/06-node-disk-pressure")


@dataclass(frozen=True)
class ThresholdValue:
    """A parsed threshold: exactly one of quantity / percentage (a float32 fraction)."""

    text: str
    quantity: Quantity | None = None
    percentage: float | None = None

    def bytes(self, capacity: int) -> int:
        """The threshold in bytes (or inodes, pids) for this capacity, as the kubelet computes it."""
        if self.quantity is not None:
            return self.quantity.bytes()
        return percentage_of(capacity, self.percentage or 0.0)

    def exact(self, capacity: int) -> Fraction:
        """The quantity compared against available (exact, for the strict < test)."""
        if self.quantity is not None:
            return self.quantity.value
        return Fraction(percentage_of(capacity, self.percentage or 0.0))


def check_signal(signal: str, version: KubeletVersion | str | None = None) -> None:
    """Unknown signals are refused with the kubelet's message."""
    known = signals_for(version) if version is not None else tuple(SIGNALS)
    if signal not in known:
        raise EvictionSettingError(
            f"unsupported eviction signal {signal}",
            hint=f"known signals: {', '.join(known)}",
        )


def parse_threshold_value(signal: str, text: str,
                          version: KubeletVersion | str | None = None) -> ThresholdValue | None:
    """parseThresholdStatement: None when the value disables the signal ("0%" or "100%")."""
    check_signal(signal, version)
    era = KubeletVersion.parse(version) if version is not None else None
    if text.endswith("%"):
        # Up to 1.9 (string flags) 0% and 100% were ordinary values; the map era skips them.
        if text in DISABLED_VALUES and (era is None or era >= (1, 10)):
            return None
        try:
            fraction = parse_percentage(text)
        except ValueError as err:
            raise EvictionSettingError(str(err)) from None
        if fraction != fraction:  # NaN: Go would accept it and compute nonsense; we refuse.
            raise EvictionSettingError(f"eviction percentage threshold {signal} is not a number: {text}")
        if era is not None and era < (1, 10):
            # 1.7 helpers.go: "percentage <= 0" refused, and no upper bound at all.
            if fraction <= 0:
                raise EvictionSettingError(f"eviction percentage threshold {signal} must be positive: {text}")
            return ThresholdValue(text, percentage=fraction)
        if fraction < 0:
            raise EvictionSettingError(f"eviction percentage threshold {signal} must be >= 0%: {text}")
        # 1.10-1.20 compared the fraction with 100 (10000%); kubernetes#97321 (1.21) made it 1.
        if fraction > (100 if era is not None and era < (1, 21) else 1):
            raise EvictionSettingError(f"eviction percentage threshold {signal} must be <= 100%: {text}")
        return ThresholdValue(text, percentage=fraction)
    try:
        quantity = parse_quantity(text)
    except ValueError as err:
        raise EvictionSettingError(f"{err} (value {text!r} for {signal})") from None
    if quantity.value <= 0:
        raise EvictionSettingError(f"eviction threshold {signal} must be positive: {quantity.canonical()}")
    return ThresholdValue(text, quantity=quantity)


def parse_min_reclaim(signal: str, text: str,
                      version: KubeletVersion | str | None = None) -> ThresholdValue:
    """parseMinimumReclaims: a percentage in (0, 100%] or a non-negative quantity."""
    check_signal(signal, version)
    if text.endswith("%"):
        try:
            fraction = parse_percentage(text)
        except ValueError as err:
            raise EvictionSettingError(str(err)) from None
        if not fraction > 0:
            raise EvictionSettingError(f"eviction percentage minimum reclaim {signal} must be positive: {text}")
        if fraction > 1:
            raise EvictionSettingError(f"eviction percentage minimum reclaim {signal} must be <= 100%: {text}")
        return ThresholdValue(text, percentage=fraction)
    try:
        quantity = parse_quantity(text)
    except ValueError as err:
        raise EvictionSettingError(f"{err} (minimum reclaim {text!r} for {signal})") from None
    if quantity.value < 0:
        raise EvictionSettingError(f"negative eviction minimum reclaim specified for {signal}")
    return ThresholdValue(text, quantity=quantity)


def parse_eviction_flag(value: str, *, flag: str = "--eviction-hard",
                        allow_empty: bool = False, version: KubeletVersion | str | None = None,
                        validate: bool = True) -> dict[str, str]:
    """Read ``signal<value,signal<value`` the way the kubelet's flag parser does.

    As the kubelet: pairs are split on ``,`` and the first ``<``; spaces around signal
    and value are trimmed; empty pairs (a trailing comma) are skipped; a repeated
    signal keeps its LAST value. Unlike the kubelet, an empty flag is refused unless
    ``allow_empty`` (the kubelet reads it as "no hard thresholds at all", which as an
    intended setting is almost always a mistake). Each value is then validated as the
    kubelet validates it (unknown signal, ``>``, over 100%, non-positive quantity).
    """
    if not value.strip() and not allow_empty:
        raise EvictionSettingError(
            f"empty {flag}: the kubelet would read this as no thresholds at all "
            "(every signal switched off)",
            hint="write the full intended map, e.g. memory.available<100Mi,nodefs.available<10%",
        )
    result: dict[str, str] = {}
    if version is not None and KubeletVersion.parse(version) < (1, 10) and value:
        return _parse_string_flag(value, flag, version)
    for pair in value.split(","):
        if not pair:
            continue
        if "<" not in pair:
            why = "'<' is the only operator the kubelet accepts" if ">" in pair or "=" in pair else \
                "each entry is signal<value"
            raise EvictionSettingError(
                f'invalid argument "{value}" for "{flag}" flag: malformed pair, expect string<string',
                hint=f"{why} (got {pair.strip()!r})",
            )
        signal, _, threshold = pair.partition("<")
        result[signal.strip()] = threshold.strip()
    for signal, threshold in result.items():
        if validate:
            parse_threshold_value(signal, threshold, version)
    return result


def _parse_string_flag(value: str, flag: str, version: KubeletVersion | str) -> dict[str, str]:
    """Up to 1.9 the flag was a plain string read by parseThresholdStatements: split on "," and
    "<" with no trimming, an empty statement and a signal named twice are refused."""
    result: dict[str, str] = {}
    for statement in value.split(","):
        parts = statement.split("<")
        if len(parts) != 2:
            raise EvictionSettingError(f"invalid eviction threshold syntax {statement}, expected "
                                       "<signal><operator><value>", hint=f"in {flag}={value}")
        parse_threshold_value(parts[0], parts[1], version)
        if parts[0] in result:
            raise EvictionSettingError(f"found duplicate eviction threshold for signal {parts[0]}")
        result[parts[0]] = parts[1]
    return result


def format_eviction_flag(thresholds: Mapping[str, str]) -> str:
    """The flag form of a threshold map, in the signal table's order (stable diffs)."""
    order = {name: index for index, name in enumerate(SIGNALS)}
    items = sorted(thresholds.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
    return ",".join(f"{signal}<{threshold}" for signal, threshold in items)


def threshold_bytes(value: str, capacity: int) -> int:
    """The threshold as the kubelet computes it: int64(capacity * float32 fraction), or the quantity.

    A disabled value ("0%", "100%") gives 0: a threshold nothing can be below.
    """
    parsed = _parse_any(value)
    return 0 if parsed is None else parsed.bytes(capacity)


def is_met(available: int, capacity: int, value: str) -> bool:
    """Met when the threshold quantity is strictly greater than available (equality is not met)."""
    parsed = _parse_any(value)
    return parsed is not None and parsed.exact(capacity) > available


def is_met_with_reclaim(available: int, capacity: int, value: str, *, was_met: bool,
                        min_reclaim: str | None = None) -> bool:
    """Once met, a threshold stays met until available >= threshold + minimum reclaim."""
    parsed = _parse_any(value)
    if parsed is None:
        return False
    limit = parsed.exact(capacity)
    if was_met and min_reclaim:
        limit += parse_min_reclaim("nodefs.available", min_reclaim).exact(capacity)
    return limit > available


def _parse_any(value: str) -> ThresholdValue | None:
    # The signal only matters for messages and validity; any valid one reads the value the same way.
    return parse_threshold_value("nodefs.available", value)
