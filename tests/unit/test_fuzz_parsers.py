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


def own_error(exc: BaseException, name: str = "") -> bool:
    """The project's own error: a CheckError (UNKNOWN in the check), RangeError, an
    exception class the package defines (e.g. nagios_ipc.mta.model.ParseError), or
    what the parser declares (DECLARED)."""
    return (isinstance(exc, ALLOWED) or type(exc).__module__.startswith("nagios_ipc.")
            or isinstance(exc, DECLARED.get(name, ())))

PARSERS = discover_parsers()

# parser -> fixture globs (under tests/fixtures) of what it reads in production
SPOOL = "mta/postfix-3.7.11-spool"
CAPTURES: Dict[str, Tuple[str, ...]] = {
    "nagios_ipc.mta.postfix.parse_postqueue_line": ("mta/shared/postqueue-j.txt",),
    "nagios_ipc.mta.postfix.parse_queue_file": (f"{SPOOL}/deferred/*/*", f"{SPOOL}/hold/*",
                                                f"{SPOOL}/maildrop/*"),
    "nagios_ipc.mta.postfix.parse_defer_log": (f"{SPOOL}/defer/*/*",),
    "nagios_ipc.mta.exim.parse_bp": ("mta/shared/exim-bp.txt", "mta/shared/exim-bp_empty.txt",
                                     "mta/exim-4.96/exim-bp.txt",
                                     "mta/exim-4.96/exim-bp-qGslow.txt"),
    "nagios_ipc.mta.exim.parse_header_file": ("mta/shared/spool-input_*-H_*.txt",
                                              "mta/exim-4.96/spool/input/*-H"),
    "nagios_ipc.mta.exim.parse_msglog": ("mta/shared/spool-msglog_*.txt",),
    "nagios_ipc.mta.sendmail.parse_mailq": ("mta/sendmail/mailq*.txt",
                                            "mta/sendmail-8.1*/mailq*.txt"),
    "nagios_ipc.mta.sendmail.parse_qf": ("mta/sendmail/qf*.txt", "mta/sendmail/hf*.txt"),
    "nagios_ipc.mta.qmail.parse_qread": ("mta/qmail/qmail-qread.txt",),
    "nagios_ipc.mta.qmail.parse_qstat": ("mta/qmail/qmail-qstat.txt",),
    "nagios_ipc.mta.opensmtpd.parse_show_queue": ("mta/opensmtpd/smtpctl-show-queue*.txt",),
    "nagios_ipc.mta.opensmtpd.parse_envelope": ("mta/opensmtpd/smtpctl-show-envelope_*.txt",
                                                "mta/opensmtpd/queue-envelope-file_*.txt"),
    "nagios_ipc.mta.nullmailer.parse_mailq": ("mta/nullmailer/mailq*.txt",
                                              "mta/nullmailer-2.2/mailq*.txt"),
    "nagios_ipc.mta.nullmailer.parse_envelope": ("mta/nullmailer/queue-file_*.txt",),
    "nagios_ipc.mta.imsimta.parse_directory": ("mta/imsimta/qm-directory*.txt",),
    "nagios_ipc.zmqhwm.diag.parse_proc_tcp": ("zmq/*/net-tcp",),
    "nagios_ipc.zmqhwm.diag.parse_inet": ("zmq/*/inet_diag_v*.bin",),
    "nagios_ipc.zmqhwm.diag.parse_unix": ("zmq/*/unix_diag.bin",),
    "nagios_ipc.zmqhwm.procfs.parse_snmp_tcp": ("zmq/*/net-snmp",),
    "nagios_ipc.zmqhwm.procfs.parse_limits": ("zmq/*/pid-limits",),
    "nagios_ipc.zmqhwm.stats.parse_snapshot": ("zmq/stats-snapshot_*.json",),
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
    "nagios_ipc.zmqhwm.procfs.parse_endpoint": (b"tcp://127.0.0.1:5556", b"tcp://*:5555",
                                                b"tcp://[::1]:6000", b"ipc:///run/app/out.ipc"),
    "nagios_ipc.zmqhwm.diag.parse_meminfo": (bytes(range(36)),),
}
# parsers documented to raise a plain exception type that every caller turns into its
# own error: parser -> those types (none at present)
DECLARED: Dict[str, Tuple[type, ...]] = {}


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
def each_line(function: Callable[..., Any], data: bytes) -> Any:
    """A one-line parser (postqueue -j: one JSON object per line), as its source calls it."""
    return [function(line) for line in data.split(b"\n") if line.strip()]


