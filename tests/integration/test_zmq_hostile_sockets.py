"""check_zmq_hwm mode 1 against hostile local users (issue 18, items 3, 7, 9, 13) and with
nothing at its --endpoint (issue 17, item 1).

Every attack is made by real processes of another user (nobody) next to a real ZeroMQ
application (zmq_apps.py, run as root and named as a daemon names itself), and the real
check is run against them. Before/after figures are in the closing note of issue 18
(ZeroMQ part); the bounds asserted here sit well between the two.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from helpers import CHECKS, Outcome, run_check, shared_tempdir
from test_robust_faults import run_measured
from test_zmq_sockets import until
from zmqtools import Apps, apps_fixture, free_port  # noqa: F401 - a fixture

QUIET = ["--retrans-warning", "none"]
NOBODY = pwd.getpwnam("nobody")


def check(state: Path, *args: str) -> Outcome:
    return run_check("check_zmq_hwm", [*args, "--state-file", str(state), *QUIET])


class Nobody:
    """Processes run as nobody, each stopped (by its pid) at the end."""

    def __init__(self) -> None:
        self.procs: List[subprocess.Popen] = []

    def start(self, argv: List[str], ready: bool = False) -> subprocess.Popen:
        # a session of its own: stop() ends the group, the shells' sleep children too
        proc = subprocess.Popen(argv, user=NOBODY.pw_uid, group=NOBODY.pw_gid,
                                extra_groups=[], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, text=True, cwd="/",
                                start_new_session=True)
        self.procs.append(proc)
        if ready:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this test started
            except ProcessLookupError:
                pass
            proc.wait(10)
            if proc.stdout:
                proc.stdout.close()


@pytest.fixture
def nobody() -> Iterator[Nobody]:
    if os.getuid() != 0:
        pytest.skip("needs root to run processes as nobody")
    procs = Nobody()
    try:
        yield procs
    finally:
        procs.stop()


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from shared_tempdir("zmq-hostile1-")


SLEEPER = "import sys, time; print('ready', flush=True); time.sleep(300)"


# --- item 3 and 9: which processes are the application ---------------------------------------


def test_process_name_is_exact_and_another_users_namesake_is_not_taken(
        apps: Apps, nobody: Nobody, shared: Path) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    # a process whose command line holds the name (before: taken for the application)
    nobody.start(["/bin/sh", "-c", "sleep 300; :", "feedpub", "--endpoint", endpoint])
    out = check(shared / "a", "--process-name", "feedpub")
    assert out.code == 3
    assert out.stdout == ("ZMQ_HWM UNKNOWN: no process named 'feedpub' (its name or program, "
                          "exactly); check --process-name\n")
    app = apps.start("pub", "--endpoint", endpoint, "--name", "feedpub")
    apps.start("sub", "--connect", endpoint)
    until(lambda: check(shared / "b", "--process-name", "feedpub").value("peers") == "1")
    # an impostor with exactly the name, as another user
    impostor = nobody.start(["/bin/bash", "-c", "exec -a feedpub /bin/sleep 300"])
    until(lambda: Path(f"/proc/{impostor.pid}/cmdline").read_bytes().startswith(b"feedpub"))
    out = check(shared / "c", "--process-name", "feedpub")
    assert out.code == 3
    assert out.stdout == (f"ZMQ_HWM UNKNOWN: processes named 'feedpub' run as root (uid 0), "
                          f"nobody (uid {NOBODY.pw_uid}): give --expect-user to say which is "
                          f"the application\n")
    out = check(shared / "d", "--process-name", "feedpub", "--expect-user", "root")
    assert out.code == 0, out.stdout
    assert out.summary.startswith(f"ZMQ_HWM OK: 1 peer of pid {app.pid} (feedpub), none "
                                  f"stalled"), out.stdout
    app.stop()  # the application crashes; the impostor stays
    out = check(shared / "e", "--process-name", "feedpub", "--expect-user", "root")
    assert out.code == 3
    assert out.stdout == ("ZMQ_HWM UNKNOWN: no process named 'feedpub' runs as root (uid 0); "
                          "check --process-name and --expect-user\n")


def take_pid(nobody: Nobody, pid: int) -> subprocess.Popen:
    """Start a process of nobody with exactly *pid* (the kernel hands out ns_last_pid + 1
    next), as ~32k forks would after the application died."""
    for _ in range(50):
        Path("/proc/sys/kernel/ns_last_pid").write_text(str(pid - 1))
        proc = nobody.start([sys.executable, "-c", SLEEPER], ready=True)
        if proc.pid == pid:
            return proc
        proc.kill()  # stop() reaps it
    pytest.skip(f"pid {pid} was taken by another process 50 times")


def test_stale_pidfile_whose_pid_another_user_took(apps: Apps, nobody: Nobody,
                                                   shared: Path) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    app = apps.start("pub", "--endpoint", endpoint, "--name", "feedpub")
    pidfile = shared / "feed.pid"
    pidfile.write_text(f"{app.pid}\n")
    assert check(shared / "a", "--pidfile", str(pidfile)).code == 0
    app.stop()  # crashed, its pidfile left behind
    time.sleep(2.5)  # pid reuse comes later than the file: beyond the 2 s slack
    squatter = take_pid(nobody, app.pid)
    out = check(shared / "b", "--pidfile", str(pidfile))
    assert out.code == 3
    assert out.stdout.startswith(f"ZMQ_HWM UNKNOWN: pidfile {pidfile} names pid {app.pid}, "
                                 f"which started "), out.stdout
    assert out.stdout.endswith(" after the file was written: another process has that pid "
                               "now (stale pidfile: the application is down?)\n"), out.stdout
    # a pidfile of one user naming another user's process (written after it started)
    nagios = pwd.getpwnam("nagios")
    other = shared / "other.pid"
    other.write_text(f"{squatter.pid}\n")
    os.chown(other, nagios.pw_uid, nagios.pw_gid)
    out = check(shared / "c", "--pidfile", str(other))
    assert out.code == 3
    assert out.stdout == (f"ZMQ_HWM UNKNOWN: pidfile {other} of nagios (uid {nagios.pw_uid}) "
                          f"names pid {squatter.pid} of nobody (uid {NOBODY.pw_uid}): not the "
                          f"application's process (stale pidfile: the application is "
                          f"down?)\n")


def test_endpoint_alone_counts_the_listeners_descriptors_only(apps: Apps, nobody: Nobody,
                                                              shared: Path) -> None:
    """nobody connects a client holding 97% of its descriptor limit (before: fds=97%,
    CRITICAL, charged to the application)."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    app = apps.start("pub", "--endpoint", endpoint)
    port = int(endpoint.rsplit(":", 1)[1])
    client = ("import os, socket, resource, time\n"
              "resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))\n"
              f"s = socket.create_connection(('127.0.0.1', {port}))\n"
              "keep = [os.open('/dev/null', os.O_RDONLY) for _ in range(92)]\n"
              "print('ready', flush=True)\n"
              "time.sleep(300)\n")
    nobody.start([sys.executable, "-c", client], ready=True)
    until(lambda: check(shared / "a", "--endpoint", endpoint).value("peers") != "0")
    out = check(shared / "b", "--endpoint", endpoint)
    assert out.code == 0, out.stdout
    fds = float(out.value("fds").rstrip("%"))
    assert fds < 5, out.stdout  # the application's 20000-descriptor limit, barely used
    assert f"pid {app.pid} (python" in out.stdout


