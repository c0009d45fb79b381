"""Real sendmail, OpenSMTPD and nullmailer programs against queues the tests build.

Their Debian packages are unpacked, not installed (tests/provision/mta-more.sh): each
would replace postfix. Every program runs in a private network namespace with only
loopback (sendmail also in a private UTS namespace with a qualified hostname, else it
sleeps 60 s per run looking for its own name); smtpctl and nullmailer's mailq, whose
spool paths are compiled in, run in a private mount namespace where /var/spool is the
test's own directory. Nothing outside the test's temp dir is touched.

Each test reads the same queue by both methods, the spool scan and the MTA's own
listing, and requires the same answer - and the whole check's figures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))

import test_mta_nullmailer
import test_mta_opensmtpd
import test_mta_qmail
from helpers import run_check

from nagios_ipc.mta import nullmailer, opensmtpd, sendmail
from nagios_ipc.mta.model import Message, QueueCount, Settings

TOP = Path("/var/lib/nagios_ipc-test")
SENDMAIL = TOP / "sendmail-bin-root/usr/libexec/sendmail/sendmail"
SMTPCTL = TOP / "opensmtpd-root/usr/sbin/smtpctl"
NULLMAILER = TOP / "nullmailer-root"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network/mount namespaces need root"),
    pytest.mark.skipif(not (SENDMAIL.exists() and SMTPCTL.exists() and NULLMAILER.exists()),
                       reason="run tests/provision/mta-more.sh (tests/run does) first"),
]


def script(path: Path, text: str) -> str:
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return str(path)


def run(argv: List[str], stdin: bytes = b"") -> None:
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=30)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)


def counts(source: object) -> Dict[str, Tuple[int, object, object]]:
    found: List[QueueCount] = list(source.counts())  # type: ignore[attr-defined]
    return {c.queue: (c.messages, c.bytes, c.oldest_arrival) for c in found}


def by_id(source: object) -> Dict[Tuple[str, str], Message]:
    return {(m.queue, m.queue_id): m for m in source.messages()}  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ sendmail

CF = """V10/Berkeley
Dj probe.localdomain
O QueueDirectory={queue}
O DontProbeInterfaces=true
O ServiceSwitchFile={etc}/service.switch
O HostsFile=/etc/hosts
O StatusFile={etc}/statistics
O LogLevel=0
Mlocal, P={etc}/tempfail, F=lsDFMS, A=tempfail $u
Mprog, P=/bin/true, F=lsDFM, A=true
S0
R$*\t$#local $: $1
"""


@pytest.fixture
def sendmail_queue(tmp_path: Path) -> Dict[str, object]:
    """A sendmail queue made by sendmail: two deferred by a mailer answering 'mailbox is
    busy' (one a null-sender bounce, one to two recipients), one quarantined, and one in
    the submission queue."""
    etc = tmp_path / "etc"
    for directory in ("etc", "mqueue", "clientmqueue"):
        (tmp_path / directory).mkdir()
    (etc / "service.switch").write_text("hosts files\n")
    script(etc / "tempfail", "echo 'mailbox is busy' >&2\nexit 75\n")
    (etc / "sendmail.cf").write_text(CF.format(queue=tmp_path / "mqueue", etc=etc))
    (etc / "submit.cf").write_text(CF.format(queue=tmp_path / "clientmqueue", etc=etc))
    wrapper = script(tmp_path / "sendmail", "exec unshare -n -u sh -c 'hostname probe.localdomain;"
                     f" ip link set lo up; exec \"$0\" \"$@\"' {SENDMAIL} \"$@\"\n")
    cf, submit = str(etc / "sendmail.cf"), str(etc / "submit.cf")
    run([wrapper, "-C", cf, "-odq", "-f", "alice@probe.localdomain", "bob@example.invalid",
         "carol@customer.test"], b"Subject: a\n\nbody\n")
    run([wrapper, "-C", cf, "-odq", "-f", "<>", "dave@example.invalid"],
        b"Subject: bounce\n\n" + b"x" * 3000 + b"\n")
    run([wrapper, "-C", cf, "-odq", "-f", "eve@probe.localdomain", "erin@example.invalid"],
        b"Subject: held\n\nbody\n")
    run([wrapper, "-C", submit, "-Ac", "-odq", "-f", "root@probe.localdomain",
         "ops@example.invalid"], b"Subject: c\n\nbody\n")
    held = next(name[2:] for name in os.listdir(tmp_path / "mqueue")
                if name.startswith("qf")
                and b"Seve@" in (tmp_path / "mqueue" / name).read_bytes())
    run([wrapper, "-C", cf, f"-qI{held}", "-QHeld for review"])
    run([wrapper, "-C", cf, "-q"])  # one queue run: the mailer defers both
    # sendmail may leave the run to a child and return first (seen once in a full run on
    # a loaded machine: a qf file without its reason yet): wait for both 'M' records
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        records = [(tmp_path / "mqueue" / name).read_bytes()
                   for name in os.listdir(tmp_path / "mqueue") if name.startswith("qf")]
        if len(records) == 2 and all(b"\nM" in data for data in records):
            break
        time.sleep(0.05)
    return {"etc": etc, "wrapper": wrapper, "held": held, "root": tmp_path}


def test_sendmail_spool_and_mailq_agree(sendmail_queue: Dict[str, object]) -> None:
    etc = str(sendmail_queue["etc"])
    spool = sendmail.open_source(Settings(config_dir=etc), "spool")
    command = sendmail.open_source(Settings(config_dir=etc,
                                            binary=str(sendmail_queue["wrapper"])), "command")
    spool_counts, command_counts = counts(spool), counts(command)
    assert {q: c[0] for q, c in spool_counts.items()} == {
        "mqueue": 2, "mqueue.quarantined": 1, "clientmqueue": 1}
    assert command_counts == spool_counts
    spool_messages, listed = by_id(spool), by_id(command)
    assert set(listed) == set(spool_messages)
    for key, message in spool_messages.items():
        other = listed[key]
        assert (other.sender, other.recipients, other.size, other.arrival, other.held) == (
            message.sender, message.recipients, message.size, message.arrival, message.held)
        if key[0] == "mqueue":  # deferred by the queue run; mailq cuts reasons short
            (reason,), (cut,) = message.reasons, other.reasons
            assert reason.startswith("local mailer (") and reason.endswith("EX_TEMPFAIL")
            assert reason.startswith(cut) and len(cut) >= 40
    bounce = next(m for m in spool_messages.values() if m.sender == "")
    assert bounce.recipients == ("dave@example.invalid",) and bounce.size == 3001
    assert spool_messages[("mqueue.quarantined", str(sendmail_queue["held"]))].held


@pytest.mark.parametrize("method", ["spool", "command"])
def test_sendmail_whole_check(sendmail_queue: Dict[str, object], method: str) -> None:
    outcome = run_check("check_mta_backlog", [
        "--mta", "sendmail", "--method", method, "--config-dir", str(sendmail_queue["etc"]),
        "--mta-binary", str(sendmail_queue["wrapper"]), "-w", "3", "-c", "5"])
    assert outcome.stderr == ""
    assert outcome.code == 0, outcome.stdout
    assert outcome.first_line.startswith("MTA_BACKLOG OK: sendmail")
    assert outcome.value("messages") == "4"
    assert outcome.value("deferred") == "3"  # mqueue and clientmqueue, not the quarantined
    assert outcome.value("bounces") == "1"
    assert outcome.value("held") == "1"
    outcome = run_check("check_mta_backlog", [
        "--mta", "sendmail", "--method", method, "--config-dir", str(sendmail_queue["etc"]),
        "--mta-binary", str(sendmail_queue["wrapper"]), "-w", "2", "-c", "5", "--count-only"])
    assert outcome.code == 1, outcome.stdout
    assert outcome.value("deferred") == "3"


# ------------------------------------------------------------------------------ OpenSMTPD

def test_opensmtpd_spool_and_smtpctl_agree(tmp_path: Path) -> None:
    """smtpctl lists a queue offline (no smtpd running) by reading the spool itself:
    the same queue files our spool scan reads."""
    spool_root = tmp_path / "spool"
    test_mta_opensmtpd.make_spool(spool_root / "smtpd")
    # smtpctl insists on running setgid to its group: a private copy with a group that
    # exists only in the mount namespace's /etc/group and /etc/passwd
    for name in ("group", "passwd"):
        shutil.copy(f"/etc/{name}", tmp_path / name)
    with open(tmp_path / "group", "a") as handle:
        handle.write("opensmtpq:x:64990:\n")
    with open(tmp_path / "passwd", "a") as handle:
        handle.write("opensmtpq:x:64990:64990::/nonexistent:/usr/sbin/nologin\n"
                     "opensmtpd:x:64991:64990::/nonexistent:/usr/sbin/nologin\n")
    (tmp_path / "bin").mkdir()
    smtpctl = tmp_path / "bin" / "smtpctl"  # it checks its own name
    shutil.copy(SMTPCTL, smtpctl)
    os.chown(smtpctl, 0, 64990)
    smtpctl.chmod(0o2755)
    wrapper = script(tmp_path / "smtpctl", (
        "exec unshare -m -n sh -c 'mount --bind \"$1\"/group /etc/group && "
        "mount --bind \"$1\"/passwd /etc/passwd && mount --bind \"$1\"/spool /var/spool && "
        f"shift && exec \"$@\"' sh {tmp_path} {smtpctl} \"$@\"\n"))
    spool = opensmtpd.open_source(Settings(spool_dir=str(spool_root / "smtpd")), "spool")
    command = opensmtpd.open_source(Settings(binary=wrapper), "command")
    listed = {m.queue_id: m for m in command.messages()}
    scanned = {m.queue_id: m for m in spool.messages() if m.queue == "queue"}
    assert set(listed) == set(scanned) == {"6643d15f", "52c7c86f"}
    for msgid, message in scanned.items():
        other = listed[msgid]
        assert (other.sender, set(other.recipients), set(other.reasons), other.arrival) == (
            message.sender, set(message.recipients), set(message.reasons), message.arrival)
    assert counts(command)["queue"][0] == counts(spool)["queue"][0] == 2


# ------------------------------------------------------------------------------ nullmailer

def test_nullmailer_queue_and_mailq_agree(tmp_path: Path) -> None:
    """Messages queued by nullmailer-queue itself, read by our spool scan and listed by
    nullmailer's mailq."""
    root = tmp_path / "spool" / "nullmailer"
    for name in ("queue", "tmp", "failed"):
        (root / name).mkdir(parents=True)
    os.mkfifo(root / "trigger")
    for path in [root, *root.iterdir()]:
        os.chown(path, 8, 0)  # mail, as the package sets it up
    namespace = ("exec unshare -m -n sh -c 'mount --bind \"$1\" /var/spool && shift && "
                 f"exec \"$@\"' sh {tmp_path / 'spool'} {{program}} \"$@\"\n")
    queue = script(tmp_path / "nullmailer-queue",
                   namespace.format(program=NULLMAILER / "usr/sbin/nullmailer-queue"))
    mailq = script(tmp_path / "mailq", namespace.format(program=NULLMAILER / "usr/bin/mailq"))
    run([queue], b"alice@probe.localdomain\nbob@example.invalid\ncarol@customer.test\n\n"
                 b"Subject: a\n\nbody\n")
    run([queue], b"\nnewsletter@lists.example.net\n\nSubject: bounce\n\nbody\n")
    spool = nullmailer.open_source(Settings(spool_dir=str(root)), "spool")
    command = nullmailer.open_source(Settings(binary=mailq), "command")
    scanned = sorted((m.sender, m.recipients, m.size, m.arrival) for m in spool.messages())
    listed = sorted((m.sender, m.recipients, m.size, m.arrival) for m in command.messages())
    assert scanned == listed
    assert [s[0] for s in scanned].count("") == 1
    assert counts(spool)["queue"] == counts(command)["queue"]
    outcome = run_check("check_mta_backlog", ["--mta", "nullmailer", "--spool-dir", str(root)])
    assert (outcome.code, outcome.value("messages"), outcome.value("bounces")) == (0, "2", "1")


