"""check_mta_backlog: parsers on real captures and generated queue files, aggregation,
method choice, and the check's output."""

from __future__ import annotations

import functools
import json
import os
import pwd
import shutil
import stat
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, List

import pytest

from nagios_ipc import cli
from nagios_ipc.mta import backlog, check, exim, postfix, registry
from nagios_ipc.mta.model import Message, ParseError, Settings, Unavailable

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mta"
SHARED = FIXTURES / "shared"
SPOOL = FIXTURES / "postfix-3.7.11-spool"
NOW = 1796492035 + 3600.0  # one hour after the captured messages arrived


@pytest.fixture
def postfix_spool(tmp_path: Path) -> Path:
    """The captured Postfix queue, with the empty queue dirs git does not keep."""
    root = tmp_path / "queue"
    shutil.copytree(SPOOL, root)
    for queue in postfix.QUEUES:
        (root / queue).mkdir(exist_ok=True)
    return root


def run(argv: List[str], now: float = NOW) -> tuple[int, str]:
    return cli.execute(check.parser(), functools.partial(check.build, now=lambda: now), argv)


# --- Postfix spool ---------------------------------------------------------------------


def test_postfix_spool_agrees_with_postqueue_of_the_same_queue(postfix_spool: Path) -> None:
    # the same real queue read both ways must give the same messages
    source = postfix.open_source(Settings(spool_dir=str(postfix_spool)), "spool")
    spool = {m.queue_id: m for m in source.messages()}
    lines = (FIXTURES / "postfix-3.7.11-spool_postqueue-j.txt").read_bytes().splitlines()
    listed = {m.queue_id: m for m in map(postfix.parse_postqueue_line, lines)}
    assert sorted(spool) == sorted(listed)
    for queue_id, want in listed.items():
        got = spool[queue_id]
        assert (got.queue, got.size, got.sender, sorted(got.recipients)) == \
            (want.queue, want.size, want.sender, sorted(want.recipients)), queue_id
        assert int(got.arrival or 0) == want.arrival
        assert sorted(got.reasons) == sorted(want.reasons), queue_id
    assert spool["E85A91661BB"].sender == ""          # Postfix's own DSN: null sender
    assert spool["E9D971661BA"].size == 100441        # content beyond the first read
    assert spool["EDEDC1661C1"].held


