"""Issue 15's short cuts in check_zmq_hwm's sockets mode give what the long way gave.

At 10,000 connections the per-connection work decides the run's cost, so the probe
skips judge() for an empty queue without a persist timer, worst() finds the peer to
name without a key tuple per peer, inet_conn walks the attributes itself, and
parse_inet reads only the inode of a socket it does not want. Each is checked here
against the general code it stands in for, on any input.
"""

from __future__ import annotations

import gc
from _socket import AF_INET, AF_INET6
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nagios_ipc.zmqhwm.diag import (INET_MSG, NLMSG_HDR, RTATTR, SOCK_DIAG_BY_FAMILY, SOCKID,
                                    TCP_STATES, TIMER_PERSIST, Conn, DiagError, TcpInfo,
                                    attributes, format_inet, inet_conn, parse_inet,
                                    parse_meminfo, parse_tcp_info)
from nagios_ipc.zmqhwm.procfs import Process, ProcSource
from nagios_ipc.zmqhwm.sockets import Peer, Selection, Sockets, judge

CAPTURE = Path(__file__).resolve().parent.parent / "fixtures" / "zmq" / "linux-6.18_pub-slow-sub"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6)


@given(st.one_of(st.none(), st.dictionaries(st.sampled_from(["q", "since", "acked"]),
                                            json_values)),
       st.sampled_from([None, TcpInfo(0, 0, 0, 0, 0, 0, 5), TcpInfo(0, 0, 0, 0, 0, 0, None)]),
       st.integers(0, 2 ** 31))
def test_an_empty_queue_without_persist_timer_is_what_judge_says(
        previous: object, info: object, stall_bytes: int) -> None:
    """The probe's short cut: not stalled, no since, nothing kept; whatever the state
    file held for the connection."""
    conn = Conn("tcp", 7, "ESTABLISHED", "127.0.0.1:5555", "127.0.0.1:40000", 0, 123,
                87040, 131072, False, info)  # type: ignore[arg-type]
    stalled, since, record = judge(conn, previous if isinstance(previous, dict) else None,
                                   1000.0, stall_bytes)
    assert (stalled, since) == (False, None)
    assert record["since"] is None and not conn.send_q  # so probe() stores no record


def reference_worst(peers: list) -> object:
    """worst() as it was before issue 15: one key tuple per peer."""
    if not peers:
        return None
    return max(peers, key=lambda p: (p.stalled, -(p.since or 0) if p.stalled else 0,
                                     p.conn.send_q, p.conn.recv_q))


peer_strategy = st.builds(
    lambda index, stalled, since, send_q, recv_q: Peer(
        Conn("tcp", index, "ESTABLISHED", "a", f"b{index}", send_q, recv_q, 100, 100,
             False), 1, stalled, since if stalled else None),
    st.integers(0, 10 ** 6), st.booleans(), st.one_of(st.none(), st.floats(0, 100)),
    st.integers(0, 3), st.integers(0, 3))


@given(st.lists(peer_strategy, max_size=30))
def test_worst_is_the_reference_peer(peers: list) -> None:
    """The same peer, not only an equal one: the first of equals, as max() gives."""
    sockets = Sockets.__new__(Sockets)
    sockets.peers = peers
    assert sockets.worst() is reference_worst(peers)


def reference_inet_conn(fields: tuple, payload: bytes) -> Conn:
    """inet_conn as it was before issue 15, through attributes()."""
    (family, state, timer, _retrans, sockid, _expires, rqueue, wqueue, _uid, inode) = fields
    sport, dport, src, dst, _if, _cookie = SOCKID.unpack(sockid)
    attrs = attributes(payload, INET_MSG.size)
    info = parse_tcp_info(attrs[2]) if 2 in attrs else None
    sndbuf, rcvbuf = parse_meminfo(attrs.get(7, b""))
    return Conn("tcp", inode, TCP_STATES.get(state, str(state)),
                format_inet(family, src, sport), format_inet(family, dst, dport),
                wqueue, rqueue, sndbuf, rcvbuf, timer == TIMER_PERSIST, info)


