"""check_mta_backlog when the MTA's daemon is not running (issue 17, item 2).

Real stderr of Postfix 3.7.11's postqueue with the master down and OpenSMTPD 6.8.0p2's
smtpctl without smtpd (tests/fixtures/mta/postfix-down/, opensmtpd/), replayed by stubs.
The state is --mta-down's (default critical), and the stopped daemon is said first."""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import sys
from pathlib import Path
from typing import List

import pytest

from nagios_ipc import cli
from nagios_ipc.mta import check, opensmtpd, postfix
from nagios_ipc.mta.model import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mta"
DOWN = FIXTURES / "postfix-down"
NOW = 1796646860 + 600.0


def run(argv: List[str]) -> tuple[int, str]:
    return cli.execute(check.parser(), functools.partial(check.build, now=lambda: NOW), argv)


def stub(path: Path, stdout: str = "", stderr: str = "", code: int = 0,
         status_stderr: str = "", status_code: int = 0) -> str:
    """A listing program printing captured files; 'show status' answers on its own."""
    lines = ["#!/bin/sh",
             f'if [ "$2" = status ]; then echo "{status_stderr}" >&2; exit {status_code}; fi'
             if status_stderr or status_code else "",
             f"cat {stdout}" if stdout else "",
             f"cat {stderr} >&2" if stderr else "",
             f"exit {code}"]
    path.write_text("\n".join(line for line in lines if line) + "\n")
    path.chmod(0o755)
    return str(path)


NAGIOS_DOWN = "postfix is not running (postqueue: mail system is down); start it: postfix start"


@pytest.mark.parametrize("state, code, first", [
    (None, 2, f"MTA_BACKLOG CRITICAL: {NAGIOS_DOWN}"),
    ("warning", 1, f"MTA_BACKLOG WARNING: {NAGIOS_DOWN}"),
    ("unknown", 3, f"MTA_BACKLOG UNKNOWN: {NAGIOS_DOWN}"),
    ("ok", 0, "MTA_BACKLOG OK: postfix is not running (postqueue: mail system is down), as "
              "--mta-down ok allows"),
])
def test_postqueue_as_a_user_with_postfix_down(tmp_path: Path, state: str, code: int,
                                               first: str) -> None:
    binary = stub(tmp_path / "postqueue", stderr=str(DOWN / "postqueue-j_nagios.stderr.txt"),
                  code=69)
    argv = ["--mta", "postfix", "--method", "command", "--mta-binary", binary]
    got = run(argv + (["--mta-down", state] if state else []))
    assert got == (code, first + "\n")


def test_postqueue_as_root_reads_the_files_and_says_postfix_is_down(tmp_path: Path) -> None:
    binary = stub(tmp_path / "postqueue", stdout=str(DOWN / "postqueue-j_root_stopped.txt"),
                  stderr=str(DOWN / "postqueue-j_root_stopped.stderr.txt"))
    code, out = run(["--mta", "postfix", "--method", "command", "--mta-binary", binary,
                     "--count-only", "--config-dir", "/etc/postfix-out"])
    assert code == 2
    assert out.splitlines()[0] == (
        "MTA_BACKLOG CRITICAL: postfix is not running (postqueue read the queue files); start "
        "it: postfix -c /etc/postfix-out start | messages=1;;;0 messages_maildrop=1;;;0 "
        "messages_incoming=0;;;0 messages_active=0;;;0 messages_deferred=0;;;0 "
        "messages_hold=0;;;0 deferred=0;100;500;0")


def test_root_never_started_instance_is_not_running(tmp_path: Path) -> None:
    binary = stub(tmp_path / "postqueue",
                  stderr=str(DOWN / "postqueue-j_root_never-started.stderr.txt"), code=69)
    assert run(["--mta", "postfix", "--method", "command", "--mta-binary", binary]) == (
        2, f"MTA_BACKLOG CRITICAL: {NAGIOS_DOWN}\n")


def test_a_stopped_mta_comes_first_before_worse_states(tmp_path: Path) -> None:
    binary = stub(tmp_path / "postqueue", stdout=str(DOWN / "postqueue-j_root_stopped.txt"),
                  stderr=str(DOWN / "postqueue-j_root_stopped.stderr.txt"))
    code, out = run(["--mta", "postfix", "--method", "command", "--mta-binary", binary,
                     "--mta-down", "warning", "--total-critical", "0"])
    assert code == 2
    assert out.split(" | ")[0] == (
        "MTA_BACKLOG CRITICAL: postfix is not running (postqueue read the queue files); start "
        "it: postfix start / postfix queue: 1 message in all (more than 0)")


# --- the spool scan: master.pid and its lock ---------------------------------------------


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    root = tmp_path / "queue"
    shutil.copytree(FIXTURES / "postfix-3.7.11-spool", root)
    for queue in postfix.QUEUES:
        (root / queue).mkdir(exist_ok=True)
    return root


