"""nullmailer: a spool scan of /var/spool/nullmailer, or its ``mailq`` listing.

Queues: ``queue`` (waiting for nullmailer-send) and ``failed`` (moved there
after a permanent error, nullmailer 2.x), named after their directories.

nullmailer-queue writes each message as ``queue/<epoch>.<pid>``: the name is
the arrival second, and nullmailer-send never rewrites a queued file (it only
reads, moves it to failed/ or deletes it), so a count-only scan takes the
arrival from the name (the mtime where a name does not parse) and the size
from a stat, without opening anything. A file is: the envelope sender on the
first line (empty for a bounce), one recipient per line, an empty line, then
the message.

nullmailer's ``mailq`` prints ``YYYY-MM-DD HH:MM:SS <size> bytes from <sender>``
(local time; ``?????`` bytes and nothing after for a message that left while it
listed; before 2007 no sender) and one ``  to <recipient>`` line each, no file names, no
reasons (nullmailer keeps none), and nothing at all for an empty queue; it
lists ``queue`` only.
"""

from __future__ import annotations

import os
import re
import time

from ..proc import CommandError, find_executable
from .listing import Skipped
from .model import Message, ParseError, QueueCount, Settings, Unavailable
from .spoolscan import (Partitioned, check_readable_dir, confine, entries, entry_stat,
                        open_file, sudo_fix, text_lines)

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Iterable, Iterator, List, Optional, Tuple

NAME = "nullmailer"
METHODS = ("spool", "command")

DEFAULT_SPOOL = "/var/spool/nullmailer"
QUEUES = ("queue", "failed")
DEFERRED_QUEUES = ("queue",)  # failed/ holds messages nullmailer gave up on
MARKERS = ("/usr/sbin/nullmailer-send", "/usr/lib/nullmailer/smtp", "/etc/nullmailer/remotes")
MAX_ENVELOPE = 4 * 1024 * 1024
LISTING_FIX = "or add the nagios user to the queue directory's group"


def name_time(name: str) -> Optional[float]:
    """The arrival second in a queue file name '<epoch>.<pid>'."""
    head, dot, tail = name.partition(".")
    if dot and head.isdigit() and tail.isdigit() and len(head) <= 12:
        return float(int(head))
    return None


def parse_envelope(data: bytes, queue: str, queue_id: str, size: int, mtime: float,
                   source: str) -> Message:
    """The envelope lines at the head of a queue file -> Message."""
    end = data.find(b"\n\n")
    if end < 0:
        raise ParseError(f"nullmailer queue file {source} has no empty line after its "
                         "envelope (truncated or not a queue file)")
    lines = data[:end].decode("utf-8", "replace").split("\n")
    sender, recipients = lines[0].strip(), [line.strip() for line in lines[1:]]
    if not recipients or not all(recipients):
        raise ParseError(f"nullmailer queue file {source} lists no recipient")
    if any("\x00" in address for address in [sender, *recipients]):
        raise ParseError(f"nullmailer queue file {source}: NUL byte in its envelope "
                         "(not a queue file)")
    arrival = name_time(queue_id)
    return Message(queue=queue, queue_id=queue_id,
                   arrival=arrival if arrival is not None else mtime,
                   size=size, sender=sender, recipients=tuple(recipients))


class SpoolSource(Partitioned):
    mta = NAME
    method = "spool"

    def __init__(self, settings: Settings, root: str) -> None:
        self.settings = settings
        self.root = root
        confine(root)

    def _files(self, queue: str) -> Iterator[Tuple[str, str, os.stat_result]]:
        for entry in entries(os.path.join(self.root, queue)):
            if entry.name.startswith("."):
                continue
            st = entry_stat(entry)
            if st is not None:
                yield entry.name, entry.path, st

    def _queues(self) -> List[str]:
        return [q for q in QUEUES
                if q == "queue" or os.path.isdir(os.path.join(self.root, q))]

    def counts(self) -> Iterable[QueueCount]:
        for queue in self._queues():
            count = size = 0
            oldest: Optional[float] = None
            for name, _path, st in self._files(queue):
                count += 1
                size += st.st_size
                arrival = name_time(name)
                arrival = arrival if arrival is not None else st.st_mtime
                if oldest is None or arrival < oldest:
                    oldest = arrival
            yield QueueCount(queue, count, size, oldest)

    def messages(self) -> Iterator[Message]:
        for queue in self._queues():
            for name, path, st in self._files(queue):
                if not self.mine(name):
                    continue
                data = _read_envelope(path)
                if data is None:
                    continue  # sent while we looked
                yield parse_envelope(data, queue, name, st.st_size, st.st_mtime, path)


def _read_envelope(path: str) -> Optional[bytes]:
    """The file up to and including the empty line that ends the envelope."""
    try:
        fd = open_file(path)
    except Unavailable as exc:
        raise Unavailable(str(exc), sudo_fix(NAME, LISTING_FIX)) from None
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = b""
        while b"\n\n" not in data and len(data) < MAX_ENVELOPE:
            chunk = handle.read(65536)
            if not chunk:
                break
            data += chunk
        return data


