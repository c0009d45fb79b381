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
from .listing import Skipped, excerpt
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
    taken: Dict[str, str] = {}
    dirs = [QueueDir(p, queue_name(p, taken)) for p in paths]
    if os.path.isdir(client) and client not in paths:
        dirs.append(QueueDir(client, queue_name(client, taken)))
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

    def queue_names(self) -> List[str]:
        """Every queue directory, empty ones too (quarantined messages only when there
        are some, in both modes)."""
        return [qdir.name for qdir in self.dirs]

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

# printqueue() in sendmail's queue.c: a header per queue directory ("\t\t<dir> (N requests"
# [", only M printed"]")", or "<dir> is empty"; <dir> is the data file directory, so
# ".../q1/df" with qf/df subdirectories; "Mail Queue" before 8.12), a column heading
# ("-----Q-ID-----", 8.12.11 on; "----Q-ID----" and "--Q-ID--" before), per message
# "<id>[*X-] <size> <date> <sender>" (size -1: no data file; before 8.12.11 no space after
# the id), an indented "<bodytype>   (<status>)" line (either part may be missing), deeply
# indented recipients ("\t\t\t\t\t " 8.12.11 on, "\t\t\t\t       " before), then
# "\t\tTotal requests: N" ("Total Requests" before 8.12.11, and not with one queue)
_HEADER = re.compile(r"^\s*(/\S*|Mail [Qq]ueue) \((\d+) requests?(?:, only (\d+) printed)?\)"
                     r"\s*$")
_EMPTY = re.compile(r"^\s*(/\S*|Mail [Qq]ueue) is empty\s*$")
_TOTAL = re.compile(r"^\s*Total [Rr]equests: (\d+)\s*$")
_HEADING = re.compile(r"^\s*-+Q-ID-+ ")
_ENTRY = re.compile(r"^([A-Za-z0-9]+)([*X-]?)\s*(-?\d+)\s+"
                    r"([A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d)(?: (.*))?$")
# the rest of an entry after sendmail printed an error into its first line ("<id>readqf:
# cannot open ...: No such file or directory" then "       -1 <date> <sender>")
_ENTRY_REST = re.compile(r"^\s+(-?\d+) ([A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d)"
                         r"(?: (.*))?$")
_BROKEN_ID = re.compile(r"^([0-9A-Za-x]{8}\d{5,6})(?=[a-z])")
_GONE = re.compile(r"^([A-Za-z0-9]+)[*X-]?\s+\((.*)\)\s*$")
_STATUS = re.compile(r"^\s+(?:([0-9A-Z]+)(?:\s+|$))?(?:\((.*)\))?\s*$")
RECIPIENT_INDENT = 24  # columns: recipients are indented by four or five tabs


def queue_name(path: str, taken: Dict[str, str]) -> str:
    """A queue directory's reported name: its last component (without the qf/df/xf
    subdirectory sendmail prints), or its whole path when that name is already taken by
    another directory in this run (two .../q1 under different parents).

    *taken* maps names to the directory that has each; the spool scan and the listing
    go through the queue directories in sendmail's order, so both name them alike."""
    path = path.rstrip("/") or "/"
    if path.startswith("Mail "):
        path = DEFAULT_QUEUE
    if os.path.basename(path) in ("qf", "df", "xf"):
        path = os.path.dirname(path)
    name = os.path.basename(path) or path
    if taken.get(name, path) != path:
        name = path.strip("/").replace("/", "_")
    taken[name] = path
    return name


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

    def __init__(self, queue_id: str, size: Optional[int], arrival: Optional[float],
                 sender: Optional[str]) -> None:
        self.queue_id = queue_id
        self.size = size
        self.arrival = arrival
        self.sender = sender
        self.recipients: List[str] = []
        self.reasons: List[str] = []
        self.held = False


