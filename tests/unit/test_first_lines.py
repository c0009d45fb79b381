"""The first line the on-call engineer reads (issue 17), one row per situation.

Every way a check fails or finds its target absent that the test suites create has a
row here with the exact first line it prints (perfdata left out; temp dirs, test
directories, pids, uids and ports masked by tests/first_line_recorder.py). A change
of wording shows up in review as a diff of ROWS.

How the table stays whole: tests/first_line_recorder.py keeps every first line any
test of the session makes a check print (in-process or as a program, as root or as
nagios; property tests excepted). test_every_failure_line_has_a_row runs last and
fails on an audited line (UNKNOWN, or a watched thing absent) without a row: a new
failure path without a row fails the run. In a run of both tests/unit and
tests/integration it also fails on a row that nothing printed (a stale row).
NAGIOS_IPC_FIRST_LINES=FILE writes the audited lines seen, with their tests, to
FILE (to write rows from).

The standard each row meets (test_row_meets_the_standard): what is wrong and where,
then the fix; at most 200 characters after 'NAME STATE: '; no run of four words
said twice; no internal jargon (exception names, errno, byte strings). Usage
errors are followed by the usage itself; internal errors (a bug) say so.
"""

from __future__ import annotations

import json
import os
import re
from typing import List, NamedTuple, Set

import pytest

from tests import first_line_recorder


class Row(NamedTuple):
    line: str        # the masked first line, perfdata left out
    fix: str         # the part of the line that is the fix ('' for usage and internal errors)
    seen_in: str     # the test file that makes the check print it


# markers of a finding about an absent target (states other than UNKNOWN are audited too)
ABSENT = ("is not running", "no queue with key", "no queues of owner", "no message queues",
          "no connections", "no process")
JARGON = re.compile(r"Traceback|Errno|errno|EAGAIN|EWOULDBLOCK|NoneType|\bNone\b|"
                    r"(?<![\w-])b'|\\x[0-9a-f]{2}|Decode|Exception\b")


def audited(line: str) -> bool:
    head, _, text = line.partition(": ")
    return head.endswith(" UNKNOWN") or any(marker in text for marker in ABSENT)


def kind(line: str) -> str:
    text = line.partition(": ")[2]
    if text.startswith("usage error: "):
        return "usage"
    if text.startswith("internal error: "):
        return "internal"
    return "failure"


ROWS: List[Row] = [
]


@pytest.mark.parametrize("row", ROWS, ids=[r.line[:60] for r in ROWS])
def test_row_meets_the_standard(row: Row) -> None:
    text = row.line.partition(": ")[2]
    assert len(text) <= 200, f"{len(text)} characters: say less, or move detail below"
    words = re.findall(r"[\w./<>-]+", text.lower())
    grams = [" ".join(words[i:i + 4]) for i in range(len(words) - 3)]
    repeated = {g for g in grams if grams.count(g) > 1}
    assert not repeated, f"said twice: {repeated}"
    if kind(row.line) == "internal":
        return
    assert not JARGON.search(text), f"jargon: {JARGON.search(text)}"
    if kind(row.line) == "usage":
        assert row.fix == ""
        return
    assert row.fix and row.fix in text, "name the fix"
    assert text.index(row.fix) > 0, "what is wrong comes before the fix"


def test_rows_are_unique() -> None:
    lines = [r.line for r in ROWS]
    assert len(lines) == len(set(lines))


def test_every_failure_line_has_a_row(request: pytest.FixtureRequest) -> None:
    """Runs last (tests/conftest.py orders it): see the module's docstring."""
    seen = [(line, test) for line, test in first_line_recorder.RECORDED if audited(line)]
    dump = os.environ.get("NAGIOS_IPC_FIRST_LINES")
    if dump:
        with open(dump, "w") as handle:
            json.dump(sorted(set(seen)), handle, indent=0)
    known = {r.line for r in ROWS}
    missing = sorted({line for line, _ in seen if line not in known})
    assert not missing, ("first lines without a row in tests/unit/test_first_lines.py "
                         "(add one, after holding it to the standard):\n" + "\n".join(missing))
    parts: Set[str] = {p for item in request.session.items
                       for p in item.nodeid.split("/")[:2]}
    if {"unit", "integration"} <= parts:
        printed = {line for line, _ in seen}
        stale = sorted(known - printed)
        assert not stale, "rows no test printed (remove them, or restore the test):\n" + \
            "\n".join(stale)