def test_spool_without_pid_file_claims_nothing(spool: Path) -> None:
    code, out = run(["--mta", "postfix", "--spool-dir", str(spool), "--count-only",
                     "--mta-down", "unknown", "-w", "none", "-c", "none"])
    assert (code, out.split(" | ")[0]) == (
        0, "MTA_BACKLOG OK: postfix: 6 messages queued (maildrop 1, deferred 4, hold 1)")


def test_spool_with_an_unlocked_pid_file_is_a_stopped_master(spool: Path) -> None:
    (spool / "pid").mkdir()
    (spool / "pid" / "master.pid").write_text(f"{12345:32d}\n")
    code, out = run(["--mta", "postfix", "--spool-dir", str(spool), "--count-only"])
    assert (code, out.split(" | ")[0]) == (
        2, "MTA_BACKLOG CRITICAL: postfix is not running (its master.pid is not locked); "
           "start it: postfix start")


def test_spool_with_a_locked_pid_file_is_a_running_master(spool: Path) -> None:
    (spool / "pid").mkdir()
    pidfile = spool / "pid" / "master.pid"
    pidfile.write_text(f"{os.getpid():32d}\n")
    fd = os.open(pidfile, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as the master holds it
        assert postfix.master_stopped(str(spool)) is False
        code, _ = run(["--mta", "postfix", "--spool-dir", str(spool), "--count-only",
                       "-w", "none", "-c", "none"])
        assert code == 0
    finally:
        os.close(fd)
    assert postfix.master_stopped(str(spool)) is True


# --- OpenSMTPD -----------------------------------------------------------------------


def test_smtpctl_offline_listing_says_smtpd_is_not_running(tmp_path: Path) -> None:
    binary = stub(tmp_path / "smtpctl",
                  stdout=str(FIXTURES / "opensmtpd" / "smtpctl-show-queue_daemon-stopped.txt"))
    code, out = run(["--mta", "opensmtpd", "--method", "command", "--mta-binary", binary,
                     "--count-only"])
    assert (code, out.split(" | ")[0]) == (
        2, "MTA_BACKLOG CRITICAL: opensmtpd is not running (smtpctl read the queue offline); "
           "start it: smtpd (service opensmtpd start)")


def test_smtpctl_running_listing_is_not_flagged(tmp_path: Path) -> None:
    binary = stub(tmp_path / "smtpctl",
                  stdout=str(FIXTURES / "opensmtpd" / "smtpctl-show-queue.txt"))
    source = opensmtpd.open_source(Settings(binary=binary), "command")
    assert len(list(source.messages())) == 9
    assert source.stopped is None


def test_smtpctl_empty_queue_asks_show_status(tmp_path: Path) -> None:
    # the capture of 'show stats' without smtpd: 'smtpctl: smtpd doesn't seem to be running'
    said = (FIXTURES / "opensmtpd" / "smtpctl-show-stats_daemon-stopped.txt").read_text().strip()
    binary = stub(tmp_path / "smtpctl",
                  stdout=str(FIXTURES / "opensmtpd" / "smtpctl-show-queue_empty.txt"),
                  status_stderr=said, status_code=1)
    code, out = run(["--mta", "opensmtpd", "--method", "command", "--mta-binary", binary])
    assert (code, out.split(" | ")[0]) == (
        2, "MTA_BACKLOG CRITICAL: opensmtpd is not running (smtpctl: smtpd doesn't seem to be "
           "running); start it: smtpd (service opensmtpd start)")
    running = stub(tmp_path / "smtpctl2",
                   stdout=str(FIXTURES / "opensmtpd" / "smtpctl-show-queue_empty.txt"))
    assert run(["--mta", "opensmtpd", "--method", "command", "--mta-binary", running])[0] == 0



# --- items 3 and 4: each cause once; the long output names what was read ------------------


def test_exim_missing_is_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # spool and listing both need the exim binary: one cause, one fix
    from nagios_ipc.mta import exim

    monkeypatch.setattr(exim, "_binary", lambda settings: None)
    code, out = run(["--mta", "exim"])
    assert (code, out) == (3, (
        "MTA_BACKLOG UNKNOWN: cannot read the exim queue: exim4 or exim not found (searched "
        "/usr/sbin, /usr/bin, /sbin, /bin, /usr/local/sbin, /usr/local/bin); fix: install "
        "Exim, or give its binary with --mta-binary\n"))


def test_opensmtpd_detail_names_the_command(tmp_path: Path) -> None:
    binary = stub(tmp_path / "smtpctl",
                  stdout=str(FIXTURES / "opensmtpd" / "smtpctl-show-queue.txt"))
    code, out = run(["--mta", "opensmtpd", "--method", "command", "--mta-binary", binary,
                     "--details", "always"])
    assert code == 2  # the captured queue is more than a day old by NOW
    assert out.splitlines()[1] == f"method: command ({binary} show queue)"


def test_sendmail_spool_detail_names_the_directories(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import test_mta_sendmail

    paths = test_mta_sendmail.make_spool(tmp_path)
    _, out = run(["--mta", "sendmail", "--method", "spool", "--config-dir",
                  str(paths["config"]), "--details", "always"])
    assert out.splitlines()[1] == (f"method: spool ({paths['mqueue']}, {paths['client']})")
