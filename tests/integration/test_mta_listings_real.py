"""Listings as the real MTAs print them (issue 19), each total cross-checked against the
MTA's own second opinion: sendmail with several queue directories that have qf/ df/
subdirectories and 8BITMIME mail ('Total requests'), nullmailer with a message leaving
while mailq lists it (the files nullmailer-queue wrote). Programs unpacked by
tests/provision/mta-more.sh, run in private namespaces as test_mta_more_real.py does.
(Exim named queues and Postfix are cross-checked in test_mta_real.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import run_check

TOP = Path("/var/lib/nagios_ipc-test")
SENDMAIL = TOP / "sendmail-bin-root/usr/libexec/sendmail/sendmail"
NULLMAILER = TOP / "nullmailer-root"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network/mount namespaces need root"),
    pytest.mark.skipif(not (SENDMAIL.exists() and NULLMAILER.exists()),
                       reason="run tests/provision/mta-more.sh (tests/run does) first"),
]

CF = """V10/Berkeley
Dj probe.localdomain
O QueueDirectory={root}/mqueue/q*
O DontProbeInterfaces=true
O ServiceSwitchFile={root}/etc/service.switch
O HostsFile=/etc/hosts
O StatusFile={root}/etc/statistics
O LogLevel=0
O EightBitMode=pass8
Mlocal, P={root}/etc/tempfail, F=lsDFMS, A=tempfail $u
Mprog, P=/bin/true, F=lsDFM, A=true
S0
R$*\t$#local $: $1
"""


def script(path: Path, text: str) -> str:
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return str(path)


def run(argv: List[str], stdin: bytes = b"") -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=30)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout.decode()


def test_sendmail_queue_dirs_total_requests(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    for queue in ("q1", "q2", "q3"):
        for sub in ("qf", "df", "xf"):
            (tmp_path / "mqueue" / queue / sub).mkdir(parents=True)
    (etc / "service.switch").write_text("hosts files\n")
    script(etc / "tempfail", "echo 'mailbox is busy' >&2\nexit 75\n")
    (etc / "sendmail.cf").write_text(CF.format(root=tmp_path))
    wrapper = script(tmp_path / "sendmail", "exec unshare -n -u sh -c 'hostname probe.localdomain;"
                     f" ip link set lo up; exec \"$0\" \"$@\"' {SENDMAIL} \"$@\"\n")
    base = [wrapper, "-C", str(etc / "sendmail.cf")]
    for index, body in enumerate(("plain", "8BITMIME", "7BIT", "plain", "8BITMIME")):
        flag = [f"-B{body}"] if body != "plain" else []
        run([*base, "-odq", *flag, "-f", f"user{index}@probe.localdomain",
             f"rcpt{index}@example.invalid"], f"Subject: {body}\n\nbody \u00e9\n".encode())
    run([*base, "-qf"])  # one queue run: each deferred, its status on the entry
    listing = run([*base, "-bp"])
    assert "8BITMIME   (Deferred: " in listing and "/df (" in listing, listing
    total = int(listing.strip().splitlines()[-1].split(":")[1])
    assert total == 5
    per_queue = {}
    for line in listing.splitlines():
        if "/mqueue/q" in line:
            name = line.split("/mqueue/")[1].split("/")[0]
            per_queue[name] = 0 if "is empty" in line else int(line.split("(")[1].split()[0])
    common = ["--mta", "sendmail", "--config-dir", str(etc), "--mta-binary", wrapper]
    for method in ("spool", "command"):
        for extra in ([], ["--count-only"]):
            out = run_check("check_mta_backlog", [*common, "--method", method, *extra])
            assert out.code == 0, (method, extra, out.stdout)
            assert out.value("messages") == str(total), (method, extra, out.stdout)
            assert {q: int(out.value(f"messages_{q}")) for q in ("q1", "q2", "q3")} == \
                per_queue, (method, extra, out.stdout)


def test_nullmailer_message_leaving_while_mailq_lists(tmp_path: Path) -> None:
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
    run([queue], b"alice@probe.localdomain\nbob@example.invalid\n\nSubject: a\n\nbody\n")
    run([queue], b"\nnewsletter@lists.example.net\n\nSubject: bounce\n\nbody\n")
    # a name whose file is gone when mailq stats it: what nullmailer-send's removal of a
    # message between mailq's readdir() and stat() looks like
    os.symlink("gone", root / "queue" / "1796648000.4242")
    assert "????? bytes" in run([mailq])
    files = sum(1 for p in (root / "queue").iterdir() if not p.is_symlink())
    for args in (["--method", "command", "--mta-binary", mailq],
                 ["--method", "spool", "--spool-dir", str(root)]):
        out = run_check("check_mta_backlog", ["--mta", "nullmailer", *args])
        assert (out.code, out.value("messages"), out.value("bounces")) == (0, str(files), "1"), \
            out.stdout
