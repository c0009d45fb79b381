"""Threshold ranges with unit suffixes, and number formatting for perfdata.

Ranges follow the Monitoring Plugins guidelines (``10``, ``10:``, ``~:10``,
``10:20``, ``@10:20``); each end may carry a unit suffix that is converted to
the metric's base unit before nagiosplugin sees the range, so ``64KB``
becomes ``65536`` and ``30m`` becomes ``1800``.
"""

from __future__ import annotations

import math
import re

import nagiosplugin

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Union

    Number = Union[int, float]


# Sizes: binary multiples, as the kernel's own limits (msgmnb 16384) are.
SIZE_UNITS: Dict[str, int] = {
    "": 1, "b": 1,
    "k": 1024, "kb": 1024, "kib": 1024,
    "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1024**3, "gib": 1024**3,
    "t": 1024**4, "tb": 1024**4, "tib": 1024**4,
}
DURATION_UNITS: Dict[str, float] = {
    "": 1, "s": 1, "ms": 0.001, "m": 60, "min": 60, "h": 3600,
    "d": 86400, "w": 7 * 86400,
}
COUNT_UNITS: Dict[str, float] = {"": 1}
PERCENT_UNITS: Dict[str, float] = {"": 1, "%": 1}

UNIT_TABLES: Dict[str, Dict[str, float]] = {
    "size": {k: float(v) for k, v in SIZE_UNITS.items()},
    "duration": DURATION_UNITS,
    "count": COUNT_UNITS,
    "percent": PERCENT_UNITS,
}

_NUMBER = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([a-zA-Z%]*)$")


class RangeError(ValueError):
    """A threshold range or quantity that cannot be parsed."""


def parse_quantity(text: str, kind: str = "count") -> Number:
    """Parse ``64KB``, ``30m``, ``12`` into a number in the base unit of *kind*."""
    table = UNIT_TABLES[kind]
    match = _NUMBER.match(text.strip())
    if not match:
        raise RangeError(f"'{text}' is not a number{_unit_hint(kind)}")
    number, unit = match.groups()
    factor = table.get(unit.lower())
    if factor is None:
        raise RangeError(f"unknown unit '{unit}' in '{text}'{_unit_hint(kind)}")
    value = float(number) * factor
    if not math.isfinite(value):
        raise RangeError(f"'{text}' is out of range")
    return int(value) if value.is_integer() else value


def _unit_hint(kind: str) -> str:
    if kind == "size":
        return " (sizes take B, KB, MB, GB, TB; binary multiples)"
    if kind == "duration":
        return " (durations take ms, s, m, h, d, w)"
    if kind == "percent":
        return " (a percentage)"
    return ""


def parse_range(text: str, kind: str = "count") -> nagiosplugin.Range:
    """Parse a guidelines range whose ends may carry units of *kind*."""
    spec = text.strip()
    if not spec:
        raise RangeError("empty threshold range")
    invert = spec.startswith("@")
    if invert:
        spec = spec[1:]
    if ":" in spec:
        start_text, _, end_text = spec.partition(":")
        if ":" in end_text:
            raise RangeError(f"'{text}' has more than one ':'")
    else:
        start_text, end_text = "", spec
    if start_text == "~":
        start = "~"
    elif start_text == "":
        start = ""
    else:
        start = format_number(parse_quantity(start_text, kind))
    end = "" if end_text == "" else format_number(parse_quantity(end_text, kind))
    if start not in ("", "~") and end != "" and float(start) > float(end):
        raise RangeError(f"'{text}': start is greater than end")
    if start == "" and end == "":
        raise RangeError(f"'{text}' has no bounds")
    normal = ("@" if invert else "") + (f"{start}:" if start != "" else "") + end
    try:
        return nagiosplugin.Range(normal)
    except ValueError as exc:
        raise RangeError(f"'{text}': {exc}") from exc


def range_type(kind: str) -> Callable[[str], nagiosplugin.Range]:
    """An argparse ``type=`` for ranges of *kind* (error text reaches the usage line)."""

    def convert(text: str) -> nagiosplugin.Range:
        try:
            return parse_range(text, kind)
        except RangeError as exc:
            import argparse

            raise argparse.ArgumentTypeError(str(exc)) from exc

    convert.__name__ = f"{kind} range"
    return convert


def optional_range(kind: str, off: object = None) -> Callable[[str], Any]:
    """Like range_type, but 'none' gives *off*: switches a default threshold off.

    *off* tells 'none' apart from an option not given (None) where a check needs that.
    """
    convert = range_type(kind)

    def parse(text: str) -> Any:
        return off if text.strip().lower() == "none" else convert(text)

    parse.__name__ = f"{kind} range"
    return parse


def quantity_type(kind: str) -> Callable[[str], Number]:
    def convert(text: str) -> Number:
        try:
            return parse_quantity(text, kind)
        except RangeError as exc:
            import argparse

            raise argparse.ArgumentTypeError(str(exc)) from exc

    convert.__name__ = kind
    return convert


def format_number(value: Optional[Number]) -> str:
    """Plain decimal, never an exponent, never locale-dependent."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return ""
    if math.isnan(value):
        return ""
    if value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_range(rng: Optional[nagiosplugin.Range]) -> str:
    """A range as perfdata wants it, numbers without exponents."""
    if rng is None:
        return ""
    start = rng.start
    end = rng.end
    parts = "@" if rng.invert else ""
    if start == -math.inf or start is None:
        parts += "~:"
    elif start != 0:
        parts += format_number(start) + ":"
    if end != math.inf and end is not None:
        parts += format_number(end)
    return parts


def human_size(value: Number) -> str:
    """1536 -> '1.5 KiB' for summaries (perfdata stays in bytes)."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            if unit == "B":
                return f"{int(size)} B"
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover - unreachable


def human_duration(seconds: Number) -> str:
    """3725 -> '1h 2m 5s' for summaries."""
    total = round(float(seconds))
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days}d")
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return sign + " ".join(parts[:3])