@pytest.mark.parametrize("layout", ["defer flat", "defer hashed deeper"])
def test_postfix_reasons_whatever_the_defer_hashing(postfix_spool: Path, layout: str) -> None:
    """hash_queue_names may hash deferred/ and not defer/ (postsuper -s then makes
    defer/ flat), or give them other depths: every message's reasons are still found,
    as postqueue finds them (review: the spool method lost most of them)."""
    defer = postfix_spool / "defer"
    for log in list(defer.glob("*/*")):
        target = defer / log.name if layout == "defer flat" else (
            defer / log.name[0] / log.name[1] / log.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        log.rename(target)
    if layout == "defer flat":
        for sub in defer.iterdir():
            if sub.is_dir():
                sub.rmdir()
    source = postfix.open_source(Settings(spool_dir=str(postfix_spool)), "spool")
    got = {m.queue_id: sorted(m.reasons) for m in source.messages()}
    lines = (FIXTURES / "postfix-3.7.11-spool_postqueue-j.txt").read_bytes().splitlines()
    listed = {m.queue_id: sorted(m.reasons) for m in map(postfix.parse_postqueue_line, lines)}
    assert got == listed
    assert sum(map(len, got.values())) >= 5


def test_postfix_counts_read_no_message_file(postfix_spool: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # count-only must cost directory entries only: any open of a file fails the test
    opened: List[str] = []
    real_open = os.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        if not (args and args[0] & os.O_DIRECTORY):  # directories are read through fds
            opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    monkeypatch.setattr("builtins.open", lambda *a, **k: pytest.fail(f"open{a}"))
    source = postfix.open_source(Settings(spool_dir=str(postfix_spool)), "spool")
    counts = {c.queue: c.messages for c in source.counts()}
    assert counts == {"maildrop": 1, "incoming": 0, "active": 0, "deferred": 4, "hold": 1,
                      "corrupt": 0}
    assert opened == []
    list(source.messages())  # the seam does see opens when messages are read
    assert len(opened) >= 6


def test_count_only_check_works_with_unreadable_message_files(postfix_spool: Path) -> None:
    # files made unreadable: a count-only run still answers (as root, also via the seam);
    # the maildrop file keeps its owner bits rwx, Postfix's mark of a finished file there
    for path in postfix_spool.rglob("*"):
        if path.is_file():
            path.chmod(0o700 if path.parent.name == "maildrop" else 0)
    code, out = run(["--mta", "postfix", "--spool-dir", str(postfix_spool), "--count-only"])
    assert code == 0
    assert out.splitlines()[0] == (
        "MTA_BACKLOG OK: postfix: 6 messages queued (maildrop 1, deferred 4, hold 1) | "
        "messages=6;;;0 messages_maildrop=1;;;0 messages_incoming=0;;;0 messages_active=0;;;0 "
        "messages_deferred=4;;;0 messages_hold=1;;;0 messages_corrupt=0;;;0 "
        "deferred=4;100;500;0")


def record(kind: str, data: bytes) -> bytes:
    length = len(data)
    out = bytearray([ord(kind)])
    while True:
        byte = length & 0x7F
        length >>= 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out) + data


def queue_file(content: bytes = b"", recipients: tuple = (b"a@example.com",),
               sender: bytes = b"s@example.org", extracted: bytes = b"",
               pointer_to_end: bytes = b"") -> bytes:
    """A queue file laid out as Postfix's cleanup writes it."""
    head = record("T", b"1700000000 250000") + record("S", sender)
    for rcpt in recipients:
        head += record("R", rcpt)
    body = b"".join(record("N", line) for line in content.split(b"\n")) if content else b""
    size_rec_len = len(record("C", b"%15d %15d %15d %15d %15d %15d" % ((0,) * 6)))
    ptr = record("p", b"%15d" % 0)
    data_offset = size_rec_len + len(head) + len(ptr) + len(record("M", b""))
    size = record("C", b"%15d %15d %15d %15d %15d %15d" % (len(body), data_offset,
                                                            len(recipients), 0, len(body), 0))
    tail = record("X", b"") + extracted + record("E", b"")
    if pointer_to_end:
        total = len(size) + len(head) + len(ptr) + len(record("M", b"")) + len(body) + len(tail)
        ptr = record("p", b"%15d" % total)
        back = len(size) + len(head) + len(ptr)  # the record after the first pointer
        extra = pointer_to_end + record("p", b"%15d" % back)
        return size + head + ptr + record("M", b"") + body + tail + extra
    return size + head + ptr + record("M", b"") + body + tail


GENERATED = [
    # id, why, file bytes, expected (arrival, size, sender, recipients, complete)
    ("plain", "the common shape", queue_file(b"Subject: x\n\nbody"),
     (1700000000.25, None, "s@example.org", ["a@example.com"], True)),
    ("bounce", "the null sender is an empty S record", queue_file(b"x", sender=b""),
     (1700000000.25, None, "", ["a@example.com"], True)),
    ("big", "content far beyond the first read: the walk jumps over it",
     queue_file(b"y" * 70000 + b"\n" + b"z" * 70000, extracted=record("R", b"late@example.net")),
     (1700000000.25, None, "s@example.org", ["a@example.com", "late@example.net"], True)),
    ("done-recipient", "a delivered recipient is rewritten to D in place",
     queue_file(b"x", recipients=(b"a@example.com", b"b@example.com")).replace(
         record("R", b"b@example.com"), record("D", b"b@example.com")),
     (1700000000.25, None, "s@example.org", ["a@example.com"], True)),
    ("pointer", "a pointer record leads to recipients appended at the end",
     queue_file(b"x", pointer_to_end=record("R", b"added@example.com")),
     (1700000000.25, None, "s@example.org", ["a@example.com", "added@example.com"], True)),
]


@pytest.mark.parametrize("data,expected", [(g[2], g[3]) for g in GENERATED],
                         ids=[g[0] for g in GENERATED])
def test_generated_queue_files(tmp_path: Path, data: bytes, expected: tuple) -> None:
    path = tmp_path / "ABCDEF12345"
    path.write_bytes(data)
    head = data[:postfix.READ_CHUNK]
    arrival, size, sender, rcpts, complete = postfix.parse_queue_file(
        head, postfix._reader(str(path)) if len(data) > len(head) else None)
    assert (arrival, sender, rcpts, complete) == (expected[0], expected[2], expected[3],
                                                  expected[4])
    assert size is not None and size >= 0


def test_truncated_queue_file_is_incomplete_not_an_error() -> None:
    data = queue_file(b"x")
    assert postfix.parse_queue_file(data[:20])[4] is False


def test_garbage_in_deferred_is_a_warning_naming_the_file(postfix_spool: Path) -> None:
    # one damaged queue file: the rest of the queue is still read (postqueue lists it
    # too); the file is counted, not in the age or byte figures, and named with its fix
    code, out = run(["--mta", "postfix", "--spool-dir", str(postfix_spool)])
    assert code == 0
    before = {line.split("=")[0]: line for line in out.split("|")[1].split()}
    bad = postfix_spool / "deferred" / "E" / "E0000000BAD"
    bad.write_bytes(b"\x01\x02garbage that is no queue file")
    bad.chmod(0o700)
    code, out = run(["--mta", "postfix", "--spool-dir", str(postfix_spool)])
    assert code == 1, out
    first, *rest = out.splitlines()
    assert first.startswith(
        "MTA_BACKLOG WARNING: postfix queue: damaged queue file deferred/E/E0000000BAD: Postfix "
        "moves it to corrupt/ when it next tries it; postsuper -d E0000000BAD removes it | ")
    after = {line.split("=")[0]: line for line in first.split("|")[1].split()}
    assert after["messages_deferred"] == before["messages_deferred"].replace("=4;", "=5;")
    for label in ("bytes", "oldest_deferred", "deferred_age"):
        assert after[label] == before[label]
    assert "damaged queue file deferred/E/E0000000BAD (record type 1 at offset 0 is not a " \
           "Postfix record): Postfix moves it to corrupt/ when it next tries it; postsuper -d " \
           "E0000000BAD removes it" in rest, out


def test_defer_log_parse() -> None:
    log = (SPOOL / "defer" / "E" / "EC14A1661BF").read_bytes()
    reasons = postfix.parse_defer_log(log)
    assert sorted(reasons) == ["a@example.com", "b@example.com", "c@lists.example.net",
                               "d@customer.test"]
    assert set(reasons.values()) == {"connect to 127.0.0.1[127.0.0.1]:2525: Connection refused"}


# --- postqueue -j ----------------------------------------------------------------------


def test_postqueue_json_capture() -> None:
    lines = (SHARED / "postqueue-j.txt").read_bytes().splitlines()
    messages = [postfix.parse_postqueue_line(line) for line in lines]
    by_queue = {q: sum(1 for m in messages if m.queue == q) for q in ("active", "deferred",
                                                                      "hold")}
    assert by_queue == {"active": 1, "deferred": 9, "hold": 1}
    assert sum(1 for m in messages if m.sender == "") == 2
    multi = next(m for m in messages if m.queue_id == "8DF9D1620D3")
    assert len(multi.recipients) == 4 and len(multi.reasons) == 4
    assert all(postfix.queue_name_of(line) == m.queue for line, m in zip(lines, messages))


@pytest.mark.parametrize("line", [b"{", b"[]", b'{"queue_id": "X"}', b"Mail queue is empty",
                                  b'{"queue_name": 5, "queue_id": "A"}'])
def test_postqueue_garbage(line: bytes) -> None:
    with pytest.raises(ParseError):
        postfix.parse_postqueue_line(line)


# --- Exim ------------------------------------------------------------------------------


def test_exim_header_files() -> None:
    arrival, sender, rcpts, frozen, header_bytes = exim.parse_header_file(
        (SHARED / "spool-input_1xVYEb-0007mT-1g-H_multircpt.txt").read_text())
    assert (sender, frozen) == ("reports@probe.localdomain", False)
    assert rcpts == ["ops@example.invalid", "billing@example.invalid", "carol@customer.test",
                     "announce@lists.example.net"]  # www-data is in the done tree
    assert arrival == pytest.approx(1795456425.522973)
    assert header_bytes == 164 + 32 + 126 + 36 + 38 + 56 + 18 + 43 + 29
    _, sender, _, frozen, _ = exim.parse_header_file(
        (SHARED / "spool-input_1xVYEp-0007uR-11-H_frozen-bounce.txt").read_text())
    assert (sender, frozen) == ("", True)
    assert exim.parse_header_file(
        (SHARED / "spool-input_1xVYEk-0007ri-0N-H_manually-frozen.txt").read_text())[3]


@pytest.mark.parametrize("text", ["", "garbage\n", "1xVYEb-0007mT-1g-H\nroot 0 0\nnot-angle\n"
                                  "1 0\nXX\n1\na@b\n\n"])
def test_exim_header_garbage(text: str) -> None:
    with pytest.raises(ParseError):
        exim.parse_header_file(text)


def test_exim_msglog_reasons() -> None:
    reasons = exim.parse_msglog((SHARED / "spool-msglog_1xVYEb-0007mT-1g.txt").read_text())
    assert reasons["ops@example.invalid"] == "Connection refused"
    assert reasons["carol@customer.test"].endswith("451 4.7.1 Greylisted, please try again later")


def test_exim_bp_capture() -> None:
    lines = (SHARED / "exim-bp.txt").read_text().splitlines(True)
    messages = list(exim.parse_bp(iter(lines), now=1795456500))
    assert len(messages) == int((SHARED / "exim-bpc.txt").read_text())
    assert sum(m.held for m in messages) == 2
    assert sum(1 for m in messages if m.sender == "") == 3
    multi = next(m for m in messages if m.queue_id == "1xVYEb-0007mT-1g")
    assert "www-data@probe.localdomain" not in multi.recipients  # D: delivered
    assert len(multi.recipients) == 4
    assert [m.size for m in messages][:4] == [2252, 4812, 1433, 205824]
    assert list(exim.parse_bp(iter([]), now=0)) == []


def test_exim_longer_ids_of_4_97() -> None:
    # 4.97+ ids are 6-11-4; the first 6 characters are still the arrival time in base 62
    line = " 5m  1.0K 1rJAB4-00000002Vh-0bcd <a@example.org>\n"
    when = exim.id_time("1rJAB4-00000002Vh-0bcd")
    assert when is not None
    message = next(iter(exim.parse_bp(iter([line, "          b@example.com\n"]), now=when + 300)))
    assert (message.queue_id, message.arrival, message.recipients) == (
        "1rJAB4-00000002Vh-0bcd", when, ("b@example.com",))
    assert exim.id_time("1xVYEb-0007mT-1g") == 1795456425  # = the -H file's arrival second


@pytest.mark.parametrize("text", ["garbage\n", " 0m 2.2K\n", "*** frozen ***\n"])
def test_exim_bp_garbage(text: str) -> None:
    with pytest.raises(ParseError):
        list(exim.parse_bp(iter([text]), now=0))


def test_exim_spool_tree(tmp_path: Path) -> None:
    # a split spool (input/<6th char>/) built from the captured header files
    spool = tmp_path / "exim"
    for path in SHARED.glob("spool-input_*-H_*.txt"):
        message_id = path.name.split("_")[1][:-2]
        sub = spool / "input" / message_id[5]
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{message_id}-H").write_text(path.read_text())
        (sub / f"{message_id}-D").write_text(f"{message_id}-D\nbody\n")
    (spool / "msglog" / "b").mkdir(parents=True)
    shutil.copy(SHARED / "spool-msglog_1xVYEb-0007mT-1g.txt",
                spool / "msglog" / "b" / "1xVYEb-0007mT-1g")
    source = exim.open_source(Settings(spool_dir=str(spool)), "spool")
    # count-only reads the -frozen flag: deferred means the same as in a full run
    assert [(c.queue, c.messages) for c in source.counts()] == [("queued", 1), ("frozen", 2)]
    messages = {m.queue_id: m for m in source.messages()}
    assert sorted(m.queue for m in messages.values()) == ["frozen", "frozen", "queued"]
    assert "Connection refused" in messages["1xVYEb-0007mT-1g"].reasons
    assert messages["1xVYEb-0007mT-1g"].size == 542 + len("body\n") + 1


# --- aggregation -----------------------------------------------------------------------

REASONS = [
    # raw, normalised, why
    ("connect to 127.0.0.1[127.0.0.1]:2525: Connection refused",
     "connect to HOST: Connection refused", "host, IP and port vary per destination"),
    ("connect to mx2.example.com[2001:db8::1]:25: Connection timed out",
     "connect to HOST: Connection timed out", "IPv6 too"),
    ("host 127.0.0.1[127.0.0.1] said: 451 4.7.1 Greylisted, please try again later (in reply "
     "to RCPT TO command)", "host HOST said: 451 4.7.1 Greylisted, please try again later (in "
                           "reply to RCPT TO command)", "SMTP codes are kept"),
    ("host mx.example.com[192.0.2.7] said: 452 4.2.2 <bob@example.com>: mailbox over quota "
     "(in reply to RCPT TO command)", "host HOST said: 452 4.2.2 ADDRESS: mailbox over quota "
                                      "(in reply to RCPT TO command)", "addresses go"),
    ("H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server after RCPT TO:"
     "<carol@customer.test>: 451 4.7.1 Greylisted", "H=HOST: SMTP error from remote mail server "
                                                    "after RCPT TO:ADDRESS: 451 4.7.1 Greylisted",
     "Exim's host notation"),
    ("retry time not reached for any host for 'example.invalid'",
     "retry time not reached for any host for '...'", "quoted names go"),
    ("lost connection with mx[10.0.0.1] while sending end of data -- message may be sent more "
     "than once", "lost connection with HOST while sending end of data -- message may be sent "
                  "more than once", "no number left"),
    ("conversation timed out after 300s, queue id 4jYDbW1dlCzBvTX",
     "conversation timed out after Ns, queue id ID", "ids and numbers go"),
]


@pytest.mark.parametrize("raw,want", [(r[0], r[1]) for r in REASONS], ids=[r[2] for r in REASONS])
def test_reason_normalisation(raw: str, want: str) -> None:
    assert backlog.normalise_reason(raw) == want


def test_backlog_memory_is_bounded() -> None:
    b = backlog.Backlog(now=2000.0, want_domains=True, want_reasons=True)
    b.domains.limit = 100

    def stream() -> Iterator[Message]:
        for i in range(5000):
            yield Message("deferred", f"ID{i}", 1000.0 + i, 10, "" if i % 10 == 0 else "s@x",
                          (f"r@d{i}.example", "r@common.example"), ("Connection refused",))

    b.add_messages(stream())
    assert (b.messages, b.bytes, b.bounces) == (5000, 50000, 500)
    assert b.age("deferred") == 1000.0
    assert len(b.domains.counts) <= 101 and b.domains.top(1) == [("common.example", 5000)]
    assert b.reasons.top(5) == [("Connection refused", 5000)]


def test_top_destination_of_queues_counts_only_their_messages() -> None:
    """Held mail for one domain, deferred mail for another: the deferred queue's top
    destination is its own, also when shares read in parallel are merged (pickled)."""
    import pickle

    def share(held: int, deferred: int) -> backlog.Backlog:
        b = backlog.Backlog(now=2000.0)
        b.add_messages([Message("deferred", f"D{i}", 1000.0, 10, "s@x", ("r@deferred.example",))
                        for i in range(deferred)]
                       + [Message("hold", f"H{i}", 1000.0, 10, "s@x", ("r@held.example",),
                                  held=True) for i in range(held)])
        return b

    b = share(6, 4)
    assert b.domains.top(1) == [("held.example", 6)]
    assert b.top_domain_of(["deferred"]) == ("deferred.example", 4)
    assert b.top_domain_of(["hold", "deferred"]) == ("held.example", 6)
    assert b.top_domain_of(["active"]) is None
    b.merge(pickle.loads(pickle.dumps(share(1, 3))))
    assert b.top_domain_of(["deferred"]) == ("deferred.example", 7)
    assert b.top_domain_of(["hold"]) == ("held.example", 7)


# --- registry and method choice --------------------------------------------------------


def test_missing_module_is_not_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "NAMES", (*registry.NAMES, "nonexistent_mta"))
    with pytest.raises(registry.NotSupported, match="not supported in this build"):
        registry.load("nonexistent_mta")


