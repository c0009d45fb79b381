"""Streaming aggregation of a mail queue: memory stays flat as the queue grows.

Per queue: messages, bytes, oldest arrival. Overall: bounces (null sender),
held messages, messages per destination domain, messages per deferral reason
(normalised so that the same cause groups, whatever host, address, port or id
it names). Nothing keeps a list of messages; the domain and reason tallies are
bounded (rare entries are pruned when they grow past a limit, the way a
heavy-hitters count works) except for the domains that have thresholds.
"""

from __future__ import annotations

import os
import re

from .model import Message, QueueCount

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

TALLY_LIMIT = 20000  # distinct domains/reasons kept before rare ones are pruned
REASON_MAX = 120     # characters of a normalised reason
DAMAGED_KEPT = 10    # damaged queue files named in the long output
RAW_LIMIT = 20000    # distinct raw reason texts counted before each is normalised at once


class QueueStats:
    __slots__ = ("bytes", "domains", "messages", "name", "oldest", "sized")

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages = 0
        self.bytes = 0
        self.sized = False      # some message had a known size
        self.oldest: Optional[float] = None  # earliest arrival, epoch seconds
        # this queue's messages per destination domain: the top destination named beside
        # a queue's problem is that queue's own (held mail for one domain must not be
        # named as where the deferred mail goes)
        self.domains = Tally()


class Tally:
    """Counts per key with a bounded number of keys."""

    __slots__ = ("counts", "limit", "pruned")

    def __init__(self, limit: int = TALLY_LIMIT) -> None:
        self.counts: Dict[str, int] = {}
        self.limit = limit
        self.pruned = False

    def add(self, key: str) -> None:
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        if len(counts) > self.limit:
            self.prune()

    def prune(self) -> None:
        """Drop the rarer half of the keys (the counts of the kept ones stay exact)."""
        counts = self.counts
        floor = sorted(counts.values())[len(counts) // 2]
        self.counts = {k: v for k, v in counts.items() if v > floor}
        self.pruned = True

    def top(self, count: int) -> List[Tuple[str, int]]:
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:count]


REASON_CUT = 400     # characters of a raw reason looked at: the cause and the reply code
                     # come first, and a remote MX chooses the length of what follows

# Each pattern starts only where its token starts (a lookbehind for the character before)
# and scans with possessive quantifiers (atomic groups for groups: Python 3.11.2 gets a
# possessive group repetition wrong), so a long run of one kind of character costs one
# pass, not one pass per starting position (4 KB reply texts from a remote MX took 130 ms
# each to normalise before: 200 deferred messages timed the check out).
# Compiled when the first reason is normalised, not at import: an idle run never needs
# them, and compiling all nine is 2% of its CPU time (issue 15).
_ADDRESS = (r"<[^<>\s@]*+@[^<>\s]*+>"
            r"|(?<![^\s<>()\[\]'\"=:,;])[^\s<>()\[\]'\"=:,;@]++@[^\s<>()\[\]'\",;:]++")
_HOST_IP = r"(?<![^\s\[\]])[^\s\[\]]*+\[[0-9A-Fa-f.:]++\](?::\d++)?"  # name[1.2.3.4]:25
_EXIM_HOST = r"\bH=\S++(?: \[[0-9A-Fa-f.:]++\])?(?::\d++)?"  # H=name [1.2.3.4]
_IP = r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){2,7}\b"
_QUOTED = r"'[^']*+'|\"[^\"]*+\""
_SMTP_CODE = r"\b[245]\d\d[ -]\d\.\d{1,3}\.\d{1,3}\b|\b[245]\d\d\b(?=[ -])"
_ID = (r"(?<![0-9A-Za-z-])(?=[0-9A-Za-z]{6}-)[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-"
       r"[0-9A-Za-z]{2,4}(?![0-9A-Za-z])"
       r"|\b[0-9A-F]{8,}+\b|(?<!\w)(?=\w*?\d)\w{12,}+")
_NUMBER = r"\d++(?>(?:\.\d++)*)"
_SPACE = r"\s+"
_COMPILED: List[re.Pattern[str]] = []