# ------------------------------------------------------------------------------ nagios user

@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temp dir the nagios user can traverse (pytest's own is 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="mta-more-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.parametrize("mta", ["qmail", "opensmtpd", "nullmailer"])
def test_unprivileged_user_gets_one_clear_unknown(open_tmp: Path, mta: str) -> None:
    """As nagios, a root-only spool and no listing program: UNKNOWN naming the missing
    permission and the fixes - never an OK from an empty-looking queue."""
    if mta == "qmail":
        root = test_mta_qmail.Queue(open_tmp / "queue").root
    elif mta == "opensmtpd":
        root = test_mta_opensmtpd.make_spool(open_tmp / "smtpd")
    else:
        root = test_mta_nullmailer.make_spool(open_tmp / "nullmailer")
    for path in [root, *root.iterdir()]:
        if path.is_dir():
            path.chmod(0o700)
    outcome = run_check("check_mta_backlog", ["--mta", mta, "--spool-dir", str(root),
                                              "--mta-binary", str(open_tmp / "no-such-tool")],
                        user="nagios")
    assert outcome.stderr == ""
    assert outcome.code == 3, outcome.stdout
    first, spool, listing = outcome.stdout.splitlines()  # the causes follow the first line
    assert first.startswith(f"MTA_BACKLOG UNKNOWN: nagios cannot read the {mta} queue by spool "
                            f"scan or listing (see below); fix: ")
    assert spool.startswith("spool scan: ") and "not readable by this user" in spool
    assert listing.startswith("listing: ")
    assert "contrib/sudoers.d/nagios_ipc" in outcome.stdout
    assert str(open_tmp / "no-such-tool") in outcome.stdout
