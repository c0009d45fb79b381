"""Starting and stopping the test's own ZeroMQ applications, by PID."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
from helpers import Outcome, run_check  # type: ignore[import-not-found]

APPS = Path(__file__).resolve().parent / "zmq_apps.py"
ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class App:
    def __init__(self, proc: subprocess.Popen, info: Dict[str, Any]) -> None:
        self.proc = proc
        self.info = info

    @property
    def pid(self) -> int:
        """The application's own pid (under runuser, not runuser's)."""
        return int(self.info.get("pid", self.proc.pid))

    def wait_line(self, key: str, timeout: float = 20) -> Dict[str, Any]:
        return read_line(self.proc, key, timeout)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.pid != self.proc.pid and self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)  # the app under runuser: ours too
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stdin):
            if stream:
                stream.close()


def read_line(proc: subprocess.Popen, key: str, timeout: float) -> Dict[str, Any]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"app pid {proc.pid} exited (rc {proc.poll()})")
        data = json.loads(line)
        if key in data:
            return dict(data)
    raise AssertionError(f"app pid {proc.pid} did not print {key} within {timeout}s")


class Apps:
    """Starts apps (python zmq_apps.py ROLE ...); stop_all() ends each by its PID."""

    def __init__(self) -> None:
        self.started: List[App] = []

    def start(self, *args: str, user: Optional[str] = None, script: Path = APPS,
              python: Optional[str] = None, stdin: bool = False,
              prefix: Sequence[str] = ()) -> App:
        """*prefix*: e.g. a Netns's nsenter, to run the app in a private namespace."""
        argv = [python or sys.executable, str(script), *args]
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        argv = [*prefix, *argv]
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, text=True, env=env)
        app = App(proc, {})
        self.started.append(app)
        app.info = read_line(proc, "ready", 20)
        return app

    def stop_all(self) -> None:
        for app in self.started:
            app.stop()


@pytest.fixture(name="apps")
def apps_fixture() -> Iterator[Apps]:
    manager = Apps()
    try:
        yield manager
    finally:
        manager.stop_all()


def serve_snapshot(reply: bytes) -> Tuple[str, threading.Thread, Any]:
    """A REP on a free loopback port that answers one request with *reply*: (endpoint,
    its thread, the context). Join the thread, then destroy the context (linger=0)."""
    zmq = pytest.importorskip("zmq")
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.setsockopt(zmq.LINGER, 0)
    port = rep.bind_to_random_port("tcp://127.0.0.1")

    def serve() -> None:
        if rep.poll(20000):
            rep.recv()
            rep.send(reply)
        rep.close(2000)  # the reply may still wait behind the handshake: let it out

    thread = threading.Thread(target=serve)
    thread.start()
    return f"tcp://127.0.0.1:{port}", thread, ctx


QUIET = ["--retrans-warning", "none"]  # the host's retransmissions are not ours to judge


def check(state: Path, *args: str) -> Outcome:
    """check_zmq_hwm with its own state file, the host's retransmissions not judged."""
    return run_check("check_zmq_hwm", [*args, "--state-file", str(state), *QUIET])


def until(predicate: Callable[[], bool], timeout: float = 30, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError("condition not reached in time")