def test_auto_detection_skips_modules_not_in_this_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "DETECTION_ORDER", ("nonexistent_mta", "exim"))
    monkeypatch.setattr(registry, "NAMES", (*registry.NAMES, "nonexistent_mta"))
    monkeypatch.setattr(exim, "installed", lambda settings: True)
    assert registry.detect(Settings()) is exim


def fake_module(spool: Any, command: Any) -> Any:
    def open_source(settings: Settings, method: str) -> Any:
        outcome = spool if method == "spool" else command
        if isinstance(outcome, Unavailable):
            raise outcome
        return outcome
    return SimpleNamespace(NAME="fake", METHODS=("spool", "command"), open_source=open_source)


def test_auto_prefers_spool_then_command() -> None:
    module = fake_module("SPOOL", "COMMAND")
    assert registry.open_source(module, Settings(), "auto") == ("SPOOL", None)
    reason = Unavailable("spool unreadable", "sudo rule")
    module = fake_module(reason, "COMMAND")
    assert registry.open_source(module, Settings(), "auto") == ("COMMAND", reason)


def test_neither_method_names_both_fixes() -> None:
    module = fake_module(Unavailable("queue not readable", "the sudo rule"),
                         Unavailable("postqueue refused", "authorized_mailq_users"))
    with pytest.raises(Unavailable) as info:
        registry.open_source(module, Settings(), "auto")
    user = pwd.getpwuid(os.geteuid()).pw_name
    assert info.value.reason == (f"{user} cannot read the fake queue by spool scan or "
                                 f"listing (see below)")
    assert info.value.fix == "the sudo rule; or authorized_mailq_users"
    assert info.value.details == ("spool scan: queue not readable",
                                  "listing: postqueue refused")


