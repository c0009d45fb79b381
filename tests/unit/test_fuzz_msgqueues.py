"""Property-based: the msgqueues parsers and the range parser never crash.

On arbitrary text, truncated and mutated real captures, each parser returns a
result or raises the project's ParseError/RangeError, never anything else.
Run deeper with HYPOTHESIS_PROFILE=deep.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from nagios_ipc.msgqueues.ipcs import parse_ipcs
from nagios_ipc.msgqueues.model import ParseError
from nagios_ipc.msgqueues.posix import parse_mqueue_file
from nagios_ipc.msgqueues.sysv import parse_proc_rows
from nagios_ipc.units import RangeError, parse_range

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "msgqueues"
PROC = (FIXTURES / "proc-sysvipc-msg_linux-6.18_mixed.txt").read_text()
PROC_BIG = gzip.open(FIXTURES / "proc-sysvipc-msg_linux-6.18_32000-queues.txt.gz", "rt").read()
IPCS = [(FIXTURES / name).read_text() for name in
        ("ipcs-qa_aix-7.2.txt", "ipcs-qa_hpux-11.31.txt", "ipcs-qa_solaris-11.4.txt")]


def mutations(text: str) -> st.SearchStrategy[str]:
    """Real captures cut short, or with a stretch replaced by arbitrary characters."""
    cut = st.integers(0, len(text)).map(lambda n: text[:n])
    spliced = st.tuples(st.integers(0, len(text)), st.integers(0, 40), st.text(max_size=40)).map(
        lambda t: text[:t[0]] + t[2] + text[t[0] + t[1]:])
    return st.one_of(cut, spliced)


@given(st.one_of(st.text(), mutations(PROC), mutations(PROC_BIG[:3000])))
def test_proc_parser(text: str) -> None:
    try:
        parse_proc_rows(text)
    except ParseError:
        pass


@given(st.one_of(st.text(), st.sampled_from(IPCS).flatmap(mutations)))
def test_ipcs_parser(text: str) -> None:
    try:
        parse_ipcs(text)
    except ParseError:
        pass


@given(st.one_of(st.text(), mutations("QSIZE:129        NOTIFY:2     SIGNO:0     NOTIFY_PID:8260")))
def test_mqueue_parser(text: str) -> None:
    try:
        assert parse_mqueue_file(text) >= 0
    except ParseError:
        pass


@given(st.text(), st.sampled_from(["count", "size", "duration", "percent"]))
def test_range_parser(text: str, kind: str) -> None:
    try:
        parse_range(text, kind)
    except RangeError:
        pass


@given(st.text(alphabet="0123456789.:~@-+kKmMgGbBsShHdDwW% ", max_size=12),
       st.sampled_from(["count", "size", "duration", "percent"]))
def test_range_parser_near_misses(text: str, kind: str) -> None:
    try:
        parse_range(text, kind)
    except RangeError:
        pass
