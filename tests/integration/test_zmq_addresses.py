"""Mode 1 where the application's sockets are not named as the check names them:
another network namespace, a wildcard bind, an ipc path through a symlinked directory.

Real ZeroMQ applications (tests/integration/zmq_apps.py), stopped by PID; the
network namespace is a real one (unshare -n, loopback up), held by a process the
test starts and ends.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import schedulers  # tests/ is on sys.path (tests/conftest.py)
from helpers import CHECKS, Outcome  # type: ignore[import-not-found]
from zmqtools import QUIET, Apps, apps_fixture, check, free_port, until  # noqa: F401 - a fixture


@pytest.fixture(name="netns")
def netns_fixture() -> Iterator[schedulers.Netns]:
    netns = schedulers.Netns()
    try:
        yield netns
    finally:
        netns.close()


def test_an_application_in_another_network_namespace(apps: Apps, netns: schedulers.Netns,
                                                     tmp_path: Path) -> None:
    """A PUB with a SUB that never reads, both in their own network namespace: from the
    host, sock_diag sees none of their sockets (before: OK, no connections); from
    inside (nsenter -t PID -n), the stalled SUB is found."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    inside = netns.argv([])  # nsenter --net=... --
    pub = apps.start("pub", "--endpoint", endpoint, "--hwm", "100", prefix=inside)
    apps.start("sub", "--connect", endpoint, "--never", prefix=inside)
    out = check(tmp_path / "host", "--pid", str(pub.pid))
    assert out.code == 3, out.stdout
    assert out.stderr == ""
    assert out.summary.startswith(f"ZMQ_HWM UNKNOWN: pid {pub.pid} (python"), out.summary
    assert out.summary.endswith(
        f") uses another network namespace: its sockets are not visible here; run the "
        f"check in it (nsenter -t {pub.pid} -n check_zmq_hwm ...)"), out.summary

    state = tmp_path / "inside"

    def in_namespace() -> Outcome:
        proc = subprocess.run(
            ["/usr/bin/nsenter", "-t", str(pub.pid), "-n", sys.executable,
             str(CHECKS / "check_zmq_hwm"), "--pid", str(pub.pid), "--state-file",
             str(state), *QUIET], capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL)
        return Outcome(proc.returncode, proc.stdout, proc.stderr)

    until(lambda: in_namespace().code == 2)
    out = in_namespace()
    assert out.summary.startswith("ZMQ_HWM CRITICAL: 1 of 1 peer stalled, worst: tcp "
                                  f"{endpoint[6:]} -> "), out.summary


@pytest.mark.parametrize("bind", ["0.0.0.0", "*", "[::]"])
def test_a_wildcard_bind_is_the_endpoint_on_each_address(apps: Apps, tmp_path: Path,
                                                           bind: str) -> None:
    """A PUB bound to every address, --endpoint naming 127.0.0.1 on its port (before:
    CRITICAL 'nothing listens', then the connected SUB taken for the application):
    idle, then the stalled SUB found in the PUB, as for a PUB bound to 127.0.0.1."""
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    pub = apps.start("pub", "--endpoint", f"tcp://{bind}:{port}", "--hwm", "100",
                     *(["--ipv6"] if bind == "[::]" else []))
    state = tmp_path / "state"
    out = check(state, "--endpoint", endpoint)
    assert out.code == 0, out.stdout
    assert out.summary.startswith(f"ZMQ_HWM OK: idle: 1 listening on {endpoint} in pid "
                                  f"{pub.pid} (python"), out.summary
    assert out.summary.endswith(", no peer connected now"), out.summary
    # another host's address on that port is not this application
    out = check(tmp_path / "other", "--endpoint", f"tcp://192.0.2.1:{port}")
    assert out.code == 2, out.stdout
    assert "nothing listens on or connects to tcp://192.0.2.1:" in out.summary

    sub = apps.start("sub", "--connect", endpoint, "--never")
    until(lambda: check(state, "--endpoint", endpoint).code == 2)
    out = check(state, "--endpoint", endpoint, "--details", "always")
    # both ends of the loopback connection are on the endpoint, as with a PUB bound to
    # 127.0.0.1 (test_zmq_sockets.py: --endpoint alone): the PUB's end is the stalled one
    assert out.summary.startswith(f"ZMQ_HWM CRITICAL: 1 of 2 peers stalled, worst: tcp "
                                  f"127.0.0.1:{port} -> 127.0.0.1:"), out.summary
    assert f" in pid {pub.pid} (python" in out.summary, out.summary
    assert f"pid {sub.pid}" not in out.summary
    assert "nothing of this host listens" not in out.stdout


@pytest.mark.parametrize("bound_through", ["link", "real"])
def test_an_ipc_path_through_a_symlinked_directory(apps: Apps, tmp_path: Path,
                                                   bound_through: str) -> None:
    """A PULL bound through a symlinked directory (as /var/run and /run), the check given
    the path through the other (before: CRITICAL 'nothing listens'): the same socket
    file, idle, then the PUSH's stalled connection; with --endpoint alone (the dump)
    and with --pid."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    other = "real" if bound_through == "link" else "link"
    bound = f"ipc://{tmp_path}/{bound_through}/f.ipc"
    asked = f"ipc://{tmp_path}/{other}/f.ipc"
    pull = apps.start("pull", "--endpoint", bound, "--read", "200", "--hwm", "10")
    out = check(tmp_path / "idle", "--endpoint", asked)
    assert out.code == 0, out.stdout
    assert out.summary.startswith(f"ZMQ_HWM OK: idle: 1 listening on {asked} in pid "
                                  f"{pull.pid} (python"), out.summary
    assert out.summary.endswith(", no peer connected now"), out.summary

    push = apps.start("push", "--connect", bound, "--hwm", "10", "--size", "10000")
    pull.wait_line("stopped")
    out = check(tmp_path / "pid", "--pid", str(pull.pid), "--endpoint", asked)
    assert out.code == 0, out.stdout
    assert out.value("peers") == "1", out.stdout
    assert int(out.value("recvq").rstrip("B")) > 0, out.stdout
    state = tmp_path / "alone"
    until(lambda: check(state, "--endpoint", asked).code == 2)
    out = check(state, "--endpoint", asked)
    # the listening PULL is the application: its not reading comes first, then the
    # PUSH's connection it leaves stalled
    assert out.summary.startswith(f"ZMQ_HWM CRITICAL: pid {pull.pid} (python"), out.summary
    assert ") has not read connection unix " in out.summary, out.summary
    assert "; 1 of 2 peers stalled, worst: unix " in out.summary, out.summary
    assert f"in pid {push.pid}" in out.summary, out.summary