# src/mailq.cc: strftime("%Y-%m-%d %H:%M:%S ") of the name's second, the size (or "?????"
# when stat() failed: the message left between readdir() and stat()), " bytes", then
# " from <sender>" and one "\n  to <recipient>" each when the file could be opened.
# Before 2007 (1.x): two spaces after the time, and nothing after "bytes".
_FROM = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)( {1,2})(\d+|\?+) bytes"
                   r"(?: from <(.*)>)?$")
_TO = re.compile(r"^  to <(.*)>$")


def parse_mailq(lines: Iterable[str], source: str = "mailq",
                skipped: Optional[Skipped] = None) -> Iterator[Message]:
    """Stream nullmailer's ``mailq`` listing.

    A message that left the queue while mailq listed it (its size printed as ``?????``,
    or no sender: its file could not be opened) is not counted. Any other line that is
    not a message's first line is an error: a message could be missing from the count;
    a line inside a message that is not a recipient is skipped and counted in
    *skipped* (nagios_ipc/mta/listing.py)."""
    skipped = skipped if skipped is not None else Skipped(source)
    current: Optional[Tuple[float, Optional[int], Optional[str], List[str]]] = None
    index = 0
    number = 0
    inside = False  # after a message's first line (a departed message's too)

    def finish() -> Message:
        assert current is not None
        arrival, size, sender, recipients = current
        if sender is not None and not recipients:
            raise ParseError(f"{source}: message of {size} bytes from <{sender}> "
                             "lists no recipient")
        return Message(queue="queue", queue_id=f"{int(arrival)}#{index}", arrival=arrival,
                       size=size, sender=sender, recipients=tuple(recipients))

    for line in lines:
        number += 1
        if not line:
            continue
        match = _FROM.match(line)
        if match:
            if current is not None:
                yield finish()
                current = None
            skipped.understood += 1
            inside = True
            old = len(match.group(2)) == 2  # nullmailer 1.x: never a sender
            if match.group(3).startswith("?") or (match.group(4) is None and not old):
                continue  # sent (gone) while mailq listed it
            index += 1
            try:
                arrival = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
            except (ValueError, OverflowError):
                raise skipped.fail(line, number, "bad date") from None
            current = (arrival, int(match.group(3)), match.group(4), [])
            continue
        to = _TO.match(line)
        if to and current is not None:
            current[3].append(to.group(1))
            skipped.understood += 1
            continue
        if inside and line[0] in " \t":
            skipped.skip(line, number, "not a recipient line")
            continue
        raise skipped.fail(line, number, "not a nullmailer mailq message line (a message "
                                         "could be missing from the count)")
    if current is not None:
        yield finish()
    skipped.finish()


class CommandSource:
    mta = NAME
    method = "command"

    def __init__(self, settings: Settings, mailq: str) -> None:
        self.settings = settings
        self.mailq = mailq
        self.skipped = Skipped("nullmailer mailq")

    def messages(self) -> Iterator[Message]:
        try:
            yield from parse_mailq(text_lines([self.mailq], self.settings), "nullmailer mailq",
                                   self.skipped)
        except CommandError as exc:
            if "ermission denied" in str(exc) or "Could not" in str(exc):
                raise Unavailable(f"nullmailer's mailq cannot read the queue: {exc}",
                                  sudo_fix(NAME, LISTING_FIX)) from None
            raise

    def counts(self) -> Iterable[QueueCount]:
        count = size = 0
        oldest: Optional[float] = None
        for message in self.messages():
            count += 1
            size += message.size or 0
            if message.arrival is not None and (oldest is None or message.arrival < oldest):
                oldest = message.arrival
        return [QueueCount("queue", count, size, oldest)]


def installed(settings: Settings) -> bool:
    return any(os.path.exists(path) for path in MARKERS)


def open_source(settings: Settings, method: str) -> SpoolSource | CommandSource:
    if method == "spool":
        root = settings.spool_dir or DEFAULT_SPOOL
        check_readable_dir(root, NAME)
        check_readable_dir(os.path.join(root, "queue"), NAME, LISTING_FIX)
        return SpoolSource(settings, root)
    if method == "command":
        if settings.binary:
            mailq = find_executable(settings.binary)
        elif installed(settings):
            mailq = find_executable("mailq", ("/usr/bin", "/usr/sbin", "/usr/local/bin"))
        else:
            mailq = None
        if mailq is None and settings.binary:
            raise Unavailable(f"{settings.binary} is missing or not executable",
                              "point --mta-binary at nullmailer's mailq")
        if mailq is None:
            raise Unavailable("nullmailer's mailq was not found (nullmailer not installed?)",
                              "install nullmailer or point --mta-binary at its mailq")
        return CommandSource(settings, mailq)
    raise ValueError(f"nullmailer has no method {method!r}")
