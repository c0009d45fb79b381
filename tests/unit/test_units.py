"""Threshold ranges with units, and perfdata number formatting."""

from __future__ import annotations

import math

import nagiosplugin
import pytest

from nagios_ipc.units import (
    RangeError,
    format_number,
    format_range,
    human_duration,
    parse_quantity,
    parse_range,
)

# (id, text, kind, (invert, start, end)) -- why each case exists in the id
RANGES = [
    ("plain-end", "10", "count", (False, 0, 10)),
    ("open-end", "10:", "count", (False, 10, math.inf)),
    ("minus-infinity", "~:10", "count", (False, -math.inf, 10)),
    ("both", "10:20", "count", (False, 10, 20)),
    ("inside", "@10:20", "count", (True, 10, 20)),
    ("size-kb-binary", "64KB", "size", (False, 0, 65536)),
    ("size-mb-start", "1MB:", "size", (False, 1048576, math.inf)),
    ("duration-minutes", "30m:", "duration", (False, 1800, math.inf)),
    ("duration-days", "180d", "duration", (False, 0, 180 * 86400)),
    ("duration-hours-range", "@1h:2h", "duration", (True, 3600, 7200)),
    ("fraction", "0.5", "percent", (False, 0, 0.5)),
]


@pytest.mark.parametrize("case,text,kind,expected", RANGES, ids=[r[0] for r in RANGES])
def test_parse_range(case: str, text: str, kind: str, expected: tuple) -> None:  # type: ignore[type-arg]
    rng = parse_range(text, kind)
    assert (rng.invert, rng.start, rng.end) == expected


@pytest.mark.parametrize("text,kind", [
    ("", "count"), ("abc", "count"), ("10:5", "count"), ("1e3", "count"), ("5x", "size"),
    ("1:2:3", "count"), ("@", "count"), (":", "count"), ("5KB", "count"), ("nan", "count"),
])
def test_bad_ranges_raise_range_error(text: str, kind: str) -> None:
    with pytest.raises(RangeError):
        parse_range(text, kind)


def test_range_semantics_match_guidelines() -> None:
    assert not parse_range("10").match(11)
    assert parse_range("10").match(10)
    assert not parse_range("10").match(-1)
    assert parse_range("@10:20").match(9)
    assert not parse_range("@10:20").match(10)


@pytest.mark.parametrize("value,text", [
    (0, "0"), (12, "12"), (1.5, "1.5"), (1e-05, "0.00001"), (1e20, "100000000000000000000"),
    (2.0, "2"), (True, "1"), (-0.0000001, "0"), (99.999999, "99.999999"),
])
def test_format_number_never_uses_exponents(value: float, text: str) -> None:
    assert format_number(value) == text


def test_format_range_round_trip() -> None:
    for text in ("10", "10:", "~:10", "10:20", "@10:20", "0.5"):
        assert format_range(nagiosplugin.Range(text)) == text


def test_quantities() -> None:
    assert parse_quantity("90s", "duration") == 90
    assert parse_quantity("500ms", "duration") == 0.5
    assert parse_quantity("2w", "duration") == 14 * 86400
    assert parse_quantity("1GB", "size") == 1024**3


def test_human_duration() -> None:
    assert human_duration(3725) == "1h 2m 5s"
    assert human_duration(0) == "0s"
    assert human_duration(90061) == "1d 1h 1m"
