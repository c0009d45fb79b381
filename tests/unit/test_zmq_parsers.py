"""zmqhwm parsers and judgement on real captures (tests/fixtures/zmq/README.md)."""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from nagios_ipc.zmqhwm.diag import (
    Conn,
    DiagError,
    TcpInfo,
    parse_inet,
    parse_proc_tcp,
    parse_tcp_info,
    parse_unix,
    resolve_unix_peers,
)
from nagios_ipc.zmqhwm.procfs import (
    IpcPaths,
    ProcError,
    parse_endpoint,
    parse_limits,
    parse_snmp_tcp,
)
from nagios_ipc.zmqhwm.sockets import judge, judge_reading, retrans_percent
from nagios_ipc.zmqhwm.stats import StatsError, parse_snapshot, rate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "zmq"
CAPTURE = FIXTURES / "linux-6.18_pub-slow-sub"
SCENARIO: Dict[str, Any] = json.loads((CAPTURE / "scenario.json").read_text())
SNAPSHOT = (FIXTURES / "stats-snapshot_pyzmq-27.3_libzmq-4.3.5.json").read_bytes()


def inet(name: str) -> List[Conn]:
    conns, done = parse_inet((CAPTURE / name).read_bytes())
    assert done
    return conns


def unix() -> List[Conn]:
    conns, done = parse_unix((CAPTURE / "unix_diag.bin").read_bytes())
    assert done
    return resolve_unix_peers(conns)


def test_inet_diag_tcp_pub_with_a_slow_sub() -> None:
    conns = inet("inet_diag_v4.bin")
    by_inode = {c.inode: c for c in conns}
    pub = [by_inode[i] for i in SCENARIO["tcp_pub_inodes"]]
    listener = [c for c in pub if c.listening]
    assert [c.local for c in listener] == [f"127.0.0.1:{SCENARIO['tcp_port']}"]
    slow_sub = by_inode[SCENARIO["slow_tcp_sub_inodes"][0]]
    slow = [c for c in pub if c.remote == slow_sub.local]
    drain = [c for c in pub if not c.listening and c.remote != slow_sub.local]
    assert len(slow) == 1 and len(drain) == 1
    # the measured shape of a peer that stopped reading: MBs queued, window closed
    assert slow[0].persist and slow[0].send_q > 2_000_000
    assert slow[0].sndbuf and slow[0].send_q < slow[0].sndbuf
    assert slow_sub.recv_q > 0  # the SUB's kernel buffer is full too
    assert not drain[0].persist and drain[0].send_q < 32 * 1024
    assert drain[0].info is not None and drain[0].info.bytes_acked
    assert slow[0].info is not None and slow[0].info.bytes_acked is not None


def test_inet_diag_only_wanted_inodes() -> None:
    wanted = set(SCENARIO["tcp_pub_inodes"])
    conns, done = parse_inet((CAPTURE / "inet_diag_v4.bin").read_bytes(), wanted)
    assert done and {c.inode for c in conns} == wanted
    assert conns == [c for c in inet("inet_diag_v4.bin") if c.inode in wanted]


def test_inet_diag_v6_and_proc_tcp6_agree() -> None:
    netlink = {c.inode: c for c in inet("inet_diag_v6.bin")}
    proc = {c.inode: c for c in parse_proc_tcp((CAPTURE / "net-tcp6").read_text(), v6=True)}
    reader = netlink[SCENARIO["v6_reader_inode"]]
    assert reader.recv_q == 50000 and reader.local.startswith("[::1]:")
    for inode, conn in proc.items():
        assert (conn.local, conn.remote, conn.state, conn.recv_q) == (
            netlink[inode].local, netlink[inode].remote, netlink[inode].state,
            netlink[inode].recv_q)


def test_proc_tcp_fallback_finds_the_stalled_peer() -> None:
    conns = parse_proc_tcp((CAPTURE / "net-tcp").read_text())
    pub = [c for c in conns if c.inode in SCENARIO["tcp_pub_inodes"] and not c.listening]
    assert max(c.send_q for c in pub) > 2_000_000
    assert any(c.persist for c in pub)


def test_unix_diag_names_the_ipc_endpoint_and_the_slow_peer() -> None:
    conns = {c.inode: c for c in unix()}
    pub = [conns[i] for i in SCENARIO["ipc_pub_inodes"]]
    assert {c.local for c in pub} == {SCENARIO["ipc_path"]}
    slow_inode = SCENARIO["slow_ipc_sub_inodes"][0]
    slow = [c for c in pub if c.peer_inode == slow_inode]
    assert len(slow) == 1 and slow[0].remote == f"inode:{slow_inode}"
    assert 32 * 1024 <= slow[0].send_q <= (slow[0].sndbuf or 0)
    # the connecting SUB has no name of its own: its remote is the PUB's path
    assert conns[slow_inode].remote == SCENARIO["ipc_path"]


