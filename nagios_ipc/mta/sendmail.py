"""Sendmail: a spool scan of the queue directories, or the ``mailq`` listing.

Queues are named after their directory (``mqueue``, ``clientmqueue`` for the
submission queue, ``q1`` ... for multiple queue directories or queue groups);
quarantined messages (``hf`` files, sendmail's form of hold) are the queue
``<name>.quarantined``.

Spool layout: each queue directory holds ``qf<id>`` control files and
``df<id>`` data files, or keeps them in ``qf/``, ``df/`` (and ``xf/``)
subdirectories. A count-only scan lists the control files and stats the data
files (the message size); the arrival time comes from the queue ID itself,
which encodes the UTC second it was assigned (year mod 60, month, day, hour,
minute, second in base 60, then two sequence characters and the pid), so no
file is opened. A full scan reads the control file records: ``T`` arrival,
``S`` sender (``MAILER-DAEMON`` or ``<>`` is the null sender of a bounce),
``R`` recipients (``R<flags>:<address>``), ``M`` the deferral message(s),
``q`` the quarantine reason.

``mailq`` (``sendmail -bp``) is read the same way; ``-qQ`` lists the
quarantined messages, ``-Ac`` the submission queue. Its reasons are cut to 60
characters by sendmail itself.
"""

from __future__ import annotations

import datetime
import glob
import os
import re
import time

from ..proc import CommandError
from .model import Message, ParseError, QueueCount, Settings, Unavailable
from .spoolscan import (Partitioned, check_readable_dir, clip, confine, entries, path_stat,
                        read_small, sudo_fix, text_lines)

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Dict, Iterable, Iterator, List, Optional, Tuple

NAME = "sendmail"
METHODS = ("spool", "command")

DEFAULT_CONFIG_DIR = "/etc/mail"
DEFAULT_QUEUE = "/var/spool/mqueue"
DEFAULT_CLIENT_QUEUE = "/var/spool/clientmqueue"
BINARIES = ("/usr/libexec/sendmail/sendmail", "/usr/lib/sm.bin/sendmail")
QUEUE_ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"
_ID_VALUE = {char: index for index, char in enumerate(QUEUE_ID_CHARS)}
LISTING_FIX = ("or let the nagios user list the queue (PrivacyOptions without "
               "restrictmailq, or membership of the queue directory's group)")


# ---------------------------------------------------------------- queue IDs

def queue_id_time(queue_id: str, now: float) -> Optional[float]:
    """The UTC second encoded in a sendmail (8.12+) queue ID, or None.

    The year is stored modulo 60: the latest year not after *now* (plus a day
    of clock skew) is taken."""
    if len(queue_id) < 9 or not queue_id[8:].isdigit():
        return None
    if any(char not in _ID_VALUE for char in queue_id[:8]):
        return None
    year_mod, month, day, hour, minute, second = (_ID_VALUE[c] for c in queue_id[:6])
    now = now or time.time()
    now_year = time.gmtime(now).tm_year
    year = now_year - ((now_year - 1900 - year_mod) % 60)
    for candidate in (year, year - 60):
        try:
            stamp = datetime.datetime(candidate, month + 1, day, hour, minute, second,
                                      tzinfo=datetime.timezone.utc).timestamp()
        except (ValueError, OverflowError):
            return None
        if stamp <= now + 86400:
            return stamp
    return None


def null_sender(sender: str) -> str:
    """'' for the null sender as sendmail records it (<> or MAILER-DAEMON)."""
    sender = sender.strip()
    if sender.startswith("<") and sender.endswith(">"):
        sender = sender[1:-1].strip()
    return "" if sender.upper() == "MAILER-DAEMON" else sender


def _reason(text: str) -> Optional[str]:
    text = text.strip()
    if text.startswith("Deferred"):
        text = text[len("Deferred"):].lstrip(":").strip()
    return text or None


# ---------------------------------------------------------------- control files

