"""Issue 15's faster code paths against the code they replaced, kept here as the reference.

* Backlog.add_messages (tuple unpacking, totals in locals, one recipient or one reason
  without a set) against the attribute-by-attribute loop it replaced;
* the Exim -H header lengths found with a literal newline before them, against the
  ``^`` under re.MULTILINE they replaced (which the regex engine tries at every position).

The real-spool proofs (whole outputs of the check on real Postfix and Exim queues) are in
tests/integration/test_mta_fastpaths_real.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from nagios_ipc.mta import backlog as backlog_module
from nagios_ipc.mta.backlog import REASON_CUT, Backlog, domain_of, normalise_reason
from nagios_ipc.mta.exim import parse_header_file
from nagios_ipc.mta.model import Message

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
