"""What every MTA source yields: cheap per-queue counts, or streamed messages.

A source reads one MTA by one method (``spool`` scan or the MTA's own
listing ``command``). ``counts()`` must not open message files (a count-only
run costs directory entries only); ``messages()`` streams, so memory stays
flat however large the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Tuple

try:  # Protocol is in typing from 3.8; keep the import explicit for readers
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment,misc]


class ParseError(ValueError):
    """Text from an MTA command or spool file that does not parse.

    The check turns it into UNKNOWN naming the command or file."""


@dataclass(frozen=True)
class Message:
    """One queued message as far as the source knows it."""

    queue: str                      # the MTA's own queue or channel name: deferred, hold, tcp_local
    queue_id: str
    arrival: Optional[float] = None  # epoch seconds the message arrived (never a retry time)
    size: Optional[int] = None       # bytes
    sender: Optional[str] = None     # "" is the null sender (a bounce); None is unknown
    recipients: Tuple[str, ...] = ()
    reasons: Tuple[str, ...] = ()    # deferral reasons, as the MTA recorded them
    held: bool = False               # held / frozen / quarantined


@dataclass(frozen=True)
class QueueCount:
    """Count-only view of one queue (no message file opened)."""

    queue: str
    messages: int
    bytes: Optional[int] = None
    oldest_arrival: Optional[float] = None


class QueueSource(Protocol):
    mta: str        # postfix, exim, sendmail, qmail, opensmtpd, nullmailer, imsimta
    method: str     # spool or command

    def counts(self) -> Iterable[QueueCount]:
        ...

    def messages(self) -> Iterator[Message]:
        ...
