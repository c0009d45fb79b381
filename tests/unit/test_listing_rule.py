"""Property-based: the rule every listing parser shares (nagios_ipc/mta/listing.py).

A line a parser does not understand, put anywhere inside a message of a real listing,
is skipped and counted, and the messages read are exactly those of the listing without
it; a line where a message's first line belongs that is not one (or, for sendmail, an
entry line replaced, so that the queue's announced count no longer adds up) is a
ParseError naming that line. Listings: the real captures of each MTA."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Iterable, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nagios_ipc.mta import exim, nullmailer, qmail, sendmail
from nagios_ipc.mta.listing import Skipped
from nagios_ipc.mta.model import Message, ParseError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mta"
NOW = 1796647020.0

Parse = Callable[[List[str], Skipped], Iterable[Message]]


def _sendmail(lines: List[str], skipped: Skipped) -> Iterable[Message]:
    return [m for _q, m, _n, _c in sendmail.parse_mailq(lines, NOW, "mailq", "", skipped)
            if m is not None]


# parser, listings, the unknown line's prefix (indented: inside a message), and whether a
# line in a message's place is checked by a count the MTA prints
PARSERS: Dict[str, Tuple[Parse, Tuple[str, ...], str]] = {
    "exim -bp": (lambda lines, s: exim.parse_bp(iter(lines), NOW, "", s),
                 ("exim-4.96/exim-bp.txt", "exim-4.96/exim-bp-qGslow.txt",
                  "shared/exim-bp.txt"), "    *** "),
    "sendmail mailq": (_sendmail, ("sendmail-8.17/mailq_queue-dirs.txt", "sendmail/mailq.txt",
                                   "sendmail-8.12/mailq_multi-queue_from-source.txt"), "  ~"),
    "qmail-qread": (lambda lines, s: qmail.parse_qread(lines, "qmail-qread", s),
                    ("qmail/qmail-qread.txt",), "   ~"),
    "nullmailer mailq": (lambda lines, s: nullmailer.parse_mailq(lines, "mailq", s),
                         ("nullmailer/mailq.txt", "nullmailer-2.2/mailq_message-leaving.txt"),
                         "   ~"),
}

# text of a line: no character Python's splitlines() would split at
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=60)


def read(name: str) -> List[str]:
    return (FIXTURES / name).read_text().splitlines()


def key(messages: Iterable[Message]) -> List[Tuple[str, str, Tuple[str, ...]]]:
    return [(m.queue, m.queue_id.split("#")[0], m.recipients) for m in messages]


def inside_positions(lines: List[str]) -> List[int]:
    """Indexes after which a line is inside a message (after a message's first line)."""
    return [i + 1 for i, line in enumerate(lines) if line[:1].isalnum()
            or (line[:1] in " \t" and line.strip() and not line.strip().startswith(
                ("Total", "/", "-")) and i > 0)]


@pytest.mark.parametrize("name", sorted(PARSERS))
@given(data=st.data(), text=TEXT)
def test_unknown_line_inside_a_message_is_skipped_and_counted(name: str, data: st.DataObject,
                                                              text: str) -> None:
    parse, listings, prefix = PARSERS[name]
    lines = read(data.draw(st.sampled_from(listings)))
    before = Skipped(name)
    want = key(parse(list(lines), before))
    where = data.draw(st.sampled_from(inside_positions(lines)))
    odd = prefix + text
    skipped = Skipped(name)
    got = key(parse([*lines[:where], odd, *lines[where:]], skipped))
    assert got == want
    assert skipped.count == before.count + 1  # a capture may hold one already (readqf:)
    assert any(example.startswith(f"line {where + 1} ") for example in skipped.examples)


@pytest.mark.parametrize("name", ["exim -bp", "qmail-qread", "nullmailer mailq"])
@given(data=st.data(), text=TEXT)
def test_unknown_line_where_a_message_starts_is_an_error_naming_it(
        name: str, data: st.DataObject, text: str) -> None:
    parse, listings, _ = PARSERS[name]
    lines = read(data.draw(st.sampled_from(listings)))
    starts = [0] + [i + 1 for i, line in enumerate(lines) if not line.strip()]
    where = data.draw(st.sampled_from(starts))
    odd = "~" + text
    with pytest.raises(ParseError, match=rf"line {where + 1} "):
        list(parse([*lines[:where], odd, *lines[where:]], Skipped(name)))


@given(data=st.data(), text=TEXT)
def test_sendmail_entry_replaced_breaks_the_announced_count(data: st.DataObject,
                                                            text: str) -> None:
    lines = read("sendmail-8.17/mailq_queue-dirs.txt")
    entries = [i for i, line in enumerate(lines) if line[:1].isalnum()
               and " bytes" not in line and "readqf" not in line]
    where = data.draw(st.sampled_from(entries))
    changed = [*lines[:where], "~" + text, *lines[where + 1:]]
    with pytest.raises(ParseError, match=rf"but \d+ were read; first line not understood: "
                                         rf"line {where + 1} "):
        _sendmail(changed, Skipped("mailq"))