@pytest.mark.parametrize("data,message", [
    (b"\x10\x00", "truncated message header"),
    (struct.pack("=IHHII", 400, 20, 0, 1, 0), "does not fit"),
    (struct.pack("=IHHII", 20, 2, 0, 1, 0) + struct.pack("=i", -1),
     "refused the request: Operation not permitted"),
    (struct.pack("=IHHII", 20, 20, 0, 1, 0) + bytes(4), "is too short"),
    (struct.pack("=IHHII", 16, 99, 0, 1, 0), "unexpected netlink message type 99"),
])
def test_inet_diag_errors(data: bytes, message: str) -> None:
    with pytest.raises(DiagError, match=message):
        parse_inet(data)


def test_proc_tcp_errors() -> None:
    with pytest.raises(DiagError, match="no header line"):
        parse_proc_tcp("")
    header = (CAPTURE / "net-tcp").read_text().splitlines()[0]
    with pytest.raises(DiagError, match="line 2 does not parse"):
        parse_proc_tcp(header + "\n   0: 0100007F:ZZZZ 00000000:0000 0A\n")


def test_limits_and_snmp() -> None:
    assert parse_limits((CAPTURE / "pid-limits").read_text()) == 20000
    assert parse_limits("Max open files            unlimited            unlimited  files\n") \
        is None
    with pytest.raises(ProcError, match="no 'Max open files' line"):
        parse_limits("Max cpu time unlimited\n")
    sent, retrans = parse_snmp_tcp((CAPTURE / "net-snmp").read_text())
    assert sent > 0 and 0 <= retrans < sent


@pytest.mark.parametrize("text,expected", [
    ("tcp://127.0.0.1:5555", ("tcp", "127.0.0.1", 5555, "")),
    ("tcp://*:5555", ("tcp", "*", 5555, "")),
    ("tcp://0.0.0.0:5555", ("tcp", "*", 5555, "")),
    ("tcp://[::]:5555", ("tcp", "*", 5555, "")),
    ("tcp://[::1]:5555", ("tcp", "::1", 5555, "")),
    ("tcp://localhost:1", ("tcp", "127.0.0.1", 1, "")),
    ("tcp://[::ffff:127.0.0.1]:1", ("tcp", "127.0.0.1", 1, "")),
    ("tcp://[0:0::1]:1", ("tcp", "::1", 1, "")),
    ("ipc:///run/app.sock", ("ipc", "", 0, "/run/app.sock")),
    ("ipc://@abstract", ("ipc", "", 0, "@abstract")),
])
def test_endpoints(text: str, expected: tuple) -> None:
    assert parse_endpoint(text)[:4] == expected


@pytest.mark.parametrize("text", ["tcp://host.example:5555", "tcp://1.2.3.4", "tcp://1.2.3.4:0",
                                  "tcp://1.2.3:5", "tcp://0:5",
                                  "udp://1.2.3.4:5", "ipc://", "5555"])
def test_bad_endpoints(text: str) -> None:
    with pytest.raises(ProcError):
        parse_endpoint(text)


def test_endpoint_matching() -> None:
    assert parse_endpoint("tcp://*:5555").matches("[::1]:5555")
    assert parse_endpoint("tcp://::1:5555").matches("[::1]:5555")
    assert not parse_endpoint("tcp://127.0.0.1:5555").matches("127.0.0.1:55550")
    assert parse_endpoint("ipc:///a").matches("/a") and not parse_endpoint("ipc:///a").matches(
        "/ab")


def test_a_wildcard_listener_matches_an_address_of_this_host() -> None:
    """0.0.0.0 listens on this host's IPv4 addresses, :: (IPV6_V6ONLY off, as ZeroMQ
    binds it) on all of them; another host's address on the port is not matched."""
    here, here6 = parse_endpoint("tcp://127.0.0.1:5555"), parse_endpoint("tcp://[::1]:5555")
    assert here.matches("0.0.0.0:5555") and here.matches("[::]:5555")
    assert here6.matches("[::]:5555") and not here6.matches("0.0.0.0:5555")
    assert not here.matches("0.0.0.0:5556")
    assert not parse_endpoint("tcp://192.0.2.1:5555").matches("0.0.0.0:5555")
    assert not parse_endpoint("tcp://192.0.2.1:5555").matches("[::]:5555")


def conn(send_q: int, kind: str = "tcp", persist: bool = False,
         acked: Optional[int] = None) -> Conn:
    info = TcpInfo(0, 0, 0, 0, 0, 0, acked) if kind == "tcp" else None
    return Conn(kind, 1, "ESTABLISHED", "a", "b", send_q, 0, 100000, 100000, persist, info)


