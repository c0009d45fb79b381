"""State files under attack, concurrency, exhaustion and privilege, with the real
executables (issue 8).

Every stateful check (check_host_uptime; check_zmq_hwm in its socket mode,
pointed at a small application of this test holding a loopback TCP connection):

* a state file that is corrupt, truncated, a directory, a FIFO, a device, a symlink
  to elsewhere, owned by another user, or in a read-only directory: a clear UNKNOWN
  line (a corrupt one is moved aside and this run's state saved, so the next run
  measures); a symlink is never followed into writing its target;
* 50 concurrent runs on one state file: every run exits 0..3 within its timeout
  with the plugin contract kept, and the state is valid JSON afterwards.

Every check: ``ulimit -n 16`` and small ``ulimit -v``: a result or a clear UNKNOWN,
never a traceback or an exit outside 0..3; as the unprivileged nagios user: a
result or an UNKNOWN naming the permission, never a wrong OK.
"""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from tests.helpers import CHECKS, shared_tempdir
from tests.robustness import (
    assert_one_unknown_line,
    assert_plugin_output,
    nagios_user,
    start_app,
    stop_app,
)


def _start_app(user: Optional[str] = None) -> Iterator[int]:
    proc = start_app(user)
    yield proc.pid
    stop_app(proc)


@pytest.fixture(scope="module")
def app() -> Iterator[int]:
    """A process holding a loopback TCP connection (what check_zmq_hwm watches)."""
    yield from _start_app()


@pytest.fixture(scope="module")
def nagios_app() -> Iterator[int]:
    """The same, run by the nagios user (whose /proc/PID/fd nagios may read)."""
    if os.geteuid() != 0 or nagios_user() is None:
        pytest.skip("needs root and the nagios user")
    yield from _start_app("nagios")


# check -> (NAME, argv before --state-file, validity test of a saved state)
def _uptime_state(data: dict) -> None:
    from nagios_ipc.uptime.source import Observation

    Observation.from_state(data)


def _zmq_state(data: dict) -> None:
    assert isinstance(data, dict) and "t" in data, data


STATEFUL: Dict[str, Tuple[str, Callable[[int], List[str]], Callable[[dict], None]]] = {
    "check_host_uptime": ("HOST_UPTIME", lambda pid: [], _uptime_state),
    "check_zmq_hwm": ("ZMQ_HWM", lambda pid: ["--pid", str(pid)], _zmq_state),
}


def run(check: str, argv: List[str], user: Optional[str] = None, timeout: float = 60,
        limits: Optional[Dict[int, int]] = None) -> Tuple[int, str, str]:
    full = [sys.executable, str(CHECKS / check), *argv]
    if user is not None:
        full = ["runuser", "-u", user, "--", *full]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)

    def apply_limits() -> None:
        for which, value in (limits or {}).items():
            resource.setrlimit(which, (value, value))

    proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL,
                          preexec_fn=apply_limits if limits else None)
    return proc.returncode, proc.stdout, proc.stderr


needs_root_and_nagios = pytest.mark.skipif(
    os.geteuid() != 0 or nagios_user() is None,
    reason="needs root and the nagios user (tests/run installs nagios-nrpe-server)")


@pytest.fixture()
def workdir() -> Iterator[Path]:
    # world-traversable, so that the nagios user reaches the files made for it
    yield from shared_tempdir("nagios_ipc-state-")


def good_state(check: str, pid: int, directory: Path) -> bytes:
    """A state this check wrote itself."""
    state = directory / "seed.json"
    name, args, _ = STATEFUL[check]
    code, out, err = run(check, [*args(pid), "--state-file", str(state)])
    assert_plugin_output(name, code, out, err)
    return state.read_bytes()


# --- broken state files ------------------------------------------------------------------


