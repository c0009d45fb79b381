"""The one rule every parser of an MTA's listing text follows (exim -bp, sendmail's
mailq, qmail-qread, nullmailer's mailq).

A line the parser does not understand, inside a listing it otherwise understands, is
skipped and counted, and the long output says so (with the first few such lines):
MTAs add fields and notes across versions and patches, and one odd line must not turn
a whole queue UNKNOWN. A line that makes the counts untrustworthy is different: where a
message's first line was expected (a message could be missing from the count), or when
the MTA's own total disagrees with what was read. Then the check is UNKNOWN, naming
that line and why. A listing in which nothing at all was understood is not a listing.
"""

from __future__ import annotations

from .model import ParseError

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import List, Optional

EXAMPLES = 3  # skipped lines quoted in the long output


def excerpt(line: str, size: int = 80) -> str:
    """A bounded, printable excerpt of a line for a message."""
    text = line.strip()
    return repr(text[:size] + ("..." if len(text) > size else ""))


class Skipped:
    """Lines of one listing that were skipped, and how many lines were understood."""

    __slots__ = ("count", "examples", "source", "understood")

    def __init__(self, source: str) -> None:
        self.source = source      # what printed the listing: 'exim -bp', 'mailq'
        self.count = 0
        self.understood = 0       # lines that were parsed
        self.examples: List[str] = []

    def skip(self, line: str, number: int, why: str) -> None:
        """Skip line *number* (1-based), which does not change any count."""
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"line {number} {excerpt(line)} ({why})")

    def fail(self, line: str, number: int, why: str) -> ParseError:
        """The error for a line that makes the counts untrustworthy (raise it)."""
        return ParseError(f"{self.source}: line {number} {excerpt(line)}: {why}")

    def finish(self) -> None:
        """At the end of the listing: nothing understood but something skipped is
        not the listing we know."""
        if self.count and not self.understood:
            raise ParseError(f"{self.source}: no line of the output is a queue listing; "
                             f"first: {self.examples[0]}")

    def note(self) -> Optional[str]:
        """The long output's line about skipped lines, None when there were none."""
        if not self.count:
            return None
        plural = "line" if self.count == 1 else "lines"
        return (f"{self.source}: {self.count} {plural} not understood and skipped "
                f"(counts unaffected): {'; '.join(self.examples)}")