# id, connection now, previous record, expected (stalled, since), why
JUDGE_CASES = [
    ("first-run-full", conn(50000, acked=10), None, (False, None),
     "no previous run: a full Send-Q alone is not a stall"),
    ("persist-at-once", conn(50000, persist=True, acked=10), None, (True, 100.0),
     "a zero window is evidence in one run"),
    ("tcp-no-progress", conn(50000, acked=10), {"q": 50000, "since": 40.0, "acked": 10},
     (True, 40.0), "nothing acknowledged since the previous run: stalled since then"),
    ("tcp-draining", conn(50000, acked=99), {"q": 50000, "since": 40.0, "acked": 10},
     (False, None), "bytes were acknowledged: a busy peer, not a stalled one"),
    ("below-threshold", conn(1000, acked=10), {"q": 1000, "since": None, "acked": 10},
     (False, None), "a small Send-Q is normal traffic"),
    ("unix-unchanged", conn(40000, "unix"), {"q": 40000, "since": 70.0}, (True, 70.0),
     "unix: the same queue at both runs means nobody read"),
    ("unix-moving", conn(40000, "unix"), {"q": 39000, "since": 70.0}, (False, None),
     "unix: a queue that changed was read from"),
    ("corrupt-record", conn(40000, "unix"), {"q": "x", "since": 70.0}, (False, None),
     "a state record of the wrong shape counts as no previous run"),
]


@pytest.mark.parametrize("case,now,previous,expected,why", JUDGE_CASES,
                         ids=[c[0] for c in JUDGE_CASES])
def test_judge(case: str, now: Conn, previous: Optional[dict], expected: tuple,
               why: str) -> None:
    stalled, since, record = judge(now, previous, 100.0, 32 * 1024)
    assert (stalled, since) == expected, why
    json.dumps(record)  # the state must stay JSON


def inbound(recv_q: int, kind: str = "tcp", received: Optional[int] = None) -> Conn:
    info = TcpInfo(0, 0, 0, 0, 0, 0, 0, received) if kind == "tcp" else None
    return Conn(kind, 1, "ESTABLISHED", "a", "b", 0, recv_q, 100000, 100000, False, info)


# id, connection now, previous record, read() calls now, expected (not reading, since), why
READING_CASES = [
    ("first-run-full", inbound(50000, received=900), None, None, (False, None),
     "no previous run: a full Recv-Q alone says nothing"),
    ("tcp-hung", inbound(50000, received=900), {"rq": 50000, "rsince": 40.0, "rcvd": 900},
     None, (True, 40.0), "nothing arrived, nothing left the queue: not read since then"),
    ("tcp-hung-filling", inbound(60000, received=10900),
     {"rq": 50000, "rsince": 40.0, "rcvd": 900}, None, (True, 40.0),
     "what arrived all stayed in the queue: still not read"),
    ("tcp-busy-full", inbound(50000, received=90900),
     {"rq": 50000, "rsince": 40.0, "rcvd": 900}, None, (False, None),
     "the queue stayed full but 90,000 bytes went through it: a busy consumer"),
    ("tcp-emptied", inbound(0, received=900), {"rq": 50000, "rsince": 40.0, "rcvd": 900},
     None, (False, None), "an empty Recv-Q is read"),
    ("unix-hung", inbound(50045, "unix"), {"rq": 50045, "rsince": 70.0, "reads": 295}, 295,
     (True, 70.0), "unix: same queue and not one read() call by the process"),
    ("unix-busy-full", inbound(50045, "unix"), {"rq": 50045, "rsince": 70.0, "reads": 229},
     245, (False, None), "unix: the same queue of equal messages, but the process reads"),
    ("unix-no-io", inbound(50045, "unix"), {"rq": 50045, "rsince": 70.0}, None,
     (True, 70.0), "unix without /proc/PID/io: the unchanged queue decides"),
    ("corrupt-record", inbound(50045, "unix"), {"rq": "x", "rsince": 70.0}, 3,
     (False, None), "a state record of the wrong shape counts as no previous run"),
]


@pytest.mark.parametrize("case,now,previous,reads,expected,why", READING_CASES,
                         ids=[c[0] for c in READING_CASES])
def test_judge_reading(case: str, now: Conn, previous: Optional[dict], reads: Optional[int],
                       expected: tuple, why: str) -> None:
    record: Dict[str, Any] = {}
    assert judge_reading(now, previous, 100.0, record, reads) == expected, why
    json.dumps(record)  # the state must stay JSON
    if now.recv_q:  # what the next run compares with
        assert record["rq"] == now.recv_q and record["rsince"] is not None


def test_tcp_info_bytes_received() -> None:
    raw = bytearray(136)
    struct.pack_into("=QQ", raw, 120, 7, 123456)
    assert parse_tcp_info(bytes(raw)).bytes_received == 123456
    assert parse_tcp_info(bytes(raw[:128])).bytes_received is None