def normalise_reason(text: str) -> str:
    """One grouping key for a deferral reason.

    Addresses, hosts with their IP and port, quoted names, queue/message ids and
    numbers become placeholders; SMTP reply codes (451, 4.7.1) are kept, as they
    are what an operator groups by:
    'connect to mx1.example.com[192.0.2.1]:25: Connection refused' and the same
    for mx2 give 'connect to HOST: Connection refused'. A reason that is one quoted
    string as a whole is that string (the quotes are not a name in it). Only the
    first REASON_CUT characters are read.
    """
    text = text[:REASON_CUT].strip()
    if len(text) > 2 and text[0] == text[-1] and text[0] in "'\"" \
            and text[0] not in text[1:-1]:
        text = text[1:-1].strip()
    codes: List[str] = []

    def keep(match: re.Match[str]) -> str:
        codes.append(match.group(0))
        return f"\0{chr(65 + len(codes) - 1)}\0"  # a letter: numbers are replaced next

    if not _COMPILED:
        _COMPILED.extend(re.compile(pattern) for pattern in (
            _ADDRESS, _EXIM_HOST, _HOST_IP, _QUOTED, _IP, _ID, _SMTP_CODE, _NUMBER, _SPACE))
    address, exim_host, host_ip, quoted, ip, id_, smtp_code, number, space = _COMPILED
    text = address.sub("ADDRESS", text)
    text = exim_host.sub("H=HOST", text)
    text = host_ip.sub("HOST", text)
    text = quoted.sub("'...'", text)
    text = ip.sub("IP", text)
    text = id_.sub("ID", text)
    text = smtp_code.sub(keep, text)
    text = number.sub("N", text)
    for index, code in enumerate(codes):
        text = text.replace(f"\0{chr(65 + index)}\0", code)
    text = space.sub(" ", text).strip()
    if len(text) > REASON_MAX:
        text = text[:REASON_MAX - 3] + "..."
    return text or "(no reason given)"


def domain_of(address: str) -> str:
    at = address.rfind("@")
    if at < 0:
        return "(local)"
    return address[at + 1:].rstrip(">").lower() or "(local)"


