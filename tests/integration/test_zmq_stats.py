"""Mode 2 against a real application using nagios_ipc.zmqhwm.helper.

The application (zmq_apps.py stats) runs in a subprocess with an XPUB_NODROP
socket, a PUSH with no peer and a CURVE ROUTER; the check asks its stats
endpoint over ipc:// and tcp://127.0.0.1, with and without CURVE.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import zmq

from helpers import Outcome, run_check
from zmqtools import App, Apps, apps_fixture, free_port, serve_snapshot  # noqa: F401 - a fixture


def check(state: Path, endpoint: str, *args: str) -> Outcome:
    return run_check("check_zmq_hwm", ["--stats-endpoint", endpoint, "--state-file",
                                       str(state), *args])


def start_app(apps: Apps, stats: str, *extra: str, subscribers: int = 0) -> App:
    return apps.start("stats", "--stats", stats, "--endpoint", f"tcp://127.0.0.1:{free_port()}",
                      "--hwm", "100", "--size", "10000", "--dead-port", str(free_port()),
                      "--subscribers", str(subscribers), *extra, stdin=True)


def detail(out: Outcome, name: str) -> str:
    lines = [line for line in out.stdout.splitlines() if line.startswith(f"socket '{name}'")]
    assert len(lines) == 1, out.stdout
    return lines[0]


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_drops_and_wouldblock_counted_exactly(apps: Apps, tmp_path: Path,
                                               transport: str) -> None:
    stats = (f"ipc://{tmp_path}/stats.ipc" if transport == "ipc"
             else f"tcp://127.0.0.1:{free_port()}")
    app = start_app(apps, stats, subscribers=1)
    apps.start("sub", "--connect", app.info["endpoint"], "--never", "--hwm", "10")
    app.wait_line("subscribed")
    state = tmp_path / "state.json"
    first = check(state, stats, "--details", "always")
    assert first.code == 0, first.stdout
    assert first.summary == (f"ZMQ_HWM OK: 3 sockets of pid {app.pid} (user root; identity not "
                             f"verified: no --expect-user), first run: rates start "
                             f"with the next run, HWM fill not available (no draft "
                             f"pipes-stats API)")
    assert first.perfdata == {"sends": "0c;;;0"}

    app.send("burst 3000")
    counted = app.wait_line("burst")["burst"]
    # the PUSH queues SNDHWM (1000) messages for its never-connected peer, then would block
    assert counted["again"] > 0 and counted["push_again"] == 2000
    out = check(state, stats, "--details", "always")
    assert out.code == 1, out.stdout
    assert out.summary.startswith(f"ZMQ_HWM WARNING: 3 sockets of pid {app.pid} (user root; "
                                  f"identity not verified: no --expect-user) / worst: socket "
                                  f"'ticks' (XPUB tcp://127.0.0.1:")
    assert f"SNDHWM 100): {counted['again']} drops in the last " in out.summary
    assert re.search(r" / drops_per_min \d+(\.\d+)? \(warning 0\)", out.summary), out.summary
    assert out.value("sends") == f"{counted['sent'] + 3000 - counted['push_again']}c"
    assert (f"sends {counted['sent']}, drops (XPUB_NODROP refusals) {counted['again']} "
            f"(+{counted['again']} this period)") in detail(out, "ticks")
    assert "would-block 2000 (+2000 this period)" in detail(out, "jobs")
    assert float(out.value("wouldblock_per_min")) > 0
    # no burst since: the rates fall back to 0, OK
    out = check(state, stats)
    assert out.code == 0, out.stdout
    assert out.value("drops_per_min") == "0"


def test_auth_failure_on_an_application_socket(apps: Apps, tmp_path: Path) -> None:
    stats = f"ipc://{tmp_path}/stats.ipc"
    app = start_app(apps, stats)
    state = tmp_path / "state.json"
    assert check(state, stats).code == 0
    ctx = zmq.Context()
    try:
        intruder = ctx.socket(zmq.DEALER)
        intruder.setsockopt(zmq.LINGER, 0)
        public, secret = zmq.curve_keypair()  # a key the application does not know
        intruder.setsockopt(zmq.CURVE_SERVERKEY, app.info["secure_key"].encode())
        intruder.setsockopt(zmq.CURVE_PUBLICKEY, public)
        intruder.setsockopt(zmq.CURVE_SECRETKEY, secret)
        intruder.connect(app.info["secure"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            out = check(state, stats, "--details", "always")
            if "handshake_failed_auth" in detail(out, "secure"):
                break
            time.sleep(0.3)
    finally:
        ctx.destroy(linger=0)
    assert out.code == 1, out.stdout
    assert "auth_failures_per_min" in out.summary and "(warning 0)" in out.summary
    assert "worst: socket 'secure' (ROUTER tcp://127.0.0.1:" in out.summary
    assert re.search(r": \d+ auth failures(, \d+ disconnects)? in the last \d",
                     out.summary), out.summary


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[Dict[str, bytes]]:
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    (tmp_path / "server.public").write_bytes(server_public)
    (tmp_path / "server.secret").write_bytes(server_secret)
    (tmp_path / "client.key_secret").write_text(
        "metadata\ncurve\n"
        f'    public-key = "{client_public.decode()}"\n'
        f'    secret-key = "{client_secret.decode()}"\n')
    (tmp_path / "client.key_secret").chmod(0o600)  # the check refuses a readable secret
    yield {"server_public": server_public, "client_public": client_public}


def test_curve_on_the_stats_endpoint(apps: Apps, tmp_path: Path,
                                     keys: Dict[str, bytes]) -> None:
    stats = f"tcp://127.0.0.1:{free_port()}"
    start_app(apps, stats, "--stats-keys", str(tmp_path / "server"),
              f"--allow={keys['client_public'].decode()}")  # a key may start with '-'
    right = [f"--curve-server-key={keys['server_public'].decode()}",
             "--curve-client-key-file", str(tmp_path / "client.key_secret")]
    out = check(tmp_path / "s1", stats, *right)
    assert out.code == 0, out.stdout

    # wrong server key: the handshake fails; UNKNOWN naming the key, well before -t
    wrong_server = zmq.curve_keypair()[0].decode()
    began = time.monotonic()
    out = check(tmp_path / "s2", stats, "-t", "6", f"--curve-server-key={wrong_server}",
                "--curve-client-key-file", str(tmp_path / "client.key_secret"))
    assert time.monotonic() - began < 7
    assert out.code == 3
    assert out.stdout.startswith(f"ZMQ_HWM UNKNOWN: the ZeroMQ handshake with {stats} failed")
    assert "--curve-server-key" in out.stdout and out.stdout.count("\n") == 1

    # right server key, a client key the application does not allow
    out = check(tmp_path / "s3", stats, "-t", "6", "--curve-server-key",
                keys["server_public"].decode())
    assert out.code == 3
    assert out.stdout == (f"ZMQ_HWM UNKNOWN: the stats endpoint {stats} refused our CURVE "
                          f"client key (authentication failed); give --curve-client-key-file "
                          f"with a key the application allows\n")

    # no CURVE at all against a CURVE endpoint
    out = check(tmp_path / "s4", stats, "-t", "4")
    assert out.code == 3
    assert out.stdout == (f"ZMQ_HWM UNKNOWN: the ZeroMQ handshake with {stats} failed: the "
                          f"endpoint may require CURVE (give --curve-server-key)\n")


def test_no_answer_is_unknown_within_the_timeout(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)  # accepts the TCP connection, never speaks ZMTP
    port = listener.getsockname()[1]
    try:
        began = time.monotonic()
        out = check(tmp_path / "s", f"tcp://127.0.0.1:{port}", "-t", "3")
        took = time.monotonic() - began
    finally:
        listener.close()
    assert out.code == 3
    assert out.stdout == (f"ZMQ_HWM UNKNOWN: no answer from the stats endpoint "
                          f"tcp://127.0.0.1:{port} within 2s; is the application running "
                          f"with the nagios_ipc helper there?\n")
    assert took < 3 + 2  # -t 3: the answer wait is 1 s shorter, plus start-up


def test_nothing_listening_is_unknown_at_once(tmp_path: Path) -> None:
    """A refused connection is known within a few reconnect intervals (100 ms each):
    no need to wait for the whole timeout."""
    port = free_port()
    began = time.monotonic()
    out = check(tmp_path / "s", f"tcp://127.0.0.1:{port}", "-t", "10")
    assert time.monotonic() - began < 5
    assert out.code == 3
    assert out.stdout == (f"ZMQ_HWM UNKNOWN: nothing listens at the stats endpoint "
                          f"tcp://127.0.0.1:{port} (connection refused); is the application "
                          f"running with the nagios_ipc helper there?\n")


def test_missing_ipc_endpoint(tmp_path: Path) -> None:
    out = check(tmp_path / "s", f"ipc://{tmp_path}/nothing.ipc")
    assert out.code == 3
    assert out.stdout == (f"ZMQ_HWM UNKNOWN: no stats endpoint at ipc://{tmp_path}/nothing.ipc: "
                          f"{tmp_path}/nothing.ipc does not exist (is the application running "
                          f"with the nagios_ipc helper?)\n")


@pytest.mark.parametrize("reply,expected", [
    (b"not json", "stats reply is not JSON (JSONDecodeError)"),
    (b'{"schema": "other"}', "stats reply is not a nagios_ipc.zmq_stats/1 snapshot"),
    (b'{"schema": "nagios_ipc.zmq_stats/1", "sockets": [{"name": 1}]}',
     "stats reply: socket #1 'name' is not a valid str"),
    (b'{"schema": "nagios_ipc.zmq_stats/1", "error": "x"}',
     "the stats endpoint answered an error: x"),
])
def test_bad_replies_are_unknown(tmp_path: Path, reply: bytes, expected: str) -> None:
    """A REP that answers garbage: one UNKNOWN line naming what is wrong."""
    endpoint, thread, ctx = serve_snapshot(reply)
    try:
        out = check(tmp_path / "s", endpoint)
    finally:
        thread.join()
        ctx.destroy(linger=0)
    assert out.code == 3
    assert out.stdout.startswith(f"ZMQ_HWM UNKNOWN: {expected}"), out.stdout
    assert out.stdout.count("\n") == 1


def test_request_other_than_stats_is_refused(apps: Apps, tmp_path: Path) -> None:
    """The helper never evaluates what it receives: anything but 'stats' is an error,
    oversized requests are dropped by libzmq (MAXMSGSIZE), and it keeps serving."""
    stats = f"ipc://{tmp_path}/stats.ipc"
    start_app(apps, stats)
    ctx = zmq.Context()
    try:
        for request in (b"__import__('os').system('touch /tmp/pwned')", b"stats\n"):
            req = ctx.socket(zmq.REQ)
            req.setsockopt(zmq.LINGER, 0)
            req.connect(stats)
            req.send(request)
            assert req.poll(5000)
            reply = req.recv_json()
            assert reply == {"schema": "nagios_ipc.zmq_stats/1",
                             "error": "unknown request; send exactly 'stats'"}
            req.close()
        big = ctx.socket(zmq.REQ)
        big.setsockopt(zmq.LINGER, 0)
        big.connect(stats)
        big.send(b"s" * 100000)
        assert not big.poll(1000)  # refused: the connection is dropped, no answer
    finally:
        ctx.destroy(linger=0)
    assert check(tmp_path / "s", stats).code == 0


def _unused(values: List[str]) -> None:  # keeps typing imports honest
    del values


def test_helper_closes_cleanly(apps: Apps, tmp_path: Path) -> None:
    """stats.close() then ctx.term() returns (the monitors are stopped while the
    helper still reads them), after the helper served a request."""
    stats = f"ipc://{tmp_path}/stats.ipc"
    app = start_app(apps, stats)
    assert check(tmp_path / "s", stats).code == 0
    assert app.proc.stdin is not None
    app.proc.stdin.close()  # EOF: the application shuts down
    assert app.wait_line("terminated", timeout=15) == {"terminated": True}
    assert app.proc.wait(10) == 0


def test_wrapped_socket_is_a_real_socket(tmp_path: Path) -> None:
    """The registered socket comes back as a zmq.Socket: a Poller polls it as one,
    every send flavour counts once per message, options and close work as usual."""
    from nagios_ipc.zmqhwm.helper import StatsServer

    ctx = zmq.Context()
    stats = StatsServer(f"ipc://{tmp_path}/stats.ipc", context=ctx)
    pull = ctx.socket(zmq.PULL)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = stats.register(ctx.socket(zmq.PUSH), name="jobs")
    push.sndhwm = 7  # attribute style goes through setsockopt too
    push.connect(f"tcp://127.0.0.1:{port}")
    stats.start()
    try:
        assert isinstance(push, zmq.Socket)
        poller = zmq.Poller()
        poller.register(push, zmq.POLLOUT)
        assert dict(poller.poll(5000)).get(push) == zmq.POLLOUT
        push.send(b"a")
        push.send_multipart([b"b", b"c", b"d"])
        push.send_string("e")
        push.send_json({"f": 1})
        push.send_pyobj("g")
        received = [pull.recv_multipart() for _ in range(5)]
        assert received[1] == [b"b", b"c", b"d"] and len(received) == 5
        out = check(tmp_path / "s", f"ipc://{tmp_path}/stats.ipc", "--details", "always")
        assert out.code == 0, out.stdout
        assert out.value("sends") == "5c"
        assert "socket 'jobs' (PUSH tcp://127.0.0.1:" in detail(out, "jobs")
        assert ", SNDHWM 7): RCVHWM 1000, sends 5, would-block 0;" in detail(out, "jobs")
    finally:
        stats.close()
        push.close(0)
        pull.close(0)
        ctx.term()
    assert push.closed and push.socket.closed


def test_readme_example_runs(tmp_path: Path) -> None:
    """The helper example in README.md runs as written (endpoints moved to the test's
    own ipc path and a free loopback port), start to ctx.term()."""
    import subprocess
    import sys

    from helpers import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## check_zmq_hwm"):]
    code = section[section.index("```python\n") + 10:]
    code = code[:code.index("```")]
    assert "StatsServer(" in code and "stats.close()" in code
    code = (code.replace("ipc:///run/feed/stats", f"ipc://{tmp_path}/stats.ipc")
            .replace("tcp://0.0.0.0:5556", f"tcp://127.0.0.1:{free_port()}"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert (done.returncode, done.stderr) == (0, "")