ADAPTERS: Dict[str, Callable[[Callable[..., Any], bytes], Any]] = {
    "nagios_ipc.mta.postfix.parse_postqueue_line": each_line,
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
    if annotation in ("Iterable[str]", "Iterator[str]", "Sequence[str]", "List[str]"):
        return "lines"
    return "?"


# values for the other required parameters, by name (what a source passes)
FILL: Dict[str, Any] = {"now": 1795460000.0, "queue": "deferred", "queue_id": "4F2A81661BF",
                        "size": 1234, "mtime": 1795456375.0, "source": "fuzz input",
                        "message_id": "1xVYEb-0007mT-1g"}


def missing_fill(function: Callable[..., Any]) -> List[str]:
    params = list(inspect.signature(function).parameters.values())[1:]
    return [p.name for p in params if p.default is inspect.Parameter.empty
            and p.name not in FILL]


def call(name: str, data: bytes) -> Any:
    function = PARSERS[name]
    if name in ADAPTERS:
        return ADAPTERS[name](function, data)
    kind = first_parameter_kind(function)
    extra = {p.name: FILL[p.name]
             for p in list(inspect.signature(function).parameters.values())[1:]
             if p.default is inspect.Parameter.empty}
    text = data.decode("utf-8", "replace")  # sources read with errors="replace"
    if kind == "bytes":
        result = function(data, **extra)
    elif kind == "lines":
        result = function(iter(text.splitlines()), **extra)
    else:
        result = function(text, **extra)
    if inspect.isgenerator(result) or (hasattr(result, "__next__") and hasattr(result, "__iter__")):
        result = list(result)  # a generator raises only while it is consumed
    return result


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
        f"{name} takes neither text, bytes nor lines first: add an adapter to ADAPTERS in "
        f"{__file__}")
    assert name in ADAPTERS or not missing_fill(PARSERS[name]), (
        f"{name} needs {missing_fill(PARSERS[name])}: add them to FILL in {__file__}")
    for pattern in CAPTURES.get(name, ()):
        assert captures(pattern), f"no capture matches {pattern} for {name}"


@pytest.mark.parametrize("name", sorted(PARSERS))
@given(data=st.data())
def test_parser_returns_or_raises_its_own_error(name: str, data: st.DataObject) -> None:
    if name not in ADAPTERS and (first_parameter_kind(PARSERS[name]) == "?"
                                 or missing_fill(PARSERS[name])):
        return  # test_parser_can_be_fed fails for it
    raw = data.draw(fuzz_bytes(real_inputs(name)), label="input")
    with no_hang(what=name):
        try:
            call(name, raw)
        except Exception as exc:
            if not own_error(exc, name):
                raise


@pytest.mark.parametrize("name", sorted(set(CAPTURES) | set(INLINE)))
def test_real_captures_parse(name: str) -> None:
    """The unmutated captures parse (the mutations start from working input)."""
    for raw in real_inputs(name):
        try:
            call(name, raw)
        except Exception as exc:  # pragma: no cover - the message says which
            pytest.fail(f"{name} rejects its own capture: {exc!r}")


@pytest.mark.parametrize("name", sorted(set(CAPTURES) | set(INLINE)))
def test_parser_every_field_extreme(name: str) -> None:
    """Each field of each capture replaced by each hostile token, one at a time."""
    for raw in real_inputs(name):
        for content in field_mutations(raw):
            with no_hang(what=name):
                try:
                    call(name, content)
                except Exception as exc:
                    if not own_error(exc, name):
                        raise