def parse_qf(data: bytes, queue: str, queue_id: str, size: Optional[int],
             source: str, held: bool = False) -> Message:
    """One control file (qf/hf) -> Message. Raises ParseError naming *source*."""
    text = data.decode("latin-1")
    tail = text.rstrip("\n")
    if not (tail == "." or tail.endswith("\n.")):
        raise ParseError(f"sendmail control file {source} is truncated "
                         "(no final '.' record)")
    arrival: Optional[float] = None
    sender: Optional[str] = None
    recipients: List[str] = []
    reasons: List[str] = []
    for line in text.split("\n"):
        if not line or line[0] in " \t":
            continue  # header continuation lines
        kind, value = line[0], line[1:]
        if kind == "T":
            try:
                arrival = float(int(value))
            except (ValueError, OverflowError):
                raise ParseError(f"sendmail control file {source}: arrival record "
                                 f"{clip(line)} is not a number") from None
        elif kind == "S":
            sender = null_sender(value)
        elif kind == "R":
            flags, colon, address = value.partition(":")
            if colon and flags.isalpha():
                value = address
            elif colon and not flags:
                value = address
            if value.strip():
                recipients.append(value.strip())
        elif kind == "M":
            reason = _reason(value)
            if reason and reason not in reasons:
                reasons.append(reason)
        elif kind == "q":
            held = True
        elif kind == "H":
            break  # headers follow the envelope records; nothing we need after them
    if arrival is None:
        raise ParseError(f"sendmail control file {source} has no arrival (T) record")
    return Message(queue=queue, queue_id=queue_id, arrival=arrival, size=size, sender=sender,
                   recipients=tuple(recipients), reasons=tuple(reasons), held=held)


# ---------------------------------------------------------------- configuration

def parse_cf(text: str) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """(QueueDirectory, [(queue group, path)]) from a sendmail.cf text."""
    queue_dir: Optional[str] = None
    groups: List[Tuple[str, str]] = []
    for line in text.splitlines():
        if line.startswith("O QueueDirectory="):
            queue_dir = line.split("=", 1)[1].strip() or None
        elif line.startswith("OQ") and len(line) > 2:
            queue_dir = line[2:].strip() or None
        elif line.startswith("Q") and "," in line and not line.startswith("Q "):
            name, _, rest = line[1:].partition(",")
            for item in rest.split(","):
                key, _, value = item.strip().partition("=")
                if key.strip().lower() in ("path", "p") and value.strip():
                    groups.append((name.strip(), value.strip()))
    return queue_dir, groups


def _read_cf(path: str) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    try:
        with open(path, encoding="latin-1") as handle:
            return parse_cf(handle.read(4 * 1024 * 1024))
    except OSError:
        return None, []


def _expand(path: str) -> List[str]:
    """A queue path, or its matches when it ends in '*' (multiple queue dirs)."""
    if path.endswith("*"):
        return sorted(p for p in glob.glob(path) if os.path.isdir(p))
    return [path]