def messages(data: bytes) -> list:
    out = []
    offset = 0
    while offset + NLMSG_HDR.size <= len(data):
        length, kind, *_ = NLMSG_HDR.unpack_from(data, offset)
        if length < NLMSG_HDR.size:
            break
        if kind == SOCK_DIAG_BY_FAMILY:
            out.append(data[offset + NLMSG_HDR.size:offset + length])
        offset += (length + 3) & ~3
    return out


PAYLOADS = messages((CAPTURE / "inet_diag_v4.bin").read_bytes()) + messages(
    (CAPTURE / "inet_diag_v6.bin").read_bytes())


def test_the_capture_has_connections_with_both_attributes() -> None:
    conns, done = parse_inet((CAPTURE / "inet_diag_v4.bin").read_bytes())
    assert done and len(PAYLOADS) >= 2
    assert any(c.info is not None and c.sndbuf for c in conns)


@given(st.sampled_from(PAYLOADS), st.integers(0, 600), st.binary(max_size=12),
       st.integers(0, 12))
def test_inet_conn_decodes_as_through_attributes(payload: bytes, at: int, insert: bytes,
                                                 drop: int) -> None:
    """Real inet_diag messages, spliced: the same connection or a DiagError from both."""
    mutated = payload[:at] + insert + payload[at + drop:]
    if len(mutated) < INET_MSG.size:
        return
    fields = INET_MSG.unpack_from(mutated)
    try:
        expected = reference_inet_conn(fields, mutated)
    except DiagError:
        expected = None
    try:
        got = inet_conn(fields, mutated)
    except DiagError:
        got = None
    assert got == expected


CAPTURED = [(CAPTURE / name).read_bytes() for name in ("inet_diag_v4.bin", "inet_diag_v6.bin")]


@given(st.sampled_from(CAPTURED), st.data())
def test_a_wanted_set_keeps_what_the_full_decode_keeps(data: bytes, draw: st.DataObject) -> None:
    """parse_inet reads only the inode of a socket not wanted (a busy host's dump is
    mostly other applications' sockets): the same connections as decoding all."""
    every, done = parse_inet(data)
    inodes = [*sorted({c.inode for c in every}), 0, 1, 2 ** 32 - 1]
    wanted = set(draw.draw(st.lists(st.sampled_from(inodes), max_size=len(inodes))))
    assert parse_inet(data, wanted) == ([c for c in every if c.inode in wanted], done)


# every boundary of the two decodes (meminfo: 16 bytes in fours; tcp_info: 104, 128)
LENGTHS = st.one_of(st.sampled_from([0, 4, 12, 15, 16, 17, 20, 100, 103, 104, 105, 120, 127,
                                     128, 129, 232]), st.integers(0, 240))


def attribute(kind: int, value: bytes) -> bytes:
    packed = RTATTR.pack(RTATTR.size + len(value), kind) + value
    return packed + b"\0" * (-len(packed) % 4)


@given(st.sampled_from([AF_INET, AF_INET6, 0]), st.integers(0, 12), st.integers(0, 5),
       st.binary(min_size=SOCKID.size, max_size=SOCKID.size), st.integers(0, 2 ** 32 - 1),
       st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1),
       st.lists(st.tuples(st.sampled_from([1, 2, 7, 2 | 0x8000, 7 | 0x4000]),
                          LENGTHS.flatmap(lambda n: st.binary(min_size=n, max_size=n))),
                max_size=4))
