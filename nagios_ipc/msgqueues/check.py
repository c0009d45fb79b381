"""check_msgqueues: message queues piling up, per owner and in total."""

from __future__ import annotations

import argparse
import fnmatch
import heapq
import os

import time
from collections import OrderedDict
from itertools import chain

import nagiosplugin

from .. import cli
from ..trend import DEFAULT_GROWING, DEFAULT_WINDOW, bare_range, samples_type, window_type
from ..units import format_number, human_duration, human_size, range_type
from .model import Batch, ParseError, Queue

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import (Any, Callable, Dict, Generator, Iterable, Iterator, List, NamedTuple,
                        Optional, Sequence, Tuple)

    from .growth import Growth
    from .model import Idle
else:
    from nagios_ipc.light import NamedTuple

NAME = "MSGQUEUES"
PROG = "check_msgqueues"

DESCRIPTION = """\
Finds every System V and POSIX message queue on this host and reports, per
queue owner and/or for a Total: queues, outstanding messages and bytes, the
bytes allowed, full queues, the fullest queue's fill, how long a non-empty
queue has gone unread (a stuck consumer), non-empty queues whose last reader
process is gone, and the use of the system's queue limits.

Sources: Linux System V from /proc/sysvipc/msg, each queue's byte limit from
msgctl(MSG_STAT_ANY) (no permission needed, Linux >= 4.17), else IPC_STAT,
else the default msgmnb (the detail says which); Linux POSIX from a mounted
mqueue filesystem (/dev/mqueue), counts and limits through mq_getattr where
permitted; AIX, HP-UX and Solaris from 'ipcs -qa'.

Defaults with no arguments: CRITICAL when any queue is full, WARNING when the
fullest queue is over 80%, WARNING when a non-empty queue's last reader
process is gone, WARNING/CRITICAL at 80%/95% of the system's queue limit,
WARNING/CRITICAL when a queue growing for at least 3 samples will be full
within 1 hour/10 minutes at its growth.

Growth between runs: each run stores its sample in a state file (one per set
of options under ~/.local/state/nagios_ipc/HOST/, or --state-file); growth is
the least-squares slope over --trend-window, the first run has none (and never
alerts on it), a reboot or an older state restarts it, a drain is never growth.
"""

PERFDATA_HELP = """\
perfdata (per owner: LABEL_OWNER, for the Total: LABEL_total):
  queues     number of queues
  messages   outstanding messages
  bytes      bytes in outstanding messages (B)
  qbytes     bytes allowed: the sum of the queues' byte limits (B)
  full       queues that are full (bytes or messages at the limit)
  fill       fill of the fullest queue (%)
  unread_age longest time a non-empty queue has gone unread (s)
  orphaned   non-empty queues whose last reader process is gone
  nonempty   non-empty queues (Total only)
  messages_growth  outstanding messages gained per minute: the least-squares
             slope over --trend-window, so one burst is not a trend
  bytes_growth     bytes gained per minute (B)
  time_to_full     seconds until the soonest queue is full at its growth (s);
             only while that queue grows consistently (--growing-samples)
  The three growth items are absent (no value at all, not 0, not a huge
  number) on the first run, after a reboot, and for time_to_full whenever no
  queue is growing: a graph (PNP, Graphite, InfluxDB) shows a gap there.
  sysv_slots / posix_slots  queues in use of the system maximum (%):
             msgmni for System V, fs.mqueue.queues_max for POSIX
  Order: the Total, the slots, owners with a problem (worst first), then the
  other owners by bytes queued, messages and queues: what a transport that cuts
  the output keeps is what matters most. At most --max-owners owners have items
  of their own; the rest are summed in LABEL_other_owners, and other_owners
  counts them (no thresholds there: each owner is still judged on its own; no
  growth items there either).

examples:
  check_msgqueues                         defaults, per owner
  check_msgqueues --report-by both -w 50 -c 90 --messages-critical 1000
  check_msgqueues --owner app --unread-age-warning 10m --details always
  check_msgqueues --report-by total --growth-warning 100 --time-to-full-warning 2h
"""


class Measure(NamedTuple):  # not a dataclass: dataclasses costs ~8 ms to import
    name: str
    kind: str            # unit kind for ranges: count, size, duration, percent
    uom: str
    help: str
    warning: Optional[str] = None
    critical: Optional[str] = None
    total_only: bool = False
    bare: str = ""  # what a bare value N means: "below" N: (times), "above" ~:N (growth)


MEASURES: Tuple[Measure, ...] = (
    Measure("queues", "count", "", "number of queues"),
    Measure("messages", "count", "", "outstanding messages"),
    Measure("bytes", "size", "B", "bytes in outstanding messages (units B, KB, MB)"),
    Measure("qbytes", "size", "B", "bytes allowed, the sum of the queues' limits"),
    Measure("full", "count", "", "number of full queues", critical="0"),
    Measure("fill", "percent", "%", "fill of the fullest queue in %%", warning="80"),
    Measure("unread_age", "duration", "s",
            "how long a non-empty queue has gone unread (units s, m, h, d)"),
    Measure("orphaned", "count", "", "non-empty queues whose last reader process is gone",
            warning="0"),
    Measure("nonempty", "count", "", "non-empty queues (Total only)", total_only=True),
    # growth between runs (nagios_ipc/msgqueues/growth.py); no value, no item
    Measure("messages_growth", "count", "",
            "growth of outstanding messages per minute (least squares over --trend-window; "
            "a bare value N means ~:N: a drain never alerts)", bare="above"),
    Measure("bytes_growth", "size", "B",
            "growth of queued bytes per minute (units B, KB, MB; a bare value N means ~:N)",
            bare="above"),
    Measure("time_to_full", "duration", "s",
            "time until the soonest queue is full at its growth, given while it grows "
            "consistently (units s, m, h, d; a bare value N means N:, alert below N)",
            warning="3600:", critical="600:", bare="below"),
)
GROWTH_MEASURES = ("messages_growth", "bytes_growth", "time_to_full")
SLOTS = Measure("slots", "percent", "%", "queues in use of the system maximum, in %%",
                warning="80", critical="95")


# --- data acquisition --------------------------------------------------------------


def user_name(uid: int, cache: Dict[int, str] = {}) -> str:  # noqa: B006 - a deliberate cache
    if uid not in cache:
        try:
            import pwd

            cache[uid] = pwd.getpwuid(uid).pw_name
        except (KeyError, ImportError):
            cache[uid] = str(uid)  # a uid with no name is still an owner
    return cache[uid]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to someone else
    return True


