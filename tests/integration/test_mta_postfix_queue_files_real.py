"""check_mta_backlog on the queue files of a real Postfix that are not plain finished mail:
files Postfix has not finished writing, and a damaged queue file.

Postfix marks a finished queue file by its owner bits rwx (mail_open_ok.c): postdrop
writes a maildrop file 0644 and cleanup an incoming file 0600 until they are complete,
and showq, pickup and qmgr pass over anything else. A postdrop killed mid-message leaves
its file so for good.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from tests.integration.mta_real import PostfixInstance, available
from tests.integration.test_mta_real import check

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))


@pytest.fixture
def postfix() -> Iterator[PostfixInstance]:
    yield from PostfixInstance.running("postfix-queue-files")


def deferred(instance: PostfixInstance, count: int) -> List[dict]:  # type: ignore[type-arg]
    return instance.wait_queue(lambda q: len(q) == count and all(
        m["queue_name"] in ("deferred", "hold")
        and all("delay_reason" in r for r in m["recipients"]) for m in q))


def killed_postdrop(instance: PostfixInstance) -> Path:
    """A local submission whose postdrop is killed mid-message (SIGKILL: no clean-up
    handler runs), as an OOM kill or a power cut leaves it: its maildrop file, unfinished."""
    maildrop = instance.queue / "maildrop"
    before = set(os.listdir(maildrop))
    sendmail = subprocess.Popen(["/usr/sbin/sendmail", "-C", str(instance.etc), "-f",
                                 "alice@probe.localdomain", "half@unfinished.example"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    assert sendmail.stdin is not None
    try:
        sendmail.stdin.write(b"Subject: half\n\n" + b"line of a message being written\n" * 4000)
        sendmail.stdin.flush()
        deadline = time.monotonic() + 20
        while True:
            children = Path(f"/proc/{sendmail.pid}/task/{sendmail.pid}/children").read_text()
            made = set(os.listdir(maildrop)) - before
            if children.split() and made and (maildrop / min(made)).stat().st_size > 4096:
                break
            assert time.monotonic() < deadline, "postdrop never wrote its maildrop file"
            time.sleep(0.05)
        (postdrop,) = children.split()  # sendmail's one child, started for this message
        os.kill(int(postdrop), signal.SIGKILL)
    finally:
        sendmail.stdin.close()
        sendmail.wait(timeout=20)
    (name,) = set(os.listdir(maildrop)) - before
    path = maildrop / name
    assert path.stat().st_mode & 0o777 == 0o644  # as postdrop left it: never finished
    return path


def test_unfinished_queue_files_are_not_mail(postfix: PostfixInstance) -> None:
    postfix.send("bob@probe.localdomain", ["carol@deferred.example"])
    deferred(postfix, 1)
    half = killed_postdrop(postfix)
    # an incoming file as cleanup has it while the message is being received: 0600 postfix
    pw = pwd.getpwnam("postfix")
    incoming = postfix.queue / "incoming" / "4Xq2Lk0Z3Vz9abc"
    incoming.write_bytes(half.read_bytes())
    os.chown(incoming, pw.pw_uid, pw.pw_gid)
    incoming.chmod(0o600)
    time.sleep(1)  # pickup and qmgr had their chance: neither takes an unfinished file
    assert [m["queue_name"] for m in postfix.postqueue()] == ["deferred"]
    assert half.exists() and incoming.exists()
    for method in ("spool", "command"):
        for extra in ([], ["--count-only"]):
            out = check(["--mta", "postfix", "--config-dir", str(postfix.etc), "--method",
                         method, "--details", "always", "--queue", "maildrop=0,0",
                         "--queue", "incoming=0,0", "--trend-window", "0", *extra])
            assert out.code == 0, (method, extra, out.stdout)
            assert (out.value("messages"), out.value("messages_maildrop"),
                    out.value("messages_incoming"), out.value("messages_deferred")) == \
                ("1", "0", "0", "1"), (method, extra, out.stdout)
            assert "unfinished.example" not in out.stdout, (method, extra, out.stdout)


def test_top_destination_of_the_deferred_queue_is_its_own(postfix: PostfixInstance) -> None:
    """Six messages held for one domain, four deferred for another: the first line's
    deferred problem names where the deferred mail goes, not the held mail."""
    for index in range(6):
        postfix.send("bob@probe.localdomain", [f"user{index}@held.example"])
    for index in range(4):
        postfix.send("bob@probe.localdomain", [f"user{index}@deferred.example"])
    for message in deferred(postfix, 10):
        if message["recipients"][0]["address"].endswith("@held.example"):
            postfix.hold(message["queue_id"])
    postfix.wait_queue(lambda q: sum(m["queue_name"] == "hold" for m in q) == 6)
    for method in ("spool", "command"):
        out = check(["--mta", "postfix", "--config-dir", str(postfix.etc), "--method", method,
                     "-w", "2", "--trend-window", "0"])
        assert out.code == 1, (method, out.stdout)
        assert out.summary.startswith("MTA_BACKLOG WARNING: postfix deferred queue: 4 messages "
                                      "(more than 2), oldest "), (method, out.stdout)
        assert out.summary.endswith(", top destination deferred.example (4)"), \
            (method, out.stdout)
        assert "top destinations: held.example 6, deferred.example 4" in out.stdout


def test_a_damaged_deferred_file_is_a_warning_naming_it(postfix: PostfixInstance) -> None:
    """A deferred queue file with a bad record type byte (dd over a real one, as disk
    trouble leaves it): qmgr moves it to corrupt/ only when it next opens it, hours away;
    postqueue lists the whole queue meanwhile, and so does the check, naming the file and
    the fix (which is then run, and the check is OK)."""
    postfix.send("bob@probe.localdomain", ["carol@deferred.example"])
    postfix.send("bob@probe.localdomain", ["dave@other.example"])
    queue = deferred(postfix, 2)
    victim = next(m for m in queue if m["recipients"][0]["address"] == "carol@deferred.example")
    queue_id = victim["queue_id"]
    (path,) = (postfix.queue / "deferred").rglob(queue_id)
    subprocess.run(["dd", f"of={path}", "bs=1", "seek=97", "count=1", "conv=notrunc",
                    "status=none"], input=b"\x01", check=True)
    where = path.relative_to(postfix.queue)
    assert len(postfix.postqueue()) == 2
    out = check(["--mta", "postfix", "--config-dir", str(postfix.etc), "--method", "spool",
                 "--trend-window", "0"])
    assert out.code == 1, out.stdout
    assert out.summary == (
        f"MTA_BACKLOG WARNING: postfix queue: damaged queue file {where}: Postfix moves it to "
        f"corrupt/ when it next tries it; postsuper -c {postfix.etc} -d {queue_id} removes it")
    assert (out.value("messages"), out.value("messages_deferred"), out.value("deferred")) == \
        ("2", "2", "2")
    assert any(line.startswith(f"damaged queue file {where} (record type ")
               for line in out.stdout.splitlines()), out.stdout
    assert "other.example 1" in out.stdout and "deferred.example" not in out.stdout
    other = next(m for m in queue if m is not victim)
    age = int(out.value("deferred_age").rstrip("s"))
    assert abs(age - (time.time() - other["arrival_time"])) <= 2  # the readable one's age
    # the fix as printed
    subprocess.run(["postsuper", "-c", str(postfix.etc), "-d", queue_id], check=True,
                   capture_output=True)
    out = check(["--mta", "postfix", "--config-dir", str(postfix.etc), "--method", "spool",
                 "--trend-window", "0"])
    assert out.code == 0 and out.value("messages") == "1", out.stdout


def test_instance_not_listed_for_postqueue_names_alternate_config_directories(
        postfix: PostfixInstance) -> None:
    """As nagios, an instance the default main.cf does not list (this one: see
    tests/provision/mta.sh): postqueue refuses -c before any permission is looked at, so
    the fix is alternate_config_directories, never authorized_mailq_users."""
    listed = subprocess.run(["postconf", "-h", "alternate_config_directories"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert str(postfix.etc) not in listed
    wanted = f"add {postfix.etc} to /etc/postfix/main.cf alternate_config_directories"
    for method in ("auto", "command"):
        out = check(["--mta", "postfix", "--config-dir", str(postfix.etc), "--method", method],
                    user="nagios")
        assert out.code == 3, (method, out.stdout)
        assert wanted in out.first_line, (method, out.stdout)
        assert "run it as root via contrib/sudoers.d/nagios_ipc" in out.first_line
        assert "authorized_mailq_users" not in out.stdout, (method, out.stdout)


def corrupted(instance: PostfixInstance, recipient: str) -> Path:
    """A deferred message damaged (dd over a record type byte) and flushed: qmgr opens it
    and saves it to corrupt/, as it does with any queue file it cannot read."""
    instance.send("bob@probe.localdomain", [recipient])
    queue = instance.wait_queue(lambda q: any(
        m["recipients"][0]["address"] == recipient and m["queue_name"] == "deferred"
        and "delay_reason" in m["recipients"][0] for m in q))
    queue_id = next(m["queue_id"] for m in queue if m["recipients"][0]["address"] == recipient)
    (path,) = (instance.queue / "deferred").rglob(queue_id)
    subprocess.run(["dd", f"of={path}", "bs=1", "seek=97", "count=1", "conv=notrunc",
                    "status=none"], input=b"\x01", check=True)
    subprocess.run(["postqueue", "-c", str(instance.etc), "-i", queue_id], check=True)
    saved = instance.queue / "corrupt" / queue_id
    deadline = time.monotonic() + 20
    while not saved.exists():
        assert time.monotonic() < deadline, "qmgr never moved the damaged file to corrupt/"
        time.sleep(0.1)
    return saved


def test_corrupt_queue_age_and_what_postqueue_cannot_see(postfix: PostfixInstance) -> None:
    """A file qmgr saved to corrupt/ five minutes ago: the spool scan counts it and ages
    it by its mtime; postqueue never lists corrupt/, so the command method leaves its
    figures out and a threshold on it is UNKNOWN naming the fix, never an OK on a 0."""
    postfix.send("bob@probe.localdomain", ["dave@other.example"])
    saved = corrupted(postfix, "carol@deferred.example")
    moved = saved.stat().st_mtime
    assert abs(moved - time.time()) <= 5  # about when qmgr moved it
    os.utime(saved, (moved - 300, moved - 300))  # as if that was five minutes ago
    base = ["--mta", "postfix", "--config-dir", str(postfix.etc), "--details", "always",
            "--trend-window", "0"]
    out = check([*base, "--method", "spool", "--queue-age", "corrupt=1m,2m"])
    assert out.code == 2, out.stdout
    assert out.summary.startswith("MTA_BACKLOG CRITICAL: oldest message in the postfix corrupt "
                                  "queue 5m"), out.stdout
    assert out.value("messages_corrupt") == "1"
    assert 299 <= int(out.value("oldest_corrupt").rstrip("s")) <= 310, out.stdout
    assert any(line.startswith("corrupt: 1 message, ") and ", oldest 5m" in line
               for line in out.stdout.splitlines()), out.stdout

    out = check([*base, "--method", "command"])
    assert out.code == 0, out.stdout
    assert "messages_corrupt" not in out.perfdata and "oldest_corrupt" not in out.perfdata
    lines = out.stdout.splitlines()
    assert "corrupt: not listed by postqueue (--method spool reads it)" in lines, out.stdout
    assert not any(line.startswith("corrupt: 0") for line in lines), out.stdout
    assert out.value("messages") == "1" and out.value("messages_deferred") == "1"
    for option, limit in (("--queue", "corrupt=0,0"), ("--queue-age", "corrupt=1s,2s")):
        out = check([*base, "--method", "command", option, limit])
        assert out.code == 3, (option, out.stdout)
        assert out.summary == (
            f"MTA_BACKLOG UNKNOWN: {option} corrupt: command method ('/usr/sbin/postqueue -c "
            f"{postfix.etc} -j') does not list the postfix corrupt queue; fix: run it as root via "
            f"contrib/sudoers.d/nagios_ipc with --method spool"), (option, out.stdout)