class Backlog:
    """Aggregates counts or messages of one MTA source."""

    def __init__(self, now: float, watched_domains: Sequence[str] = (),
                 want_domains: bool = True, want_reasons: bool = True,
                 queues: Sequence[str] = ()) -> None:
        self.now = now
        self.queues: Dict[str, QueueStats] = {name: QueueStats(name) for name in queues}
        self.messages = 0
        self.bytes = 0
        self.sized = False
        self.bounces = 0
        self.held = 0
        self.detailed = False   # messages were read (not counts only)
        self.counted: List[str] = []  # queues a count-only source reported
        self.domains = Tally()
        self.reasons = Tally()
        self.reason_cache: Dict[str, str] = {}
        self.raw_reasons: Optional[Dict[str, int]] = {}  # raw text -> messages, until folded
        self.watched: Dict[str, int] = {d.lower(): 0 for d in watched_domains}
        self.want_domains = want_domains or bool(self.watched)
        self.want_reasons = want_reasons
        self.damaged = 0  # queue files that do not parse (Message.damaged)
        self.damaged_files: List[Tuple[str, str, str]] = []  # the first DAMAGED_KEPT of them

    def queue(self, name: str) -> QueueStats:
        stats = self.queues.get(name)
        if stats is None:
            stats = self.queues[name] = QueueStats(name)
        return stats

    def add_counts(self, counts: Iterable[QueueCount]) -> None:
        for count in counts:
            stats = self.queue(count.queue)
            if count.queue not in self.counted:
                self.counted.append(count.queue)
            stats.messages += count.messages
            self.messages += count.messages
            if count.bytes is not None:
                stats.bytes += count.bytes
                stats.sized = True
                self.bytes += count.bytes
                self.sized = True
            if count.oldest_arrival is not None and (
                    stats.oldest is None or count.oldest_arrival < stats.oldest):
                stats.oldest = count.oldest_arrival

    def add_messages(self, messages: Iterable[Message]) -> None:
        self.detailed = True
        queues = self.queues
        want_domains = self.want_domains
        want_reasons = self.want_reasons
        watched = self.watched
        domains = self.domains
        cache = self.reason_cache
        raw: Optional[Dict[str, int]] = self.raw_reasons
        # totals in locals, written back once (also when the stream raises): a spool
        # scan spends ~1 us a message on attribute updates otherwise
        count = total_bytes = bounces = held_count = 0
        sized = False
        name: Optional[str] = None
        stats = QueueStats("")
        own = stats.domains
        try:
            # tuple unpacking, not attribute access: Message is a tuple, and its named
            # fields cost a descriptor call each
            for queue, _id, arrival, size, sender, recipients, reasons, held, damaged \
                    in messages:
                if queue != name:  # a source yields one queue's messages together
                    name = queue
                    stats = queues.get(queue) or self.queue(queue)
                    own = stats.domains
                stats.messages += 1
                count += 1
                if size is not None:
                    stats.bytes += size
                    stats.sized = True
                    total_bytes += size
                    sized = True
                if arrival is not None and (stats.oldest is None or arrival < stats.oldest):
                    stats.oldest = arrival
                if sender == "":
                    bounces += 1
                if held:
                    held_count += 1
                if damaged is not None:
                    self._add_damaged(damaged)
                if want_domains and recipients:
                    for domain in ((domain_of(recipients[0]),) if len(recipients) == 1
                                   else {domain_of(r) for r in recipients}):
                        counts = domains.counts
                        counts[domain] = counts.get(domain, 0) + 1
                        if len(counts) > domains.limit:
                            domains.prune()
                        counts = own.counts
                        counts[domain] = counts.get(domain, 0) + 1
                        if len(counts) > own.limit:
                            own.prune()
                        if domain in watched:
                            watched[domain] += 1
                if want_reasons and reasons:
                    if raw is not None:
                        # raw text first: normalising is ~30 us a reason, and the same raw
                        # text (one destination host, one cause) repeats across many messages
                        if len(reasons) == 1:
                            reason = reasons[0][:REASON_CUT]
                            raw[reason] = raw.get(reason, 0) + 1
                        else:
                            for reason in {r[:REASON_CUT] for r in reasons}:
                                raw[reason] = raw.get(reason, 0) + 1
                        if len(raw) > RAW_LIMIT:
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
        finally:
            self.messages += count
            self.bytes += total_bytes
            self.sized = self.sized or sized
            self.bounces += bounces
            self.held += held_count
        self._fold_raw()

    def _add_damaged(self, damaged: Tuple[str, str, str]) -> None:
        self.damaged += 1
        if len(self.damaged_files) < DAMAGED_KEPT:
            self.damaged_files.append(damaged)

    def _fold_raw(self) -> None:
        """Move the raw reason counts into the normalised tally (a message whose
        recipients had two raw texts of one cause counts once per text)."""
        raw = self.raw_reasons
        if not raw:
            return
        counts = self.reasons.counts
        for reason, count in raw.items():
            key = normalise_reason(reason)
            counts[key] = counts.get(key, 0) + count
        raw.clear()
        if len(counts) > self.reasons.limit:
            self.reasons.prune()

    def merge(self, other: Backlog) -> None:
        """Add what *other* (another share of the same queue) counted."""
        other._fold_raw()
        self._fold_raw()
        for name, theirs in other.queues.items():
            mine = self.queue(name)
            mine.messages += theirs.messages
            mine.bytes += theirs.bytes
            mine.sized = mine.sized or theirs.sized
            if theirs.oldest is not None and (mine.oldest is None or theirs.oldest < mine.oldest):
                mine.oldest = theirs.oldest
            _add_tally(mine.domains, theirs.domains)
        for name in other.counted:
            if name not in self.counted:
                self.counted.append(name)
        self.messages += other.messages
        self.bytes += other.bytes
        self.sized = self.sized or other.sized
        self.bounces += other.bounces
        self.held += other.held
        self.detailed = self.detailed or other.detailed
        self.damaged += other.damaged
        self.damaged_files = sorted(self.damaged_files + other.damaged_files)[:DAMAGED_KEPT]
        _add_tally(self.domains, other.domains)
        _add_tally(self.reasons, other.reasons)
        for domain, count in other.watched.items():
            self.watched[domain] = self.watched.get(domain, 0) + count

    def __getstate__(self) -> Dict[str, object]:
        self._fold_raw()
        state = dict(self.__dict__)
        state["reason_cache"] = {}  # a speed-up only: not worth sending between processes
        return state

    def age(self, queue: str) -> Optional[float]:
        stats = self.queues.get(queue)
        if stats is None or stats.oldest is None:
            return None
        return max(self.now - stats.oldest, 0.0)

    def top_domain_of(self, queues: Sequence[str]) -> Optional[Tuple[str, int]]:
        """(domain, messages) of the destination with most messages among *queues*."""
        together = Tally()
        for name in queues:
            stats = self.queues.get(name)
            if stats is not None:
                _add_tally(together, stats.domains)
        top = together.top(1)
        return top[0] if top else None

    def oldest_of(self, queues: Sequence[str]) -> Tuple[Optional[str], Optional[float]]:
        """(queue, age) of the oldest message among *queues*."""
        best: Tuple[Optional[str], Optional[float]] = (None, None)
        for name in queues:
            age = self.age(name)
            if age is not None and (best[1] is None or age > best[1]):
                best = (name, age)
        return best


