"""Sendmail: mailq listings captured from sendmail 8.17.1.9, control files from the
same run, and spool trees built in temp dirs in sendmail's on-disk layout."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Dict, List

import pytest

from nagios_ipc.mta import sendmail
from nagios_ipc.mta.model import Message, ParseError, Settings, Unavailable

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mta" / "sendmail"
NOW = 1795457400.0  # a minute after the capture's last message


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="latin-1")


def listing(name: str, suffix: str = "") -> List[Message]:
    return [m for _q, m, _n, _c in sendmail.parse_mailq(fixture(name).splitlines(), NOW,
                                                          name, suffix) if m is not None]


# ------------------------------------------------------------------ queue IDs

@pytest.mark.parametrize("queue_id, expected", [
    ("6ANI8t9N000703", 1795457335),   # T record of the same message (18:08:55 UTC)
    ("6ANI9816001106", 1795457348),   # the bounce, T record 1795457348
    ("6ANI8t9N1234567", 1795457335),  # pids above 999999 make the ID longer
])
def test_queue_id_time_matches_the_control_files_arrival(queue_id: str, expected: int) -> None:
    assert sendmail.queue_id_time(queue_id, NOW) == expected


@pytest.mark.parametrize("queue_id", [
    "6UNI8t9N000703",   # month U (30) is not a month
    "6B0I8t9N000703",   # day 0
    "6ANO8t9N000703",   # hour 24
    "6A*I8t9N000703",   # not base 60
    "6ANI8t9Nabcdef",   # pid part not digits
    "6ANI8t",           # too short
    "61UI8t9N000703",   # 30 February
])
def test_queue_id_time_rejects_what_is_not_a_time(queue_id: str) -> None:
    assert sendmail.queue_id_time(queue_id, NOW) is None


def test_queue_id_year_is_the_latest_not_in_the_future() -> None:
    # year digit 6 = 2026 (mod 60); a year later it still means 2026, not 2086
    assert sendmail.queue_id_time("6ANI8t9N000703", NOW + 365 * 86400) == 1795457335
    # an ID of December 2026 seen in November 2026 is from 1966 - not in the future
    dec = sendmail.queue_id_time("6BNI8t9N000703", NOW)
    assert dec is not None and dec < 0


# ------------------------------------------------------------------ mailq

def test_mailq_listing() -> None:
    messages = listing("mailq.txt")
    assert len(messages) == 9
    assert {m.queue for m in messages} == {"mqueue"}
    by_id: Dict[str, Message] = {m.queue_id: m for m in messages}
    multi = by_id["6ANI8t9N000703"]
    assert multi.recipients == ("ops@example.invalid", "billing@example.invalid",
                                "carol@customer.test", "announce@lists.example.net")
    assert multi.size == 4263 and multi.sender == "reports@probe.localdomain"
    assert multi.arrival == 1795457335
    assert multi.reasons == ("Connection refused by [127.0.0.1]",)
    # MAILER-DAEMON is the null sender of both DSNs; "(Deferred)" alone is no reason
    assert {m.queue_id for m in messages if m.sender == ""} == {"6ANI9816001106",
                                                                "6ANI8wg6000832"}
    assert by_id["6ANI9816001106"].reasons == ()
    # sendmail cut this reason (and the long sender) itself
    assert by_id["6ANI91Tn000919"].reasons == (
        "421 4.3.2 mx.lists.example.net Service not availab",)
    assert by_id["6ANI93Pa001005"].sender == "very.long.sender.address.for.column.wra"
    assert sum(m.size or 0 for m in messages) == 220913
    assert not any(m.held for m in messages)


def test_mailq_quarantined_listing_is_held() -> None:
    (message,) = listing("mailq-qQ_quarantined.txt", ".quarantined")
    assert message.queue == "mqueue.quarantined" and message.held
    assert message.recipients == ("grace@example.invalid",)
    assert message.reasons == ("Connection refused by [127.0.0.1]",)


@pytest.mark.parametrize("name", ["mailq_empty.txt", "mailq-qQ_empty.txt"])
def test_mailq_empty(name: str) -> None:
    items = list(sendmail.parse_mailq(fixture(name).splitlines(), NOW, name))
    assert items == [("mqueue", None, 0, True)]


def test_mailq_partial_listing_is_flagged() -> None:
    items = list(sendmail.parse_mailq(fixture("mailq-OMaxQueueRunSize=1.txt").splitlines(),
                                      NOW))
    assert items[0] == ("mqueue", None, 9, False)
    assert len([m for _q, m, _n, _c in items if m is not None]) == 1


@pytest.mark.parametrize("text, why", [
    ("", "no total line at all"),
    ("\t\t/var/spool/mqueue (9 requests)\n-----Q-ID----- --Size--\n", "cut before the total"),
    ("hello world\n\t\tTotal requests: 0\n", "not a mailq line"),
    ("6ANI8skg000660     1835 Mon Nov 23 18:08 alice@x\n\t\tTotal requests: 1\n",
     "an entry before any queue header"),
    ("\t\t\t\t\t bob@example.invalid\n", "a recipient before any entry"),
    ("/var/spool/mqueue is empty\n\t\tTotal requests: 0\ntrailing\n", "text after the total"),
    ("Postfix mailq output: Mail queue is empty\n", "another MTA's mailq"),
])
def test_mailq_garbage_raises_parse_error(text: str, why: str) -> None:
    with pytest.raises(ParseError):
        list(sendmail.parse_mailq(text.splitlines(), NOW, "mailq"))


# ------------------------------------------------------------------ control files

def test_control_file_multi_recipient() -> None:
    data = (FIXTURES / "qf6ANI8t9N000703_multircpt.txt").read_bytes()
    message = sendmail.parse_qf(data, "mqueue", "6ANI8t9N000703", 4263, "qf")
    assert message.arrival == 1795457335
    assert message.sender == "reports@probe.localdomain"
    assert message.recipients == ("ops@example.invalid", "billing@example.invalid",
                                  "carol@customer.test", "announce@lists.example.net")
    # the envelope's message and the per-recipient one (carol's greylisting)
    assert message.reasons == ("Connection refused by [127.0.0.1]",
                               "451 4.7.1 Greylisted, please try again later")
    assert not message.held


def test_control_file_bounce_and_quarantine() -> None:
    bounce = sendmail.parse_qf((FIXTURES / "qf6ANI9816001106_bounce.txt").read_bytes(),
                               "mqueue", "6ANI9816001106", None, "qf")
    assert bounce.sender == "" and bounce.reasons == ()
    assert bounce.recipients == ("newsletter@lists.example.net",)
    held = sendmail.parse_qf((FIXTURES / "hf6ANI92Sh000962_quarantined.txt").read_bytes(),
                             "mqueue.quarantined", "6ANI92Sh000962", None, "hf")
    assert held.held  # the q record


@pytest.mark.parametrize("data, why", [
    (b"V8\nT1795457335\nSa@b\n", "truncated: no final '.'"),
    (b"V8\nSa@b\nRPFD:c@d\n.\n", "no arrival record"),
    (b"V8\nTsoon\n.\n", "arrival not a number"),
    (b"V8\nT" + b"9" * 400 + b"\n.\n", "arrival too large for a float"),
])
def test_control_file_garbage(data: bytes, why: str) -> None:
    with pytest.raises(ParseError, match="qf-test"):
        sendmail.parse_qf(data, "mqueue", "x", None, "qf-test")


def test_cf_queue_directory_and_groups() -> None:
    text = ("O QueueDirectory=/var/spool/mqueue/q*\n"
            "Qslow, Path=/var/spool/mqueue/slow, Runners=1, Flags=f\n"
            "Q bogus line\n")
    assert sendmail.parse_cf(text) == ("/var/spool/mqueue/q*",
                                       [("slow", "/var/spool/mqueue/slow")])


# ------------------------------------------------------------------ spool trees

def make_spool(root: Path, layout: str = "flat") -> Dict[str, Path]:
    """A sendmail queue made of the captured control files plus data files of the
    captured sizes; *layout* "subdirs" keeps them in qf/ and df/ as sendmail does
    when those subdirectories exist."""
    mqueue = root / "mqueue"
    client = root / "clientmqueue"
    qf_dir = df_dir = mqueue
    if layout == "subdirs":
        qf_dir, df_dir = mqueue / "qf", mqueue / "df"
    for directory in (mqueue, qf_dir, df_dir, client):
        directory.mkdir(parents=True, exist_ok=True)
    files = {"qf6ANI8t9N000703": ("qf6ANI8t9N000703_multircpt.txt", 4263),
             "qf6ANI9816001106": ("qf6ANI9816001106_bounce.txt", 4260),
             "hf6ANI92Sh000962": ("hf6ANI92Sh000962_quarantined.txt", 1532)}
    for name, (source, size) in files.items():
        (qf_dir / name).write_bytes((FIXTURES / source).read_bytes())
        (df_dir / ("df" + name[2:])).write_bytes(b"x" * size)
    (qf_dir / "xf6ANI8t9N000703").write_text("transcript\n")  # not a message
    (qf_dir / "tf6ANI99zz000001").write_text("V8\n")  # being written: not yet queued
    # the submission queue: one message sendmail -Ac would list
    (client / "qf6ANIA0aa000500").write_bytes(
        b"V8\nT1795457400\nK0\nN0\nSroot@localhost\nRPFD:ops@example.invalid\n"
        b"H??From: root\n.\n")
    (client / "df6ANIA0aa000500").write_bytes(b"y" * 300)
    config = root / "etc"
    config.mkdir(exist_ok=True)
    (config / "sendmail.cf").write_text(f"O QueueDirectory={mqueue}\n")
    (config / "submit.cf").write_text(f"O QueueDirectory={client}\n")
    return {"mqueue": mqueue, "client": client, "config": config}


@pytest.mark.parametrize("layout", ["flat", "subdirs"])
def test_spool_counts_and_messages(tmp_path: Path, layout: str) -> None:
    paths = make_spool(tmp_path, layout)
    settings = Settings(config_dir=str(paths["config"]), now=NOW)
    source = sendmail.open_source(settings, "spool")
    counts = {c.queue: c for c in source.counts()}
    assert set(counts) == {"mqueue", "mqueue.quarantined", "clientmqueue"}
    assert (counts["mqueue"].messages, counts["mqueue"].bytes) == (2, 4263 + 4260)
    assert counts["mqueue"].oldest_arrival == 1795457335
    assert (counts["mqueue.quarantined"].messages, counts["mqueue.quarantined"].bytes) == (1, 1532)
    assert (counts["clientmqueue"].messages, counts["clientmqueue"].oldest_arrival) == (
        1, 1795457400)
    messages = {m.queue_id: m for m in source.messages()}
    assert set(messages) == {"6ANI8t9N000703", "6ANI9816001106", "6ANI92Sh000962",
                             "6ANIA0aa000500"}
    assert messages["6ANI92Sh000962"].held
    assert messages["6ANI92Sh000962"].queue == "mqueue.quarantined"
    assert messages["6ANI9816001106"].sender == ""
    assert messages["6ANI8t9N000703"].size == 4263
    assert messages["6ANIA0aa000500"].queue == "clientmqueue"


def test_spool_count_opens_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = make_spool(tmp_path)
    source = sendmail.open_source(Settings(config_dir=str(paths["config"]), now=NOW), "spool")

    real_open = os.open

    def no_open(*args: Any, **kwargs: Any) -> int:
        if len(args) > 1 and args[1] & os.O_DIRECTORY:
            return real_open(*args, **kwargs)  # directories are read through descriptors
        raise AssertionError(f"a count-only scan opened {args[0]}")

    monkeypatch.setattr("builtins.open", no_open)
    monkeypatch.setattr(os, "open", no_open)
    assert sum(c.messages for c in source.counts()) == 4


def test_multiple_queue_directories(tmp_path: Path) -> None:
    paths = make_spool(tmp_path / "a")
    base = tmp_path / "multi"
    for name in ("q1", "q2"):
        (base / name).mkdir(parents=True)
    (paths["mqueue"] / "qf6ANI9816001106").rename(base / "q2" / "qf6ANI9816001106")
    (paths["mqueue"] / "df6ANI9816001106").rename(base / "q2" / "df6ANI9816001106")
    settings = Settings(spool_dir=str(base / "q*"), config_dir=str(tmp_path / "none"), now=NOW)
    counts = {c.queue: c.messages for c in sendmail.open_source(settings, "spool").counts()}
    assert counts == {"q1": 0, "q2": 1}


def test_queue_group_from_the_cf(tmp_path: Path) -> None:
    """A queue group (Q line) with its own directory is read as its own queue."""
    paths = make_spool(tmp_path)
    slow = paths["mqueue"] / "slow"
    slow.mkdir()
    (paths["mqueue"] / "qf6ANI9816001106").rename(slow / "qf6ANI9816001106")
    (paths["mqueue"] / "df6ANI9816001106").rename(slow / "df6ANI9816001106")
    cf = paths["config"] / "sendmail.cf"
    cf.write_text(cf.read_text() + f"Qslow, Path={slow}, Runners=1\n")
    settings = Settings(config_dir=str(paths["config"]), now=NOW)
    counts = {c.queue: c.messages for c in sendmail.open_source(settings, "spool").counts()}
    assert counts == {"mqueue": 1, "mqueue.quarantined": 1, "slow": 1, "clientmqueue": 1}


def test_spool_missing_or_unreadable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="does not exist"):
        sendmail.open_source(Settings(spool_dir=str(tmp_path / "nope"),
                                      config_dir=str(tmp_path)), "spool")
    if os.geteuid() == 0:
        pytest.skip("root reads any directory")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IWUSR)
    with pytest.raises(Unavailable) as info:
        sendmail.open_source(Settings(spool_dir=str(locked), config_dir=str(tmp_path)), "spool")
    assert "sudoers" in info.value.fix


# ------------------------------------------------------------------ command source

def stub(tmp_path: Path, body: str) -> str:
    script = tmp_path / "sendmail-stub"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def test_command_source_reads_the_three_listings(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "submit.cf").write_text("O QueueDirectory=/var/spool/clientmqueue\n")
    binary = stub(tmp_path, f"""
