"""check_zmq_hwm's growth between runs (issue 14) against a real slow consumer: a PUB
on tcp://127.0.0.1 publishing 100 messages of 1000 B a second (an absolute schedule)
to a SUB that never reads and has a small receive buffer, so from the closed window on
the PUB's Send-Q grows at that rate toward the PUB's send buffer."""

from __future__ import annotations

import time
from pathlib import Path

from helpers import Outcome, run_check
from zmqtools import Apps, apps_fixture, free_port  # noqa: F401 - a fixture

RATE = 100 * 1000  # bytes a second
QUIET = ["--retrans-warning", "none", "--stalled-critical", "none",
         "--sendq-fill-warning", "none"]  # judged here: growth and time to full only


def check(tmp_path: Path, pid: int) -> Outcome:
    return run_check("check_zmq_hwm", ["--pid", str(pid), "--trend-window", "30m", *QUIET,
                                       "--state-file", str(tmp_path / "state.json")],
                     env={"NAGIOS_IPC_STATE_DIR": str(tmp_path)})


def number(item: str) -> float:
    return float(item.split(";")[0].rstrip("Bs"))


def test_slow_consumer_send_q_growth_and_time_to_full(apps: Apps, tmp_path: Path) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    pub = apps.start("pub", "--endpoint", endpoint, "--hwm", "1000000", "--rate", "100",
                     "--sndbuf", str(4 * 1024 * 1024))
    apps.start("sub", "--connect", endpoint, "--never", "--rcvbuf", "4096")
    deadline = time.monotonic() + 20
    (tmp_path / "warmup").mkdir()
    while check(tmp_path / "warmup", pub.pid).perfdata.get("sendq", "0B") in ("0B", "0B;;;0"):
        assert time.monotonic() < deadline, "the slow SUB never got connected"
        time.sleep(0.3)
    time.sleep(1.0)  # the receive window closed: from here the Send-Q takes every byte
    outs = []
    for index in range(4):
        if index:
            time.sleep(1.2)
        outs.append(check(tmp_path, pub.pid))
    first, last = outs[0], outs[-1]
    assert "sendq_growth" not in first.perfdata, first.stdout  # the first run: no figure
    growth = number(last.perfdata["sendq_growth"])
    assert abs(growth - RATE * 60) <= 0.15 * RATE * 60, last.stdout
    sendq = number(last.perfdata["sendq"])
    sndbuf = [line for line in last.stdout.splitlines() if " B buffer" in line]
    ttf = number(last.perfdata["time_to_full"])
    assert sndbuf, last.stdout  # the slow connection's line names its send buffer
    buffer = int(sndbuf[0].split(" of ")[1].split(" B buffer")[0])
    truth = (buffer - sendq) / RATE
    assert abs(ttf - truth) <= max(0.2 * truth, 2), (ttf, truth, last.stdout)
    print(f"growth {growth:.0f} B/min (truth {RATE * 60}), time to full {ttf:.0f} s "
          f"(truth {truth:.1f} s)")
    assert last.code == 1, last.stdout  # full within the default 10 minutes
    assert "time_to_full " in last.summary and "(warning 600:)" in last.summary
