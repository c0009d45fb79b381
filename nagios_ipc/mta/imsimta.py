"""Sun/Oracle Communications Messaging Server: ``imsimta qm directory`` listings.

Command only. ``imsimta qm directory`` (and ``-held`` for the ``.HELD`` files
the tools leave out by default) lists, per channel, each message file with its
size in MTA blocks and the time it was queued. It reads the queue directory
tree and, unlike ``qm summarize``, is not the command the vendor warns loads
the server on a large backlog (the check never runs ``summarize``).

Queues per channel (tcp_local, ims-ms, hold, ...):
``<channel>``          queued, never tried yet (file name starting ``ZZ``),
``<channel>.delayed``  tried at least once and waiting for a retry (the first two
                       characters count attempts in complemented base 36),
``<channel>.held``     ``.HELD`` files (hold channel, loops, holdlimit).
Sizes are blocks times the MTA block size (``BLOCK_SIZE``, 1024 bytes by
default). Times are the server's local time; the listing's first line gives its
UTC offset. The listing carries no envelope addresses: destinations per host
come from ``imsimta qm messages <channel>`` (``parse_qm_messages``; releases
before 6.3 only).
"""

from __future__ import annotations

import calendar
import re
import time

from ..proc import CommandError, find_executable
from .model import Message, ParseError, QueueCount, Settings, Unavailable
from .spoolscan import binary, clip, sudo_fix, text_lines

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Dict, Iterable, Iterator, List, Optional, Tuple

NAME = "imsimta"
METHODS = ("command",)

BIN_DIRS = ("/opt/sun/comms/messaging64/sbin", "/opt/sun/comms/messaging/sbin",
            "/opt/SUNWmsgsr/sbin", "/opt/SUNWmsgsr/bin")
BLOCK_SIZE = 1024
LISTING_FIX = "or run it as the Messaging Server's user (mailsrv)"

_DATE = re.compile(r"^[A-Z][a-z]{2}, +\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d "
                   r"([+-])(\d\d)(\d\d)(?: \(.*\))?$")
_CHANNEL = re.compile(r"^Channel: (\S+)\s+Size\s+Queued since$")
_ROW = re.compile(r"^(\d+) +(\S+) +(\d+) +(\d{1,2}-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d)$")
_FILE = re.compile(r"^(?:[^/]+/)?([0-9A-Z]{2})[0-9A-Z]*\.(HELD|[0-9A-Z]{2})$")
_TOTAL = re.compile(r"^(Grand total|Total) (size|messages):? +\d+$")
_SOURCE = re.compile(r"^Data gathered from the ")


def attempts(name: str) -> Optional[int]:
    """Delivery attempts from a message file name (``ZZ`` = 0, ``ZY`` = 1, ``YZ`` = 36)."""
    match = _FILE.match(name)
    if not match:
        return None
    first, second = (int(c, 36) for c in match.group(1))
    return 36 * (35 - first) + (35 - second)


def queue_of(channel: str, name: str) -> Tuple[str, bool]:
    """(queue name, held) for a message file of *channel*."""
    if name.endswith(".HELD"):
        return channel + ".held", True
    return (channel if attempts(name) == 0 else channel + ".delayed"), False