case "$*" in
  "-C {etc}/sendmail.cf -bp") cat {FIXTURES}/mailq.txt ;;
  "-C {etc}/sendmail.cf -bp -qQ") cat {FIXTURES}/mailq-qQ_quarantined.txt ;;
  "-C {etc}/submit.cf -bp -Ac")
    printf '/var/spool/clientmqueue is empty\\n\\t\\tTotal requests: 0\\n' ;;
  *) echo "unexpected $*" >&2; exit 64 ;;
esac
""")
    source = sendmail.open_source(Settings(binary=binary, config_dir=str(etc), now=NOW),
                                  "command")
    counts = {c.queue: (c.messages, c.bytes, c.oldest_arrival) for c in source.counts()}
    assert counts == {"mqueue": (9, 220913, 1795457334.0),
                      "mqueue.quarantined": (1, 1532, 1795457342.0),
                      "clientmqueue": (0, 0, None)}
    assert len(list(source.messages())) == 10


def test_command_source_without_submission_queue_counts_once(tmp_path: Path) -> None:
    # an MSP configured on the same queue directory: -Ac lists the main queue again
    (tmp_path / "submit.cf").write_text("O QueueDirectory=/var/spool/mqueue\n")
    binary = stub(tmp_path, f"""
case "$*" in
  *"-bp -qQ") cat {FIXTURES}/mailq-qQ_empty.txt ;;
  *) cat {FIXTURES}/mailq.txt ;;
