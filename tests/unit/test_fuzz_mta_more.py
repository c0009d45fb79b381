"""Property-based: the sendmail, qmail, OpenSMTPD, nullmailer and imsimta parsers
never crash. On arbitrary text, and on real captures cut short or with a stretch
replaced by arbitrary characters, each returns a result or raises ParseError -
never another exception. Run deeper with HYPOTHESIS_PROFILE=deep."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nagios_ipc.mta import imsimta, nullmailer, opensmtpd, qmail, sendmail
from nagios_ipc.mta.model import ParseError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mta"
NOW = 1795457400.0


def read(path: str) -> str:
    return (FIXTURES / path).read_text(encoding="latin-1")


def mutations(text: str) -> st.SearchStrategy[str]:
    cut = st.integers(0, len(text)).map(lambda n: text[:n])
    spliced = st.tuples(st.integers(0, len(text)), st.integers(0, 40), st.text(max_size=40)).map(
        lambda t: text[:t[0]] + t[2] + text[t[0] + t[1]:])
    return st.one_of(cut, spliced)


def inputs(*names: str) -> st.SearchStrategy[str]:
    return st.one_of(st.text(), st.sampled_from([read(n) for n in names]).flatmap(mutations))


def only_parse_errors(parse: Callable[[str], object]) -> Callable[[str], None]:
    def run(text: str) -> None:
        try:
            parse(text)
        except ParseError:
            pass
    return run


def lines(text: str) -> List[str]:
    return text.splitlines()


PARSERS = {
    "sendmail mailq": (lambda t: list(sendmail.parse_mailq(lines(t), NOW)),
                       ("sendmail/mailq.txt", "sendmail/mailq-qQ_quarantined.txt",
                        "sendmail/mailq-OMaxQueueRunSize=1.txt")),
    "sendmail qf": (lambda t: sendmail.parse_qf(t.encode("latin-1", "replace"), "q", "i", None,
                                                "qf"),
                    ("sendmail/qf6ANI8t9N000703_multircpt.txt",
                     "sendmail/hf6ANI92Sh000962_quarantined.txt")),
    "sendmail cf": (sendmail.parse_cf, ()),
    "sendmail queue id": (lambda t: sendmail.queue_id_time(t, NOW), ()),
    "nullmailer mailq": (lambda t: list(nullmailer.parse_mailq(lines(t))),
                         ("nullmailer/mailq.txt",)),
    "nullmailer queue file": (lambda t: nullmailer.parse_envelope(
        t.encode("utf-8", "replace"), "queue", "1.2", 1, 0.0, "f"),
        ("nullmailer/queue-file_1795457553.2965_multircpt_head.txt",
         "nullmailer/queue-file_1795457564.3193_bounce.txt")),
    "smtpctl show queue": (lambda t: list(opensmtpd.parse_show_queue(lines(t))),
                           ("opensmtpd/smtpctl-show-queue.txt",
                            "opensmtpd/smtpctl-show-queue_daemon-stopped.txt")),
    "opensmtpd envelope": (lambda t: opensmtpd.parse_envelope(t.encode("utf-8", "replace"),
                                                              "f"),
                           ("opensmtpd/queue-envelope-file_fd72e8d62c600871_paused.txt",)),
    "qmail-qread": (lambda t: list(qmail.parse_qread(lines(t))), ("qmail/qmail-qread.txt",)),
    "qmail-qstat": (qmail.parse_qstat, ("qmail/qmail-qstat.txt",)),
    "qmail todo": (lambda t: qmail.parse_todo(t.encode("utf-8", "replace"), "f"),
                   ()),
    "qmail info": (lambda t: qmail.parse_info(t.encode("utf-8", "replace"), "f"), ()),
    "qmail recipients": (lambda t: qmail.parse_recipients(t.encode("utf-8", "replace"), "f"),
                         ()),
    "imsimta qm directory": (lambda t: list(imsimta.parse_directory(lines(t))),
                             ("imsimta/qm-directory_two-channels.txt",
                              "imsimta/qm-directory-held_two-channels.txt")),
    "imsimta qm messages": (lambda t: imsimta.parse_qm_messages(lines(t)), ()),
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parser_raises_only_parse_errors(name: str) -> None:
    parse, captures = PARSERS[name]
    strategy = inputs(*captures) if captures else st.text()
    given(strategy)(only_parse_errors(parse))()


@given(st.binary(max_size=300))
def test_qmail_records_on_bytes(data: bytes) -> None:
    for parse in (qmail.parse_todo, qmail.parse_info, qmail.parse_recipients):
        try:
            parse(data, "f")
        except ParseError:
            pass


@given(st.binary(max_size=300))
def test_sendmail_control_file_on_bytes(data: bytes) -> None:
    try:
        sendmail.parse_qf(data, "q", "i", None, "qf")
    except ParseError:
        pass