@example(AF_INET, 1, 0, bytes(SOCKID.size), 0, 1, 5, [(7, bytes(12)), (1, bytes(8))])
@example(AF_INET, 1, 0, bytes(SOCKID.size), 0, 1, 5, [(7, bytes(15)), (1, bytes(8))])
@example(AF_INET, 1, 0, bytes(SOCKID.size), 0, 1, 5, [(7, bytes(16)), (1, bytes(8))])
@example(AF_INET, 1, 0, bytes(SOCKID.size), 0, 1, 5, [(7, bytes(18)), (1, bytes(8))])
@example(AF_INET, 1, 0, bytes(SOCKID.size), 0, 1, 5, [(2, bytes(100)), (1, bytes(8))])
@example(AF_INET, 1, 0, bytes(SOCKID.size), 0, 1, 5, [(2, bytes(103)), (1, bytes(8))])
@example(AF_INET, 1, 0, bytes(SOCKID.size), 0, 1, 5, [(2, bytes(104)), (1, bytes(8))])
@example(AF_INET, 1, 0, bytes(SOCKID.size), 0, 1, 5, [(2, bytes(120)), (1, bytes(8))])
@example(AF_INET, 1, 0, bytes(SOCKID.size), 0, 1, 5, [(2, bytes(127)), (1, bytes(8))])
@example(AF_INET, 1, 0, bytes(SOCKID.size), 0, 1, 5, [(2, bytes(128)), (1, bytes(8))])
def test_tcp_info_and_meminfo_in_place_are_the_general_decode(
        family: int, state: int, timer: int, sockid: bytes, rqueue: int, wqueue: int,
        inode: int, attrs: list) -> None:
    """inet_conn reads tcp_info (any length: short ones refused, 104-127 bytes without
    bytes_acked) and meminfo where they lie, without slicing them out: the same
    Conn, or a DiagError from both, as parse_tcp_info() and parse_meminfo() give."""
    payload = INET_MSG.pack(family, state, timer, 0, sockid, 0, rqueue, wqueue, 0, inode)
    payload += b"".join(attribute(kind, value) for kind, value in attrs)
    fields = INET_MSG.unpack_from(payload)
    try:
        expected = reference_inet_conn(fields, payload)
    except DiagError:
        expected = None
    try:
        got = inet_conn(fields, payload)
    except DiagError:
        got = None
    assert got == expected
    if got is not None:
        assert type(got) is Conn and (got.info is None or type(got.info) is TcpInfo)


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("fails", [False, True])
def test_the_probe_restores_garbage_collection(tmp_path: Path, enabled: bool,
                                               fails: bool) -> None:
    """The probe reads and judges with the cyclic collector off (10,000 tracked tuples
    made it pass over them again and again): off while it runs, then as it was, also
    when reading fails."""
    seen = []

    class Kernel:
        fallback_note = None

        def tcp(self, wanted: object = None) -> list:
            seen.append(gc.isenabled())
            if fails:
                raise DiagError("netlink: broken")
            return [Conn("tcp", 7, "ESTABLISHED", "127.0.0.1:5555", "127.0.0.1:40000", 0, 0,
                         100, 100, False)]

        def unix(self, wanted: object = None, names: object = None) -> list:
            return []

    class Proc(ProcSource):
        def process(self, pid: int) -> Process:
            return Process(pid, "app", (7,), 3, 1024)

        def exists(self, pid: int) -> bool:
            return True

        def tcp_counters(self) -> tuple:
            return (0, 0)

    selection = Selection((4242,), (), (), ())
    sockets = Sockets(selection, 1, str(tmp_path / "state"), ["k"], kernel=Kernel(),
                      proc=Proc(str(tmp_path)), clock=lambda: 1000.0)
    (gc.enable if enabled else gc.disable)()
    try:
        if fails:
            with pytest.raises(DiagError):
                list(sockets.probe())
        else:
            names = [m.name for m in sockets.probe()]
            assert names[0] == "peers"
            assert len(sockets.peers) == 1
        assert seen == [False] and gc.isenabled() is enabled
    finally:
        gc.enable()


def reference_order(peers: list) -> list:
    """The long output's order before issue 15: one key tuple per peer."""
    return sorted(peers, key=lambda p: (not p.stalled, -p.conn.send_q, -p.conn.recv_q))


@given(st.lists(st.builds(
    lambda index, stalled, since, send_q, recv_q: Peer(
        Conn("tcp", index, "ESTABLISHED", "a", f"b{index}", send_q, recv_q, 100, 100,
             False), 1, stalled, since if stalled else None),
    st.integers(0, 10 ** 6), st.booleans(), st.one_of(st.none(), st.floats(0, 100)),
    st.sampled_from([0, 0, 0, 1, 2, -1]), st.sampled_from([0, 0, 0, 1, 2, -1])), max_size=30),
    st.integers(-3, 35))
def test_the_shown_peers_are_the_reference_order_cut(peers: list, limit: int) -> None:
    """The very same peers in the same order as sorting all of them, for any limit
    (negative queues and limits included, though the kernel gives neither)."""
    sockets = Sockets.__new__(Sockets)
    sockets.peers = peers
    got = sockets.shown(limit)
    expected = reference_order(peers)[:limit]
    assert len(got) == len(expected) and all(a is b for a, b in zip(got, expected))