esac
""")
    source = sendmail.open_source(Settings(binary=binary, config_dir=str(tmp_path), now=NOW),
                                  "command")
    assert [(c.queue, c.messages) for c in source.counts()] == [("mqueue", 9)]
    assert len(list(source.messages())) == 9


def test_command_source_partial_listing(tmp_path: Path) -> None:
    binary = stub(tmp_path, f"cat '{FIXTURES}/mailq-OMaxQueueRunSize=1.txt'\n")
    source = sendmail.open_source(Settings(binary=binary, now=NOW), "command")
    count = {c.queue: c for c in source.counts()}["mqueue"]
    assert (count.messages, count.bytes, count.oldest_arrival) == (9, None, None)
    with pytest.raises(ParseError, match="MaxQueueRunSize"):
        list(source.messages())


def test_command_refused(tmp_path: Path) -> None:
    binary = stub(tmp_path, "echo 'You are not permitted to see the queue' >&2; exit 77\n")
    source = sendmail.open_source(Settings(binary=binary, now=NOW), "command")
    with pytest.raises(Unavailable) as info:
        list(source.counts())
    assert "sudoers" in info.value.fix and "restrictmailq" in info.value.fix


def test_command_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match=r"missing|not found"):
        sendmail.open_source(Settings(binary=str(tmp_path / "none")), "command")