def _add_tally(mine: Tally, theirs: Tally) -> None:
    counts = mine.counts
    for key, count in theirs.counts.items():
        counts[key] = counts.get(key, 0) + count
    mine.pruned = mine.pruned or theirs.pruned
    if len(counts) > mine.limit:
        mine.prune()


def collect_parallel(shares: Sequence[object], make: Callable[[], Backlog]) -> Backlog:
    """Aggregate the messages of several shares of one queue in parallel processes.

    Reading a large spool is file opens and small parses: on a host with two or more
    CPUs, forked workers each take a share (the first stays in this process) and send
    back their aggregate (a few KiB, whatever the queue size). A worker's error comes
    back as the same exception; on any exception here (a timeout), the workers are
    killed, by PID."""
    import pickle
    import signal

    children: List[Tuple[int, int]] = []
    try:
        for share in shares[1:]:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: never returns
                code = 0
                try:
                    os.close(read_end)
                    signal.signal(signal.SIGALRM, signal.SIG_DFL)
                    part = make()
                    part.add_messages(share.messages())  # type: ignore[attr-defined]
                    payload = pickle.dumps(("ok", part))
                except BaseException as exc:
                    payload = pickle.dumps(("error", type(exc).__name__, getattr(
                        exc, "reason", str(exc)), getattr(exc, "fix", "")))
                    code = 1
                try:
                    view = memoryview(payload)
                    while view:
                        view = view[os.write(write_end, view):]
                finally:
                    os._exit(code)
            os.close(write_end)
            children.append((pid, read_end))
        total = make()
        total.add_messages(shares[0].messages())  # type: ignore[attr-defined]
        while children:
            pid, read_end = children[0]
            chunks = []
            while True:
                chunk = os.read(read_end, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
            os.close(read_end)
            os.waitpid(pid, 0)
            children.pop(0)
            # our own forked worker wrote this pipe: no untrusted data
            result = pickle.loads(b"".join(chunks)) if chunks else (  # noqa: S301
                "error", "Exit", "worker died", "")
            if result[0] == "ok" and isinstance(result[1], Backlog):
                total.merge(result[1])
                continue
            _, kind, text, fix = result
            from .model import ParseError, Unavailable

            if kind == "Unavailable":
                raise Unavailable(text, fix)
            raise ParseError(text if kind == "ParseError" else f"worker failed: {kind}: {text}")
        return total
    finally:
        for pid, read_end in children:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(read_end)