# --- the check -------------------------------------------------------------------------


def test_check_full_detail_on_the_captured_spool(postfix_spool: Path) -> None:
    code, out = run(["--mta", "postfix", "--spool-dir", str(postfix_spool), "--details", "always",
                     "--domain", "example.com=1,5"])
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith("MTA_BACKLOG WARNING: postfix queue: 4 messages for example.com "
                               "(more than 1) | messages=6;;;0 ")
    perf = lines[0].split(" | ", 1)[1].split()
    assert "deferred=4;100;500;0" in perf
    assert "deferred_age=3600s;14400;86400;0" in perf
    assert "bounces=1;;;0;6" in perf and "held=1;;;0;6" in perf
    assert "domain_example_com=4;1;5;0;6" in perf  # no '.': one Graphite tree level
    assert "bytes=103837B;;;0" in perf
    assert lines[1] == f"method: spool ({postfix_spool})"
    assert "top destinations: example.com 4, customer.test 2, example.net 1, example.org 1, " \
           "lists.example.net 1" in lines
    assert "  5 x connect to HOST: Connection refused" in lines


def test_check_defaults_alert_on_age(postfix_spool: Path) -> None:
    code, out = run(["--mta", "postfix", "--spool-dir", str(postfix_spool)], now=NOW + 2 * 86400)
    assert code == 2
    assert out.split(" | ")[0] == (
        "MTA_BACKLOG CRITICAL: oldest postfix deferred message 2d 1h old (more than 1d)")
    code, out = run(["--mta", "postfix", "--spool-dir", str(postfix_spool), "--age-critical",
                     "none", "--age-warning", "none"], now=NOW + 2 * 86400)
    assert code == 0


