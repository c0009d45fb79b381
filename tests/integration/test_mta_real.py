"""check_mta_backlog against a real Postfix and a real Exim with real deferred mail.

Each MTA runs in a private network namespace with only loopback and relays to a
loopback port where nothing listens, so its mail is deferred with "Connection
refused"; one message is held (Postfix) or frozen (Exim); a message to an unknown
local user from a remote sender makes the MTA queue a bounce (null sender). The
check itself also runs in a private network namespace (Exim never asks DNS).
Run as root (the spool method) and as the nagios user (the command method, or
the UNKNOWN naming both fixes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Dict, Iterator, List, Optional

import pytest

from tests.helpers import CHECKS, Outcome
from tests.integration.mta_real import EximInstance, PostfixInstance, available

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

SUDO_FIX = "run it as root via contrib/sudoers.d/nagios_ipc"
MAILQ_FIX = "add this user to authorized_mailq_users in main.cf"


def check(args: List[str], user: Optional[str] = None) -> Outcome:
    argv = [sys.executable, str(CHECKS / "check_mta_backlog"), *args]
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                           *argv], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)
    return Outcome(done.returncode, done.stdout, done.stderr)


def values(outcome: Outcome, labels: List[str]) -> Dict[str, str]:
    return {label: outcome.value(label) for label in labels}


# --- Postfix ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postfix() -> Iterator[Dict[str, object]]:
    instance = PostfixInstance("postfix-it")
    instance.setup()
    try:
        instance.start()
        instance.send("alice@probe.localdomain", ["bob@example.com", "carol@example.net"])
        instance.send("alice@customer.test", ["nosuchuser@probe.localdomain"])  # -> bounce
        instance.send("reports@probe.localdomain",
                      ["a@example.com", "b@example.com", "c@lists.example.net"])
        instance.send("frank@probe.localdomain", ["hold@example.org"])
        queue = instance.wait_queue(lambda q: len(q) == 4 and all(
            m["queue_name"] == "deferred" and all("delay_reason" in r for r in m["recipients"])
            for m in q))
        held = next(m for m in queue if m["recipients"][0]["address"] == "hold@example.org")
        instance.hold(held["queue_id"])
        yield {"instance": instance, "oldest": min(m["arrival_time"] for m in queue
                                                   if m is not held)}
    finally:
        instance.cleanup()


POSTFIX_LABELS = ["messages", "messages_deferred", "messages_hold", "messages_active",
                  "deferred", "bounces", "held", "domain_example.com"]
POSTFIX_VALUES = {"messages": "4", "messages_deferred": "3", "messages_hold": "1",
                  "messages_active": "0", "deferred": "3", "bounces": "1", "held": "1",
                  "domain_example.com": "2"}


@pytest.mark.parametrize("method", ["spool", "command"])
def test_postfix_as_root(postfix: Dict[str, object], method: str) -> None:
    instance = postfix["instance"]
    assert isinstance(instance, PostfixInstance)
    before = time.time()
    out = check(["--mta", "postfix", "--config-dir", str(instance.etc), "--method", method,
                 "--details", "always", "--domain", "example.com=5,10"])
    after = time.time()
    assert out.code == 0, out.stdout
    assert out.stderr == ""
    assert values(out, POSTFIX_LABELS) == POSTFIX_VALUES
    oldest = float(str(postfix["oldest"]))
    age = int(out.value("deferred_age").rstrip("s"))
    assert int(before - oldest) - 1 <= age <= int(after - oldest) + 1
    assert out.perfdata["deferred_age"].endswith(";14400;86400;0")
    assert out.summary.startswith("MTA_BACKLOG OK: postfix: 4 messages queued (deferred 3, hold "
                                  "1), oldest deferred ")
    lines = out.stdout.splitlines()
    where = instance.queue if method == "spool" else \
        f"/usr/sbin/postqueue -c {instance.etc} -j"
    assert lines[1] == f"method: {method} ({where})"
    assert "bounces (null sender): 1; held: 1" in lines
    assert "top destinations: example.com 2, customer.test 1, example.net 1, example.org 1, " \
           "lists.example.net 1" in lines
    # every deferred message (the held one too, once its log is written) gives this reason
    assert any(line in lines for line in ("  3 x connect to HOST: Connection refused",
                                          "  4 x connect to HOST: Connection refused")), out.stdout


def test_postfix_count_only_and_auto_detection(postfix: Dict[str, object]) -> None:
    instance = postfix["instance"]
    assert isinstance(instance, PostfixInstance)
    out = check(["--config-dir", str(instance.etc), "--count-only", "-w", "2"])
    assert out.code == 1
    assert out.first_line == (
        "MTA_BACKLOG WARNING: postfix deferred queue: 3 messages (more than 2) | messages=4;;;0 "
        "messages_maildrop=0;;;0 messages_incoming=0;;;0 messages_active=0;;;0 "
        "messages_deferred=3;;;0 messages_hold=1;;;0 messages_corrupt=0;;;0 deferred=3;2;500;0")
    assert f"method: spool ({instance.queue})" in out.stdout


def test_postfix_as_nagios_falls_back_to_postqueue(postfix: Dict[str, object]) -> None:
    instance = postfix["instance"]
    assert isinstance(instance, PostfixInstance)
    out = check(["--config-dir", str(instance.etc), "--details", "always",
                 "--domain", "example.com=5,10"], user="nagios")
    assert out.code == 0, out.stdout
    assert values(out, POSTFIX_LABELS) == POSTFIX_VALUES
    assert out.stdout.splitlines()[1] == (
        f"method: command (/usr/sbin/postqueue -c {instance.etc} -j); spool not used: "
        f"{instance.queue}/maildrop not readable by nagios (0700 postfix)")


def test_postfix_as_nagios_spool_only_is_unknown(postfix: Dict[str, object]) -> None:
    instance = postfix["instance"]
    assert isinstance(instance, PostfixInstance)
    out = check(["--config-dir", str(instance.etc), "--method", "spool"], user="nagios")
    assert out.code == 3
    assert out.stdout == (
        f"MTA_BACKLOG UNKNOWN: {instance.queue}/maildrop not readable by nagios (0700 postfix); "
        f"fix: {SUDO_FIX}, or {MAILQ_FIX}\n")


def test_postfix_as_nagios_neither_method_is_unknown(postfix: Dict[str, object]) -> None:
    instance = postfix["instance"]
    assert isinstance(instance, PostfixInstance)
    instance.postconf("authorized_mailq_users = root")
    try:
        out = check(["--config-dir", str(instance.etc)], user="nagios")
    finally:
        instance.postconf("authorized_mailq_users = static:anyone")
    assert out.code == 3
    first, spool, listing = out.stdout.splitlines()
    assert first == ("MTA_BACKLOG UNKNOWN: nagios cannot read the postfix queue by spool scan "
                     f"or listing (see below); fix: {SUDO_FIX}, or {MAILQ_FIX}")
    assert spool == f"spool scan: {instance.queue}/maildrop not readable by nagios (0700 postfix)"
    assert listing.startswith("listing: 'postqueue -j' failed (exit 69): User nagios(")
    assert listing.endswith(") is not allowed to view the mail queue")


# --- Exim ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exim() -> Iterator[EximInstance]:
    instance = EximInstance("exim-it")
    instance.setup()
    try:
        instance.send("alice@probe.localdomain", ["bob@example.com", "carol@example.net"])
        instance.send("alice@customer.test", ["nosuchuser@probe.localdomain"])  # -> bounce
        instance.send("dave@probe.localdomain", ["x@example.com"])
        instance.send("eve@probe.localdomain", ["y@example.org"], queue_only=True)
        ids = instance.ids()
        assert len(ids) == 4
        newest = max(ids, key=lambda i: (i[:6], i))  # the never-tried one: freeze it
        instance.exim("-Mf", newest)
        yield instance
    finally:
        instance.cleanup()


EXIM_LABELS = ["messages", "messages_queued", "messages_frozen", "deferred", "bounces", "held",
               "domain_example.com"]
EXIM_VALUES = {"messages": "4", "messages_queued": "3", "messages_frozen": "1", "deferred": "3",
               "bounces": "1", "held": "1", "domain_example.com": "2"}


@pytest.mark.parametrize("method", ["spool", "command"])
def test_exim_as_root(exim: EximInstance, method: str) -> None:
    out = check(["--mta", "exim", "--mta-binary", exim.binary, "--mta-config", str(exim.conf),
                 "--method", method, "--details", "always", "--domain", "example.com=5,10"])
    assert out.code == 0, out.stdout
    assert out.stderr == ""
    assert values(out, EXIM_LABELS) == EXIM_VALUES
    assert out.summary.startswith("MTA_BACKLOG OK: exim: 4 messages queued (queued 3, frozen 1), "
                                  "oldest queued ")
    assert 0 <= int(out.value("deferred_age").rstrip("s")) < 120
    lines = out.stdout.splitlines()
    where = exim.spool if method == "spool" else f"{exim.binary} -C {exim.conf} -bp"
    assert lines[1] == f"method: {method} ({where})"
    assert "bounces (null sender): 1; frozen: 1" in lines
    if method == "spool":  # exim -bp shows no reasons
        # the first attempt to a host is refused; later ones wait for its retry time
        reasons = lines[lines.index("top deferral reasons:") + 1:]
        assert sum(int(line.split(" x ")[0]) for line in reasons) == 3, out.stdout
        assert any(line.endswith(" x Connection refused") for line in reasons), out.stdout


def test_exim_count_only(exim: EximInstance) -> None:
    for method in ("spool", "command"):
        out = check(["--mta", "exim", "--mta-binary", exim.binary, "--mta-config",
                     str(exim.conf), "--method", method, "--count-only"])
        assert out.first_line == ("MTA_BACKLOG OK: exim: 4 messages queued (queued 4) | "
                                  "messages=4;;;0 messages_queued=4;;;0 deferred=4;100;500;0")


def test_exim_sizes_agree_with_exim(exim: EximInstance) -> None:
    # small messages: exim -bp prints exact bytes; the spool computation must match
    listing = exim.exim("-bp")
    exact = {line.split()[2]: int(line.split()[1]) for line in listing.splitlines()
             if line[:1] == " " and "<" in line and line.split()[1].isdigit()}
    assert exact, listing
    from nagios_ipc.mta import exim as module
    from nagios_ipc.mta.model import Settings

    source = module.open_source(Settings(spool_dir=str(exim.spool)), "spool")
    sizes = {m.queue_id: m.size for m in source.messages()}
    for message_id, size in exact.items():
        assert sizes[message_id] == size


def test_exim_as_nagios_is_unknown_naming_both_fixes(exim: EximInstance) -> None:
    out = check(["--mta", "exim", "--mta-binary", exim.binary, "--mta-config", str(exim.conf)],
                user="nagios")
    assert out.code == 3
    assert out.stdout == (
        f"MTA_BACKLOG UNKNOWN: nagios cannot read the exim queue by spool scan or listing "
        f"(see below); fix: {SUDO_FIX}, or set queue_list_requires_admin = false, or drop "
        f"--mta-config\n"
        f"spool scan: {exim.spool}/input not readable by nagios\n"
        f"listing: exim -C drops root for nagios (its listing would be empty)\n")


def test_exim_as_nagios_refused_listing(exim: EximInstance) -> None:
    # without the spool: exim -bp as a non-admin user is refused by Exim itself
    out = check(["--mta", "exim", "--mta-binary", exim.binary, "--spool-dir", str(exim.spool),
                 "--method", "command"], user="nagios")
    assert out.code == 3
    assert out.stdout.startswith("MTA_BACKLOG UNKNOWN: ")
    assert "OK" not in out.stdout


def test_timeout_on_a_big_queue_leaves_no_worker_behind(tmp_path: object) -> None:
    # 50,000 deferred messages take well over 0.25 s to read even in two processes:
    # the plugin times out, names what it was doing, and its workers are gone
    from tests.integration.mta_real import fill_postfix_queue

    instance = PostfixInstance("postfix-timeout")
    instance.setup()
    try:
        fill_postfix_queue(instance.queue, 50000, time.time())
        started = time.monotonic()
        out = check(["--config-dir", str(instance.etc), "--method", "spool", "-t", "0.25"])
        assert time.monotonic() - started < 5
        assert out.code == 3
        assert out.stdout == (f"MTA_BACKLOG UNKNOWN: timed out after 0.25s while scanning the "
                              f"Postfix queue {instance.queue}; raise -t or find what is "
                              f"slow\n")
        time.sleep(0.2)
        left = subprocess.run(["pgrep", "-f", str(instance.etc)], capture_output=True,
                              text=True).stdout
        assert left == ""
    finally:
        instance.cleanup()
