"""Kubernetes quantities and the kubelet's float32 percentages, computed exactly.

A threshold is either a quantity (``100Mi``, ``1.5Gi``, ``500M``, ``1e9``) or a
percentage of capacity. The kubelet holds a percentage as a 32-bit float and
multiplies it by the capacity in 64-bit floating point, then truncates to an
int64; we reproduce that bit for bit so our verdict equals the kubelet's even
when available space sits a few bytes from the threshold.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

# Suffix -> (base, exponent) as apimachinery's resource.Quantity reads them.
BINARY_SUFFIXES: dict[str, int] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
DECIMAL_SUFFIXES: dict[str, int] = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}
_DECIMAL_BY_EXPONENT = {exp: suffix for suffix, exp in DECIMAL_SUFFIXES.items()}
_BINARY_BY_STEP = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]

# The message apimachinery gives for anything it cannot read as a quantity.
QUANTITY_FORMAT_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_QUANTITY = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)$")
_EXPONENT = re.compile(r"^[eE]([+-]?[0-9]+)$")
_FLOAT = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_NANO = Fraction(1, 10**9)


@dataclass(frozen=True)
class Quantity:
    """An exact quantity and the format its suffix implies (for the canonical string)."""

    value: Fraction
    fmt: str  # "BinarySI" | "DecimalSI" | "DecimalExponent"

    def bytes(self) -> int:
        """Quantity.Value(): the integer value, rounded up (toward +inf)."""
        return math.ceil(self.value)

    def canonical(self) -> str:
        """Quantity.String(): what the kubelet prints for this quantity."""
        return canonical_string(self.value, self.fmt)


def parse_quantity(text: str) -> Quantity:
    """Read a Kubernetes quantity; raises ValueError with apimachinery's message."""
    if not text:
        raise ValueError(QUANTITY_FORMAT_ERROR)
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(QUANTITY_FORMAT_ERROR)
    sign, whole, frac, suffix = match.groups()
    digits = Fraction(int(whole or "0"))
    if frac:
        digits += Fraction(int(frac), 10 ** len(frac))
    if suffix in BINARY_SUFFIXES:
        scale, fmt = Fraction(2) ** BINARY_SUFFIXES[suffix], "BinarySI"
    elif suffix in DECIMAL_SUFFIXES:
        scale, fmt = Fraction(10) ** DECIMAL_SUFFIXES[suffix], "DecimalSI"
    elif (exp := _EXPONENT.match(suffix)) is not None:
        scale, fmt = Fraction(10) ** int(exp.group(1)), "DecimalExponent"
    else:
        raise ValueError("unable to parse quantity's suffix")
    value = digits * scale * (-1 if sign == "-" else 1)
    # apimachinery keeps at most nano precision and rounds up beyond it.
    if value.denominator != 1 and (value / _NANO).denominator != 1:
        value = math.ceil(value / _NANO) * _NANO
    return Quantity(value, fmt)


def canonical_string(value: Fraction, fmt: str) -> str:
    """The canonical form apimachinery prints (``1.5Gi`` -> ``1536Mi``, ``1.5`` -> ``1500m``)."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if fmt == "BinarySI" and magnitude >= 1024 and magnitude.denominator == 1:
        number, step = int(magnitude), 0
        while step < len(_BINARY_BY_STEP) - 1 and number % 1024 == 0:
            number //= 1024
            step += 1
        return f"{sign}{number}{_BINARY_BY_STEP[step]}"
    # Decimal forms: an integer mantissa and the largest exponent (a multiple of 3) that keeps it whole.
    exponent = -9
    while exponent < 18 and (magnitude / Fraction(10) ** (exponent + 3)).denominator == 1:
        exponent += 3
    mantissa = int(magnitude / Fraction(10) ** exponent)
    if fmt == "DecimalExponent":
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    return f"{sign}{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"


# --- float32, as Go's strconv.ParseFloat(s, 32) and float32 arithmetic give it ------------

def to_float32(value: float) -> float:
    """Round a double to the nearest float32 (ties to even), as Go's float32(x) does."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _float32_neighbours(value: float) -> tuple[float, float]:
    bits = struct.unpack("<I", struct.pack("<f", value))[0]
    down = struct.unpack("<f", struct.pack("<I", bits - 1))[0] if value > 0 else value
    up = struct.unpack("<f", struct.pack("<I", bits + 1))[0] if value >= 0 else value
    return down, up


def nearest_float32(exact: Fraction) -> float:
    """The float32 nearest to an exact decimal (no double rounding through float64)."""
    if exact < 0:
        return -nearest_float32(-exact)
    candidate = to_float32(float(exact))  # OverflowError past float32's range
    best = candidate
    for neighbour in _float32_neighbours(candidate):
        gap, best_gap = abs(Fraction(neighbour) - exact), abs(Fraction(best) - exact)
        if gap < best_gap or (gap == best_gap and _is_even(neighbour) and not _is_even(best)):
            best = neighbour
    return best


def _is_even(value: float) -> bool:
    return struct.unpack("<I", struct.pack("<f", value))[0] % 2 == 0


def parse_percentage(text: str) -> float:
    """The kubelet's parsePercentage: float32(ParseFloat(trimmed, 32)) / 100 in float32."""
    number = text.rstrip("%")
    if not _FLOAT.match(number):
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": invalid syntax')
    try:
        as_float32 = nearest_float32(Fraction(number))
    except OverflowError:
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": value out of range') from None
    # float32 / float32 computed in double then rounded once is exact (53 >= 2*24 + 2).
    return to_float32(as_float32 / 100.0)


def percentage_of(capacity: int, fraction: float) -> int:
    """int64(float64(capacity) * float64(fraction)), Go's truncation toward zero."""
    return int(float(capacity) * fraction)


def go_float32_text(value: float) -> str:
    """Go's %v (and fmt's shortest 'g') for a float32: the fewest digits that read back the same."""
    if value == 0:
        return "0"
    for precision in range(1, 10):
        text = f"{value:.{precision}g}"
        if to_float32(float(text)) == value:
            break
    if "e" in text:
        mantissa, exp = text.split("e")
        sign, digits = exp[0], exp[1:].lstrip("0")
        text = f"{mantissa}e{sign}{digits.zfill(2)}"
    return text


def go_json_float32(value: float) -> str:
    """encoding/json's float32: shortest digits, plain notation except tiny/huge magnitudes."""
    text = go_float32_text(value)
    if "e" not in text:
        return text
    if 1e-6 <= abs(value) < 1e21:
        return format(Decimal(text).normalize(), "f")
    mantissa, exp = text.split("e")
    sign, digits = exp[0], exp[1:].lstrip("0") or "0"
    return f"{mantissa}e{sign}{digits}"
