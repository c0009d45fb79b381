"""The strict reader the conformance suite judges plugin output with: it must
refuse what the guidelines do not allow, or the suite could not fail."""

from __future__ import annotations

import pytest

from tests.plugin_output import PerfError, RefRange, parse_perf, perf_state, split_output


@pytest.mark.parametrize("item", [
    "a=1e3",             # exponent
    "a=1,5",             # a comma decimal (a locale leaking in)
    "a=1;2;3;4;5;6",     # six fields
    "a=1xB",             # not a unit of measure
    "a=1;1e2",           # exponent in a threshold
    "a=1;;;0;",          # fine: trailing empty max (kept in the accepted list below)
    "'a'b'=1",           # a lone quote inside a quoted label
    "a b=1",             # a space in an unquoted label
    "a=",                # no value
    "a=1;10:5x",         # not a range
])
def test_parse_perf_refuses_what_the_grammar_does_not_allow(item: str) -> None:
    if item == "a=1;;;0;":
        assert parse_perf(item).min == "0"
        return
    with pytest.raises(PerfError):
        parse_perf(item)


def test_parse_perf_reads_every_field() -> None:
    perf = parse_perf("'domain_example.com'=2.5MB;~:10;@1:2;0;100")
    assert (perf.label, perf.value, perf.uom, perf.warn, perf.crit, perf.min, perf.max) == (
        "domain_example.com", 2.5, "MB", "~:10", "@1:2", "0", "100")
    assert parse_perf("'it''s'=1c").label == "it's"


def test_split_output_reads_overflow_perfdata_after_the_long_output() -> None:
    first, text, perf = split_output("X OK: fine | a=1\ndetail one\ndetail two\n|b=2 c=3\n")
    assert (first, text, perf) == ("X OK: fine", ["detail one", "detail two"],
                                   ["a=1", "b=2", "c=3"])


@pytest.mark.parametrize("text,value,alert", [
    ("10", 11, True), ("10", 10, False), ("10", -1, True), ("10:", 9, True),
    ("~:10", 11, True), ("~:10", -1000, False), ("10:20", 15, False), ("10:20", 21, True),
    ("@10:20", 15, True), ("@10:20", 9, False),
])
def test_reference_ranges(text: str, value: float, alert: bool) -> None:
    assert RefRange(text).alert(value) is alert


def test_perf_state_takes_critical_over_warning() -> None:
    assert perf_state(parse_perf("a=15;10;12")) == 2
    assert perf_state(parse_perf("a=11;10;12")) == 1
    assert perf_state(parse_perf("a=5;10;12")) == 0
