"""Mode 1 against real ZeroMQ applications on loopback (tcp://127.0.0.1 and ipc://).

Each test starts its own applications (tests/integration/zmq_apps.py) as
subprocesses and stops them by PID; ports are chosen free at run time, ipc
paths live in the test's own temp dir.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from helpers import run_check
from zmqtools import QUIET, App, Apps, apps_fixture, check, free_port, until  # noqa: F401 - a fixture


def endpoints(transport: str, tmp_path: Path) -> List[str]:
    if transport == "tcp":
        return [f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"]
    return [f"ipc://{tmp_path}/drain.ipc", f"ipc://{tmp_path}/slow.ipc"]


def remote_of(endpoint: str) -> str:
    return endpoint.split("://", 1)[1]


def peer_name(app: App, transport: str) -> str:
    """How the check names *app*'s end of a connection: its TCP address, or for an
    unnamed unix socket its process and inode."""
    import psutil

    kind = "tcp" if transport == "tcp" else "unix"
    conns = [c for c in psutil.Process(app.pid).net_connections(kind)
             if c.status == "ESTABLISHED" or kind == "unix"]
    assert len(conns) == 1, conns
    if transport == "tcp":
        return f"{conns[0].laddr.ip}:{conns[0].laddr.port}"
    return f"pid {app.pid} (python"


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_pub_with_a_slow_sub(apps: Apps, tmp_path: Path, transport: str) -> None:
    """PUB SNDHWM=100 to a draining SUB and one that never reads: the slow one is
    CRITICAL and named in the first line; after it goes away, OK."""
    endpoint = endpoints(transport, tmp_path)[0]
    pub = apps.start("pub", "--endpoint", endpoint, "--hwm", "100")
    drain = apps.start("sub", "--connect", endpoint)
    slow = apps.start("sub", "--connect", endpoint, "--never")
    until(lambda: check(tmp_path / "x", "--pid", str(pub.pid)).value("peers") == "2")
    slow_name, drain_name = peer_name(slow, transport), peer_name(drain, transport)
    state = tmp_path / "state.json"

    def slow_full() -> bool:
        out = check(state, "--pid", str(pub.pid), "--details", "always")
        return out.code == 2

    until(slow_full, timeout=30, step=0.5)  # TCP: persist timer at once; unix: two runs
    out = check(state, "--pid", str(pub.pid), "--details", "always")
    assert out.code == 2, out.stdout
    assert out.stderr == ""
    assert out.summary.startswith("ZMQ_HWM CRITICAL: 1 of 2 peers stalled, worst: ")
    assert f"{remote_of(endpoint)} -> {slow_name}" in out.summary, out.summary
    assert drain_name not in out.summary
    assert out.value("stalled") == "1"
    assert out.value("peers") == "2"
    assert int(out.value("sendq").rstrip("B")) >= 32 * 1024
    slow_lines = [line for line in out.stdout.splitlines()
                  if f"-> {slow_name}" in line and "stalled since" in line]
    drain_lines = [line for line in out.stdout.splitlines()
                   if line.startswith(("tcp ", "unix ")) and "ESTABLISHED" in line
                   and slow_name not in line]
    if transport == "tcp":
        assert drain_name in drain_lines[0]
    assert slow_lines and drain_lines and "stalled" not in drain_lines[0]
    if transport == "tcp":
        assert "persist timer on" in slow_lines[0]

    slow.stop()
    until(lambda: check(state, "--pid", str(pub.pid)).code == 0, timeout=15)
    out = check(state, "--pid", str(pub.pid))
    assert out.summary.startswith(f"ZMQ_HWM OK: 1 peer of pid {pub.pid} (python"), out.summary
    assert out.value("stalled") == "0"


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_push_to_a_pull_that_stops_reading(apps: Apps, tmp_path: Path, transport: str) -> None:
    """The PUSH side sees a stalled peer; the PULL side shows its own Recv-Q."""
    endpoint = endpoints(transport, tmp_path)[0]
    pull = apps.start("pull", "--endpoint", endpoint, "--read", "200", "--hwm", "10")
    push = apps.start("push", "--connect", endpoint, "--hwm", "10", "--size", "10000")
    pull.wait_line("stopped")
    state = tmp_path / "push.json"
    until(lambda: check(state, "--pid", str(push.pid)).code == 2, timeout=30, step=0.5)
    out = check(state, "--pid", str(push.pid), "--endpoint", endpoint)
    assert out.code == 2, out.stdout
    assert out.summary.startswith("ZMQ_HWM CRITICAL: 1 of 1 peer stalled, worst: "
                                  f"{transport if transport == 'tcp' else 'unix'} ")
    assert f"-> {remote_of(endpoint)} in pid {push.pid}" in out.summary

    # the consumer's side: its own Recv-Q holds what it does not read
    out = check(tmp_path / "pull.json", "--pid", str(pull.pid), "--recvq-warning", "16KB")
    assert out.code == 1, out.stdout
    assert int(out.value("recvq").rstrip("B")) > 16 * 1024
    assert "recvq " in out.summary and "(warning 16384)" in out.summary


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_a_pull_that_stops_reading_is_named(apps: Apps, tmp_path: Path, transport: str) -> None:
    """The consumer's own side: a PULL that stopped reading while its PUSH keeps sending
    is OK at the first run (nothing to compare), CRITICAL from the next on, naming
    the application and the connection it does not read."""
    endpoint = endpoints(transport, tmp_path)[0]
    pull = apps.start("pull", "--endpoint", endpoint, "--read", "200", "--hwm", "10")
    push = apps.start("push", "--connect", endpoint, "--hwm", "10", "--size", "10000")
    pull.wait_line("stopped")
    state = tmp_path / "pull.json"
    first = check(state, "--pid", str(pull.pid))
    assert first.code == 0, first.stdout
    assert first.value("not_reading") == "0"
    until(lambda: check(state, "--pid", str(pull.pid)).code == 2, timeout=30, step=1)
    time.sleep(1.1)
    out = check(state, "--pid", str(pull.pid), "--details", "always")
    assert out.code == 2, out.stdout
    assert out.stderr == ""
    kind = "tcp" if transport == "tcp" else "unix"
    assert out.summary.startswith(f"ZMQ_HWM CRITICAL: pid {pull.pid} (python"), out.summary
    assert re.search(rf"\) has not read connection {kind} {re.escape(remote_of(endpoint))} -> "
                     rf".* for \d+s: Recv-Q [\d.]+ [KM]?i?B", out.summary), out.summary
    assert out.value("not_reading") == "1"
    assert int(out.value("recvq").rstrip("B")) > 0
    assert "not read since " in out.stdout
    assert push.pid  # the PUSH kept running all along
    # a warning instead, as an operator may set it
    out = check(state, "--pid", str(pull.pid), "--not-reading-critical", "none",
                "--not-reading-warning", "0")
    assert out.code == 1, out.stdout
    assert out.summary.startswith(f"ZMQ_HWM WARNING: pid {pull.pid} (python"), out.summary


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_a_pull_that_reads_slowly_stays_ok(apps: Apps, tmp_path: Path, transport: str) -> None:
    """A PULL that reads slowly but keeps reading has a Recv-Q that never empties
    (the PUSH sends faster): busy, not hung, OK run after run."""
    endpoint = endpoints(transport, tmp_path)[0]
    pull = apps.start("pull", "--endpoint", endpoint, "--hwm", "10", "--rate", "40")
    apps.start("push", "--connect", endpoint, "--hwm", "10", "--size", "10000")
    state = tmp_path / "pull.json"
    until(lambda: int(check(tmp_path / "x", "--pid", str(pull.pid)).value("recvq")
                      .rstrip("B")) > 0, timeout=20)
    queued = []
    for _ in range(4):
        out = check(state, "--pid", str(pull.pid))
        assert out.code == 0, out.stdout
        assert out.value("not_reading") == "0"
        assert "has not read" not in out.summary
        queued.append(int(out.value("recvq").rstrip("B")))
        time.sleep(1.1)
    assert all(queued), queued  # the receive side was judged: never empty


def test_endpoint_alone_selects_the_connections(apps: Apps, tmp_path: Path) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    pub = apps.start("pub", "--endpoint", endpoint)
    apps.start("sub", "--connect", endpoint)
    until(lambda: check(tmp_path / "s", "--endpoint", endpoint).value("peers") == "2")
    out = check(tmp_path / "s", "--endpoint", endpoint, "--details", "always")
    assert out.code == 0, out.stdout
    assert f"pid {pub.pid}" in out.stdout


def test_bad_selections_are_unknown(tmp_path: Path) -> None:
    out = check(tmp_path / "s", "--pid", "999999999")
    assert (out.code, out.stdout) == (3, "ZMQ_HWM UNKNOWN: no process with pid 999999999; "
                                         "check --pid\n")
    out = run_check("check_zmq_hwm", [])
    assert out.code == 3 and "select the application with --pid" in out.stdout
    out = check(tmp_path / "s", "--endpoint", "tcp://example.org:5555")
    assert out.code == 3 and "no host names" in out.stdout
    pidfile = tmp_path / "app.pid"
    pidfile.write_text("garbage\n")
    out = check(tmp_path / "s", "--pidfile", str(pidfile))
    assert out.code == 3 and out.stdout.startswith(
        f"ZMQ_HWM UNKNOWN: pidfile {pidfile} does not hold a process id")


def test_process_without_sockets_is_unknown(tmp_path: Path) -> None:
    import subprocess

    proc = subprocess.Popen(["sleep", "60"])
    try:
        out = check(tmp_path / "s", "--pid", str(proc.pid))
        assert out.code == 3
        assert out.stdout == (f"ZMQ_HWM UNKNOWN: pid {proc.pid} (sleep) has no sockets at all: "
                              f"is it the ZeroMQ application? check the process selection\n")
    finally:
        proc.kill()
        proc.wait()


def test_process_name_and_pidfile_select_the_application(apps: Apps, tmp_path: Path) -> None:
    """--pidfile finds the process --pid names; --process-name every process with exactly
    that name (issue 18: never a part of a command line): here the PUB and its SUB,
    both named 'feedapp', both ends shown."""
    endpoint = f"ipc://{tmp_path}/unique-feed-name.ipc"
    pub = apps.start("pub", "--endpoint", endpoint, "--name", "feedapp")
    sub = apps.start("sub", "--connect", endpoint, "--name", "feedapp")
    pidfile = tmp_path / "feed.pid"
    pidfile.write_text(f"{pub.pid}\n")
    until(lambda: check(tmp_path / "a", "--pid", str(pub.pid)).value("peers") == "1")
    out = check(tmp_path / "p", "--pidfile", str(pidfile))
    assert out.code == 0, out.stdout
    assert out.summary.startswith(f"ZMQ_HWM OK: 1 peer of pid {pub.pid} (feedapp)"), out.stdout
    out = check(tmp_path / "n", "--process-name", "feedapp")
    assert out.code == 0, out.stdout
    first, second = sorted((pub.pid, sub.pid))
    assert out.summary.startswith(f"ZMQ_HWM OK: 2 peers of pid {first} (feedapp), pid {second} "
                                  f"(feedapp), none stalled"), out.stdout
    out = check(tmp_path / "n", "--process-name", "unique-feed-name.ipc")  # in argv: no
    assert out.code == 3
    assert out.stdout == ("ZMQ_HWM UNKNOWN: no process named 'unique-feed-name.ipc' (its name "
                          "or program, exactly); check --process-name\n")


def test_fifty_concurrent_runs_share_one_state_file(apps: Apps, tmp_path: Path) -> None:
    """50 runs at once on one state file (issue 8): each exits 0..3 with one proper
    first line within its timeout, and the state is valid JSON afterwards."""
    import json
    import subprocess
    import sys

    from helpers import CHECKS

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    pub = apps.start("pub", "--endpoint", endpoint)
    apps.start("sub", "--connect", endpoint)
    state = tmp_path / "shared.json"
    argv = [sys.executable, str(CHECKS / "check_zmq_hwm"), "--pid", str(pub.pid),
            "--state-file", str(state), "-t", "20", *QUIET]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(50)]
    outs = [proc.communicate(timeout=60) for proc in procs]
    codes = [proc.returncode for proc in procs]
    assert set(codes) <= {0, 1, 2, 3}, codes
    for (stdout, stderr), code in zip(outs, codes):
        assert stderr == ""
        assert re.match(r"ZMQ_HWM (OK|WARNING|CRITICAL|UNKNOWN): ", stdout), stdout
        assert code == 0, stdout  # a draining peer: every run sees the truth
    saved = json.loads(state.read_text())
    assert set(saved) == {"t", "conns", "snmp"}


def test_few_descriptors_still_give_a_result(apps: Apps, tmp_path: Path) -> None:
    """ulimit -n 16 (issue 8): the check needs only a handful of descriptors."""
    import subprocess
    import sys

    from helpers import CHECKS

    endpoint = f"ipc://{tmp_path}/pub.ipc"
    pub = apps.start("pub", "--endpoint", endpoint)
    apps.start("sub", "--connect", endpoint)
    until(lambda: check(tmp_path / "a", "--pid", str(pub.pid)).value("peers") == "1")
    script = (f"ulimit -n 16; exec {sys.executable} {CHECKS / 'check_zmq_hwm'} --pid {pub.pid} "
              f"--state-file {tmp_path / 'b'} --retrans-warning none")
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith(f"ZMQ_HWM OK: 1 peer of pid {pub.pid} (python")


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_our_netlink_reading_agrees_with_ss(apps: Apps, tmp_path: Path, transport: str) -> None:
    """A stalled peer's Send-Q as iproute2's ss reads it (its own sock_diag client)
    equals the check's; for TCP ss shows the persist timer too."""
    import shutil
    import subprocess

    ss = shutil.which("ss", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if ss is None:
        pytest.skip("ss (iproute2) is not installed")
    endpoint = endpoints(transport, tmp_path)[0]
    pub = apps.start("pub", "--endpoint", endpoint, "--hwm", "100")
    slow = apps.start("sub", "--connect", endpoint, "--never")
    state = tmp_path / "s"
    until(lambda: check(state, "--pid", str(pub.pid)).code == 2, timeout=30, step=0.5)
    slow_name = peer_name(slow, transport)

    def ours() -> int:
        out = check(state, "--pid", str(pub.pid), "--details", "always")
        line = next(x for x in out.stdout.splitlines()
                    if f"-> {slow_name}" in x and ", ESTABLISHED: " in x)
        return int(re.search(r"Send-Q (\d+) B", line).group(1))  # type: ignore[union-attr]

    if transport == "tcp":
        port = remote_of(endpoint).rsplit(":", 1)[1]
        argv = [ss, "-tnoH", "state", "established", f"( sport = :{port} )"]
    else:
        argv = [ss, "-xnH", "src", remote_of(endpoint)]

    def theirs() -> Tuple[int, str]:
        listing = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        rows = [row.split() for row in listing.splitlines() if row.strip()]
        if transport == "tcp":
            row = next(r for r in rows if r[3] == slow_name)
            assert any(field.startswith("timer:(persist") for field in row), listing
            return int(row[1]), listing
        # ss -x: Netid State Recv-Q Send-Q Local Port Peer Port; the stalled one is full
        return max(int(r[3]) for r in rows if r[1] == "ESTAB"), listing

    # the queue may still creep while the kernel settles: compare a reading of ours
    # with ss's on both sides of it, once those two agree
    for _ in range(20):
        before, listing = theirs()
        mine = ours()
        after, _ = theirs()
        if before == after:
            assert mine == before, listing
            return
        time.sleep(0.5)
    raise AssertionError(f"the stalled peer's Send-Q never settled: {listing}")
