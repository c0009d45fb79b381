"""A stopped MTA, for real (issue 17, item 2): a Postfix instance started and stopped,
and OpenSMTPD's real smtpctl with no smtpd (it then reads the queue files itself).

The check must say first that the MTA is not running, in the state --mta-down gives
(default CRITICAL), whichever way it read the queue: postqueue as the nagios user
(nothing listed), postqueue as root (the files read directly), the spool scan
(master.pid left unlocked), smtpctl offline, and smtpctl on an empty queue.
Every program runs in a private network namespace with only loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))

import test_mta_opensmtpd

from tests.helpers import CHECKS, Outcome
from tests.integration.mta_real import TOP, PostfixInstance, available

SMTPCTL = TOP / "opensmtpd-root/usr/sbin/smtpctl"

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))


def check(args: List[str], user: Optional[str] = None) -> Outcome:
    argv = [sys.executable, str(CHECKS / "check_mta_backlog"), *args]
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                           *argv], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)
    return Outcome(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def stopped_postfix() -> Iterator[PostfixInstance]:
    instance = PostfixInstance("postfix-it")  # its etc is in alternate_config_directories
    instance.setup()
    try:
        instance.start()
        instance.stop()
        instance.send("alice@probe.localdomain", ["bob@example.com"])  # waits in maildrop
        yield instance
    finally:
        instance.cleanup()


def test_postfix_down_as_nagios(stopped_postfix: PostfixInstance) -> None:
    etc = stopped_postfix.etc
    out = check(["--config-dir", str(etc)], user="nagios")
    assert (out.code, out.stdout, out.stderr) == (2, (
        f"MTA_BACKLOG CRITICAL: postfix is not running (postqueue: mail system is down); "
        f"start it: postfix -c {etc} start\n"), "")
    out = check(["--config-dir", str(etc), "--mta-down", "unknown"], user="nagios")
    assert out.code == 3


@pytest.mark.parametrize("method, seen", [
    ("command", "postqueue read the queue files"),
    ("spool", "its master.pid is not locked"),
])
def test_postfix_down_as_root(stopped_postfix: PostfixInstance, method: str, seen: str) -> None:
    etc = stopped_postfix.etc
    out = check(["--config-dir", str(etc), "--method", method, "--count-only"])
    assert out.code == 2, out.stdout
    assert out.summary == (f"MTA_BACKLOG CRITICAL: postfix is not running ({seen}); start it: "
                           f"postfix -c {etc} start")
    assert out.value("messages_maildrop") == "1"
    out = check(["--config-dir", str(etc), "--method", method, "--count-only",
                 "--mta-down", "ok"])
    assert out.code == 0, out.stdout
    assert out.summary == (f"MTA_BACKLOG OK: postfix is not running ({seen}), as --mta-down "
                           f"ok allows; postfix: 1 message queued (maildrop 1)")


def smtpctl_without_smtpd(tmp_path: Path, spool: Path) -> str:
    """The real smtpctl, setgid to a group of its own in a private mount namespace where
    /var/spool is the test's (as in test_mta_more_real.py); no smtpd runs anywhere there."""
    for name in ("group", "passwd"):
        shutil.copy(f"/etc/{name}", tmp_path / name)
    with open(tmp_path / "group", "a") as handle:
        handle.write("opensmtpq:x:64990:\n")
    with open(tmp_path / "passwd", "a") as handle:
        handle.write("opensmtpq:x:64990:64990::/nonexistent:/usr/sbin/nologin\n"
                     "opensmtpd:x:64991:64990::/nonexistent:/usr/sbin/nologin\n")
    (tmp_path / "bin").mkdir()
    smtpctl = tmp_path / "bin" / "smtpctl"
    shutil.copy(SMTPCTL, smtpctl)
    os.chown(smtpctl, 0, 64990)
    smtpctl.chmod(0o2755)
    wrapper = tmp_path / "smtpctl"
    wrapper.write_text(
        "#!/bin/sh\nexec unshare -m -n sh -c 'mount --bind \"$1\"/group /etc/group && "
        "mount --bind \"$1\"/passwd /etc/passwd && mount --bind \"$2\" /var/spool && "
        f"shift 2 && exec \"$@\"' sh {tmp_path} {spool} {smtpctl} \"$@\"\n")
    wrapper.chmod(0o755)
    return str(wrapper)


@pytest.mark.skipif(not SMTPCTL.exists(), reason="run tests/provision/mta-more.sh first")
def test_smtpctl_without_smtpd(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    test_mta_opensmtpd.make_spool(spool / "smtpd")
    wrapper = smtpctl_without_smtpd(tmp_path, spool)
    out = check(["--mta", "opensmtpd", "--method", "command", "--mta-binary", wrapper,
                 "--count-only"])
    assert out.code == 2, out.stdout
    assert out.summary == ("MTA_BACKLOG CRITICAL: opensmtpd is not running (smtpctl read the "
                           "queue offline); start it: smtpd (service opensmtpd start)")
    assert out.value("messages_queue") == "2"
    # an empty queue lists the same with and without smtpd: 'show status' tells
    shutil.rmtree(spool / "smtpd" / "queue")
    (spool / "smtpd" / "queue").mkdir()
    out = check(["--mta", "opensmtpd", "--method", "command", "--mta-binary", wrapper])
    assert (out.code, out.summary) == (2, (
        "MTA_BACKLOG CRITICAL: opensmtpd is not running (smtpctl: smtpd doesn't seem to be "
        "running); start it: smtpd (service opensmtpd start)"))
