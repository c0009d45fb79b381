"""check_zmq_hwm mode 1 end to end on the captured kernel data (no live sockets):
first line, perfdata and exit code, over two runs with the state in between."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import pytest

from nagios_ipc import cli
from nagios_ipc.zmqhwm import check
from nagios_ipc.zmqhwm.diag import Conn, parse_inet, parse_unix, resolve_unix_peers
from nagios_ipc.zmqhwm.procfs import Process, ProcError, ProcSource

CAPTURE = Path(__file__).resolve().parent.parent / "fixtures" / "zmq" / "linux-6.18_pub-slow-sub"
SCENARIO: Dict[str, Any] = json.loads((CAPTURE / "scenario.json").read_text())


class CapturedKernel:
    fallback_note = None

    def tcp(self, wanted: Any = None) -> List[Conn]:
        return [c for name in ("inet_diag_v4.bin", "inet_diag_v6.bin")
                for c in parse_inet((CAPTURE / name).read_bytes(), wanted)[0]]

    def unix(self, wanted: Any = None, names: Any = None) -> List[Conn]:
        """What KernelSource.unix gives: the *wanted* inodes, or the sockets bound to
        *names* and those connected to them, each with its remote named."""
        every = resolve_unix_peers(parse_unix((CAPTURE / "unix_diag.bin").read_bytes())[0])
        if wanted is not None:
            return [c for c in every if c.inode in wanted]
        if names is None:
            return every
        bound = {c.inode for c in every if c.local in names}
        return [c for c in every if c.inode in bound or c.peer_inode in bound]


class CapturedProc(ProcSource):
    """Two processes: 4242 'feed' holds the TCP PUB's sockets, 4343 'ipcfeed' the ipc PUB's."""

    def __init__(self, snmp: Tuple[int, int]) -> None:
        super().__init__(str(CAPTURE))
        self.snmp = snmp
        self.table = {4242: ("feed", SCENARIO["tcp_pub_inodes"]),
                      4343: ("ipcfeed", SCENARIO["ipc_pub_inodes"]),
                      4444: ("slowsub", SCENARIO["slow_ipc_sub_inodes"])}

    def exists(self, pid: int) -> bool:
        return pid in self.table

    def name(self, pid: int) -> str:
        return self.table[pid][0]

    def fd_inodes(self, pid: int) -> Tuple[Tuple[int, ...], int]:
        if pid not in self.table:
            raise ProcError(f"no process with pid {pid}")
        return tuple(self.table[pid][1]), 40

    def process(self, pid: int) -> Process:
        inodes, fds = self.fd_inodes(pid)
        return Process(pid, self.name(pid), inodes, fds, 20000)

    def pids(self) -> List[int]:
        return sorted(self.table)

    def tcp_counters(self) -> Tuple[int, int]:
        return self.snmp


def run(argv: Sequence[str], state: Path, now: float,
        snmp: Tuple[int, int] = (1000, 10)) -> Tuple[int, str]:
    proc = CapturedProc(snmp)
    return cli.execute(check.parser(), lambda a: check.build(
        a, kernel=CapturedKernel(), proc=proc, clock=lambda: now),
        [*argv, "--state-file", str(state)])


def by_inode() -> Dict[int, Conn]:
    kernel = CapturedKernel()
    return {c.inode: c for c in kernel.tcp() + kernel.unix()}


def test_tcp_slow_sub_is_critical_at_once_then_stalled_for(tmp_path: Path) -> None:
    conns = by_inode()
    slow_sub = conns[SCENARIO["slow_tcp_sub_inodes"][0]]
    slow = next(c for i, c in conns.items()
                if i in SCENARIO["tcp_pub_inodes"] and c.remote == slow_sub.local)
    fill = round(100 * slow.send_q / slow.sndbuf, 1)
    mib = f"{slow.send_q / 1024 / 1024:.1f} MiB"
    code, out = run(["--pid", "4242"], tmp_path / "s", now=1000.0)
    first = out.splitlines()[0]
    assert code == 2
    assert first == (
        f"ZMQ_HWM CRITICAL: 1 of 2 peers stalled, worst: tcp {slow.local} -> {slow.remote} in "
        f"pid 4242 (feed): Send-Q {mib} ({fill:g}% of the send buffer), Recv-Q 0 B, zero "
        f"window (persist timer on), stalled for 0s | peers=2;;;0 stalled=1;;0;0;2 "
        f"stalled_for=0s;;;0 not_reading=0;;0;0;2 sendq={slow.send_q}B;;;0 "
        f"sendq_fill={fill:g}%;80;;0;100 recvq=0B;;;0 fds=0.2%;80;95;0;100")
    # the next run, 90 s later, same kernel data: nothing acknowledged, still stalled
    code, out = run(["--pid", "4242"], tmp_path / "s", now=1090.0, snmp=(2000, 30))
    first = out.splitlines()[0]
    assert code == 2
    assert ", stalled for 1m 30s | " in first
    assert " stalled_for=90s;;;0 " in first and first.endswith(" retrans=2%;5;;0;100")
    assert "stalled since 1970-01-01 00:16:40 UTC" in out  # = 1000 s, the first run


def test_ipc_slow_sub_is_stalled_at_the_second_run(tmp_path: Path) -> None:
    conns = by_inode()
    slow_inode = SCENARIO["slow_ipc_sub_inodes"][0]
    slow = next(c for i, c in conns.items()
                if i in SCENARIO["ipc_pub_inodes"] and c.peer_inode == slow_inode)
    code, out = run(["--pid", "4343"], tmp_path / "s", now=1000.0)
    assert code == 0, out
    assert out.splitlines()[0].startswith(
        f"ZMQ_HWM OK: 2 peers of pid 4343 (ipcfeed), none stalled; fullest: unix "
        f"{SCENARIO['ipc_path']} -> inode:{slow_inode} in pid 4343 (ipcfeed): Send-Q ")
    code, out = run(["--pid", "4343"], tmp_path / "s", now=1060.0)
    assert code == 2, out
    assert out.splitlines()[0].startswith(
        f"ZMQ_HWM CRITICAL: 1 of 2 peers stalled, worst: unix {SCENARIO['ipc_path']} -> pid "
        f"4444 (slowsub) inode:{slow_inode} in pid 4343 (ipcfeed): Send-Q ")
    assert f" sendq={slow.send_q}B;;;0 " in out


def test_endpoint_filter_and_thresholds(tmp_path: Path) -> None:
    code, out = run(["--pid", "4242", "--endpoint", "tcp://127.0.0.1:1", "--peers-critical",
                     "1:"], tmp_path / "s", now=1000.0)
    assert code == 2
    assert out.splitlines()[0].startswith(
        "ZMQ_HWM CRITICAL: nothing listens on or connects to tcp://127.0.0.1:1 in pid 4242 "
        "(feed) (the application is not running there?) / peers 0 (critical 1:)")
    code, out = run(["--pid", "4242", "--stalled-critical", "none", "--sendq-warning", "1MB"],
                    tmp_path / "t", now=1000.0)
    assert code == 1
    assert " / sendq " in out.splitlines()[0] and "(warning 1048576)" in out.splitlines()[0]


@pytest.mark.parametrize("argv,message", [
    (["--pid", "1", "--stats-endpoint", "ipc:///x"], "cannot be combined"),
    (["--sendq-warning", "lots", "--pid", "1"], "usage error: argument --sendq-warning"),
    (["--stall-bytes", "1e3", "--pid", "1"], "usage error: argument --stall-bytes"),
])
def test_usage_errors(tmp_path: Path, argv: List[str], message: str) -> None:
    code, out = run(argv, tmp_path / "s", now=1.0)
    assert code == 3 and message in out.splitlines()[0]


def test_no_expensive_import_in_mode_1(tmp_path: Path) -> None:
    """Start-up cost (issue 7): mode 1 imports neither zmq nor psutil (unless
    --process-name), nor typing, ctypes, dataclasses, hashlib (see test_light)."""
    import subprocess
    import sys

    code = ("import sys; from nagios_ipc.zmqhwm import check; "
            "sys.argv=['x','--endpoint','tcp://127.0.0.1:1','--state-file',sys.argv[1]]\n"
            "try:\n    check.main()\nexcept SystemExit:\n    pass\n"
            "bad = {"
            "'zmq', 'psutil', 'typing', 'ctypes', 'dataclasses', 'hashlib'} & set(sys.modules)\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s")],
                          capture_output=True, text=True, cwd=str(CAPTURE.parents[3]),
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr  # no AssertionError
    assert done.stdout.startswith("ZMQ_HWM CRITICAL: nothing listens on or connects to "
                                  "tcp://127.0.0.1:1 (the application is not running there?)")


def test_proc_fallback_when_netlink_is_refused(tmp_path: Path) -> None:
    """Where sock_diag is refused (some containers), TCP comes from /proc/net/tcp*:
    same queues, no buffer sizes, and the output says so."""
    from nagios_ipc.zmqhwm.diag import DiagError, KernelSource

    (tmp_path / "net").mkdir()
    for name in ("tcp", "tcp6"):
        (tmp_path / "net" / name).write_bytes((CAPTURE / f"net-{name}").read_bytes())

    class Refused(KernelSource):
        def chunks(self, request: bytes) -> Iterable[bytes]:
            raise DiagError("netlink sock_diag: Operation not permitted")

    kernel = Refused(proc=str(tmp_path))
    conns = kernel.tcp(set(SCENARIO["tcp_pub_inodes"]))
    assert kernel.fallback_note == ("TCP from /proc/net/tcp (no buffer sizes): netlink "
                                    "sock_diag: Operation not permitted")
    assert {c.inode for c in conns} == set(SCENARIO["tcp_pub_inodes"])
    assert all(c.sndbuf is None for c in conns)
    assert max(c.send_q for c in conns) > 2_000_000 and any(c.persist for c in conns)


def test_default_state_files_differ_per_instance() -> None:
    """Two services with other selections never share state; thresholds, -t and -v
    do not change the file."""
    from nagios_ipc.state import default_state_path

    def path(*argv: str) -> str:
        return default_state_path(check.PROG, check.state_key(check.parser().parse_args(argv)))

    assert path("--pid", "1") != path("--pid", "2")
    assert path("--pid", "1") != path("--pid", "1", "--endpoint", "tcp://*:5556")
    assert path("--stats-endpoint", "ipc:///a") != path("--stats-endpoint", "ipc:///b")
    assert path("--pid", "1") == path("--pid", "1", "--sendq-warning", "1MB", "-t", "5", "-v")