def test_check_deferred_threshold_names_queue_count_and_age(postfix_spool: Path) -> None:
    code, out = run(["--mta", "postfix", "--spool-dir", str(postfix_spool), "-w", "2", "-c", "3",
                     "--top", "0"])
    assert code == 2
    assert out.split(" | ")[0] == (
        "MTA_BACKLOG CRITICAL: postfix deferred queue: 4 messages (more than 3), oldest 1h")


@pytest.mark.parametrize("argv", [["--domain", "example.com"], ["--queue", "x=a,b"],
                                  ["--count-only", "--domain", "example.com=1,2"],
                                  ["--count-only", "--age-warning", "1h"],
                                  ["--workers", "0"],
                                  ["--top", "-1"], ["--mta", "nosuchmta"], ["-w", "1e3"]])
def test_bad_arguments_are_unknown(argv: List[str]) -> None:
    code, out = run(argv)
    assert code == 3 and out.startswith("MTA_BACKLOG UNKNOWN: ")


def test_hung_listing_command_is_unknown_within_timeout(tmp_path: Path) -> None:
    stub = tmp_path / "postqueue"
    pidfile = tmp_path / "pid"
    stub.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 60\n")
    stub.chmod(0o755)
    start = time.monotonic()
    code, out = run(["--mta", "postfix", "--method", "command", "--mta-binary", str(stub),
                     "-t", "3"])
    assert time.monotonic() - start < 3.5
    assert code == 3
    assert out == (f"MTA_BACKLOG UNKNOWN: '{stub} -j' did not finish within 2.0s and was "
                   f"stopped; raise -t, or run it by hand to see why it hangs\n")
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_listing_command_refused_names_fix(tmp_path: Path) -> None:
    stub = tmp_path / "postqueue"
    stub.write_text("#!/bin/sh\necho 'postqueue: fatal: User nagios(102) is not allowed to "
                    "view the mail queue' >&2\nexit 69\n")
    stub.chmod(0o755)
    code, out = run(["--mta", "postfix", "--method", "command", "--mta-binary", str(stub)])
    assert code == 3
    assert out == ("MTA_BACKLOG UNKNOWN: 'postqueue -j' failed (exit 69): User nagios(102) is "
                   "not allowed to view the mail queue; fix: add this user to "
                   "authorized_mailq_users in main.cf, or run it as root via "
                   "contrib/sudoers.d/nagios_ipc\n")


