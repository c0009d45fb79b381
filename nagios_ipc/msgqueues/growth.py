"""check_msgqueues: growth between runs and time to full (nagios_ipc.trend).

Per queue, per owner and for the Total: messages and bytes over the trend window.
A queue's time to full is the sooner of its byte limit (qbytes; POSIX: mq_maxmsg *
mq_msgsize) and its message limit (System V: qnum cannot pass qbytes; POSIX:
mq_maxmsg), while the queue grows consistently; an owner's and the Total's is their
soonest queue's. The state (nagios_ipc.state) holds one history per check instance.
"""

from __future__ import annotations

from .. import trend
from ..trend import about
from ..state import StateError, StateFile

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

    from .model import Queue

MESSAGES = "m"
BYTES = "b"
NO_TREND = trend.Trend(0.0, 0, 0.0, None)


def queue_key(queue: Queue) -> str:
    """A System V queue by msqid (a queue removed and re-created gets a new one, so
    its history starts afresh), a POSIX queue by name."""
    if queue.kind == "sysv" and queue.id is not None:
        return f"s{queue.id}"
    return f"p{queue.key}"


def owner_key(owner: str) -> str:
    return f"o:{owner}"


TOTAL_KEY = "total"


class Growth:
    """The trend figures of one run, filled by :meth:`observe`."""

    def __init__(self, window: float, growing_samples: int, state_path: Optional[str],
                 state_key: Sequence[Any],
                 moment: Callable[[], trend.Moment] = trend.read_moment) -> None:
        self.window = window
        self.growing_samples = growing_samples
        self.state = StateFile(state_path, "check_msgqueues", state_key)
        self.explicit = state_path is not None
        self.moment = moment
        self.notes: List[str] = []
        self.first = True
        self.active = False
        self.messages: Dict[str, trend.Trend] = {}
        self.bytes: Dict[str, trend.Trend] = {}
        self.filling: List[Tuple[float, Queue]] = []  # (time to full, queue), soonest first
        self.untracked = 0

    def observe(self, queues: Sequence[Queue], total_messages: int, total_bytes: int,
                owner_sums: Dict[str, Tuple[int, int]]) -> None:
        """Record this run's values and derive the trends; a default state location
        that cannot be used turns the trend off with a note (the snapshot is still
        judged), an explicit --state-file that cannot is UNKNOWN."""
        messages: Dict[str, float] = {}
        sizes: Dict[str, float] = {}
        created: Dict[str, float] = {}
        for queue in queues:
            if not queue.nonempty:
                continue  # empty: no history kept (see trend.History.observe's born)
            key = queue_key(queue)
            sizes[key] = queue.bytes
            if queue.messages is not None:
                messages[key] = queue.messages
            if queue.ctime:
                created[key] = queue.ctime
        for owner, (count, size) in owner_sums.items():
            messages[owner_key(owner)] = count
            sizes[owner_key(owner)] = size
        messages[TOTAL_KEY] = total_messages
        sizes[TOTAL_KEY] = total_bytes
        try:
            with self.state:
                data = self.state.load()
                moment = self.moment()
                history = trend.History((data or {}).get("trend"), moment,
                                        window=self.window)
                # a queue's ctime (creation, or its last IPC_SET) on the boot clock: a
                # queue that existed, empty, at the previous sample grows from that zero
                offset = moment.wall - moment.boot

                def born(key: str) -> Optional[float]:
                    stamp = created.get(key)
                    return None if stamp is None else stamp - offset

                self.messages = history.observe(MESSAGES, messages, born)
                self.bytes = history.observe(BYTES, sizes, born)
                self.state.save({"trend": history.dump()})
        except StateError as exc:
            if self.explicit:
                raise
            self.notes.append(f"growth not measured: {exc}")
            return
        self.active = True
        self.first = history.first
        self.untracked = history.untracked
        self.notes.extend(history.notes)
        if history.untracked:
            self.notes.append(f"growth: {history.untracked} busy queues past the "
                              f"{trend.MAX_ITEMS:,} largest have no history in the state")
        filling = []
        for queue in queues:
            if not queue.nonempty:
                continue
            seconds = self.time_to_full(queue)
            if seconds is not None:
                filling.append((seconds, queue))
        filling.sort(key=lambda item: (item[0], item[1].owner, item[1].key))
        self.filling = filling

    def of_queue(self, queue: Queue) -> Tuple[trend.Trend, trend.Trend]:
        key = queue_key(queue)
        return self.messages.get(key, NO_TREND), self.bytes.get(key, NO_TREND)

    def of_group(self, name: str) -> Tuple[trend.Trend, trend.Trend]:
        key = TOTAL_KEY if name == TOTAL_KEY else owner_key(name)
        return self.messages.get(key, NO_TREND), self.bytes.get(key, NO_TREND)

    def time_to_full(self, queue: Queue) -> Optional[float]:
        if queue.no_room or queue.full:
            return None  # full already: the 'full' measure says so
        messages, size = self.of_queue(queue)
        times = [size.time_to(queue.limit_bytes, self.growing_samples),
                 messages.time_to(queue.max_messages, self.growing_samples)]
        known = [t for t in times if t is not None]
        return min(known) if known else None

    def soonest(self, wants: Callable[[Queue], bool]) -> Optional[Tuple[float, Queue]]:
        return next(((s, q) for s, q in self.filling if wants(q)), None)

    def queue_text(self, queue: Queue) -> str:
        """The growth part of a queue's detail line."""
        if not self.active:
            return ""
        messages, size = self.of_queue(queue)
        if not queue.nonempty:
            return ""  # no history kept for an empty queue: nothing to say
        if size.slope is None:
            return "; growth: first sample" if self.first or size.samples <= 1 else ""
        text = (f"; growth {trend.rate_text(size.slope, 'B')}, "
                f"{trend.rate_text(messages.slope or 0.0, 'messages')} over "
                f"{about(size.span)} ({size.samples} samples)")
        longest = max(size, messages, key=lambda t: t.growing_for)
        if longest.growing_samples:
            text += f", growing for {about(longest.growing_for)}"
        seconds = self.time_to_full(queue)
        if seconds is not None:
            text += f", full in ~{about(seconds)}"
        return text

    def summary(self, queue: Queue, seconds: float) -> str:
        """'sysv key 0x... id 5 of app: 61% full, +2.1 KiB/s for 12m, full in ~4m'."""
        from .check import OWNER_MAX, queue_name, short

        messages, size = self.of_queue(queue)
        by_bytes = size.time_to(queue.limit_bytes, self.growing_samples)
        lead = size if by_bytes is not None and by_bytes <= seconds else messages
        rate = trend.rate_text(lead.slope or 0.0, "B" if lead is size else "messages")
        fill = queue.fill or 0.0
        return (f"{queue_name(queue)} of {short(queue.owner, OWNER_MAX)}: "
                f"{fill:.0f}% full, {rate} for {about(lead.growing_for)}, "
                f"full in ~{about(seconds)}")