def test_retrans_percent() -> None:
    assert retrans_percent(None, (1000, 10)) is None
    assert retrans_percent([1000, 10], (1050, 20)) == 0.0  # under 100 segments: no figure
    assert retrans_percent([1000, 10], (2000, 30)) == 2.0
    assert retrans_percent([5000, 10], (2000, 30)) is None  # counters reset


def test_snapshot_real_capture() -> None:
    snap = parse_snapshot(SNAPSHOT)
    ticks, jobs = snap.sockets
    assert (ticks.kind, ticks.sndhwm, ticks.nodrop, ticks.sends, ticks.drops) == (
        "XPUB", 100, True, 350, 2650)
    assert jobs.totals() == {"drops": 0, "wouldblock": 2000, "disconnects": 0, "retries": 11,
                             "auth_failures": 0}
    assert not snap.pipes_stats and ticks.hwm_fill() is None


@pytest.mark.parametrize("mutate,message", [
    (lambda o: o.update(pid=-1), "'pid' is not a valid int"),
    (lambda o: o.update(pid=True), "'pid' is not a valid int"),
    (lambda o: o["sockets"][0].update(sends="1"), "socket #1 'sends' is not a valid int"),
    (lambda o: o["sockets"][1].update(name="ticks"), "two sockets are named 'ticks'"),
    (lambda o: o["sockets"][0]["events"].update(x=-3), "socket #1 events 'x' is not"),
    (lambda o: o["sockets"][0].update(pipes=[1]), "a pipe of socket #1 is not an object"),
    (lambda o: o.pop("sockets"), "the snapshot has no 'sockets'"),
])
def test_snapshot_schema_errors(mutate: Any, message: str) -> None:
    obj = json.loads(SNAPSHOT)
    mutate(obj)
    with pytest.raises(StatsError, match=message):
        parse_snapshot(json.dumps(obj).encode())


def test_snapshot_with_pipes() -> None:
    obj = json.loads(SNAPSHOT)
    obj["pipes_stats"] = True
    obj["sockets"][0]["pipes"] = [{"peer": "tcp://127.0.0.1:1", "out": 80, "in": 0}]
    snap = parse_snapshot(json.dumps(obj).encode())
    assert snap.sockets[0].hwm_fill() == 80.0


def test_rate() -> None:
    assert rate(130, 10, 60.0) == 120.0
    assert rate(5, 10, 60.0) is None and rate(5, None, 60.0) is None and rate(5, 1, 0) is None


def test_v2_monitor_event() -> None:
    pytest.importorskip("zmq")
    from nagios_ipc.zmqhwm.helper import PIPES_STATS_EVENT, decode_v2_event

    frames = [struct.pack("=Q", PIPES_STATS_EVENT), struct.pack("=Q", 2),
              struct.pack("=Q", 7), struct.pack("=Q", 3), b"tcp://127.0.0.1:1",
              b"tcp://127.0.0.1:2"]
    assert decode_v2_event(frames) == (PIPES_STATS_EVENT, [7, 3], "tcp://127.0.0.1:1",
                                      "tcp://127.0.0.1:2")
    with pytest.raises(ValueError):
        decode_v2_event(frames[:3] + frames[4:])


def test_family_constants() -> None:
    assert socket.AF_INET == 2 and socket.AF_INET6 == 10  # the captures are Linux's


def test_an_ipc_endpoint_is_its_socket_file_by_any_path(tmp_path: Path) -> None:
    """A socket bound through a symlinked directory, or named through a symlink to the
    file, is the endpoint's; a namesake elsewhere or a path that cannot be stat'ed is
    not (the strings decide then)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    bound = socket.socket(socket.AF_UNIX)
    namesake = socket.socket(socket.AF_UNIX)
    try:
        bound.bind(str(tmp_path / "link" / "f.ipc"))
        namesake.bind(str(tmp_path / "other" / "f.ipc"))
        (tmp_path / "alias.ipc").symlink_to(tmp_path / "real" / "f.ipc")
        for asked in ("real/f.ipc", "link/f.ipc", "alias.ipc"):
            endpoint = parse_endpoint(f"ipc://{tmp_path}/{asked}")
            assert endpoint.matches(f"{tmp_path}/link/f.ipc"), asked
            assert f"{tmp_path}/link/f.ipc" in IpcPaths([endpoint]), asked
            assert not endpoint.matches(f"{tmp_path}/other/f.ipc"), asked
            assert f"{tmp_path}/other/f.ipc" not in IpcPaths([endpoint]), asked
            assert "" not in IpcPaths([endpoint]) and "@f.ipc" not in IpcPaths([endpoint])
        assert not parse_endpoint(f"ipc://{tmp_path}/gone/f.ipc").matches(
            f"{tmp_path}/link/f.ipc")
    finally:
        bound.close()
        namesake.close()
