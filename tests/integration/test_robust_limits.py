"""Descriptor and memory exhaustion, and the unprivileged nagios user, with the real
executables of every check (issue 8).

* ``ulimit -n`` down to 16 (and less) and ``ulimit -v`` from where the interpreter
  barely starts upwards: each run gives a result or one clear UNKNOWN line, exit
  0..3, nothing on stderr. Below what the bare interpreter needs to start, Python
  itself fails before any of our code runs: those limits are skipped (measured).
* As nagios: a result or an UNKNOWN naming the permission; never an OK that only
  says "nothing found" because nothing could be seen.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from tests.helpers import CHECKS, shared_tempdir
from tests.robustness import (
    assert_one_unknown_line,
    assert_plugin_output,
    check_modules,
    nagios_user,
    start_app,
    stop_app,
)

NAMES = {"check_msgqueues": "MSGQUEUES", "check_host_uptime": "HOST_UPTIME",
         "check_mta_backlog": "MTA_BACKLOG", "check_zmq_hwm": "ZMQ_HWM"}


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    yield from shared_tempdir("nagios_ipc-limits-")


@pytest.fixture(scope="module")
def app() -> Iterator[int]:
    proc = start_app()
    yield proc.pid
    stop_app(proc)


def base_args(check: str, workdir: Path, pid: int) -> List[str]:
    """A normal run of each check on this host."""
    return {"check_msgqueues": ["--details", "always"],
            "check_host_uptime": ["--state-file", str(workdir / f"uptime-{os.getuid()}.json")],
            "check_mta_backlog": ["--details", "always"],
            "check_zmq_hwm": ["--pid", str(pid), "--state-file",
                              str(workdir / f"zmq-{os.getuid()}.json")]}[check]


def run(argv: List[str], limits: Optional[Dict[int, int]] = None, user: Optional[str] = None,
        env: Optional[Dict[str, str]] = None) -> Tuple[int, str, str]:
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    full_env = dict(os.environ)
    full_env.pop("PYTHONPATH", None)
    full_env.update(env or {})

    def apply() -> None:
        for which, value in (limits or {}).items():
            resource.setrlimit(which, (value, value))

    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=full_env,
                          stdin=subprocess.DEVNULL, preexec_fn=apply if limits else None)
    return proc.returncode, proc.stdout, proc.stderr


def interpreter_starts(limits: Dict[int, int]) -> bool:
    code, _, _ = run([sys.executable, "-c", "pass"], limits)
    return code == 0


def test_every_check_is_covered() -> None:
    assert set(check_modules()) <= set(NAMES), "add the new check to NAMES and base_args"


@pytest.mark.parametrize("check", sorted(NAMES))
@pytest.mark.parametrize("files", [16, 12, 8, 5])
def test_few_file_descriptors(check: str, files: int, app: int, workdir: Path) -> None:
    limits = {resource.RLIMIT_NOFILE: files}
    if not interpreter_starts(limits):
        pytest.skip(f"the bare interpreter does not start with ulimit -n {files}")
    code, out, err = run([sys.executable, str(CHECKS / check),
                          *base_args(check, workdir, app)], limits)
    assert_plugin_output(NAMES[check], code, out, err)
    assert "internal error" not in out, out


MIB = 1024 * 1024


@pytest.mark.parametrize("check", sorted(NAMES))
def test_small_address_space(check: str, app: int, workdir: Path) -> None:
    """ulimit -v from 16 MiB to 96 MiB in 4 MiB steps: every run keeps the contract."""
    ran = 0
    for mib in range(16, 97, 4):
        limits = {resource.RLIMIT_AS: mib * MIB}
        if not interpreter_starts(limits):
            continue
        code, out, err = run([sys.executable, str(CHECKS / check),
                              *base_args(check, workdir, app)], limits)
        assert_plugin_output(NAMES[check], code, out, err)
        if code == 3 and "memory" in out:
            assert_one_unknown_line(NAMES[check], code, out, err)
        ran += 1
    assert ran >= 10, "the interpreter hardly ever started: is the venv on this machine?"


# --- the unprivileged nagios user --------------------------------------------------------

needs_nagios = pytest.mark.skipif(os.geteuid() != 0 or nagios_user() is None,
                                  reason="needs root and the nagios user (tests/run "
                                         "installs nagios-nrpe-server)")


@needs_nagios
def test_nagios_sees_a_full_queue_of_root() -> None:
    """A 0600 queue of root, full: nagios cannot read it, yet must not say OK."""
    sysv_ipc = pytest.importorskip("sysv_ipc")
    queue = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, mode=0o600)
    try:
        queue.max_size = 64
        queue.send(b"x" * 64, block=False)
        code, out, err = run([sys.executable, str(CHECKS / "check_msgqueues"), "--type",
                              "sysv", "--key", f"0x{queue.key & 0xFFFFFFFF:08x}"],
                             user="nagios")
        assert_plugin_output("MSGQUEUES", code, out, err)
        assert code == 2 and "full" in out.split("\n")[0], out
    finally:
        queue.remove()


@needs_nagios
def test_nagios_uptime_with_its_own_state(workdir: Path) -> None:
    user = nagios_user()
    assert user is not None
    state_dir = workdir / "nagios-state"
    state_dir.mkdir()
    os.chown(state_dir, user.pw_uid, user.pw_gid)
    for _ in range(2):
        code, out, err = run([sys.executable, str(CHECKS / "check_host_uptime")],
                             user="nagios", env={"NAGIOS_IPC_STATE_DIR": str(state_dir)})
        assert_plugin_output("HOST_UPTIME", code, out, err)
        assert code == 0, out


@needs_nagios
def test_nagios_and_another_users_application(app: int, workdir: Path) -> None:
    code, out, err = run([sys.executable, str(CHECKS / "check_zmq_hwm"), "--pid", str(app)],
                         user="nagios", env={"NAGIOS_IPC_STATE_DIR": str(workdir)})
    assert_one_unknown_line("ZMQ_HWM", code, out, err, mentions=["permission"])


@needs_nagios
def test_nagios_and_its_own_application(workdir: Path) -> None:
    proc = start_app("nagios")
    try:
        user = nagios_user()
        assert user is not None
        state = workdir / "nagios-zmq"
        state.mkdir(exist_ok=True)
        os.chown(state, user.pw_uid, user.pw_gid)
        code, out, err = run([sys.executable, str(CHECKS / "check_zmq_hwm"), "--pid",
                              str(proc.pid), "--state-file", str(state / "z.json")],
                             user="nagios")
        assert_plugin_output("ZMQ_HWM", code, out, err)
        assert code == 0 and "peers=2" in out, out
    finally:
        stop_app(proc)


@needs_nagios
def test_nagios_and_a_root_only_mail_spool() -> None:
    if shutil.which("postconf", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("postfix not installed")
    spool = Path("/var/spool/postfix/maildrop")
    if not spool.is_dir() or spool.stat().st_mode & 0o005:
        pytest.skip("no 0700 postfix spool here")
    code, out, err = run([sys.executable, str(CHECKS / "check_mta_backlog"), "--mta",
                          "postfix", "--method", "spool"], user="nagios")
    assert_one_unknown_line("MTA_BACKLOG", code, out, err, mentions=["not readable"])
