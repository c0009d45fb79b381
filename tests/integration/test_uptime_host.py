"""check_host_uptime against this host: real /proc, real state files, real users."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from helpers import CHECKS, nagios_account, run_check, shared_tempdir  # type: ignore[import-not-found]

from nagios_ipc.uptime.source import Observation

STEADY = ("uptime_last_period={p}s;;;0;{p} reboots=0;0;;0 downtime_last_period=0s;;;0;{p} "
          "availability=100%;;;0;100")


def proc_uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def test_two_runs_measure_the_real_period(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    before = proc_uptime()
    one = run_check("check_host_uptime", ["--state-file", str(state)])
    assert one.code == 0, one.stdout
    assert "first run: period measures start with the next run" in one.summary
    time.sleep(2.0)
    two = run_check("check_host_uptime", ["--state-file", str(state)])
    after = proc_uptime()
    assert two.code == 0, two.stdout
    period = int(two.value("uptime_last_period")[:-1])
    assert 2 <= period <= round(after - before)
    assert two.summary.endswith(f"up the whole last period of {period}s")
    assert two.first_line.split(" | ")[1].split(" ", 1)[1] == STEADY.format(p=period)
    assert before - 1 <= int(two.value("uptime")[:-1]) <= after
    saved = Observation.from_state(json.loads(state.read_text()))
    assert saved.boot_id == boot_id()
    assert oct(state.stat().st_mode & 0o777) == "0o600"


def test_psutil_and_proc_agree_on_this_host(tmp_path: Path) -> None:
    proc = run_check("check_host_uptime", ["--state-file", str(tmp_path / "a")])
    other = run_check("check_host_uptime", ["--boot-source", "psutil",
                                            "--state-file", str(tmp_path / "b")])
    assert (proc.code, other.code) == (0, 0), proc.stdout + other.stdout
    assert abs(int(proc.value("uptime")[:-1]) - int(other.value("uptime")[:-1])) <= 2


def test_twenty_parallel_runs_share_one_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    argv = [sys.executable, str(CHECKS / "check_host_uptime"), "--state-file", str(state)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(20)]
    outputs = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in outputs)
    assert all(0 <= code <= 3 for code in codes), outputs
    assert codes == [0] * 20, outputs  # and in fact all fine: the lock orders them
    assert all(err == "" for _, _, err in outputs)
    firsts = [out for _, out, _ in outputs if "first run" in out]
    assert len(firsts) == 1, firsts  # exactly one run found no state
    Observation.from_state(json.loads(state.read_text()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]


@pytest.fixture
def nagios_user() -> pwd.struct_passwd:
    return nagios_account()  # type: ignore[no-any-return]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp dir other users can enter (pytest's tmp_path is 0700 root)."""
    yield from shared_tempdir("uptime-it-")


def test_default_state_location_works_for_nagios(nagios_user: pwd.struct_passwd,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAGIOS_IPC_STATE_DIR", raising=False)
    # its own home, which no other user can write (issue 18: /var/tmp names could be
    # made first by anyone; tests/integration/test_hostile_state.py)
    directory = Path(nagios_user.pw_dir) / ".local" / "state" / "nagios_ipc" / os.uname()[1]
    made = [p for p in (*reversed(directory.parents[:3]), directory) if not p.exists()]
    existed = directory.exists()
    before = set(directory.iterdir()) if existed else set()
    # options no scheduler would use, so that the instance's file is ours alone
    argv = ["--reboots-critical", "0:1000", "--availability-warning", f"{os.getpid()}:"]
    try:
        one = run_check("check_host_uptime", argv, user="nagios", python="/usr/bin/python3")
        two = run_check("check_host_uptime", argv, user="nagios", python="/usr/bin/python3")
        assert (one.code, "first run" in one.summary) == (0, True), one.stdout
        assert "uptime_last_period" in two.perfdata, two.stdout
        ours = set(directory.iterdir()) - before
        assert {p.suffix for p in ours} == {".json", ".lock"}
        for path in ours:
            assert (path.stat().st_uid, path.stat().st_mode & 0o777) == (nagios_user.pw_uid,
                                                                          0o600)
        assert (directory.stat().st_mode & 0o777) == 0o700
    finally:
        for path in set(directory.iterdir()) - before if directory.exists() else ():
            path.unlink()
        for path in reversed(made):
            if path.exists():
                path.rmdir()


def test_unwritable_state_dir_is_unknown_for_nagios(nagios_user: pwd.struct_passwd,
                                                    shared_tmp: Path) -> None:
    state = shared_tmp / "state.json"  # a root-owned 0755 directory
    out = run_check("check_host_uptime", ["--state-file", str(state)], user="nagios",
                    python="/usr/bin/python3")
    assert (out.code, out.stdout) == (3, (
        f"HOST_UPTIME UNKNOWN: cannot open lock file {state}.lock: Permission denied; give "
        f"--state-file a path in a directory this user (uid {nagios_user.pw_uid}) owns and "
        f"can write, or fix the permissions of {shared_tmp}\n"))


def test_unreadable_state_file_is_unknown_naming_it(nagios_user: pwd.struct_passwd,
                                                   shared_tmp: Path) -> None:
    os.chown(shared_tmp, nagios_user.pw_uid, nagios_user.pw_gid)
    state = shared_tmp / "state.json"
    state.write_text("{}")
    state.chmod(0o600)  # root's file in nagios's directory
    out = run_check("check_host_uptime", ["--state-file", str(state)], user="nagios",
                    python="/usr/bin/python3")
    assert out.code == 3, out.stdout
    assert out.stdout.startswith(f"HOST_UPTIME UNKNOWN: cannot read state file {state}: "
                                 f"Permission denied; give --state-file")

