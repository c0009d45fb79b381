"""Issue 15's faster code paths against the code they replaced, kept here as the reference.

* Backlog.add_messages (tuple unpacking, totals in locals, one recipient or one reason
  without a set) against the attribute-by-attribute loop it replaced;
* the Exim -H header lengths found with a literal newline before them, against the
  ``^`` under re.MULTILINE they replaced (which the regex engine tries at every position);
* exim.header_fast (the common -H file parsed from its bytes) against parse_header_file,
  and exim.msglog_reasons (only the msglog's defer lines decoded) against parse_msglog.

The real-spool proofs (whole outputs of the check on real Postfix and Exim queues) are in
tests/integration/test_mta_fastpaths_real.py.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nagios_ipc.mta import backlog as backlog_module
from nagios_ipc.mta.backlog import REASON_CUT, Backlog, domain_of, normalise_reason
from nagios_ipc.mta.exim import header_fast, msglog_reasons, parse_header_file, parse_msglog
from nagios_ipc.mta.model import Message, ParseError
from tests.integration.mta_real import fill_exim_spool

SHARED = Path(__file__).resolve().parent.parent / "fixtures" / "mta" / "shared"


def reference_add_messages(self: Backlog, messages: Sequence[Message]) -> None:
    """Backlog.add_messages as it was before issue 15 (commit afc5ec3)."""
    self.detailed = True
    queues = self.queues
    want_domains = self.want_domains
    want_reasons = self.want_reasons
    watched = self.watched
    cache = self.reason_cache
    raw: Optional[Dict[str, int]] = self.raw_reasons
    for message in messages:
        stats = queues.get(message.queue)
        if stats is None:
            stats = self.queue(message.queue)
        stats.messages += 1
        self.messages += 1
        size = message.size
        if size is not None:
            stats.bytes += size
            stats.sized = True
            self.bytes += size
            self.sized = True
        arrival = message.arrival
        if arrival is not None and (stats.oldest is None or arrival < stats.oldest):
            stats.oldest = arrival
        if message.sender == "":
            self.bounces += 1
        if message.held:
            self.held += 1
        if want_domains and message.recipients:
            seen = {domain_of(r) for r in message.recipients}
            for domain in seen:
                self.domains.add(domain)
                if domain in watched:
                    watched[domain] += 1
        if want_reasons and message.reasons:
            reasons = message.reasons
            if raw is not None:
                for reason in {r[:REASON_CUT] for r in reasons}:
                    raw[reason] = raw.get(reason, 0) + 1
                if len(raw) > backlog_module.RAW_LIMIT:
                    self._fold_raw()
                    raw = None
                continue
            keys = set()
            for reason in reasons:
                reason = reason[:REASON_CUT]
                key = cache.get(reason)
                if key is None:
                    key = normalise_reason(reason)
                    if len(cache) < 10000:
                        cache[reason] = key
                keys.add(key)
            for key in keys:
                self.reasons.add(key)
    self._fold_raw()


def state(b: Backlog) -> Dict[str, Any]:
    return {"queues": {n: (s.messages, s.bytes, s.sized, s.oldest) for n, s in b.queues.items()},
            "totals": (b.messages, b.bytes, b.sized, b.bounces, b.held, b.detailed),
            "domains": (b.domains.counts, b.domains.pruned),
            "reasons": (b.reasons.counts, b.reasons.pruned), "watched": b.watched}


ADDRESSES = st.sampled_from(["a@example.com", "b@Example.COM", "c@example.net", "local",
                             "d@x.test>", "e@", "f@lists.example.org", "g@h@example.com"])
REASONS = st.sampled_from(["connect to mx1.example.com[192.0.2.1]:25: Connection refused",
                           "connect to mx2.example.com[192.0.2.2]:25: Connection refused",
                           "host mx.example.net[198.51.100.7] said: 451 4.7.1 Greylisted",
                           "Connection refused", "", "x" * 500, "retry time not reached"])
MESSAGES = st.lists(st.builds(
    Message, queue=st.sampled_from(["deferred", "hold", "active", "queued", "frozen"]),
    queue_id=st.just("ID"), arrival=st.none() | st.floats(0, 2e9),
    size=st.none() | st.integers(0, 10 ** 9), sender=st.none() | st.sampled_from(["", "x@y"]),
    recipients=st.lists(ADDRESSES, max_size=4).map(tuple),
    reasons=st.lists(REASONS, max_size=4).map(tuple), held=st.booleans()), max_size=60)


@settings(max_examples=300)
@given(messages=MESSAGES, watched=st.lists(st.sampled_from(["example.com", "x.test"])),
       want_domains=st.booleans(), want_reasons=st.booleans(), small=st.booleans())
def test_add_messages_equals_the_reference(messages: List[Message], watched: List[str],
                                           want_domains: bool, want_reasons: bool,
                                           small: bool) -> None:
    old_limit = backlog_module.RAW_LIMIT
    if small:  # the raw tally folds, then the cache path runs, and the tallies prune
        backlog_module.RAW_LIMIT = 2
    try:
        def make() -> Backlog:
            made = Backlog(1e9, watched, want_domains=want_domains, want_reasons=want_reasons,
                           queues=("deferred", "hold"))
            if small:
                made.domains.limit = made.reasons.limit = 3
            return made

        fast, slow = make(), make()
        fast.add_messages(iter(messages))
        reference_add_messages(slow, messages)
        assert state(fast) == state(slow)
    finally:
        backlog_module.RAW_LIMIT = old_limit


def test_add_messages_keeps_totals_when_the_stream_fails() -> None:
    def stream() -> Any:
        yield Message("deferred", "A", 5.0, 10, "", ("a@example.com",), (), True)
        raise ValueError("cut short")

    b = Backlog(100.0)
    try:
        b.add_messages(stream())
    except ValueError:
        pass
    assert (b.messages, b.bytes, b.bounces, b.held) == (1, 10, 1, 1)


OLD_HEADER_LENGTH = re.compile(r"^(\d{3})[A-Za-z* ] ", re.M)  # before issue 15


def old_header_bytes(text: str) -> int:
    end = text.find("\n\n")
    return sum(map(int, OLD_HEADER_LENGTH.findall(text, end + 2))) if end >= 0 else 0


def test_header_bytes_of_real_exim_header_files() -> None:
    files = sorted(SHARED.glob("spool-input_*-H_*.txt"))
    assert len(files) == 3
    for path in files:
        text = path.read_text()
        assert parse_header_file(text)[4] == old_header_bytes(text) > 0, path.name


HEADERISH = st.lists(st.sampled_from(["\n", "123", "045", "999", "P ", "* ", "  ", "x",
                                      "\n\n", "T", "٣٤٥", "A", " ", "\t"]), max_size=30)


@settings(max_examples=500)
@given(head=HEADERISH, tail=HEADERISH)
def test_header_bytes_equal_the_multiline_search(head: List[str], tail: List[str]) -> None:
    envelope = ("1xVYEb-0007mT-1g-H\nroot 0 0\n<a@b>\n1796492034 0\n-ident root\nXX\n1\n"
                "a@example.com\n")
    text = envelope + "".join(head) + "\n\n" + "".join(tail)
    assert parse_header_file(text)[4] == old_header_bytes(text)


# --- Exim -H files and msglogs read from bytes (issue 15, second pass) -----------------

def exact(value: object) -> str:
    """repr: an int arrival and the same float are equal under ==, not the same answer."""
    return repr(value)


def slow_header(data: bytes, message_id: str) -> Optional[str]:
    try:
        return exact(parse_header_file(data.decode("utf-8", "surrogateescape"), message_id))
    except ParseError:
        return None


def test_header_fast_on_real_exim_header_files() -> None:
    files = sorted(SHARED.glob("spool-input_*-H_*.txt"))
    taken = 0
    for path in files:
        data = path.read_bytes()
        message_id = data.split(b"\n", 1)[0][:-2].decode()
        fast = header_fast(data, message_id.encode())
        if fast is not None:
            taken += 1
            assert exact(fast) == slow_header(data, message_id), path.name
    # the frozen ones have an empty non-recipients tree (XX): the common shape; the
    # multi-recipient one has a recipient done (NN ...): the general parser's
    assert taken == 2


def test_header_fast_on_the_benchmark_shape() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fill_exim_spool_plain(Path(tmp), 60)
        files = sorted(Path(tmp, "input").glob("*-H"))
        assert len(files) == 60
        for path in files:
            data = path.read_bytes()
            message_id = path.name[:-2]
            fast = header_fast(data, message_id.encode())
            assert fast is not None, data
            assert exact(fast) == slow_header(data, message_id)


def fill_exim_spool_plain(spool: Path, count: int) -> None:
    """tests/integration/mta_real.py's fill_exim_spool without its chown (no Exim user
    here): the -H files the benchmark reads."""
    import pwd
    from unittest import mock

    me = pwd.getpwuid(os.getuid())
    with mock.patch("pwd.getpwnam", return_value=me), mock.patch("os.chown"), \
            mock.patch("os.fchown"):
        fill_exim_spool(spool, count, 1796000000.0, seed=count)


ID = "1xVYEb-0007mT-1g"
# pieces of -H envelopes: the common shape and everything near it that the general parser
# reads differently (blank lines, other trees, counts off by one, odd arrival lines, a
# second usec line, non-ASCII and non-UTF-8 bytes, other scripts' digits)
LINE = st.sampled_from([
    b"root 0 0", b"", b"<a@b>", b"<>", b"<a>b>", b"a@b", b"<\xff@b>", b"1796492034 0",
    b"1796492034", b"1796492034  0", b" 1796492034 0", b"\xd9\xa3 0", b"17x 0",
    b"-received_time_usec .522973", b"-received_time_usec 5", b"-received_time_usec x",
    b"-received_time_usec", b"-received_time_usec .5 7", b"-received_time_complete 1.5",
    b"-frozen 1796492034", b"-frozenx", b"-ident root", b"-", b"XX", b"XXy", b"NN a@b",
    b"YN a@b", b"NY a@b", b"1", b"2", b"0", b"01", b"\xd9\xa1", b"a@example.com",
    b"a@example.com b 3,0 c 1,2#3", b"a@example.com#1", b"x#\xd9\xa3", b"\xfe@x",
    b"a@b c#1"])
HEADERS = st.lists(st.sampled_from([
    b"", b"119P Received: x", b"029F From: a", b"027  Subject: y", b"\tid 1x",
    b"\xd9\xa3\xd9\xa4\xd9\xa5P x", b"12 x", b"999* x"]), max_size=6)


@st.composite
def header_files(draw: Any) -> bytes:
    if draw(st.booleans()):  # near the common shape
        flags = draw(st.lists(st.sampled_from([
            b"-received_time_usec .522973", b"-ident root", b"-frozen 1796492034",
            b"-received_time_usec 7", b"-body_linecount 20", b"-frozenx",
            b"-received_time_complete 1.5"]), max_size=5))
        rcpts = draw(st.lists(LINE, max_size=3))
        count = draw(st.sampled_from([str(len(rcpts)).encode(), b"1", b"0", b"2"]))
        tree = draw(st.sampled_from([b"XX", b"XX", b"NN a@b", b"XXy"]))
        lines = [b"root 0 0", draw(st.sampled_from([b"<a@b>", b"<>", b"<\xff>", b"<a>b>"])),
                 draw(st.sampled_from([b"1796492034 0", b"1796492034", b"\xd9\xa3 0"])),
                 *flags, tree, count, *rcpts]
    else:
        lines = draw(st.lists(LINE, max_size=12))
    head = draw(st.sampled_from([f"{ID}-H".encode(), b"other-H", f"{ID}-X".encode()]))
    return b"\n".join([head, *lines]) + b"\n\n" + b"\n".join(draw(HEADERS)) + b"\n"


@settings(max_examples=2000)
@given(data=header_files())
def test_header_fast_equals_parse_header_file(data: bytes) -> None:
    fast = header_fast(data, ID.encode())
    if fast is not None:  # else the caller runs parse_header_file itself
        assert exact(fast) == slow_header(data, ID)


def test_header_fast_is_taken_by_the_common_shape() -> None:
    data = (f"{ID}-H\nroot 0 0\n<a@b>\n1796492034 0\n-received_time_usec .5\n-ident root\n"
            f"-frozen 1\nXX\n2\nx@y b 3,0 c 1,2#3\nz@w\n\n027  Subject: y\n").encode()
    fast = header_fast(data, ID.encode())
    assert fast == (1796492034.5, "a@b", ["x@y", "z@w"], True, 27)
    assert exact(fast) == slow_header(data, ID)


MSGLOG_LINE = st.sampled_from([
    "2026-11-23 17:54:04 ops@example.invalid R=smarthost T=smtp defer (111): Connection refused",
    "2026-11-23 17:54:04 a@b R=x T=y defer (-44) H=h [1.2.3.4]: 451 4.7.1 Greylisted",
    "2026-11-23 17:54:04 a@b R=x T=y defer (0):", "x defer (1)", "a b c defer (", "",
    "2026-11-23 17:53:45 Received from a@b U=root P=local S=4806",
    "2026-11-23 17:54:04 H=127.0.0.1 [127.0.0.1] Connection refused",
    "2026-11-23 17:54:04 ä@b R=x T=y defer (111): nö", "2026 x a@b defer (111) defer (2): two"])


@settings(max_examples=1000)
@given(lines=st.lists(MSGLOG_LINE, max_size=8),
       junk=st.sampled_from([b"", b"\xff", b"\xe2\x82", b"\r", b" defer ("]),
       at=st.integers(0, 8), end=st.booleans())
def test_msglog_reasons_equal_parse_msglog(lines: List[str], junk: bytes, at: int,
                                           end: bool) -> None:
    parts = [line.encode() for line in lines]
    parts.insert(min(at, len(parts)), junk + b"x y z defer (3): j" + junk)
    log = b"\n".join(parts) + (b"\n" if end else b"")
    assert msglog_reasons(log) == parse_msglog(log.decode("utf-8", "replace"))


def test_msglog_reasons_of_a_real_msglog() -> None:
    log = (SHARED / "spool-msglog_1xVYEb-0007mT-1g.txt").read_bytes()
    reasons = msglog_reasons(log)
    assert reasons == parse_msglog(log.decode("utf-8", "replace"))
    assert reasons["ops@example.invalid"] == "Connection refused"


def scan(root: Path) -> str:
    """Every message of an Exim spool (workers none), or the error, as text."""
    from nagios_ipc.mta.exim import EximSpool
    from nagios_ipc.mta.model import Settings

    try:
        return repr(list(EximSpool(str(root), Settings(spool_dir=str(root))).messages()))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


ODD = ["fifo-H", "symlink-H", "dir-H", "fifo-log", "symlink-log", "symlink-D", "gone-D",
       "gone-log", "long-log", "long-H", "empty-H", "empty-log"]


@pytest.mark.parametrize("odd", ODD)
def test_exim_inline_reads_equal_directory_reads(odd: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan's written-out openat/fstat/read against Directory.open/_read_in and
    Tree by whole path (a Directory without a descriptor of its own: what the scan did
    before), on spools with one odd file each (issue 12's refusals must stay exact)."""
    from nagios_ipc.mta import spooltree

    spool = tmp_path / "spool"
    fill_exim_spool_plain(spool, 5)
    (tmp_path / "secret").write_text("not spool\n")
    first = sorted((spool / "input").glob("*-H"))[2]
    message_id = first.name[:-2]
    h_file, d_file, log = first, spool / "input" / f"{message_id}-D", spool / "msglog" / message_id
    target = {"H": h_file, "D": d_file, "log": log}[odd.split("-")[1]]
    kind = odd.split("-")[0]
    if kind != "long" and kind != "empty":
        target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        target.symlink_to(tmp_path / "secret")
    elif kind == "dir":
        target.mkdir()
    elif kind == "empty":
        target.write_bytes(b"")
    elif kind == "long":
        data = target.read_bytes()
        if odd == "long-log":  # a msglog of many retries: its last 64 KiB are read
            target.write_bytes(data * 2000)
        else:  # an -H file of more than one read: a long header block
            target.write_bytes(data + b"".join(b"%03dX %s\n" % (len(b"x" * 90) + 1, b"x" * 90)
                                               for _ in range(800)))
    fast = scan(spool)

    def slow_init(self: spooltree.Directory, tree: spooltree.Tree, path: str) -> None:
        self.tree, self.path, self.fd = tree, path, None

    monkeypatch.setattr(spooltree.Directory, "__init__", slow_init)
    slow = scan(spool)
    assert fast == slow
    if kind in ("fifo", "symlink", "dir") and odd != "symlink-D":
        assert fast.startswith("OddFile: ") and " not followed" in fast
    elif odd == "empty-H":
        assert fast.startswith("ParseError: ") and "not an Exim spool header file" in fast
    else:
        assert fast.count("Message(") == 5
        if odd == "gone-D":
            assert f"queue_id='{message_id}', arrival=" in fast and "size=None" in fast
