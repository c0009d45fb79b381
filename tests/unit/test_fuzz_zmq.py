"""Property-based: the zmqhwm parsers never crash (issue 8).

On arbitrary bytes or text, and on truncated and mutated real captures
(tests/fixtures/zmq), each parser returns a result or raises the project's own
error (DiagError, StatsError, ProcError). Run deeper with HYPOTHESIS_PROFILE=deep.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from nagios_ipc.zmqhwm.diag import DiagError, parse_inet, parse_proc_tcp, parse_unix
from nagios_ipc.zmqhwm.procfs import ProcError, parse_endpoint, parse_limits, parse_snmp_tcp
from nagios_ipc.zmqhwm.sockets import judge
from nagios_ipc.zmqhwm.stats import StatsError, parse_snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "zmq"
CAPTURE = FIXTURES / "linux-6.18_pub-slow-sub"
INET = (CAPTURE / "inet_diag_v4.bin").read_bytes()
INET6 = (CAPTURE / "inet_diag_v6.bin").read_bytes()
UNIX = (CAPTURE / "unix_diag.bin").read_bytes()
PROC_TCP = (CAPTURE / "net-tcp").read_text()
SNAPSHOT = (FIXTURES / "stats-snapshot_pyzmq-27.3_libzmq-4.3.5.json").read_bytes()


def byte_mutations(data: bytes) -> st.SearchStrategy[bytes]:
    cut = st.integers(0, len(data)).map(lambda n: data[:n])
    spliced = st.tuples(st.integers(0, len(data)), st.integers(0, 16),
                        st.binary(max_size=16)).map(
        lambda t: data[:t[0]] + t[2] + data[t[0] + t[1]:])
    return st.one_of(cut, spliced)


def text_mutations(text: str) -> st.SearchStrategy[str]:
    cut = st.integers(0, len(text)).map(lambda n: text[:n])
    spliced = st.tuples(st.integers(0, len(text)), st.integers(0, 40),
                        st.text(max_size=40)).map(
        lambda t: text[:t[0]] + t[2] + text[t[0] + t[1]:])
    return st.one_of(cut, spliced)


@given(st.one_of(st.binary(max_size=400), byte_mutations(INET), byte_mutations(INET6)))
def test_inet_diag(data: bytes) -> None:
    try:
        parse_inet(data)
    except DiagError:
        pass


@given(st.one_of(st.binary(max_size=400), byte_mutations(UNIX)))
def test_unix_diag(data: bytes) -> None:
    try:
        parse_unix(data)
    except DiagError:
        pass


@given(st.one_of(st.text(), text_mutations(PROC_TCP[:2000])), st.booleans())
def test_proc_tcp(text: str, v6: bool) -> None:
    try:
        parse_proc_tcp(text, v6)
    except DiagError:
        pass


@given(st.one_of(st.binary(max_size=300), byte_mutations(SNAPSHOT)))
def test_stats_snapshot(data: bytes) -> None:
    try:
        parse_snapshot(data)
    except StatsError:
        pass


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20)


@given(st.sampled_from(["pid", "started", "now", "libzmq", "pipes_stats", "sockets",
                        "sockets.0", "sockets.0.events", "sockets.0.pipes",
                        "sockets.0.sends", "sockets.0.name"]), json_values)
def test_stats_snapshot_field_replaced(path: str, value: object) -> None:
    """The real snapshot with one field replaced by any JSON value."""
    obj = json.loads(SNAPSHOT)
    target = obj
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    try:
        parse_snapshot(json.dumps(obj).encode())
    except StatsError:
        pass


@given(st.text())
def test_proc_helpers(text: str) -> None:
    for parse in (parse_limits, parse_snmp_tcp, parse_endpoint):
        try:
            parse(text)  # type: ignore[operator]
        except ProcError:
            pass


@given(st.lists(st.binary(max_size=12), max_size=8))
def test_monitor_event_decoder(frames: list) -> None:
    """In the application's helper thread: a result or ValueError (then ignored)."""
    from nagios_ipc.zmqhwm.helper import decode_v2_event

    try:
        decode_v2_event(frames)
    except ValueError:
        pass


@given(st.one_of(st.none(), st.dictionaries(st.sampled_from(["q", "since", "acked"]),
                                            json_values)))
def test_judge_on_any_state_record(record: object) -> None:
    """The state file is input too: any record gives a decision, never an exception."""
    from nagios_ipc.zmqhwm.diag import Conn, TcpInfo

    for conn in (Conn("tcp", 1, "ESTABLISHED", "a", "b", 50000, 0, 1, 1, False,
                      TcpInfo(0, 0, 0, 0, 0, 0, 5)),
                 Conn("unix", 1, "ESTABLISHED", "a", "b", 50000, 0, 1, 1, False)):
        _stalled, _since, saved = judge(conn, record if isinstance(record, dict) else None,
                                        100.0, 1024)
        json.dumps(saved)