class Group:
    """The queues of one owner, or of all owners (the Total); compared by identity.

    The figures come from one pass over the queues, made when first asked for: a
    host can have 32,000 queues, most of them empty, and an empty queue needs no
    more than counting (it is never full, never unread, never orphaned). The idle
    ones of a fast source are not even built (model.Idle): *queues* holds the built
    ones in their order, *idle* the others, counted and summed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.queues: List[Queue] = []
        self.idle: List[Idle] = []
        self.idle_count = 0
        self.idle_qbytes = 0
        # the first idle queue's place among self.queues: it is the fullest (0%) if no
        # queue before it has a fill, as in a pass over every queue
        self.first_idle: Optional[Tuple[int, Idle]] = None
        self._summary: Optional[Tuple[int, int, int, int, List[Queue], Optional[Queue],
                                      Optional[Queue], List[Queue], List[Queue]]] = None

    @property
    def count(self) -> int:
        """All queues, built or idle."""
        return len(self.queues) + self.idle_count

    def kinds(self) -> List[str]:
        return sorted({q.kind for q in self.queues} | {part.kind for part in self.idle})

    def add_idle(self, part: Idle, at: int) -> None:
        """*part* with its first queue after the first *at* of self.queues."""
        if self.first_idle is None:
            self.first_idle = (at, part)
        self.idle.append(part)
        self.idle_count += len(part.rows)
        self.idle_qbytes += part.qbytes

    def absorb(self, other: Group) -> None:
        """*other*'s queues after this group's (the owners past --max-owners)."""
        if self.first_idle is None and other.first_idle is not None:
            self.first_idle = (len(self.queues) + other.first_idle[0], other.first_idle[1])
        self.queues.extend(other.queues)
        self.idle.extend(other.idle)
        self.idle_count += other.idle_count
        self.idle_qbytes += other.idle_qbytes

    def _scan(self) -> Tuple[int, int, int, int, List[Queue], Optional[Queue],
                             Optional[Queue], List[Queue], List[Queue]]:
        if self._summary is not None:
            return self._summary
        messages = size = qbytes = nonempty = 0
        full: List[Queue] = []
        readers: List[Queue] = []
        unknown: List[Queue] = []
        fullest: Optional[Queue] = None
        best = (-1.0, -1)
        stalest: Optional[Queue] = None
        oldest = 0.0
        queues: Iterable[Queue] = self.queues
        lead: Optional[Queue] = None
        if self.first_idle is not None:  # the first idle queue built, in its place
            at, part = self.first_idle
            lead = part.first()
            queues = chain(self.queues[:at], (lead,), self.queues[at:])
        for queue in queues:
            count, held, limit = queue.messages, queue.bytes, queue.limit_bytes
            if count is None:  # a POSIX queue mq_getattr could not read: no figure to sum
                unknown.append(queue)
                continue
            if limit:
                qbytes += limit
            empty = not (count or held)
            if empty and limit != 0 and queue.max_messages != 0:
                if fullest is None and (limit or (queue.max_messages and count is not None)):
                    fullest, best = queue, (0.0, 0)  # fill 0: only if nothing fuller
                continue
            if not empty:
                messages += count
                size += held
                nonempty += 1
            fill = queue.fill
            if fill is not None and (fill, held) > best:
                fullest, best = queue, (fill, held)
            if queue.full:
                full.append(queue)  # a limit of 0 too, empty as it is: nothing fits
            if empty:
                continue
            since = queue.rtime or queue.ctime
            if since is not None and (stalest is None or since < oldest):
                stalest, oldest = queue, since
            if queue.lrpid:
                readers.append(queue)
        if lead is not None:  # the pass added the lead's limit; idle_qbytes holds it too
            qbytes += self.idle_qbytes - (lead.limit_bytes or 0)
        self._summary = (messages, size, qbytes, nonempty, full, fullest, stalest, readers,
                         unknown)
        return self._summary

    @property
    def messages(self) -> int:
        return self._scan()[0]

    @property
    def bytes(self) -> int:
        return self._scan()[1]

    @property
    def qbytes(self) -> int:
        return self._scan()[2]

    @property
    def nonempty(self) -> int:
        return self._scan()[3]

    def full(self) -> List[Queue]:
        return self._scan()[4]

    def fullest(self) -> Optional[Queue]:
        return self._scan()[5]

    def stalest(self, now: float) -> Optional[Queue]:
        return self._scan()[6]

    def orphaned(self, alive: Callable[[int], bool]) -> List[Queue]:
        return [q for q in self._scan()[7] if q.lrpid and not alive(q.lrpid)]

    def unknown(self) -> List[Queue]:
        """Queues without a message count (POSIX, mq_getattr refused or missing): the
        sums above leave them out, so they are lower bounds (see UNKNOWN_WHEN_UNREAD)."""
        return self._scan()[8]


class Filters:
    def __init__(self, owners: Sequence[str], exclude_owners: Sequence[str],
                 keys: Sequence[str], exclude_keys: Sequence[str]) -> None:
        self.owners = list(owners)
        self.exclude_owners = list(exclude_owners)
        self.keys = [normal_key(k) for k in keys]
        self.exclude_keys = [normal_key(k) for k in exclude_keys]
        self.active = bool(self.owners or self.exclude_owners or self.keys or self.exclude_keys)

    def wants(self, queue: Queue) -> bool:
        def match(value: str, patterns: Sequence[str]) -> bool:
            return any(fnmatch.fnmatchcase(value, p) for p in patterns)

        keys = names_of(queue)
        if self.owners and not match(queue.owner, self.owners):
            return False
        if self.exclude_owners and match(queue.owner, self.exclude_owners):
            return False
        if self.keys and not any(match(k, self.keys) for k in keys):
            return False
        return not (self.exclude_keys and any(match(k, self.exclude_keys) for k in keys))

    def named(self) -> str:
        """The filter options given, as '--exclude-owner/--exclude-key'."""
        return "/".join(option for option, given in (
            ("--owner", self.owners), ("--key", self.keys),
            ("--exclude-owner", self.exclude_owners), ("--exclude-key", self.exclude_keys))
            if given)

    def absent(self, queues: Sequence[Queue]) -> List[str]:
        """What --key and --owner named that none of *queues* (the ones kept) is."""
        keys = [p for p in self.keys if not any(
            fnmatch.fnmatchcase(k, p) for q in queues for k in names_of(q))]
        owners = [p for p in self.owners
                  if not any(fnmatch.fnmatchcase(q.owner, p) for q in queues)]
        missing = []
        if keys:
            missing.append(f"no queue with key {' or '.join(keys)}")
        if owners:
            missing.append(f"no queues of owner {' or '.join(owners)}")
        return missing


def names_of(queue: Queue) -> List[str]:
    """What --key can name a queue by: its key, and 'id:MSQID' for a System V queue."""
    return [queue.key] + ([f"id:{queue.id}"] if queue.id is not None else [])


def normal_key(text: str) -> str:
    """0x162E, 5678 (decimal key) and 0x0000162e all mean the same System V key;
    id:5 and msqid:5 the queue with msqid 5 (a number alone is a key: an IPC_PRIVATE
    queue, key 0, can be named only by its msqid)."""
    head, colon, tail = text.partition(":")
    if colon and head.lower() in ("id", "msqid"):
        tail = tail.strip()
        return f"id:{int(tail)}" if tail.isdigit() else f"id:{tail}"
    if any(ch in text for ch in "*?["):
        return text.lower() if text.lower().startswith("0x") else text
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text)
        return f"0x{value & 0xFFFFFFFF:08x}"
    except ValueError:
        return text if text.startswith("/") else "/" + text


class MsgQueues(nagiosplugin.Resource):
    """All queues from the chosen sources, grouped per owner and in total."""

    def __init__(self, sources: Sequence[object], filters: Filters, report_by: str,
                 now: Callable[[], float] = time.time,
                 alive: Callable[[int], bool] = pid_alive,
                 strict_types: Sequence[str] = (), max_owners: int = 20,
                 growth: Optional[Growth] = None) -> None:
        self.sources = sources
        self.growth = growth
        self.max_owners = max_owners
        self.others = Group("other owners")  # owners past --max-owners (see arrange)
        self.hidden: Dict[int, Group] = {}  # id(group) -> group, perfdata in self.others
        self.filters = filters
        self.report_by = report_by
        self.now = now
        self.alive = alive
        self.strict_types = strict_types
        self.groups: OrderedDict[str, Group] = OrderedDict()
        self.labels: Dict[str, Group] = {}  # perfdata label part -> group (see owner_label)
        self.total = Group("total")
        self.notes: List[str] = []
        self.slots: Dict[str, Tuple[int, int]] = {}
        self.absent: List[str] = []  # what --key/--owner named and is not there
        self.excluded = 0  # queues found and left out by --owner/--key/--exclude-*
        self.timestamp = 0.0
        self.doing = "reading message queues"

    def collect(self) -> None:
        self.timestamp = self.now()
        batches: List[Batch] = []
        for source in self.sources:
            kind = getattr(source, "kind", "?")
            reason = getattr(source, "unavailable_reason", lambda: None)()
            if reason:
                if kind in self.strict_types:
                    raise ParseError(f"POSIX queues asked for but {reason}")
                self.notes.append(f"POSIX queues not checked: {reason}")
                continue
            self.doing = f"reading {kind} queues"
            fast = getattr(source, "batch", None)
            if fast is not None and not self.filters.active:
                batch = fast()  # the idle queues left unbuilt (model.Idle)
            else:  # a filter looks at each queue: all built
                batch = Batch.of(kind, source.queues())  # type: ignore[attr-defined]
            batches.append(batch)
            self.notes.extend(getattr(source, "notes", []))
            maximum = source.system_max()  # type: ignore[attr-defined]
            if maximum:
                self.slots[kind] = (batch.count, maximum)
        if self.filters.active:
            queues = [queue for batch in batches for queue in batch.queues
                      if self.filters.wants(queue)]
            self.excluded = sum(batch.count for batch in batches) - len(queues)
            self.absent = self.filters.absent(queues)
            batches = [Batch.of("?", queues)]
        groups, total = self.groups, self.total
        for batch in batches:
            for owner in batch.owners:  # groups in the order their first queue comes
                if owner not in groups:
                    groups[owner] = Group(owner)
            offset = {part.owner: len(groups[part.owner].queues) for part in batch.idle}
            total_offset = len(total.queues)
            total.queues.extend(batch.queues)
            for queue in batch.queues:
                groups[queue.owner].queues.append(queue)
            for part in batch.idle:
                total.add_idle(part, total_offset + part.before)
                groups[part.owner].add_idle(part, offset[part.owner] + part.at)

    def arrange(self, results: nagiosplugin.Results) -> nagiosplugin.Results:
        """The results again, in the order of their perfdata: the Total, the slots,
        owners with a problem (worst first), the other owners by size; owners past
        --max-owners lose their own perfdata (judged all the same: their results
        keep their state) and are summed in *_other_owners instead.

        This needs the results: which owner has a problem depends on the
        thresholds, known only to the contexts."""
        worst: Dict[int, int] = {}
        for result in results:
            metric = result.metric
            if metric is not None and metric.context != "slots":
                group = group_of(metric, self)
                worst[id(group)] = max(worst.get(id(group), 0), int(result.state))

        def rank(group: Group) -> Tuple[int, int, int, int, str]:
            return (-worst.get(id(group), 0), -group.bytes, -group.messages,
                    -group.count, group.name)

        owners = [] if self.report_by == "total" else sorted(self.groups.values(), key=rank)
        limit = max(self.max_owners, 0)
        position = {id(group): index for index, group in enumerate(owners[:limit])}
        self.hidden = {id(group): group for group in owners[limit:]}
        extra: List[nagiosplugin.Result] = []
        if self.hidden:
            for group in self.hidden.values():
                self.others.absorb(group)
            self.labels[OTHERS] = self.others
            context = PerfOnlyContext()
            extra = [nagiosplugin.Result(nagiosplugin.Ok, metric=metric.replace(
                contextobj=context, resource=self)) for metric in self.group_metrics(
                    self.others, label=OTHERS)]
            extra.append(nagiosplugin.Result(nagiosplugin.Ok, metric=nagiosplugin.Metric(
                OTHERS, len(self.hidden), "", min=0, context="other_owners").replace(
                    contextobj=context, resource=self)))

        def order(result: nagiosplugin.Result) -> Tuple[int, int]:
            metric = result.metric
            if metric is None:
                return (0, 0)  # an error: no perfdata, the message comes first anyway
            if metric.context == "slots":
                return (2, 0)
            group = group_of(metric, self)
            if group is self.total:
                return (1, 0)
            if id(group) in position:
                return (3, position[id(group)])
            return (5, 0)  # past --max-owners: judged, but no perfdata of its own

        arranged = sorted(results.results, key=order)
        cut = next((i for i, r in enumerate(arranged) if order(r)[0] == 5), len(arranged))
        return nagiosplugin.Results(*arranged[:cut], *extra, *arranged[cut:])

    def reported(self) -> List[Group]:
        groups: List[Group] = []
        if self.report_by in ("owner", "both"):
            groups.extend(self.groups[name] for name in sorted(self.groups))
        if self.report_by in ("total", "both"):
            groups.append(self.total)
        return groups

    def probe(self) -> Generator[nagiosplugin.Metric, None, None]:
        self.collect()
        if self.absent:
            yield nagiosplugin.Metric("absent", len(self.absent), context="absent")
        if self.total.unknown():
            yield nagiosplugin.Metric("unreadable", len(self.total.unknown()),
                                      context="unreadable")
        if self.growth is not None:
            self.doing = f"recording growth in {self.growth.state.path}"
            self.growth.observe(self.total.queues, self.total.messages, self.total.bytes,
                                {name: (group.messages, group.bytes)
                                 for name, group in self.groups.items()})
        for group in self.reported():
            yield from self.group_metrics(group)
        for kind, (used, maximum) in sorted(self.slots.items()):
            yield nagiosplugin.Metric(f"{kind}_slots", round(used * 100.0 / maximum, 2), "%",
                                      min=0, max=100, context="slots")

    def group_metrics(self, group: Group, label: str = "") -> Iterator[nagiosplugin.Metric]:
        if label:
            pass  # the aggregate of owners past --max-owners
        elif group is self.total:
            label = group.name
        else:
            label = owner_label(group.name)
            while self.labels.get(label, group) is not group:  # two names, one label
                label += "_"
            self.labels[label] = group
        count = group.count
        fullest = group.fullest()
        stalest = group.stalest(self.timestamp)
        since = stalest.unread_since() if stalest else None
        values: Dict[str, Tuple[float, Optional[float]]] = {
            "queues": (count, None),
            "messages": (group.messages, None),
            "bytes": (group.bytes, group.qbytes or None),
            "qbytes": (group.qbytes, None),
            "full": (len(group.full()), count),
            "fill": (round(fullest.fill or 0.0, 2) if fullest else 0, 100),
            "unread_age": (max(0, int(self.timestamp - since)) if since else 0, None),
            "orphaned": (len(group.orphaned(self.alive)), count),
        }
        if group is self.total:
            values["nonempty"] = (group.nonempty, count)
        for measure in MEASURES:
            if measure.name not in values:
                continue
            value, maximum = values[measure.name]
            yield nagiosplugin.Metric(f"{measure.name}_{label}", value, measure.uom, min=0,
                                      max=maximum, context=measure.name)
        if self.growth is not None and self.growth.active and group is not self.others:
            yield from self.growth_metrics(group, label)

    def growth_metrics(self, group: Group, label: str) -> Iterator[nagiosplugin.Metric]:
        """Growth per minute and time to full: absent when unknown (see PERFDATA_HELP)."""
        assert self.growth is not None
        messages, size = self.growth.of_group(group.name if group is not self.total
                                              else "total")
        for name, series in (("messages_growth", messages), ("bytes_growth", size)):
            if series.per_minute is not None:
                yield nagiosplugin.Metric(f"{name}_{label}", round(series.per_minute, 2),
                                          "B" if series is size else "", context=name)
        soonest = self.growth.soonest(self.member(group))
        if soonest is not None:
            yield nagiosplugin.Metric(f"time_to_full_{label}", int(soonest[0]), "s", min=0,
                                      context="time_to_full")

    def member(self, group: Group) -> Callable[[Queue], bool]:
        if group is self.total:
            return lambda queue: True
        name = group.name
        return lambda queue: queue.owner == name


OTHERS = "other_owners"  # label part of the owners past --max-owners, summed
LABEL_MAX = 40  # characters of an owner in a perfdata label (see owner_label)


def owner_label(owner: str) -> str:
    """The owner as a perfdata label part; an owner literally named 'total' (or
    'other_owners') is renamed. ' and = cannot be in a label (nagiosplugin refuses
    them; Icinga splits at '='): an owner column of ipcs (AIX, HP-UX, Solaris) is free
    text. At most LABEL_MAX characters, counted after escaping (what the output will
    carry), so that no owner name can make the perfdata of the others long."""
    if owner in ("total", OTHERS):
        return "owner_" + owner
    label = cli.sanitize(owner).replace("'", "_").replace("=", "_")
    return label[:LABEL_MAX]


# --- evaluation ----------------------------------------------------------------------


class MeasureContext(nagiosplugin.ScalarContext):
    """A ScalarContext whose hints speak of owners and queues, not labels."""

    def __init__(self, measure: Measure, warning: Optional[nagiosplugin.Range],
                 critical: Optional[nagiosplugin.Range]) -> None:
        super().__init__(measure.name)
        self.measure = measure
        # None thresholds stay absent from perfdata (nagiosplugin would make them "0:")
        self.warn_range = warning
        self.crit_range = critical

    def evaluate(self, metric: nagiosplugin.Metric,
                 resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        if self.crit_range is not None and not self.crit_range.match(metric.value):
            return self.result_cls(nagiosplugin.Critical, self.hint(metric, resource), metric)
        if self.warn_range is not None and not self.warn_range.match(metric.value):
            return self.result_cls(nagiosplugin.Warn, self.hint(metric, resource), metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)

    def performance(self, metric: nagiosplugin.Metric,
                    resource: nagiosplugin.Resource) -> Optional[nagiosplugin.Performance]:
        if isinstance(resource, MsgQueues):
            group = group_of(metric, resource)
            if resource.hidden and id(group) in resource.hidden:
                return None  # an owner past --max-owners: in *_other_owners
            if metric.context in UNKNOWN_WHEN_UNREAD and group.unknown():
                return None  # a sum without the queues that could not be read: unknown
        return nagiosplugin.Performance(
            metric.name, metric.value, metric.uom, self.warn_range, self.crit_range,
            metric.min, metric.max)

    def hint(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> str:
        assert isinstance(resource, MsgQueues)
        return describe(self.measure.name, metric, resource)


class PerfOnlyContext(nagiosplugin.Context):
    """Perfdata of the owners past --max-owners, summed: never judged (each of those
    owners is judged on its own), so no thresholds in its perfdata either."""

    def __init__(self) -> None:
        super().__init__("other_owners")

    def performance(self, metric: nagiosplugin.Metric,
                    resource: nagiosplugin.Resource) -> nagiosplugin.Performance:
        return nagiosplugin.Performance(metric.name, metric.value, metric.uom, None, None,
                                        metric.min, metric.max)


def group_of(metric: nagiosplugin.Metric, resource: MsgQueues) -> Group:
    suffix = metric.name[len(metric.context) + 1:]
    if suffix == "total":
        return resource.total
    return resource.labels.get(suffix, resource.total)


def describe(measure: str, metric: nagiosplugin.Metric, resource: MsgQueues) -> str:
    """The problem in words, naming the owner and the worst queue."""
    if measure == "slots":
        kind = metric.name.split("_")[0]
        used, maximum = resource.slots.get(kind, (0, 0))
        return (f"{used} of {maximum} {kind} queues allowed by the system in use "
                f"({format_number(metric.value)}%)")
    group = group_of(metric, resource)
    who = "all owners" if group is resource.total else f"owner {short(group.name, OWNER_MAX)}"
    value = metric.value
    if measure == "full":
        full = group.full()
        first = full[0] if full else None
        where = f": {queue_brief(first)}" if first else ""
        more = f" and {len(full) - 1} more" if len(full) > 1 else ""
        return f"{value} full queue{'s' if value != 1 else ''} of {who}{where}{more}"
    if measure == "fill":
        fullest = group.fullest()
        return f"fullest queue of {who} at {format_number(value)}%" + (
            f": {queue_brief(fullest)}" if fullest else "")
    if measure == "unread_age":
        stalest = group.stalest(resource.timestamp)
        where = f" ({queue_brief(stalest)})" if stalest else ""
        return f"a non-empty queue of {who} unread for {human_duration(value)}{where}"
    if measure == "orphaned":
        gone = group.orphaned(resource.alive)
        where = (f": {queue_name(gone[0])} reader pid {gone[0].lrpid} gone, {gone[0].messages} "
                 f"messages waiting" if gone else "")
        return f"{value} queue{'s' if value != 1 else ''} of {who} with no reader{where}"
    if measure in ("bytes", "qbytes"):
        return f"{who}: {human_size(value)} {'queued' if measure == 'bytes' else 'allowed'}"
    if measure in GROWTH_MEASURES and resource.growth is not None:
        return describe_growth(measure, metric, group, who, resource)
    return f"{who}: {format_number(value)} {measure}"


def describe_growth(measure: str, metric: nagiosplugin.Metric, group: Group, who: str,
                    resource: MsgQueues) -> str:
    """'sysv key 0x... id 5 of app: 61% full, +2.1 KiB/s for 12m, full in ~4m',
    'owner app: +68 messages/min for 10m'."""
    from ..trend import about, rate_text

    growth = resource.growth
    assert growth is not None
    if measure == "time_to_full":
        soonest = growth.soonest(resource.member(group))
        if soonest is not None:
            return growth.summary(soonest[1], soonest[0])
        return f"{who}: full in ~{about(metric.value)}"
    messages, size = growth.of_group(group.name if group is not resource.total else "total")
    series = messages if measure == "messages_growth" else size
    text = f"{who}: {rate_text(metric.value / 60.0, 'B' if series is size else 'messages')}"
    if series.growing_samples:
        text += f" for {about(series.growing_for)}"
    return text


OWNER_MAX = 32  # characters of an owner's name in the first line and a detail line
NAME_MAX = 48   # characters of a POSIX queue's name there (NAME_MAX is 255 bytes)
HINT_MAX = 180  # characters of one finding in the first line: two always fit in 400


def short(text: str, limit: int) -> str:
    """*text* as the output will carry it (escaped), cut to *limit* characters:
    a name (a POSIX queue's, up to 255 bytes, 10 characters per escaped emoji) must
    not take the room of the findings after it."""
    text = cli.sanitize(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def queue_name(queue: Queue) -> str:
    """queue.label with a POSIX name cut to NAME_MAX."""
    if queue.kind == "sysv":
        return queue.label
    return f"posix {short(queue.key, NAME_MAX)}"


def messages_text(queue: Queue, unit: str = "") -> str:
    """'3 messages', or '4 of 4 messages' when the count is at the queue's message limit
    (a POSIX queue is full at mq_maxmsg, bytes to spare or not); *unit* fixed, or by
    the number."""
    count, most = queue.messages, queue.max_messages
    if count is not None and most and count >= most:  # a limit of 0: queue_line says so
        return f"{count} of {most} {unit or ('messages' if most != 1 else 'message')}"
    return f"{count} {unit or ('messages' if count != 1 else 'message')}"


def queue_brief(queue: Queue) -> str:
    if queue.no_room:
        return f"{queue_name(queue)} (limit 0 B: full by definition, no message fits)"
    fill = f", {format_number(round(queue.fill or 0, 1))}%" if queue.fill is not None else ""
    limit = f" of {queue.limit_bytes}" if queue.limit_bytes is not None else ""
    msgs = (f"{messages_text(queue)}, " if queue.messages is not None else "")
    return f"{queue_name(queue)} ({msgs}{queue.bytes}{limit} B{fill})"


# --- presentation --------------------------------------------------------------------

DETAILS_MAX = 24000  # bytes of queue lines in the long output (see QueueSummary.verbose)


class AbsentContext(nagiosplugin.Context):
    """A queue or owner the service was told to watch is not there: the state --absent
    gives (no perfdata: it would exist only in some runs)."""

    def __init__(self, state: str) -> None:
        super().__init__("absent")
        self.state = {"critical": nagiosplugin.Critical, "warning": nagiosplugin.Warn,
                      "unknown": nagiosplugin.Unknown, "ok": nagiosplugin.Ok}[state]

    def evaluate(self, metric: nagiosplugin.Metric,
                 resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        assert isinstance(resource, MsgQueues)
        return self.result_cls(self.state, absent_text(resource), metric)

    def performance(self, metric: nagiosplugin.Metric,
                    resource: nagiosplugin.Resource) -> None:
        return None


def absent_text(resource: MsgQueues) -> str:
    return f"{', '.join(resource.absent)}: is its application running?"


# what a group with a queue without counts leaves out of its perfdata: sums of the other
# queues are not its figures (still judged: what they show is there all the same)
UNKNOWN_WHEN_UNREAD = ("messages", "bytes", "qbytes", "full", "fill", "nonempty",
                       "messages_growth", "bytes_growth")


class UnreadableContext(nagiosplugin.Context):
    """POSIX queues whose counts could not be read: UNKNOWN naming them and the fix
    (QueuesCheck lowers it to WARNING beside a real finding). No perfdata."""

    def __init__(self) -> None:
        super().__init__("unreadable")

    def evaluate(self, metric: nagiosplugin.Metric,
                 resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        assert isinstance(resource, MsgQueues)
        return self.result_cls(nagiosplugin.Unknown, unreadable_text(resource), metric)

    def performance(self, metric: nagiosplugin.Metric,
                    resource: nagiosplugin.Resource) -> None:
        return None


def unreadable_text(resource: MsgQueues) -> str:
    """'2 POSIX queues not readable by nagios (uid 110): owner root /app.q, /b.q:
    message counts unknown; run as root or their owner, or skip them: ...'"""
    from .posix import NOT_PERMITTED

    queues = resource.total.unknown()
    refused = [q for q in queues if q.limit_source == NOT_PERMITTED]
    parts = []
    if refused:
        owners: Dict[str, List[str]] = OrderedDict()
        for queue in refused:
            owners.setdefault(queue.owner, []).append(queue.key)
        named = []
        left = 2  # queue names in the line: the count says how many there are
        for owner, names in owners.items():
            if left <= 0:
                break
            named.append(f"owner {short(owner, OWNER_MAX)} "
                         f"{', '.join(short(n, NAME_MAX) for n in names[:left])}")
            left -= len(names[:left])
        more = f" and {len(refused) - 2} more" if len(refused) > 2 else ""
        skip = " ".join(f"--exclude-owner {short(o, OWNER_MAX)}" for o in list(owners)[:2])
        if "posix" not in resource.strict_types:
            skip += " or --type sysv"
        uid = os.geteuid()
        parts.append(f"{len(refused)} POSIX queue{'s' if len(refused) != 1 else ''} not "
                     f"readable by {short(user_name(uid), OWNER_MAX)} (uid {uid}): "
                     f"{'; '.join(named)}{more}: message counts unknown; run as root or "
                     f"their owner, or skip them: {skip}")
    missing = len(queues) - len(refused)
    if missing:
        parts.append(f"{missing} POSIX queue{'s' if missing != 1 else ''} without message "
                     f"counts: no mq_getattr here; install posix_ipc")
    return " / ".join(parts)


class QueueSummary(nagiosplugin.Summary):
    def __init__(self, resource: MsgQueues, limit: int = 100) -> None:
        self.resource = resource
        self.limit = limit

    def ok(self, results: nagiosplugin.Results) -> str:
        total = self.resource.total
        kinds = total.kinds()
        owners = len(self.resource.groups)
        absent = (f"{', '.join(self.resource.absent)}, as --absent ok allows; "
                  if self.resource.absent else "")
        if not total.count:
            checked = ", ".join(sorted(k for k, _ in self.resource.slots.items())) or "none"
            excluded = self.resource.excluded
            if excluded and not absent:  # there are queues: not "no message queues"
                return (f"{absent}all {excluded} message queue{'s' if excluded != 1 else ''}"
                        f" left out by {self.resource.filters.named()} (checked: {checked})")
            return f"{absent}no message queues (checked: {checked})"
        fullest = total.fullest()
        fill = (f", fullest {format_number(round(fullest.fill or 0, 1))}% "
                f"({queue_name(fullest)} of {short(fullest.owner, OWNER_MAX)})"
                if fullest else "")
        return (f"{absent}{total.count} {'/'.join(kinds)} queue"
                f"{'s' if total.count != 1 else ''} of {owners} owner"
                f"{'s' if owners != 1 else ''}, {total.messages} messages, "
                f"{human_size(total.bytes)} queued{fill}")

    def problem(self, results: nagiosplugin.Results) -> str:
        """The worst findings first; an owner's finding hides the same one for the
        Total, and a full queue hides its own fill."""
        # a watched queue or owner that is absent comes first: it explains the rest; then
        # the arranged order (MsgQueues.arrange) within a state: the largest owner's
        # finding before a smaller one's, not the first name in the alphabet
        worst = sorted((r for r in results.results if r.state != nagiosplugin.Ok),
                       key=lambda r: (r.metric is None or r.metric.context != "absent",
                                      -int(r.state)))
        flagged = {(r.metric.context, self._group(r)) for r in worst if r.metric is not None}
        owners_flagged = {context for context, group in flagged if group is not None
                          and group is not self.resource.total}
        shown: List[nagiosplugin.Result] = []
        for result in worst:
            group = self._group(result)
            context = result.metric.context if result.metric is not None else None
            if group is self.resource.total and context in owners_flagged:
                continue
            if context == "fill" and ("full", group) in flagged:
                continue
            shown.append(result)
        return join_within(shown, cli.SUMMARY_MAX)

    def _group(self, result: nagiosplugin.Result) -> Optional[Group]:
        metric = result.metric
        if metric is None or metric.context in ("slots", "absent", "unreadable"):
            return None
        return group_of(metric, self.resource)

    def verbose(self, results: nagiosplugin.Results) -> List[str]:
        """One line per queue, the most interesting first: full, fullest, fullest of
        messages; at most --details-limit of them."""
        resource = self.resource
        total = resource.total

        def interest(q: Queue) -> Tuple[bool, float, int, str, str]:
            return (not q.full, -(q.fill or 0.0), -(q.messages or 0), q.owner, q.key)

        lines: List[str] = []
        size = 0
        for queue in most_interesting(total, interest, self.limit):
            line = queue_line(queue, resource.timestamp, resource.growth)
            size += len(line) + 1
            if size > DETAILS_MAX:
                break  # whole lines only, and the output stays far below NRPE's 64 KiB
            lines.append(line)
        if total.count > len(lines):
            lines.append(f"... and {total.count - len(lines)} more queues (raise "
                         f"--details-limit, or narrow with --owner/--key)")
        if resource.hidden:
            owners = len(resource.groups)
            lines.append(f"perfdata: {owners - len(resource.hidden)} of {owners} owners on "
                         f"their own (problems first, then the largest); the other "
                         f"{len(resource.hidden)} summed in *_{OTHERS} (raise --max-owners)")
        lines.extend(f"note: {note}" for note in resource.notes)
        growth = resource.growth
        if growth is not None:
            lines.extend(f"note: {note}" for note in growth.notes)
            if growth.active and growth.first:
                lines.append(f"growth: first sample in {growth.state.path}; growth and time "
                             f"to full from the next run")
        return lines


def join_within(results: Sequence[nagiosplugin.Result], budget: int, most: int = 3) -> str:
    """The results' hints, each once, as many whole ones as fit *budget* characters
    (at most *most*), then a count of the rest: a finding is in the first line
    whole or not at all, and none can crowd out the next (each is cut to HINT_MAX when
    there are several)."""
    whole: List[str] = []
    for result in results:
        text = result.hint or str(result)
        if text not in whole:
            whole.append(text)
    # a finding alone (a failure with its fix, most often) has the line to itself
    limit = HINT_MAX if len(whole) > 1 else budget
    hints: List[str] = []
    for text in whole:
        text = short(text, limit)
        if text not in hints:
            hints.append(text)
    shown: List[str] = []
    for index, hint in enumerate(hints[:most]):
        rest = len(hints) - index - 1
        tail = len(f" / and {rest} more") if rest else 0
        if shown and len(" / ".join([*shown, hint])) + tail > budget:
            break
        shown.append(hint)
    text = " / ".join(shown)
    if len(hints) > len(shown):
        text += f" / and {len(hints) - len(shown)} more"
    return text


def most_interesting(group: Group, interest: Callable[[Queue], Tuple[Any, ...]],
                     limit: int) -> List[Queue]:
    """sorted(every queue of *group*, key=interest)[:limit], without computing the
    key of each of 32,000 mostly empty queues: a queue with nothing notable (not
    full, fill 0, no messages) sorts by owner and key after every notable one."""
    if limit <= 0:
        return []
    notable: List[Queue] = []
    plain: List[Queue] = []
    for queue in group.queues:
        if ((queue.messages or queue.bytes or queue.no_room)
                and interest(queue)[:3] != (True, 0.0, 0)):
            notable.append(queue)
        else:
            plain.append(queue)
    shown = heapq.nsmallest(limit, notable, key=interest)
    if len(shown) < limit:
        rest = limit - len(shown)
        # the idle queues' first few by key, before the built plain ones: ties on (owner,
        # key) keep the order of the queues, and none can tie across the two (idle
        # queues are System V ones from /proc, the plain built ones come from the other
        # sources: POSIX names, never beside /proc's table, ipcs's)
        plain = [q for part in group.idle for q in part.first_by_key(rest)] + plain
        shown += heapq.nsmallest(rest, plain, key=lambda q: (q.owner, q.key))
    return shown


def queue_line(queue: Queue, now: float, growth: Optional[Growth] = None) -> str:
    from ..procnames import process_name
    from .posix import NOT_PERMITTED

    def event(what: str, stamp: Optional[float], pid: Optional[int]) -> str:
        if not stamp and not pid:
            return f"never {what}"
        text = f"last {what}"
        if stamp:
            text += (f" {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(stamp))}"
                     f" ({human_duration(max(now - stamp, 0))} ago)")
        if pid:
            text += f" by pid {pid} ({process_name(pid) or 'gone'})"
        return text

    fill = f"{format_number(round(queue.fill, 1))}%" if queue.fill is not None else "?"
    limit = (f"{queue.limit_bytes} B ({queue.limit_source})"
             if queue.limit_bytes is not None else "unknown")
    messages = messages_text(queue, "messages") if queue.messages is not None else "? messages"
    # refused queues' files are as unreadable as mq_getattr (both need read permission)
    held = "?" if queue.limit_source == NOT_PERMITTED else queue.bytes
    line = (f"{queue_name(queue)} owner {short(queue.owner, OWNER_MAX)} creator "
            f"{short(queue.creator, OWNER_MAX)} "
            f"perms {queue.perms:04o}: {messages}, {held} B of {limit}, "
            f"fill {fill}{', FULL' if queue.full else ''}"
            f"{' (a limit of 0 B: no message fits)' if queue.no_room else ''}")
    if queue.kind == "sysv":
        line += f"; {event('sent', queue.stime, queue.lspid)}; " \
                f"{event('received', queue.rtime, queue.lrpid)}"
    if growth is not None:
        line += growth.queue_text(queue)
    return line


# --- wiring --------------------------------------------------------------------------


class QueuesCheck(nagiosplugin.Check):
    """nagiosplugin's Check, then the results arranged (MsgQueues.arrange) once all
    are known: perfdata order and which owners get perfdata of their own."""

    def __init__(self, resource: MsgQueues, *objects: Any) -> None:
        super().__init__(resource, *objects)
        self.queues = resource

    def __call__(self) -> None:
        super().__call__()
        self.results = self.queues.arrange(self.results)
        # queues without counts make the result UNKNOWN, unless the queues that could be
        # read have a real problem: a full queue stays CRITICAL (nagiosplugin ranks
        # UNKNOWN above it), with the unreadable ones named after it in the first line
        results = self.results.results  # in their order (iterating Results sorts them)
        if (any(r.metric is not None and r.metric.context == "unreadable" for r in results)
                and any(r.state in (nagiosplugin.Critical, nagiosplugin.Warn)
                        for r in results)):
            self.results = nagiosplugin.Results(*(
                nagiosplugin.Result(nagiosplugin.Warn, r.hint, r.metric)
                if r.metric is not None and r.metric.context == "unreadable" else r
                for r in results))


def parser() -> cli.PluginParser:
    p = cli.PluginParser(PROG, NAME, DESCRIPTION, epilog=PERFDATA_HELP)
    select = p.add_argument_group("what to check")
    select.add_argument("--type", choices=("sysv", "posix", "all"), default="all",
                        help="queue types (default all available; naming one makes its "
                             "absence UNKNOWN)")
    select.add_argument("--report-by", choices=("owner", "total", "both"), default="owner",
                        help="report per owner, one Total, or both (default owner)")
    select.add_argument("--owner", action="append", default=[], metavar="NAME",
                        help="only queues of this owner (glob; repeatable)")
    select.add_argument("--exclude-owner", action="append", default=[], metavar="NAME",
                        help="skip queues of this owner (glob; repeatable)")
    select.add_argument("--key", action="append", default=[], metavar="KEY",
                        help="only this queue: System V key (0x162e or decimal), id:MSQID, "
                             "or POSIX name (glob; repeatable)")
    select.add_argument("--exclude-key", action="append", default=[], metavar="KEY",
                        help="skip this queue (as --key; repeatable)")
    select.add_argument("--absent", choices=("critical", "warning", "unknown", "ok"),
                        default="critical",
                        help="the state when a --key or --owner matches no queue: the "
                             "application is gone or never started (default critical)")
    select.add_argument("--details-limit", type=int, default=100, metavar="N",
                        help="at most N queue lines in the long output, the fullest first "
                             "(default 100; 0 for none)")
    select.add_argument("--max-owners", type=int, default=20, metavar="N",
                        help="perfdata of its own for at most N owners, those with problems "
                             "first, then the largest; the rest summed in *_other_owners "
                             "(default 20)")
    sources = p.add_argument_group("where to read")
    sources.add_argument("--source", choices=("auto", "proc", "ipcs"), default="auto",
                         help="System V source: /proc (Linux) or 'ipcs -qa' (AIX, HP-UX, "
                              "Solaris); default by the system")
    sources.add_argument("--proc-file", default="/proc/sysvipc/msg", metavar="PATH",
                         help="the System V queue table (default /proc/sysvipc/msg)")
    sources.add_argument("--ipcs", metavar="PATH", help="path of ipcs (default: found in "
                         "/usr/bin, /usr/sbin, /bin, /sbin)")
    sources.add_argument("--mqueue-dir", default="/dev/mqueue", metavar="DIR",
                         help="mount point of the POSIX mqueue filesystem (default /dev/mqueue)")
    limits = p.add_argument_group("thresholds (ranges as in the plugin guidelines: 10, 10:, "
                                  "~:10, 10:20, @10:20; sizes take KB/MB, ages s/m/h/d)")
    limits.add_argument("-w", "--warning", dest="fill_warning", type=range_type("percent"),
                        metavar="RANGE", help="same as --fill-warning")
    limits.add_argument("-c", "--critical", dest="fill_critical", type=range_type("percent"),
                        metavar="RANGE", help="same as --fill-critical")
    limits.add_argument("--growth-warning", dest="messages_growth_warning",
                        type=bare_range("count", "above"), metavar="RANGE",
                        help="same as --messages-growth-warning")
    limits.add_argument("--growth-critical", dest="messages_growth_critical",
                        type=bare_range("count", "above"), metavar="RANGE",
                        help="same as --messages-growth-critical")
    for measure in (*MEASURES, SLOTS):
        option = measure.name.replace("_", "-")
        for level in ("warning", "critical"):
            default = getattr(measure, level)
            limits.add_argument(
                f"--{option}-{level}", dest=f"{measure.name}_{level}",
                type=bare_range(measure.kind, measure.bare) if measure.bare
                else range_type(measure.kind),
                metavar="RANGE",
                help=f"{level} range for {measure.help}"
                     + (f" (default {default})" if default else ""))
    growth = p.add_argument_group("growth between runs")
    growth.add_argument("--trend-window", type=window_type, default=DEFAULT_WINDOW,
                        metavar="DURATION",
                        help="growth is the least-squares slope over this long (default 30m; "
                             "1m to 1d; 0 turns growth and the state file off)")
    growth.add_argument("--growing-samples", type=samples_type, default=DEFAULT_GROWING,
                        metavar="N",
                        help="samples a queue must have grown over, without falling back, "
                             "before it has a time to full (default 3; 2 to 12)")
    growth.add_argument("--state-file", metavar="PATH",
                        help="where the samples are kept (default: one file per set of "
                             "options under ~/.local/state/nagios_ipc/HOST/)")
    p.guard("--state-file", "path")
    p.guard("--proc-file", "path")
    p.guard("--ipcs", "program")
    p.guard("--mqueue-dir", "path")
    return p


def build_sources(args: argparse.Namespace) -> Tuple[List[object], List[str]]:
    from .posix import PosixSource
    from .sysv import SysvProcSource

    sources: List[object] = []
    strict = [] if args.type == "all" else [args.type]
    if args.type in ("sysv", "all"):
        use_ipcs = args.source == "ipcs" or (
            args.source == "auto" and os.uname().sysname in ("AIX", "HP-UX", "SunOS"))
        if use_ipcs:
            from .ipcs import IpcsSource

            sources.append(IpcsSource(args.ipcs))
        else:
            sources.append(SysvProcSource(user_name, path=args.proc_file))
    if args.type in ("posix", "all") and os.uname().sysname == "Linux":
        sources.append(PosixSource(user_name, directory=args.mqueue_dir))
    elif args.type == "posix":
        raise ParseError(f"POSIX queues can be listed on Linux only (mqueue "
                         f"filesystem); this is {os.uname().sysname}: use --type sysv")
    return sources, strict


def state_key(args: argparse.Namespace) -> List[Any]:
    """Options that change what the Total and the owners sum: each set has its own
    history (nagios_ipc.state.default_state_path)."""
    return ["trend", args.type, args.source, args.proc_file, args.mqueue_dir,
            sorted(args.owner), sorted(args.exclude_owner), sorted(args.key),
            sorted(args.exclude_key)]


def build(args: argparse.Namespace,
          make_sources: Callable[[argparse.Namespace], Tuple[List[object], List[str]]]
          = build_sources,
          now: Callable[[], float] = time.time,
          alive: Callable[[int], bool] = pid_alive,
          moment: Optional[Callable[[], Any]] = None) -> nagiosplugin.Check:
    """Wire the check; tests replace the sources, the clocks and the pid probe."""
    sources, strict = make_sources(args)
    filters = Filters(args.owner, args.exclude_owner, args.key, args.exclude_key)
    growth = None
    if args.trend_window > 0:
        from .growth import Growth

        growth = Growth(args.trend_window, args.growing_samples, args.state_file,
                        state_key(args), **({"moment": moment} if moment else {}))
    resource = MsgQueues(sources, filters, args.report_by, now=now, alive=alive,
                         strict_types=strict, max_owners=args.max_owners, growth=growth)
    contexts = []
    for measure in (*MEASURES, SLOTS):
        warning = getattr(args, f"{measure.name}_warning")
        critical = getattr(args, f"{measure.name}_critical")
        if warning is None and measure.warning is not None:
            warning = nagiosplugin.Range(measure.warning)
        if critical is None and measure.critical is not None:
            critical = nagiosplugin.Range(measure.critical)
        contexts.append(MeasureContext(measure, warning, critical))
    return QueuesCheck(resource, AbsentContext(args.absent), UnreadableContext(), *contexts,
                       QueueSummary(resource, args.details_limit))


def main(argv: Optional[Sequence[str]] = None) -> None:
    cli.run(parser(), build, argv)
