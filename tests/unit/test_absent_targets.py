"""The absent-target rule (issue 17, README "Absent targets"): what a service was told
to watch and is not there is never OK unless the operator asked for that.

check_msgqueues through its source seam (tests/unit/test_msgqueues_check.py's fake
source); check_mta_backlog on the captured Postfix spool. A stopped MTA is in
test_mta_oncall.py and tests/integration/test_mta_down_real.py."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_mta_oncall import run as run_mta
from test_msgqueues_check import Source, first, run, sysv

from nagios_ipc.mta import postfix

QUEUES = [sysv(0x162E, owner="app", messages=3, size=30), sysv(0x162F, owner="batch")]


@pytest.mark.parametrize("argv, code, line", [
    (["--key", "0x162e"], 0, "MSGQUEUES OK: 1 sysv queue of 1 owner, 3 messages, 30 B queued, "
                             "fullest 0.2% (sysv key 0x0000162e id 5678 of app)"),
    (["--key", "0x7777"], 2, "MSGQUEUES CRITICAL: no queue with key 0x00007777: is its "
                             "application running?"),
    (["--key", "0x7777", "--key", "0x8888", "--owner", "web"], 2,
     "MSGQUEUES CRITICAL: no queue with key 0x00007777 or 0x00008888, no queues of owner web: "
     "is its application running?"),
    (["--owner", "web", "--absent", "warning"], 1,
     "MSGQUEUES WARNING: no queues of owner web: is its application running?"),
    (["--owner", "web", "--absent", "unknown"], 3,
     "MSGQUEUES UNKNOWN: no queues of owner web: is its application running?"),
    (["--owner", "web", "--absent", "ok"], 0,
     "MSGQUEUES OK: no queues of owner web, as --absent ok allows; no message queues "
     "(checked: sysv)"),
    # an owner present and one absent: the absent one first, the rest still evaluated
    (["--owner", "app", "--owner", "web", "--absent", "warning", "--messages-critical", "2"], 2,
     "MSGQUEUES CRITICAL: no queues of owner web: is its application running? / <app>"),
    # a glob that matches nothing is absent too; excluded queues do not count as present
    (["--owner", "ap?x"], 2, "MSGQUEUES CRITICAL: no queues of owner ap?x: is its application "
                             "running?"),
    (["--key", "0x162e", "--exclude-owner", "app"], 2,
     "MSGQUEUES CRITICAL: no queue with key 0x0000162e: is its application running?"),
])
def test_msgqueues_absent_key_or_owner(argv: list, code: int, line: str) -> None:  # type: ignore[type-arg]
    got_code, text = run([Source(QUEUES)], *argv)
    got = first(text).split(" | ")[0]
    if line.endswith(" / <app>"):  # the rest is the messages finding, worded elsewhere
        assert got.startswith(line[:-len("<app>")]) and "app" in got[len(line) - 5:], got
        got = line
    assert (got_code, got) == (code, line)


def test_msgqueues_nothing_named_nothing_absent() -> None:
    code, text = run([Source([])])
    assert (code, first(text).split(" | ")[0]) == (0, "MSGQUEUES OK: no message queues "
                                                      "(checked: sysv)")


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    root = tmp_path / "queue"
    shutil.copytree(Path(__file__).resolve().parent.parent / "fixtures" / "mta"
                    / "postfix-3.7.11-spool", root)
    for queue in postfix.QUEUES:
        (root / queue).mkdir(exist_ok=True)
    return root


def test_mta_queue_name_the_mta_lacks_is_unknown(spool: Path) -> None:
    code, out = run_mta(["--mta", "postfix", "--spool-dir", str(spool), "--count-only",
                         "--queue", "defered=1,2"])
    assert (code, out.split("\n")[0]) == (
        3, "MTA_BACKLOG UNKNOWN: --queue defered: postfix has no queue of that name; its "
           "queues: maildrop, incoming, active, deferred, hold, corrupt")


def test_mta_known_queue_not_listed_counts_zero(tmp_path: Path) -> None:
    # OpenSMTPD lists queue.suspended only when a message is paused: watched, it is 0
    listing = tmp_path / "smtpctl"
    listing.write_text("#!/bin/sh\n[ \"$2\" = queue ] && cat " + str(
        Path(__file__).resolve().parent.parent / "fixtures" / "mta" / "opensmtpd"
        / "smtpctl-show-queue_empty.txt") + "\nexit 0\n")
    listing.chmod(0o755)
    code, out = run_mta(["--mta", "opensmtpd", "--method", "command", "--mta-binary",
                         str(listing), "--queue", "queue.suspended=1:,"])
    assert code == 1
    assert out.split(" | ")[0] == ("MTA_BACKLOG WARNING: opensmtpd queue.suspended queue: "
                                   "0 messages (less than 1)")
    assert "messages_queue_suspended=0;1:;;0" in out
