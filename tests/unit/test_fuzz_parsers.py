"""Every parser of the package on arbitrary, truncated and mutated input (issue 8).

Parsers are found at run time (every ``parse*`` function of nagios_ipc, see
tests/robustness.py), so a new one is fuzzed from the day it lands. Each must
return a result or raise the project's own error: a ``nagiosplugin.CheckError``
subclass (each area's ParseError, which the check turns into one UNKNOWN line)
or, for threshold syntax, ``RangeError``. Anything else (IndexError, KeyError,
UnicodeError, RecursionError...) would be an "internal error" UNKNOWN at best,
and a hang (see no_hang) a plugin timeout: both fail here.

CAPTURES maps a parser to the real captures it reads in production; their
truncations and mutations are the most productive inputs. A parser whose first
parameter is neither text nor bytes needs an entry in ADAPTERS.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Tuple

import nagiosplugin
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nagios_ipc.units import RangeError
from tests.robustness import captures, discover_parsers, field_mutations, fuzz_bytes, no_hang

ALLOWED = (nagiosplugin.CheckError, RangeError)

PARSERS = discover_parsers()

# parser -> fixture globs (under tests/fixtures) of what it reads in production
CAPTURES: Dict[str, Tuple[str, ...]] = {
    "nagios_ipc.msgqueues.sysv.parse_proc_rows": ("msgqueues/proc-sysvipc-msg_*",),
    "nagios_ipc.msgqueues.sysv.parse_proc_msg": ("msgqueues/proc-sysvipc-msg_*",),
    "nagios_ipc.msgqueues.ipcs.parse_ipcs": ("msgqueues/ipcs-qa_*",),
    "nagios_ipc.uptime.source.parse_proc_uptime": ("uptime/*/uptime",),
    "nagios_ipc.uptime.source.parse_boot_id": ("uptime/*/sys/kernel/random/boot_id",),
}
# parser -> real content written inline (no capture file for a one-line format)
INLINE: Dict[str, Tuple[bytes, ...]] = {
    "nagios_ipc.msgqueues.posix.parse_mqueue_file": (
        b"QSIZE:129        NOTIFY:2     SIGNO:0     NOTIFY_PID:8260\n",
        b"QSIZE:0          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n"),
    "nagios_ipc.units.parse_range": (b"10", b"10:", b"~:10", b"10:20", b"@10:20", b"64KB:1.5MB",
                                     b"30m:", b"@~:0.5s"),
    "nagios_ipc.units.parse_quantity": (b"64KB", b"1.5", b"30m", b"100%", b"-3"),
}


def each_kind(function: Callable[..., Any], data: bytes) -> Any:
    """Ranges and quantities parse per unit kind: try every kind; RangeError only
    when no kind takes the text."""
    text = data.decode("utf-8", "replace")
    results, error = [], None
    for kind in ("count", "size", "duration", "percent"):
        try:
            results.append(function(text, kind))
        except RangeError as exc:
            error = exc
    if not results and error is not None:
        raise error
    return results


# parser -> how to call it with fuzzed bytes, for signatures other than (text|bytes, ...)
ADAPTERS: Dict[str, Callable[[Callable[..., Any], bytes], Any]] = {
    "nagios_ipc.units.parse_range": each_kind,
    "nagios_ipc.units.parse_quantity": each_kind,
}


def first_parameter_kind(function: Callable[..., Any]) -> str:
    params = list(inspect.signature(function).parameters.values())
    if not params:
        return "?"
    annotation = str(params[0].annotation).replace("typing.", "")
    if annotation in ("str", "<class 'str'>"):
        return "text"
    if annotation in ("bytes", "<class 'bytes'>"):
        return "bytes"
    if annotation in ("Union[str, bytes]", "Union[bytes, str]", "str | bytes", "bytes | str"):
        return "text"
    return "?"


def call(name: str, data: bytes) -> Any:
    function = PARSERS[name]
    if name in ADAPTERS:
        return ADAPTERS[name](function, data)
    kind = first_parameter_kind(function)
    if kind == "bytes":
        return function(data)
    # sources read with errors="replace" (utf-8 or ascii): both shapes reach parsers
    return function(data.decode("utf-8", "replace"))


def real_inputs(name: str) -> List[bytes]:
    return list(INLINE.get(name, ())) + captures(*CAPTURES.get(name, ()))


def test_parsers_are_found() -> None:
    # the discovery itself must see the parsers we know of, or the fuzzing below is hollow
    for name in ("nagios_ipc.msgqueues.sysv.parse_proc_rows",
                 "nagios_ipc.msgqueues.ipcs.parse_ipcs",
                 "nagios_ipc.uptime.source.parse_proc_uptime", "nagios_ipc.units.parse_range"):
        assert name in PARSERS


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parser_can_be_fed(name: str) -> None:
    """Each parser takes text or bytes, or has an adapter; each named capture exists."""
    assert name in ADAPTERS or first_parameter_kind(PARSERS[name]) != "?", (
        f"{name} takes neither text nor bytes first: add an adapter to ADAPTERS in {__file__}")
    for pattern in CAPTURES.get(name, ()):
        assert captures(pattern), f"no capture matches {pattern} for {name}"


@pytest.mark.parametrize("name", sorted(PARSERS))
@given(data=st.data())
def test_parser_returns_or_raises_its_own_error(name: str, data: st.DataObject) -> None:
    if name not in ADAPTERS and first_parameter_kind(PARSERS[name]) == "?":
        return  # test_parser_can_be_fed fails for it
    raw = data.draw(fuzz_bytes(real_inputs(name)), label="input")
    with no_hang(what=name):
        try:
            call(name, raw)
        except ALLOWED:
            pass


@pytest.mark.parametrize("name", sorted(set(CAPTURES) | set(INLINE)))
def test_real_captures_parse(name: str) -> None:
    """The unmutated captures parse (the mutations start from working input)."""
    for raw in real_inputs(name):
        try:
            call(name, raw)
        except ALLOWED as exc:  # pragma: no cover - the message says which
            pytest.fail(f"{name} rejects its own capture: {exc}")


@pytest.mark.parametrize("name", sorted(set(CAPTURES) | set(INLINE)))
def test_parser_every_field_extreme(name: str) -> None:
    """Each field of each capture replaced by each hostile token, one at a time."""
    for raw in real_inputs(name):
        for content in field_mutations(raw):
            with no_hang(what=name):
                try:
                    call(name, content)
                except ALLOWED:
                    pass