class QueueDir:
    """One queue directory: where its control and data files live."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        confine(path)
        qf = os.path.join(path, "qf")
        df = os.path.join(path, "df")
        self.qf_dir = qf if os.path.isdir(qf) else path
        self.df_dir = df if os.path.isdir(df) else self.qf_dir


def queue_dirs(settings: Settings) -> List[QueueDir]:
    config_dir = settings.config_dir or DEFAULT_CONFIG_DIR
    cf = settings.config_file or os.path.join(config_dir, "sendmail.cf")
    cf_queue, groups = _read_cf(cf)
    main = settings.spool_dir or cf_queue or DEFAULT_QUEUE
    paths: List[str] = _expand(main)
    if not paths:  # a wildcard matching nothing: report the pattern's directory
        paths = [os.path.dirname(main)]
    for _group, path in groups:
        for expanded in _expand(path):
            if expanded not in paths:
                paths.append(expanded)
    client, _ = _read_cf(os.path.join(config_dir, "submit.cf"))
    client = client or DEFAULT_CLIENT_QUEUE
    dirs = [QueueDir(p, os.path.basename(p.rstrip("/")) or p) for p in paths]
    if os.path.isdir(client) and client not in paths:
        dirs.append(QueueDir(client, os.path.basename(client.rstrip("/"))))
    return dirs


# ---------------------------------------------------------------- spool source

class SpoolSource(Partitioned):
    mta = NAME
    method = "spool"

    def __init__(self, settings: Settings, dirs: List[QueueDir]) -> None:
        self.settings = settings
        self.dirs = dirs

    def _control_files(self, qdir: QueueDir) -> Iterator[Tuple[str, str, bool]]:
        """(queue id, control file path, quarantined) of every queued message."""
        for entry in entries(qdir.qf_dir):
            name = entry.name
            if len(name) > 2 and name[:2] in ("qf", "hf"):
                yield name[2:], entry.path, name[0] == "h"

    def _size(self, qdir: QueueDir, queue_id: str) -> Optional[int]:
        st = path_stat(os.path.join(qdir.df_dir, "df" + queue_id))
        return st.st_size if st is not None else None

    def counts(self) -> Iterable[QueueCount]:
        now = self.settings.now or time.time()
        for qdir in self.dirs:
            figures: Dict[str, List[float]] = {qdir.name: [0, 0, 0],
                                               qdir.name + ".quarantined": [0, 0, 0]}
            for queue_id, _path, quarantined in self._control_files(qdir):
                row = figures[qdir.name + ".quarantined" if quarantined else qdir.name]
                row[0] += 1
                row[1] += self._size(qdir, queue_id) or 0
                arrival = queue_id_time(queue_id, now)
                if arrival is not None and (not row[2] or arrival < row[2]):
                    row[2] = arrival
            for queue, (count, size, oldest) in figures.items():
                if count or not queue.endswith(".quarantined"):
                    yield QueueCount(queue, int(count), int(size), oldest or None)

    def messages(self) -> Iterator[Message]:
        for qdir in self.dirs:
            for queue_id, path, quarantined in self._control_files(qdir):
                if not self.mine(queue_id):
                    continue
                data = read_small(path)
                if data is None:
                    continue  # delivered while we looked
                queue = qdir.name + ".quarantined" if quarantined else qdir.name
                yield parse_qf(data, queue, queue_id, self._size(qdir, queue_id), path,
                               held=quarantined)


# ---------------------------------------------------------------- mailq listing

_HEADER = re.compile(r"^\s*(\S+) \((\d+) requests?(?:, only (\d+) printed)?\)\s*$")
_EMPTY = re.compile(r"^\s*(\S+) is empty\s*$")
_TOTAL = re.compile(r"^\s*Total requests: (\d+)\s*$")
_ENTRY = re.compile(r"^([A-Za-z0-9]+)([*X-]?)\s+(\d+)\s+"
                    r"([A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d)(?: (.*))?$")
_GONE = re.compile(r"^([A-Za-z0-9]+)[*X-]?\s+\((.*)\)\s*$")
_BODYTYPE = re.compile(r"^[0-9A-Z]+$")


def _listing_time(text: str, now: float) -> Optional[float]:
    """'Mon Nov 23 18:09' in local time, the latest such date not in the future."""
    this_year = time.localtime(now).tm_year
    for year in (this_year, this_year - 1):
        try:
            parsed = time.strptime(f"{year} {text[4:]}", "%Y %b %d %H:%M")
            stamp = time.mktime(parsed)
        except (ValueError, OverflowError):
            return None
        if stamp <= now + 86400:
            return stamp
    return None


class _Entry:
    __slots__ = ("arrival", "held", "queue_id", "reasons", "recipients", "sender", "size")

    def __init__(self, queue_id: str, size: int, arrival: Optional[float],
                 sender: Optional[str]) -> None:
        self.queue_id = queue_id
        self.size = size
        self.arrival = arrival
        self.sender = sender
        self.recipients: List[str] = []
        self.reasons: List[str] = []
        self.held = False


def parse_mailq(lines: Iterable[str], now: float, source: str = "mailq",
                suffix: str = "") -> Iterator[Tuple[str, Optional[Message], int, bool]]:
    """Stream a sendmail ``mailq`` listing.

    Yields (queue, message, announced, complete) items: a Message for each
    entry, and for each queue directory header one item with message None,
    the number of requests sendmail announced, and whether all were printed.
    Raises ParseError on anything that is not part of the format."""
    queue: Optional[str] = None
    entry: Optional[_Entry] = None
    seen_total = False

    def finish() -> Optional[Message]:
        if entry is None or queue is None:
            return None
        return Message(queue=queue, queue_id=entry.queue_id, arrival=entry.arrival,
                       size=entry.size, sender=entry.sender,
                       recipients=tuple(entry.recipients), reasons=tuple(entry.reasons),
                       held=entry.held or bool(suffix))

    for line in lines:
        if not line.strip():
            continue
        if seen_total:
            raise ParseError(f"{source}: text after the total line: {clip(line)}")
        header = _HEADER.match(line)
        empty = _EMPTY.match(line) if header is None else None
        if header or empty:
            done = finish()
            if done is not None:
                yield done.queue, done, 0, True
            entry = None
            match = header or empty
            assert match is not None
            queue = os.path.basename(match.group(1).rstrip("/")) + suffix
            if header:
                announced = int(header.group(2))
                complete = header.group(3) is None
            else:
                announced, complete = 0, True
            yield queue, None, announced, complete
            continue
        total = _TOTAL.match(line)
        if total:
            done = finish()
            if done is not None:
                yield done.queue, done, 0, True
            entry = None
            seen_total = True
            continue
        if line.startswith("-----Q-ID-----"):
            continue
        if line[0] in " \t":
            text = line.strip()
            if entry is None:
                raise ParseError(f"{source}: indented line before any message: {clip(line)}")
            if text.startswith("(") and text.endswith(")"):
                reason = _reason(text[1:-1])
                if reason and reason not in entry.reasons:
                    entry.reasons.append(reason)
            elif text.startswith("QUARANTINE:"):
                entry.held = True
            elif line.startswith("\t\t\t\t\t"):
                entry.recipients.append(text)
            elif _BODYTYPE.match(text):
                pass  # body type (8BITMIME) printed under the size
            else:
                raise ParseError(f"{source}: unexpected line {clip(line)}")
            continue
        match = _ENTRY.match(line)
        if match:
            if queue is None:
                raise ParseError(f"{source}: message listed before any queue header: "
                                 f"{clip(line)}")
            done = finish()
            if done is not None:
                yield done.queue, done, 0, True
            queue_id = match.group(1)
            arrival = queue_id_time(queue_id, now)
            if arrival is None:
                arrival = _listing_time(match.group(4), now)
            sender = null_sender(match.group(5)) if match.group(5) is not None else None
            entry = _Entry(queue_id, int(match.group(3)), arrival, sender)
            continue
        if _GONE.match(line) and queue is not None:
            done = finish()
            if done is not None:
                yield done.queue, done, 0, True
            entry = None  # "(job completed)" and the like: it left the queue meanwhile
            continue
        raise ParseError(f"{source}: unexpected line {clip(line)}")
    if not seen_total:
        raise ParseError(f"{source}: listing ended without its 'Total requests' line "
                         "(truncated output?)")


class CommandSource:
    mta = NAME
    method = "command"

    def __init__(self, settings: Settings, sendmail: str) -> None:
        self.settings = settings
        self.sendmail = sendmail

    def _listings(self) -> List[Tuple[List[str], str, str]]:
        """(argv, queue name suffix, label) of each listing to read."""
        config_dir = self.settings.config_dir
        main = self.settings.config_file or (
            os.path.join(config_dir, "sendmail.cf") if config_dir else None)
        base = [self.sendmail, *(["-C", main] if main else [])]
        listings = [([*base, "-bp"], "", "mailq"),
                    ([*base, "-bp", "-qQ"], ".quarantined", "mailq -qQ")]
        submit = os.path.join(config_dir or DEFAULT_CONFIG_DIR, "submit.cf")
        if os.path.exists(submit):  # a submission queue (MSP) is configured
            explicit = ["-C", submit] if config_dir else []
            listings.append(([self.sendmail, *explicit, "-bp", "-Ac"], "", "mailq -Ac"))
        return listings

    def _items(self) -> Iterator[Tuple[str, Optional[Message], int, bool]]:
        now = self.settings.now or time.time()
        earlier: List[str] = []  # queues of the listings already read
        for argv, suffix, label in self._listings():
            mine: List[str] = []
            skip = False
            for queue, message, announced, complete in parse_mailq(
                    self._lines(argv), now, label, suffix):
                if message is None:
                    # -Ac on a host without a separate submission queue lists the
                    # main queue again: count each queue once
                    skip = queue in earlier
                    mine.append(queue)
                if not skip:
                    yield queue, message, announced, complete
            earlier.extend(mine)

    def _lines(self, argv: List[str]) -> Iterator[str]:
        try:
            yield from text_lines(argv, self.settings)
        except CommandError as exc:
            text = str(exc)
            if "not permitted" in text or "ermission denied" in text:
                raise Unavailable(f"sendmail refused to list the queue: {text}",
                                  sudo_fix(NAME, LISTING_FIX)) from None
            raise

    def counts(self) -> Iterable[QueueCount]:
        figures: Dict[str, List[float]] = {}
        for queue, message, announced, complete in self._items():
            if message is None:
                figures[queue] = [announced, 0, 0, 1 if complete else 0]
                continue
            row = figures[queue]
            row[1] += message.size or 0
            if message.arrival is not None and (not row[2] or message.arrival < row[2]):
                row[2] = message.arrival
        result: List[QueueCount] = []
        for queue, (count, size, oldest, whole) in figures.items():
            if count or not queue.endswith(".quarantined"):
                result.append(QueueCount(queue, int(count), int(size) if whole else None,
                                         (oldest or None) if whole else None))
        return result

    def messages(self) -> Iterator[Message]:
        for queue, message, _announced, complete in self._items():
            if message is None and not complete:
                raise ParseError(f"mailq printed only part of queue {queue} "
                                 "(MaxQueueRunSize); use --method spool for full detail")
            if message is not None:
                yield message


# ---------------------------------------------------------------- module interface

def _binary(settings: Settings) -> Optional[str]:
    from ..proc import find_executable
    if settings.binary:
        return find_executable(settings.binary)
    for path in BINARIES:
        if os.access(path, os.X_OK):
            return path
    config_dir = settings.config_dir or DEFAULT_CONFIG_DIR
    if os.path.exists(os.path.join(config_dir, "sendmail.cf")):
        return find_executable("sendmail")
    return None


def installed(settings: Settings) -> bool:
    config_dir = settings.config_dir or DEFAULT_CONFIG_DIR
    return (os.path.exists(settings.config_file or os.path.join(config_dir, "sendmail.cf"))
            or any(os.access(path, os.X_OK) for path in BINARIES))


def open_source(settings: Settings, method: str) -> SpoolSource | CommandSource:
    if method == "spool":
        dirs = queue_dirs(settings)
        for qdir in dirs:
            check_readable_dir(qdir.path, NAME, LISTING_FIX)
            check_readable_dir(qdir.qf_dir, NAME, LISTING_FIX)
        return SpoolSource(settings, dirs)
    if method == "command":
        sendmail = _binary(settings)
        if sendmail is None:
            raise Unavailable("sendmail's binary was not found (/usr/libexec/sendmail/sendmail, "
                              "/usr/lib/sm.bin/sendmail)",
                              "install sendmail or point --mta-binary at it")
        return CommandSource(settings, sendmail)
    raise ValueError(f"sendmail has no method {method!r}")


def deferred_queues(queues: Tuple[str, ...]) -> Tuple[str, ...]:
    """Every queue directory (a message stays in sendmail's queue only when it could
    not be delivered at once), not the quarantined messages."""
    return tuple(q for q in queues if not q.endswith(".quarantined"))