def test_help_documents_defaults_and_perfdata() -> None:
    code, out = run(["--help"])
    assert code == 0
    for text in ("default 100", "default 500", "default 4h", "default 1d", "deferred_age",
                 "--count-only", "--domain", "contrib/sudoers.d/nagios_ipc"):
        assert text in out


def test_sudoers_rule_is_valid() -> None:
    visudo = shutil.which("visudo") or "/usr/sbin/visudo"
    rule = Path(__file__).resolve().parent.parent.parent / "contrib" / "sudoers.d" / "nagios_ipc"
    assert rule.exists()
    assert not rule.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if os.path.exists(visudo) and os.geteuid() == 0:
        import subprocess

        done = subprocess.run([visudo, "-c", "-f", str(rule)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    text = rule.read_text()
    assert "nagios ALL=(root) NOPASSWD: NAGIOS_IPC_MTA" in text  # exact lines: test_security


def test_json_module_is_imported_only_for_the_command_method(postfix_spool: Path) -> None:
    # the spool path stays lean: no json import when the command is not used
    import subprocess

    code = ("import sys; from nagios_ipc.mta.model import Settings; "
            "from nagios_ipc.mta import postfix; "
            f"s = postfix.open_source(Settings(spool_dir={str(postfix_spool)!r}), 'spool'); "
            "list(s.messages()); print('json' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=str(Path(__file__).resolve().parent.parent.parent))
    assert done.stdout.strip() == "False", done.stderr
    assert json.loads("1") == 1


# --- parallel reading ------------------------------------------------------------------


def test_partitions_share_out_every_message_once(postfix_spool: Path, tmp_path: Path) -> None:
    # more hash dirs than the capture has: copy each deferred file under other names
    for index, path in enumerate(sorted((postfix_spool / "deferred" / "E").iterdir())):
        for sub in "0123456789ABCDEF":
            (postfix_spool / "deferred" / sub).mkdir(exist_ok=True)
            shutil.copy(path, postfix_spool / "deferred" / sub / f"{sub}{index}{path.name}")
    source = postfix.open_source(Settings(spool_dir=str(postfix_spool)), "spool")
    whole = sorted(m.queue_id for m in source.messages())
    for count in (2, 3):
        shares = [sorted(m.queue_id for m in share.messages())
                  for share in source.partitions(count)]
        assert sorted(q for share in shares for q in share) == whole
        assert all(shares)  # each share has work


@pytest.fixture
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """--workers forks from PARALLEL_FROM messages on: the test spools are smaller."""
    monkeypatch.setattr(check, "PARALLEL_FROM", 0)


def test_parallel_aggregate_equals_serial(postfix_spool: Path, always_parallel: None) -> None:
    serial = run(["--mta", "postfix", "--spool-dir", str(postfix_spool), "--details", "always",
                  "--workers", "1"])
    parallel = run(["--mta", "postfix", "--spool-dir", str(postfix_spool), "--details",
                    "always", "--workers", "3"])
    assert serial == parallel


def test_exim_partitions(tmp_path: Path) -> None:
    spool = tmp_path / "exim"
    (spool / "input").mkdir(parents=True)
    for path in SHARED.glob("spool-input_*-H_*.txt"):
        message_id = path.name.split("_")[1][:-2]
        (spool / "input" / f"{message_id}-H").write_text(path.read_text())
    source = exim.open_source(Settings(spool_dir=str(spool)), "spool")
    shares = [[m.queue_id for m in share.messages()] for share in source.partitions(2)]
    assert sorted(q for share in shares for q in share) == sorted(
        m.queue_id for m in source.messages())


def test_a_damaged_file_in_a_workers_share_is_named(postfix_spool: Path,
                                                    always_parallel: None) -> None:
    # the damaged file sits in a share read by a forked worker: same WARNING as serially
    bad = postfix_spool / "deferred" / "1"
    bad.mkdir()
    (bad / "1000000BAD").write_bytes(b"\x01\x02garbage")
    outcomes = {w: run(["--mta", "postfix", "--spool-dir", str(postfix_spool), "--workers",
                        str(w)]) for w in (1, 2)}
    assert outcomes[1] == outcomes[2]
    assert outcomes[2][0] == 1 and "damaged queue file deferred/1/1000000BAD" in outcomes[2][1]


def test_a_small_spool_is_read_in_this_process(postfix_spool: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from nagios_ipc.mta import backlog

    def forbidden(*_: object) -> None:
        raise AssertionError("forked workers for a small spool")

    monkeypatch.setattr(backlog, "collect_parallel", forbidden)
    assert run(["--mta", "postfix", "--spool-dir", str(postfix_spool), "--workers", "2"])[0] != 3


# --- the command method on replayed captures (a stub prints the real output) -----------


def stub(tmp_path: Path, name: str, fixture: Path, cut: int = -1) -> Path:
    data = fixture.read_bytes()
    if cut >= 0:
        data = data[:cut]
    (tmp_path / f"{name}.out").write_bytes(data)
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\ncat {tmp_path / name}.out\n")
    path.chmod(0o755)
    return path


REPLAYS = [
    # id, why, fixture, cut, expected exit, expected start of the output
    ("postqueue-11", "a real listing: active, deferred, hold, 2 bounces",
     SHARED / "postqueue-j.txt", -1, 0,
     "MTA_BACKLOG OK: postfix: 11 messages queued (active 1, deferred 9, hold 1), oldest "
     "deferred "),
    ("postqueue-empty", "an empty queue prints nothing at all", SHARED / "postqueue-j_empty.txt",
     -1, 0, "MTA_BACKLOG OK: postfix: 0 messages queued | messages=0;;;0 "),
    ("postqueue-cut", "output cut in the middle of a line", SHARED / "postqueue-j.txt", 500, 3,
     "MTA_BACKLOG UNKNOWN: cannot parse the postfix queue: not a postqueue -j line: "),
]


@pytest.mark.parametrize("fixture,cut,code,start", [r[2:] for r in REPLAYS],
                         ids=[r[0] for r in REPLAYS])
def test_postqueue_replayed(tmp_path: Path, fixture: Path, cut: int, code: int,
                            start: str) -> None:
    binary = stub(tmp_path, "postqueue", fixture, cut)
    outcome = run(["--mta", "postfix", "--method", "command", "--mta-binary", str(binary)],
                  now=1795456375 + 600)
    assert outcome[0] == code, outcome[1]
    assert outcome[1].startswith(start), outcome[1]
    if fixture.name == "postqueue-j.txt" and code == 0:
        perf = outcome[1].split("\n")[0].split(" | ")[1].split()
        assert "bounces=2;;;0;11" in perf and "held=1;;;0;11" in perf
        assert "messages_deferred=9;;;0" in perf and "deferred=9;100;500;0" in perf


def test_exim_bp_replayed(tmp_path: Path) -> None:
    listing = (SHARED / "exim-bp.txt").read_bytes()
    (tmp_path / "bp.out").write_bytes(listing)
    binary = tmp_path / "exim"
    binary.write_text(f"#!/bin/sh\nfor a; do last=$a; done\n"
                      f"if [ \"$last\" = -bpc ]; then echo 11; else cat {tmp_path}/bp.out; fi\n")
    binary.chmod(0o755)
    base = ["--mta", "exim", "--method", "command", "--mta-binary", str(binary)]
    code, out = run(base, now=1795456425 + 60)
    assert code == 0, out
    perf = out.split("\n")[0].split(" | ")[1].split()
    assert "messages=11;;;0" in perf and "messages_frozen=2;;;0" in perf
    assert "bounces=3;;;0;11" in perf and "deferred=9;100;500;0" in perf
    code, out = run([*base, "--count-only"])
    # frozen apart in count-only too: -w/-c judge the same deferred count in both modes
    assert out.split(" | ")[1] == ("messages=11;;;0 messages_queued=9;;;0 messages_frozen=2;;;0 "
                                   "deferred=9;100;500;0\n")


def test_main_cf_without_queue_directory_means_the_built_in_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No postconf run when main.cf leaves queue_directory to Postfix's default and
    that default holds a queue; a $-expanded or unusual setting still asks postconf."""
    etc, default = tmp_path / "etc", tmp_path / "spool"
    etc.mkdir()
    monkeypatch.setattr(postfix, "DEFAULT_QUEUE_DIR", str(default))
    (etc / "main.cf").write_text("myhostname = probe\n")
    assert postfix._literal_queue_directory(str(etc)) is None  # no queue there yet
    for queue in ("deferred", "active", "maildrop"):
        (default / queue).mkdir(parents=True)
    assert postfix._literal_queue_directory(str(etc)) == str(default)
    (etc / "main.cf").write_text("queue_directory = /srv/postfix\n")
    assert postfix._literal_queue_directory(str(etc)) == "/srv/postfix"
    (etc / "main.cf").write_text("queue_directory = $data_directory/q\n")
    assert postfix._literal_queue_directory(str(etc)) is None
