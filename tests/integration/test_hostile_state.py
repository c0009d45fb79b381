"""The default state directory attacked by other local users (issue 18 item 6).

The former default, /var/tmp/nagios_ipc-UID, could be made first by any user for
any other: the victim's stateful checks then stayed UNKNOWN for good ("belongs to
uid 65534, not us"), as the victim can neither remove nor rename it (sticky
/var/tmp). Each test squats every name an attacker can know, then runs the real
check_host_uptime twice as the victim: the second run must have found the state
of the first. /var/tmp and the nagios home are fresh tmpfs mounts in a private
mount namespace, so that other tests' state cannot interfere, nor ours leak.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from typing import Iterator, List, Sequence

import pytest
from helpers import CHECKS, Outcome, nagios_account  # type: ignore[import-not-found]

NOBODY = 65534


class MountNamespace:
    """A sleeping process in a new mount namespace with tmpfs on /var/tmp (sticky,
    as on every system) and on the nagios home (the nagios user's, 0755)."""

    def __init__(self, nagios: pwd.struct_passwd, home_mode: int) -> None:
        home = nagios.pw_dir
        script = (f"mount -t tmpfs -o mode=1777 tmpfs /var/tmp && mount -t tmpfs -o "
                  f"mode={home_mode:o},uid={nagios.pw_uid},gid={nagios.pw_gid} tmpfs {home} "
                  f"&& echo $$ && exec sleep 600")
        self.proc = subprocess.Popen(["unshare", "--mount", "--fork", "sh", "-c", script],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.pid = int(self.proc.stdout.readline())

    def run(self, user: str, argv: Sequence[str]) -> Outcome:
        full = ["nsenter", "-t", str(self.pid), "--mount", "--", "runuser", "-u", user, "--",
                *argv]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
        done = subprocess.run(full, capture_output=True, text=True, timeout=60, env=env,
                              stdin=subprocess.DEVNULL)
        return Outcome(done.returncode, done.stdout, done.stderr)

    def uptime(self, user: str) -> Outcome:
        return self.run(user, [sys.executable, str(CHECKS / "check_host_uptime")])

    def listing(self, path: str) -> List[str]:
        """`stat` of what is in *path*, seen inside the namespace: uid mode name."""
        out = self.run("root", ["find", path, "-mindepth", "1", "-printf", "%U %m %p\n"])
        return sorted(out.stdout.splitlines())

    def close(self) -> None:
        os.kill(self.pid, 15)  # the sleep we started; its mounts go with it
        self.proc.wait(timeout=30)


def make_namespace(home_mode: int = 0o755) -> Iterator[MountNamespace]:
    nagios = nagios_account()
    if not os.path.exists("/usr/bin/unshare") or not os.path.exists("/usr/bin/nsenter"):
        pytest.skip("needs unshare and nsenter (util-linux)")
    namespace = MountNamespace(nagios, home_mode)
    try:
        yield namespace
    finally:
        namespace.close()


@pytest.fixture
def ns() -> Iterator[MountNamespace]:
    yield from make_namespace()


@pytest.fixture
def shared_home_ns() -> Iterator[MountNamespace]:
    """The nagios home writable by all (a careless admin): not a place for state."""
    yield from make_namespace(0o1777)


def squat(ns: MountNamespace, attacker: str, victim_uid: int) -> None:
    """Every name an attacker can know for *victim_uid* under /var/tmp: the former
    default, and names of the fallback's form, as a directory and as a symlink."""
    for argv in (["mkdir", "-m", "0777", f"/var/tmp/nagios_ipc-{victim_uid}"],
                 ["mkdir", "-m", "0777", f"/var/tmp/nagios_ipc-{victim_uid}-0000000000000000"],
                 ["ln", "-s", "/tmp", f"/var/tmp/nagios_ipc-{victim_uid}-00"]):
        done = ns.run(attacker, argv)
        assert done.code == 0, done.stderr


def assert_two_runs_keep_state(ns: MountNamespace, user: str) -> None:
    one = ns.uptime(user)
    assert (one.code, "first run" in one.summary) == (0, True), one.stdout
    two = ns.uptime(user)
    # before the fix, both: "HOST_UPTIME UNKNOWN: state directory /var/tmp/nagios_ipc-102
    # belongs to uid 65534, not us (uid 102); remove it or give --state-file"
    assert two.code == 0, two.stdout
    assert "up the whole last period" in two.summary, two.stdout
    assert "uptime_last_period" in two.perfdata


def test_nagios_state_in_its_home_whatever_others_make_in_var_tmp(ns: MountNamespace) -> None:
    nagios = pwd.getpwnam("nagios")
    squat(ns, "nobody", nagios.pw_uid)
    assert_two_runs_keep_state(ns, "nagios")
    home = nagios.pw_dir
    state = f"{home}/.local/state/nagios_ipc/{os.uname()[1]}"
    files = ns.listing(state)
    assert [line.rsplit("/", 1)[0] for line in files] == [f"{nagios.pw_uid} 600 {state}"] * 2
    assert {line.rsplit(".", 1)[1] for line in files} == {"json", "lock"}
    assert f"{nagios.pw_uid} 700 {state}" in ns.listing(home)
    # nothing of nagios's in /var/tmp, nothing written through the attacker's names
    assert [line for line in ns.listing("/var/tmp") if line.startswith(f"{nagios.pw_uid} ")] \
        == []


def test_user_without_a_home_gets_a_var_tmp_directory_no_one_made_first(
        ns: MountNamespace) -> None:
    assert not os.path.isdir(pwd.getpwuid(NOBODY).pw_dir)  # /nonexistent
    squat(ns, "daemon", NOBODY)
    assert_two_runs_keep_state(ns, "nobody")
    ours = [line for line in ns.listing("/var/tmp") if line.startswith(f"{NOBODY} ")]
    assert len(ours) == 3, ours  # one directory, its state file and lock
    directory = next(line for line in ours if " 700 " in line).split(" ", 2)[2]
    assert sorted(line.rsplit("/", 1)[0] for line in ours) == [
        f"{NOBODY} 600 {directory}", f"{NOBODY} 600 {directory}", f"{NOBODY} 700 /var/tmp"]
    name = directory.rsplit("/", 1)[1]
    assert name.startswith(f"nagios_ipc-{NOBODY}-") and len(name) == len(
        f"nagios_ipc-{NOBODY}-") + 16 and name.rsplit("-", 1)[1] != "0" * 16


def test_home_others_may_write_is_not_used(shared_home_ns: MountNamespace) -> None:
    nagios = pwd.getpwnam("nagios")
    # nobody makes nagios's state directory first, inside the world-writable home
    made = shared_home_ns.run("nobody", ["mkdir", "-p", "-m", "0777",
                                         f"{nagios.pw_dir}/.local/state/nagios_ipc/"
                                         f"{os.uname()[1]}"])
    assert made.code == 0, made.stderr
    squat(shared_home_ns, "nobody", nagios.pw_uid)
    assert_two_runs_keep_state(shared_home_ns, "nagios")
    assert [line for line in shared_home_ns.listing(f"{nagios.pw_dir}/.local")
            if line.startswith(f"{nagios.pw_uid} ")] == []
    ours = [line for line in shared_home_ns.listing("/var/tmp")
            if line.startswith(f"{nagios.pw_uid} ")]
    assert len(ours) == 3 and any(line.startswith(
        f"{nagios.pw_uid} 700 /var/tmp/nagios_ipc-{nagios.pw_uid}-") for line in ours), ours