def parse_directory(lines: Iterable[str], source: str = "imsimta qm directory",
                    block_size: int = BLOCK_SIZE) -> Iterator[Message]:
    """Stream an ``imsimta qm directory`` listing. Raises ParseError on other text."""
    offset: Optional[int] = None
    channel: Optional[str] = None
    for line in lines:
        text = line.strip()
        if not text or set(text) == {"-"} or _SOURCE.match(text) or _TOTAL.match(text):
            continue
        if text.startswith("%QM-I-"):
            continue  # informational
        date = _DATE.match(text)
        if date:
            sign = -1 if date.group(1) == "-" else 1
            offset = sign * (int(date.group(2)) * 3600 + int(date.group(3)) * 60)
            continue
        header = _CHANNEL.match(text)
        if header:
            channel = header.group(1)
            continue
        row = _ROW.match(text)
        if row and channel is not None:
            name = row.group(2)
            if not _FILE.match(name):
                raise ParseError(f"{source}: {clip(name)} is not a message file name")
            try:
                parsed = time.strptime(row.group(4), "%d-%b-%Y %H:%M:%S")
                # without the dated first line, take this host's zone as the server's
                arrival = (float(calendar.timegm(parsed) - offset) if offset is not None
                           else time.mktime(parsed))
            except (ValueError, OverflowError):
                raise ParseError(f"{source}: bad date in {clip(text)}") from None
            queue, held = queue_of(channel, name)
            yield Message(queue=queue, queue_id=f"{channel}/{name}", arrival=arrival,
                          size=int(row.group(3)) * block_size, held=held)
            continue
        raise ParseError(f"{source}: unexpected line {clip(text)}")


_HOSTS_HEADER = re.compile(r"^host\s+active messages\s+delayed messages$")
_HOST_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)$")


def parse_qm_messages(lines: Iterable[str], source: str = "imsimta qm messages"
                      ) -> List[Tuple[str, int, int]]:
    """``imsimta qm messages CHANNEL`` -> [(destination host, active, delayed)]."""
    rows: List[Tuple[str, int, int]] = []
    seen_header = False
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if _HOSTS_HEADER.match(text):
            seen_header = True
            continue
        row = _HOST_ROW.match(text)
        if row and seen_header:
            rows.append((row.group(1), int(row.group(2)), int(row.group(3))))
            continue
        raise ParseError(f"{source}: unexpected line {clip(text)}")
    if not seen_header:
        raise ParseError(f"{source}: no 'host active messages delayed messages' header")
    return rows


class CommandSource:
    mta = NAME
    method = "command"

    def __init__(self, settings: Settings, imsimta: str) -> None:
        self.settings = settings
        self.imsimta = imsimta

    def _lines(self, args: List[str]) -> Iterator[str]:
        try:
            yield from text_lines([self.imsimta, "qm", *args], self.settings)
        except CommandError as exc:
            if "ermission" in str(exc) or "privilege" in str(exc):
                raise Unavailable(f"imsimta refused to list the queues: {exc}",
                                  sudo_fix(NAME, LISTING_FIX)) from None
            raise

    def messages(self) -> Iterator[Message]:
        # the -held listing may or may not repeat the other files: take each kind once
        for message in parse_directory(self._lines(["directory"])):
            if not message.held:
                yield message
        for message in parse_directory(self._lines(["directory", "-held"]),
                                       "imsimta qm directory -held"):
            if message.held:
                yield message

    def counts(self) -> Iterable[QueueCount]:
        figures: Dict[str, List[float]] = {}
        for message in self.messages():
            row = figures.setdefault(message.queue, [0, 0, 0.0])
            row[0] += 1
            row[1] += message.size or 0
            if message.arrival is not None and (not row[2] or message.arrival < row[2]):
                row[2] = message.arrival
        return [QueueCount(queue, int(n), int(size), oldest or None)
                for queue, (n, size, oldest) in figures.items()]

    def destinations(self, channel: str) -> List[Tuple[str, int, int]]:
        """Per destination host of *channel*: (host, active, delayed); before 6.3."""
        return parse_qm_messages(self._lines(["messages", channel]),
                                 f"imsimta qm messages {channel}")


def installed(settings: Settings) -> bool:
    return find_executable("imsimta", BIN_DIRS) is not None


def open_source(settings: Settings, method: str) -> CommandSource:
    if method != "command":
        raise ValueError(f"imsimta has no method {method!r}")
    return CommandSource(settings, binary(settings, ("imsimta",), NAME, BIN_DIRS))


def deferred_queues(queues: Tuple[str, ...]) -> Tuple[str, ...]:
    """The channels' delayed messages (tried at least once, waiting for a retry)."""
    return tuple(q for q in queues if q.endswith(".delayed"))
