"""nullmailer: mailq captured from nullmailer 2.2, queue files from the same run, and
spools built in temp dirs in nullmailer's layout (queue/<epoch>.<pid>, failed/)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from nagios_ipc.mta import nullmailer
from nagios_ipc.mta.model import ParseError, Settings, Unavailable

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mta" / "nullmailer"
MULTI = (FIXTURES / "queue-file_1795457553.2965_multircpt_head.txt").read_bytes()
BOUNCE = (FIXTURES / "queue-file_1795457564.3193_bounce.txt").read_bytes()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """mailq prints local time; the capture ran in UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_mailq_listing(utc: None) -> None:
    text = (FIXTURES / "mailq.txt").read_text()
    messages = list(nullmailer.parse_mailq(text.splitlines()))
    assert len(messages) == 7
    assert {m.queue for m in messages} == {"queue"}
    assert [m.sender for m in messages].count("") == 1
    multi = next(m for m in messages if len(m.recipients) == 4)
    assert multi.size == 4815 and multi.arrival == 1795457553
    assert multi.recipients[-1] == "announce@lists.example.net"
    assert sum(m.size or 0 for m in messages) == 1174 + 205280 + 1340 + 4815 + 1579 + 1361 + 2228
    assert min(m.arrival or 0 for m in messages) == 1795457551
    assert len({m.queue_id for m in messages}) == 7


def test_mailq_empty_prints_nothing() -> None:
    text = (FIXTURES / "mailq_empty.txt").read_text()
    assert list(nullmailer.parse_mailq(text.splitlines())) == []


@pytest.mark.parametrize("text", [
    "  to <bob@example.invalid>\n",                                    # recipient first
    "2026-11-23 18:12:59 1174 bytes from <a@b>\n",                      # no recipient
    "2026-11-23 18:12:59 1174 bytes from <a@b>\nto <c@d>\n",            # wrong indent
    "2026-13-45 18:12:59 1174 bytes from <a@b>\n  to <c@d>\n",          # no such date
    "Mail queue is empty\n",                                            # Postfix's mailq
])
def test_mailq_garbage(text: str) -> None:
    with pytest.raises(ParseError):
        list(nullmailer.parse_mailq(text.splitlines()))


def test_queue_file_envelopes() -> None:
    multi = nullmailer.parse_envelope(MULTI, "queue", "1795457553.2965", 4815, 0.0, "f")
    assert multi.sender == "reports@probe.localdomain" and multi.arrival == 1795457553
    assert multi.recipients == ("ops@example.invalid", "billing@example.invalid",
                                "carol@customer.test", "announce@lists.example.net")
    bounce = nullmailer.parse_envelope(BOUNCE, "queue", "1795457564.3193", 1579, 0.0, "f")
    assert bounce.sender == "" and bounce.recipients == ("newsletter@lists.example.net",)
    # a name that is not <epoch>.<pid>: the mtime is the arrival
    other = nullmailer.parse_envelope(BOUNCE, "queue", "odd-name", 1579, 1234.0, "f")
    assert other.arrival == 1234.0


@pytest.mark.parametrize("data", [b"", b"a@b\nc@d\n", b"a@b\n\nbody", b"a@b\nc\x00d\n\nbody"])
def test_queue_file_garbage(data: bytes) -> None:
    with pytest.raises(ParseError, match="qfile"):
        nullmailer.parse_envelope(data, "queue", "1.2", len(data), 0.0, "qfile")


def make_spool(root: Path) -> Path:
    for name in ("queue", "failed", "tmp"):
        (root / name).mkdir(parents=True)
    (root / "queue" / "1795457553.2965").write_bytes(MULTI)
    (root / "queue" / "1795457564.3193").write_bytes(BOUNCE)
    (root / "failed" / "1795457554.3009").write_bytes(b"newsletter@lists.example.net\n"
                                                     b"gone@customer.test\n\nSubject: x\n")
    (root / "tmp" / "1795457599.1").write_bytes(b"half written")
    os.mkfifo(root / "trigger")
    # nullmailer-send never touches queued files; make the mtimes say something else
    for path in (root / "queue").iterdir():
        os.utime(path, (1795460000, 1795460000))
    return root


def test_spool_counts_and_messages(tmp_path: Path) -> None:
    root = make_spool(tmp_path / "nullmailer")
    source = nullmailer.open_source(Settings(spool_dir=str(root)), "spool")
    counts = {c.queue: (c.messages, c.bytes, c.oldest_arrival) for c in source.counts()}
    assert counts == {"queue": (2, len(MULTI) + len(BOUNCE), 1795457553.0),
                      "failed": (1, 60, 1795457554.0)}
    messages = {m.queue_id: m for m in source.messages()}
    assert messages["1795457564.3193"].sender == ""
    assert messages["1795457554.3009"].queue == "failed"
    assert messages["1795457553.2965"].size == len(MULTI)


def test_spool_without_failed_dir(tmp_path: Path) -> None:
    root = tmp_path / "n"
    (root / "queue").mkdir(parents=True)
    source = nullmailer.open_source(Settings(spool_dir=str(root)), "spool")
    assert [(c.queue, c.messages) for c in source.counts()] == [("queue", 0)]


def test_spool_missing(tmp_path: Path) -> None:
    with pytest.raises(Unavailable):
        nullmailer.open_source(Settings(spool_dir=str(tmp_path / "none")), "spool")


def test_command_source(tmp_path: Path, utc: None) -> None:
    stub = tmp_path / "mailq"
    stub.write_text(f"#!/bin/sh\ncat {FIXTURES}/mailq.txt\n")
    stub.chmod(0o755)
    source = nullmailer.open_source(Settings(binary=str(stub)), "command")
    (count,) = source.counts()
    assert (count.queue, count.messages, count.oldest_arrival) == ("queue", 7, 1795457551)