# --- item 13: pidfiles that are not what they claim --------------------------------------------


def test_pidfile_symlink_is_not_followed_and_content_never_shown(shared: Path) -> None:
    link = shared / "feed.pid"
    link.symlink_to("/etc/shadow")
    out = check(shared / "a", "--pidfile", str(link))
    assert out.code == 3
    assert out.stdout == (f"ZMQ_HWM UNKNOWN: pidfile {link} is a symlink: refusing to follow "
                          f"it; give the file it points to\n")
    copy = shared / "copy.pid"
    copy.write_bytes(Path("/etc/shadow").read_bytes()[:200])
    out = check(shared / "b", "--pidfile", str(copy))
    assert out.code == 3
    assert out.stdout == (f"ZMQ_HWM UNKNOWN: pidfile {copy} does not hold a process id (its "
                          f"first 64 bytes are not one decimal number)\n")
    fifo = shared / "fifo.pid"
    os.mkfifo(fifo)  # would block a plain open() until the timeout
    out = check(shared / "c", "--pidfile", str(fifo))
    assert out.stdout == (f"ZMQ_HWM UNKNOWN: pidfile {fifo} is not a regular file; check "
                          f"--pidfile\n")


# --- item 9: command lines are not read whole ---------------------------------------------------


def test_huge_command_lines_of_another_user_cost_nothing(apps: Apps, nobody: Nobody,
                                                         shared: Path) -> None:
    """60 processes of nobody with 1.9 MB command lines each (before: each read whole,
    kept, and joined)."""
    big = "x" * (1900 * 1024 // 16)
    for _ in range(60):
        nobody.start(["/bin/sh", "-c", "sleep 300; :", "sh", *([big] * 15)])
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    app = apps.start("pub", "--endpoint", endpoint, "--name", "feedpub")
    argv = [sys.executable, str(CHECKS / "check_zmq_hwm"), "--process-name", "feedpub",
            "--state-file", str(shared / "s"), *QUIET]
    code, stdout, stderr, elapsed, peak_kb = run_measured(argv, shared)
    assert stderr == ""
    assert code == 0, stdout
    assert stdout.startswith(f"ZMQ_HWM OK: no connections of pid {app.pid} (feedpub)"), stdout
    assert peak_kb < 40 * 1024, peak_kb
    assert elapsed < 3, elapsed


# --- item 7: another user's million unix sockets --------------------------------------------------


def test_another_users_unix_sockets_are_not_dumped(apps: Apps, nobody: Nobody,
                                                   shared: Path) -> None:
    """nobody holds ~95,000 unix sockets (5 processes at the 20,000-descriptor limit
    root cannot raise here): --pid asks the kernel for the application's sockets by
    inode; --endpoint ipc:// decodes the dump as it streams, keeping only its own."""
    flood = ("import socket, time\n"
             "keep = [socket.socketpair() for _ in range(9500)]\n"
             "print('ready', flush=True)\n"
             "time.sleep(300)\n")
    for _ in range(5):
        nobody.start([sys.executable, "-c", flood], ready=True)
    endpoint = f"ipc://{shared}/feed.ipc"
    app = apps.start("pub", "--endpoint", endpoint, "--name", "feedpub")
    apps.start("sub", "--connect", endpoint)
    until(lambda: check(shared / "a", "--pid", str(app.pid)).value("peers") == "1")
    for selector in (["--pid", str(app.pid)], ["--endpoint", endpoint]):
        argv = [sys.executable, str(CHECKS / "check_zmq_hwm"), *selector,
                "--state-file", str(shared / "s"), *QUIET]
        code, stdout, stderr, elapsed, peak_kb = run_measured(argv, shared)
        assert stderr == ""
        assert code == 0, stdout
        assert stdout.startswith("ZMQ_HWM OK: "), stdout
        assert " peers=" in stdout and "peers=0;" not in stdout, stdout
        assert peak_kb < 40 * 1024, (selector, peak_kb)
        assert elapsed < (2 if selector[0] == "--pid" else 6), (selector, elapsed)


# --- issue 17 item 1: nothing at the endpoint is not OK ----------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_nothing_at_the_endpoint_is_critical_and_idle_is_ok(apps: Apps, shared: Path,
                                                            transport: str) -> None:
    endpoint = (f"tcp://127.0.0.1:{free_port()}" if transport == "tcp"
                else f"ipc://{shared}/feed.ipc")
    out = check(shared / "a", "--endpoint", endpoint)
    assert out.code == 2
    missing = (" (the application is not running there?)" if transport == "tcp" else
               f" ({shared}/feed.ipc does not exist: the application is not running there?)")
    assert out.summary == f"ZMQ_HWM CRITICAL: nothing listens on or connects to {endpoint}" \
        + missing
    out = check(shared / "b", "--endpoint", endpoint, "--absent-state", "ok")
    assert out.code == 0 and out.summary.startswith("ZMQ_HWM OK: nothing listens"), out.stdout
    app = apps.start("pub", "--endpoint", endpoint, "--name", "feedpub")
    out = check(shared / "c", "--endpoint", endpoint)
    assert out.code == 0, out.stdout
    assert out.summary == (f"ZMQ_HWM OK: idle: 1 listening on {endpoint} in pid {app.pid} "
                           f"(feedpub), no peer connected now")
    out = check(shared / "d", "--endpoint", endpoint, "--idle-state", "warning")
    assert out.code == 1 and out.summary.startswith("ZMQ_HWM WARNING: idle: "), out.stdout
    apps.start("sub", "--connect", endpoint)
    until(lambda: check(shared / "e", "--endpoint", endpoint, "--idle-state",
                        "critical").code == 0)
