"""check_zmq_hwm growth between runs (issue 14; nagios_ipc/zmqhwm/growth.py): mode 1 on
the captured kernel data of a PUB with a slow SUB, the slow connection's Send-Q set per
run, and the trend's clock given."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Sequence, Tuple

from test_zmq_check import SCENARIO, CapturedKernel, CapturedProc, by_inode

from nagios_ipc import cli
from nagios_ipc.trend import Moment
from nagios_ipc.zmqhwm import check

BOOT = "0f0e0d0c-0b0a-4908-8706-050403020100"
QUIET = ["--retrans-warning", "none", "--stalled-critical", "none", "--sendq-fill-warning",
         "none"]


def slow_conn() -> Any:
    conns = by_inode()
    slow_sub = conns[SCENARIO["slow_tcp_sub_inodes"][0]]
    return next(c for i, c in conns.items()
                if i in SCENARIO["tcp_pub_inodes"] and c.remote == slow_sub.local)


class GrowingKernel(CapturedKernel):
    def __init__(self, send_q: int) -> None:
        self.send_q = send_q
        self.slow = slow_conn()

    def tcp(self, wanted: Any = None) -> List[Any]:
        return [c._replace(send_q=self.send_q) if c.inode == self.slow.inode else c
                for c in super().tcp(wanted)]


def runs(tmp_path: Path, queue: Sequence[int], *argv: str) -> List[Tuple[int, str]]:
    def one(boot: float, send_q: int) -> Tuple[int, str]:
        kernel, proc = GrowingKernel(send_q), CapturedProc((1000, 10))
        return cli.execute(check.parser(), lambda a: check.build(
            a, kernel=kernel, proc=proc, clock=lambda: 1000.0 + boot,
            moment=lambda: Moment(BOOT, boot, 1000.0 + boot)),
            ["--pid", "4242", "--state-file", str(tmp_path / "s"), *QUIET, *argv])

    return [one(500.0 + 60 * index, send_q) for index, send_q in enumerate(queue)]


def test_growth_is_off_unless_asked_for(tmp_path: Path) -> None:
    for code, text in runs(tmp_path, [100000, 400000, 700000]):
        assert code == 0 and "growth" not in text and "time_to_full" not in text, text


def test_send_q_growing_toward_the_send_buffer(tmp_path: Path) -> None:
    """+600,000 B a minute (10,000 B/s) for 2 minutes: the soonest peer fills its send
    buffer in (sndbuf - 1,300,000) / 10,000 s; within the default 10m: WARNING."""
    sndbuf = slow_conn().sndbuf
    outs = runs(tmp_path, [100000, 700000, 1300000], "--trend-window", "30m")
    code, text = outs[0]
    assert code == 0 and "sendq_growth" not in text  # the first run: no figure
    code, text = outs[2]
    ttf = int((sndbuf - 1300000) / 10000)
    assert ttf < 600, sndbuf  # the capture's buffer: full within the default 10 minutes
    assert code == 1, text
    first = text.splitlines()[0]
    assert first.startswith("ZMQ_HWM WARNING: 1 of 2 peers stalled, worst: tcp ")
    assert f" / time_to_full {ttf // 60}m {ttf % 60}s (warning 600:)" in first or \
        f" / time_to_full {ttf}s (warning 600:)" in first, first
    assert first.endswith(f" sendq_growth=600000B time_to_full={ttf}s;600:;;0"), first


def test_a_draining_send_q_is_never_alerted(tmp_path: Path) -> None:
    outs = runs(tmp_path, [700000, 400000, 100000, 50000], "--trend-window", "30m",
                "--growth-warning", "0")
    for code, text in outs:
        assert code == 0, text
        assert "time_to_full" not in text
    assert " sendq_growth=0B" in outs[-1][1]  # the other peer: flat; the drain: negative


def test_growth_threshold(tmp_path: Path) -> None:
    code, text = runs(tmp_path, [100000, 400000, 700000], "--trend-window", "30m",
                      "--growth-critical", "100KB", "--time-to-full-warning", "none")[2]
    assert code == 2, text
    assert "sendq_growth 293.0 KiB (critical ~:102400)" in text.splitlines()[0]


class Figures:
    def __init__(self, drops: int, wouldblock: int) -> None:
        self.figures = {"drops": drops, "wouldblock": wouldblock, "disconnects": 0}

    def totals(self) -> dict:
        return self.figures


class Snapshot:
    def __init__(self, pid: int, started: float, counts: List[Tuple[int, int]]) -> None:
        self.pid, self.started = pid, started
        self.sockets = [Figures(d, w) for d, w in counts]


class Stats:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.notes: List[str] = []


def test_mode_2_counter_trends_and_an_application_restart() -> None:
    """The helper's cumulative counters: their least-squares rate per minute; a restart
    (another pid) starts a history of its own, never a negative rate."""
    from nagios_ipc.zmqhwm.growth import Growth

    args = check.parser().parse_args(["--stats-endpoint", "ipc:///x", "--trend-window", "30m"])
    seen = []
    for boot, snap in ((0.0, Snapshot(7, 1.0, [(0, 10), (5, 0)])),
                       (60.0, Snapshot(7, 1.0, [(30, 40), (35, 0)])),
                       (120.0, Snapshot(7, 1.0, [(60, 70), (65, 0)])),
                       (180.0, Snapshot(8, 170.0, [(0, 0), (0, 0)]))):
        stats = Stats(snap)
        growth = Growth(args, stats, ["k"], moment=lambda boot=boot: Moment(BOOT, boot, boot))
        seen.append({m.name: m.value for m in growth.probe()})
    assert seen[0] == {} and seen[3] == {}
    assert seen[1] == {"drops_trend": 60.0, "wouldblock_trend": 30.0}
    assert seen[2] == {"drops_trend": 60.0, "wouldblock_trend": 30.0}
