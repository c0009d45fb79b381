"""OpenSMTPD: smtpctl show queue captured from OpenSMTPD 6.8.0p2 (daemon running,
stopped, empty), envelope files from the same run, and spools built in temp dirs in
its layout (queue/<2 hex>/<msgid>/{message,<evpid>}, offline/)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

import pytest

from nagios_ipc.mta import opensmtpd
from nagios_ipc.mta.model import Message, ParseError, Settings, Unavailable

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mta" / "opensmtpd"


def show_queue(name: str) -> List[Message]:
    return list(opensmtpd.parse_show_queue((FIXTURES / name).read_text().splitlines()))


@pytest.mark.parametrize("name", ["smtpctl-show-queue.txt",
                                  "smtpctl-show-queue_daemon-stopped.txt"])
def test_show_queue(name: str) -> None:
    messages = show_queue(name)
    # 13 envelopes of 9 messages; the paused one is a message of its own
    assert len(messages) == 9
    by_id = {m.queue_id: m for m in messages}
    multi = by_id["6643d15f"]
    assert len(multi.recipients) == 4 and multi.arrival == 1795457428
    assert set(multi.reasons) == {"Network error on destination MXs",
                                  "451 4.7.1 Greylisted, please try again later"}
    assert by_id["52c7c86f"].sender == "" and by_id["52c7c86f"].reasons == ()
    assert by_id["c3dc767f"].recipients in (("heidi@example.invalid", "ivan@example.invalid"),
                                            ("ivan@example.invalid", "heidi@example.invalid"))
    assert all(m.size is None for m in messages)


def test_show_queue_paused_envelope_is_suspended() -> None:
    by_id = {m.queue_id: m for m in show_queue("smtpctl-show-queue.txt")}
    assert by_id["fd72e8d6"].held and by_id["fd72e8d6"].queue == "queue.suspended"
    assert sum(m.held for m in by_id.values()) == 1
    # offline (daemon stopped) the pause is gone: it lived in the scheduler only
    assert not any(m.held for m in show_queue("smtpctl-show-queue_daemon-stopped.txt"))


def test_show_queue_empty() -> None:
    assert show_queue("smtpctl-show-queue_empty.txt") == []


LINE = ("42847545d2ff884d|local|mta|auth|alice@probe.localdomain|bob@example.invalid|"
        "bob@example.invalid|1795457426|1795457426|1795457451|1|inflight|143|Network error")


@pytest.mark.parametrize("line", [
    LINE.replace("|inflight", ""),                      # a field short
    LINE.replace("42847545d2ff884d", "42847545d2ff88"),  # short envelope ID
    LINE.replace("|mta|", "|smtp|"),                     # unknown type
    LINE.replace("|1795457426|1795457426|", "|soon|1795457426|"),  # bad ctime
    LINE.replace("|inflight|", "|IN FLIGHT|"),           # not a state word
    "smtpctl: smtpd doesn't seem to be running",
])
def test_show_queue_garbage(line: str) -> None:
    with pytest.raises(ParseError):
        list(opensmtpd.parse_show_queue([line]))


def test_error_text_with_a_bar_stays_whole() -> None:
    (message,) = opensmtpd.parse_show_queue([LINE + "|x"])
    assert message.reasons == ("Network error|x",)


def test_envelope_files() -> None:
    paused = opensmtpd.parse_envelope(
        (FIXTURES / "queue-envelope-file_fd72e8d62c600871_paused.txt").read_bytes(), "f")
    assert paused["dest"] == "grace@example.invalid" and paused["ctime"] == "1795457434"
    bounce = opensmtpd.parse_envelope(
        (FIXTURES / "smtpctl-show-envelope_52c7c86f7897512c_bounce.txt").read_bytes(), "f")
    assert bounce["sender"] == "@"


@pytest.mark.parametrize("data", [b"\x1f\x8b\x08\x00compressed", b"version: 3\nsender: a@b\n",
                                  b"just text\n", b"version: 3\nsender: a\nrcpt: b\nctime: x\n"])
def test_envelope_garbage(data: bytes) -> None:
    with pytest.raises(ParseError, match="envfile"):
        opensmtpd.parse_envelope(data, "envfile")


def make_spool(root: Path) -> Path:
    """Two messages as smtpd lays them out: the multi-recipient one (2 of its
    envelopes) and the null-sender bounce; plus one offline submission."""
    envelope = (FIXTURES / "smtpctl-show-envelope_6643d15f6c080ad4.txt").read_text()
    bounce = (FIXTURES / "smtpctl-show-envelope_52c7c86f7897512c_bounce.txt").read_text()
    for name in ("incoming", "offline", "purge", "queue", "temporary"):
        (root / name).mkdir(parents=True)
    multi = root / "queue" / "66" / "6643d15f"
    multi.mkdir(parents=True)
    (multi / "message").write_bytes(b"m" * 4765)
    (multi / "6643d15f6c080ad4").write_text(envelope)
    (multi / "6643d15f928c4895").write_text(
        envelope.replace("carol@customer.test", "ops@example.invalid")
        .replace("451 4.7.1 Greylisted, please try again later",
                 "Network error on destination MXs"))
    os.utime(multi / "message", (1795457428, 1795457428))
    dsn = root / "queue" / "52" / "52c7c86f"
    dsn.mkdir(parents=True)
    (dsn / "message").write_bytes(b"b" * 4397)
    (dsn / "52c7c86f7897512c").write_text(bounce)
    os.utime(dsn / "message", (1795457452, 1795457452))
    (root / "queue" / "08").mkdir()  # an empty bucket
    (root / "offline" / "1795457460.AbCdEf1234").write_bytes(b"-f alice@x bob@y\nSubject: z\n")
    os.utime(root / "offline" / "1795457460.AbCdEf1234", (1795457460, 1795457460))
    return root


def test_spool_counts_and_messages(tmp_path: Path) -> None:
    root = make_spool(tmp_path / "smtpd")
    source = opensmtpd.open_source(Settings(spool_dir=str(root)), "spool")
    counts = {c.queue: (c.messages, c.bytes, c.oldest_arrival) for c in source.counts()}
    assert counts == {"queue": (2, 4765 + 4397, 1795457428.0),
                      "offline": (1, 28, 1795457460.0)}
    by_id = {m.queue_id: m for m in source.messages()}
    assert set(by_id["6643d15f"].recipients) == {"carol@customer.test", "ops@example.invalid"}
    assert by_id["6643d15f"].size == 4765 and by_id["6643d15f"].arrival == 1795457428
    assert by_id["52c7c86f"].sender == ""
    assert by_id["1795457460.AbCdEf1234"].queue == "offline"


def test_spool_and_binary_missing(tmp_path: Path) -> None:
    with pytest.raises(Unavailable):
        opensmtpd.open_source(Settings(spool_dir=str(tmp_path / "none")), "spool")
    with pytest.raises(Unavailable):
        opensmtpd.open_source(Settings(binary=str(tmp_path / "smtpctl")), "command")


def test_command_source(tmp_path: Path) -> None:
    stub = tmp_path / "smtpctl"
    stub.write_text(f"#!/bin/sh\n[ \"$*\" = 'show queue' ] || exit 64\n"
                    f"cat {FIXTURES}/smtpctl-show-queue.txt\n")
    stub.chmod(0o755)
    source = opensmtpd.open_source(Settings(binary=str(stub)), "command")
    counts = {c.queue: (c.messages, c.oldest_arrival) for c in source.counts()}
    assert counts == {"queue": (8, 1795457426.0), "queue.suspended": (1, 1795457434.0)}


def test_command_daemon_stopped_listing_still_counts(tmp_path: Path) -> None:
    stub = tmp_path / "smtpctl"
    stub.write_text(f"#!/bin/sh\ncat {FIXTURES}/smtpctl-show-queue_daemon-stopped.txt\n")
    stub.chmod(0o755)
    source = opensmtpd.open_source(Settings(binary=str(stub)), "command")
    assert [(c.queue, c.messages) for c in source.counts()] == [("queue", 9)]