@pytest.mark.parametrize("check", sorted(STATEFUL))
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "binary", "not-object"])
def test_damaged_state_recovers(check: str, damage: str, app: int, workdir: Path) -> None:
    name, args, valid = STATEFUL[check]
    seed = good_state(check, app, workdir)
    content = {"garbage": b"this is not json {", "truncated": seed[:len(seed) // 2],
               "empty": b"", "binary": bytes(range(256)) * 4, "not-object": b"[1, 2, 3]"}
    state = workdir / "state.json"
    state.write_bytes(content[damage])
    code, out, err = run(check, [*args(app), "--state-file", str(state)])
    # UNKNOWN once (an OK "first run" could hide a reboot or a stalled peer), the
    # damaged file kept aside, this run's state saved: the next run measures again
    assert_one_unknown_line(name, code, out, err, mentions=[
        f"state file {state} was ", f"moved aside to {state}.corrupt"])
    assert Path(f"{state}.corrupt").read_bytes() == content[damage]
    valid(json.loads(state.read_text()))
    code, out, err = run(check, [*args(app), "--state-file", str(state)])
    assert_plugin_output(name, code, out, err)
    assert code != 3, out


@pytest.mark.parametrize("check", sorted(STATEFUL))
def test_state_file_is_a_directory(check: str, app: int, workdir: Path) -> None:
    name, args, _ = STATEFUL[check]
    state = workdir / "state.json"
    state.mkdir()
    code, out, err = run(check, [*args(app), "--state-file", str(state)])
    assert_one_unknown_line(name, code, out, err, mentions=[str(state), "directory"])
    assert state.is_dir() and not any(state.iterdir())


@pytest.mark.parametrize("check", sorted(STATEFUL))
@pytest.mark.parametrize("what", ["state", "lock"])
def test_symlink_is_never_followed_for_writing(check: str, what: str, app: int,
                                               workdir: Path) -> None:
    name, args, _ = STATEFUL[check]
    target = workdir / "precious.txt"
    target.write_text("not yours\n")
    state = workdir / "state.json"
    os.symlink(target, state if what == "state" else Path(str(state) + ".lock"))
    code, out, err = run(check, [*args(app), "--state-file", str(state)])
    assert_one_unknown_line(name, code, out, err, mentions=["symlink"])
    assert target.read_text() == "not yours\n"


@needs_root_and_nagios
@pytest.mark.parametrize("check", sorted(STATEFUL))
def test_state_owned_by_another_user(check: str, app: int, nagios_app: int,
                                     workdir: Path) -> None:
    """nagios runs the check; the state file (root's, 0600) is not readable to it."""
    name, args, _ = STATEFUL[check]
    user = nagios_user()
    assert user is not None
    directory = workdir / "nagios"
    directory.mkdir()
    os.chown(directory, user.pw_uid, user.pw_gid)
    state = directory / "state.json"
    state.write_bytes(good_state(check, app, workdir))
    state.chmod(0o600)
    code, out, err = run(check, [*args(nagios_app), "--state-file", str(state)],
                         user="nagios")
    assert_plugin_output(name, code, out, err)
    assert code == 3, out
    assert "permission" in out.lower() or "uid" in out.lower(), out


@needs_root_and_nagios
@pytest.mark.parametrize("check", sorted(STATEFUL))
def test_read_only_state_directory(check: str, nagios_app: int, workdir: Path) -> None:
    name, args, _ = STATEFUL[check]
    directory = workdir / "readonly"
    directory.mkdir(mode=0o755)  # root's: nagios can read, not write
    state = directory / "state.json"
    code, out, err = run(check, [*args(nagios_app), "--state-file", str(state)],
                         user="nagios")
    assert_one_unknown_line(name, code, out, err)
    assert "permission" in out.lower() and str(directory) in out, out
    assert not list(directory.iterdir())


# --- 50 concurrent runs on one state file ------------------------------------------------


@pytest.mark.parametrize("check", sorted(STATEFUL))
def test_fifty_concurrent_runs_on_one_state_file(check: str, app: int, workdir: Path) -> None:
    name, args, valid = STATEFUL[check]
    state = workdir / "state.json"
    argv = [*args(app), "--state-file", str(state), "-t", "30"]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: run(check, argv, timeout=60), range(50)))
    elapsed = time.monotonic() - started
    for code, out, err in results:
        assert_plugin_output(name, code, out, err)
        assert "internal error" not in out, out
    valid(json.loads(state.read_text()))
    leftovers = [p.name for p in workdir.iterdir() if p.name.startswith(".tmp-")]
    assert not leftovers, leftovers
    assert elapsed < 60, elapsed


def _not_a_file(path: Path, what: str) -> None:
    if what == "fifo":
        os.mkfifo(path)
    elif what == "device":  # /dev/null's numbers: what --state-file /dev/null meets
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        import socket

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
@pytest.mark.parametrize("check", [*sorted(STATEFUL), "check_msgqueues"])
@pytest.mark.parametrize("what, said", [("fifo", "a FIFO"), ("device", "a device"),
                                        ("socket", "a socket")])
def test_state_path_that_is_not_a_file(check: str, what: str, said: str, app: int,
                                       workdir: Path) -> None:
    """Refused in one UNKNOWN line, left as it was, no lock file made beside it: as
    root, --state-file /dev/null replaced the host's /dev/null with a regular file,
    and a FIFO hung the run until its timeout, blamed on the lock."""
    name, args, _ = STATEFUL.get(check, ("MSGQUEUES", lambda pid: [], None))
    state = workdir / "state.json"
    _not_a_file(state, what)
    before = os.lstat(state)
    if check == "check_msgqueues":  # in an IPC namespace of its own: no queue to list
        done = subprocess.run(["unshare", "-i", sys.executable, str(CHECKS / check),
                               "--state-file", str(state)], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        code, out, err = run(check, [*args(app), "--state-file", str(state)])
    assert_one_unknown_line(name, code, out, err,
                            mentions=[str(state), f"is {said}, not a regular file"])
    after = os.lstat(state)
    assert (after.st_ino, after.st_mode, after.st_rdev) == (
        before.st_ino, before.st_mode, before.st_rdev)
    assert sorted(os.listdir(workdir)) == ["state.json"]