def parse_mailq(lines: Iterable[str], now: float, source: str = "mailq",
                suffix: str = "", skipped: Optional[Skipped] = None,
                taken: Optional[Dict[str, str]] = None
                ) -> Iterator[Tuple[str, Optional[Message], int, bool]]:
    """Stream a sendmail ``mailq`` listing.

    Yields (queue, message, announced, complete) items: a Message for each
    entry, and for each queue directory header one item with message None,
    the number of requests sendmail announced, and whether all were printed.

    A line not understood inside a queue's section is skipped (nagios_ipc/mta/listing.py)
    and counted in *skipped*: sendmail announces each queue's number of requests, and a
    complete queue whose entries do not add up to it is a ParseError naming the first
    skipped line. Anything outside a queue's section that is not part of the format is a
    ParseError."""
    skipped = skipped if skipped is not None else Skipped(source)
    taken = taken if taken is not None else {}
    queue: Optional[str] = None
    header = ""
    announced = 0
    complete = True
    seen = 0                 # entries of the current queue (messages and departed ones)
    entry: Optional[_Entry] = None
    broken_id: Optional[str] = None
    seen_total = False
    modern = False           # 8.12.11 or later: the total line is always printed
    total_announced = 0
    number = 0

    def finish() -> Optional[Message]:
        if entry is None or queue is None:
            return None
        return Message(queue=queue, queue_id=entry.queue_id, arrival=entry.arrival,
                       size=entry.size, sender=entry.sender,
                       recipients=tuple(entry.recipients), reasons=tuple(entry.reasons),
                       held=entry.held or bool(suffix))

    def check_queue() -> None:
        if queue is not None and complete and seen != announced:
            why = (f"sendmail announced {announced} requests in {queue} but {seen} were "
                   f"read")
            if first_skip:
                why += f"; first line not understood: {first_skip}"
            raise skipped.fail(header, header_number, why)

    def start_entry(queue_id: str, size: int, date: str, sender: Optional[str]) -> _Entry:
        arrival = queue_id_time(queue_id, now)
        if arrival is None:
            arrival = _listing_time(date, now)
        return _Entry(queue_id, size if size >= 0 else None, arrival,
                      null_sender(sender) if sender is not None else None)

    header_number = 0
    first_skip = ""          # the first line skipped in the current queue's section

    def skip(line: str, why: str) -> None:
        nonlocal first_skip
        skipped.skip(line, number, why)
        if not first_skip:
            first_skip = f"line {number} {excerpt(line)} ({why})"

    for line in lines:
        number += 1
        if not line.strip():
            continue
        if seen_total:
            raise skipped.fail(line, number, "text after the total line")
        if line[0] not in " \t":
            broken_id = None  # only the indented line right after it completes an entry
        match = _HEADER.match(line) or _EMPTY.match(line)
        if match:
            done = finish()
            if done is not None:
                yield done.queue, done, 0, True
            entry = None
            check_queue()
            skipped.understood += 1
            modern = modern or line.startswith("/")  # 8.12+ name the directory
            queue = queue_name(match.group(1), taken) + suffix
            header, header_number = line, number
            if match.re is _HEADER:
                announced = int(match.group(2))
                complete = match.group(3) is None
            else:
                announced, complete = 0, True
            seen = 0
            first_skip = ""
            total_announced += announced
            yield queue, None, announced, complete
            continue
        total = _TOTAL.match(line)
        if total:
            done = finish()
            if done is not None:
                yield done.queue, done, 0, True
            entry = None
            check_queue()
            skipped.understood += 1
            if int(total.group(1)) != total_announced:
                raise skipped.fail(line, number, f"the queues announced {total_announced} "
                                                 "requests")
            seen_total = True
            continue
        if _HEADING.match(line):
            modern = modern or line.lstrip().startswith("-----Q-ID----- ")
            continue
        if queue is None:
            raise skipped.fail(line, number, "not part of a sendmail queue listing")
        if line[0] in " \t":
            rest = _ENTRY_REST.match(line) if broken_id is not None else None
            if rest is not None:
                assert broken_id is not None
                entry = start_entry(broken_id, int(rest.group(1)), rest.group(2),
                                    rest.group(3))
                broken_id = None
                seen += 1
                skipped.understood += 1
                continue
            if entry is None:
                skip(line, "indented line outside a message")
                continue
            text = line.strip()
            status = _STATUS.match(line)
            if text.startswith("QUARANTINE:"):
                entry.held = True
            elif status is not None and (status.group(1) or status.group(2) is not None):
                if status.group(2) is not None:
                    reason = _reason(status.group(2))
                    if reason and reason not in entry.reasons:
                        entry.reasons.append(reason)
            elif len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip()) \
                    >= RECIPIENT_INDENT:
                entry.recipients.append(text)
            else:
                skip(line, "not a status or recipient line")
                continue
            skipped.understood += 1
            continue
        match = _ENTRY.match(line)
        if match:
            done = finish()
            if done is not None:
                yield done.queue, done, 0, True
            entry = start_entry(match.group(1), int(match.group(3)), match.group(4),
                                match.group(5))
            seen += 1
            skipped.understood += 1
            continue
        gone = _GONE.match(line)
        if gone:
            done = finish()
            if done is not None:
                yield done.queue, done, 0, True
            entry = None  # "(job completed)" and the like: it left the queue meanwhile
            seen += 1
            skipped.understood += 1
            continue
        done = finish()
        if done is not None:
            yield done.queue, done, 0, True
        entry = None
        broken = _BROKEN_ID.match(line)
        broken_id = broken.group(1) if broken else None
        skip(line, "not a message line")
    done = finish()
    if done is not None:
        yield done.queue, done, 0, True
    check_queue()
    skipped.finish()
    if queue is None:
        raise ParseError(f"{source}: no queue in the listing (empty output?)")
    if modern and not seen_total:
        raise ParseError(f"{source}: listing ended without its 'Total requests' line "
                         "(truncated output?)")


class CommandSource:
    mta = NAME
    method = "command"

    def __init__(self, settings: Settings, sendmail: str) -> None:
        self.settings = settings
        self.sendmail = sendmail
        self.skipped = Skipped("mailq")
        self.taken: Dict[str, str] = {}   # queue names given so far (queue_name)
        self.seen: List[str] = []         # queues the listings showed, empty ones too

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
                    self._lines(argv), now, label, suffix, self.skipped, self.taken):
                if message is None:
                    if not suffix and queue not in self.seen:
                        self.seen.append(queue)
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
                # two headers may name one queue (one directory listed twice): add up
                row = figures.setdefault(queue, [0, 0, 0, 1])
                row[0] += announced
                row[3] = row[3] if complete else 0
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

    def queue_names(self) -> List[str]:
        return list(self.seen)

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
