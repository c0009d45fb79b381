"""Growth between runs and time to full: a bounded history of samples in a check's state.

Every check judges one snapshot; what an operator watches is the growth. This module
keeps, in the check's state file (nagios_ipc.state: flock, atomic replace, 0600), a
short history of each reported item's value and derives from it:

* the growth: the least-squares slope over the window (``--trend-window``), not the
  last difference, so one burst between two runs does not page anyone;
* how consistent it is: since when, and over how many samples, the item has grown
  without falling back (``growing_for``);
* the time until a limit is reached, only while the item is growing.

Time axis: seconds since boot (CLOCK_BOOTTIME on Linux: it counts through suspend,
and no wall-clock step moves it, in either direction). A reboot restarts that clock,
so the kernel's boot id is kept with the history and a changed one drops it (on
systems without a boot id, the boot's epoch, wall minus boot time, within
BOOT_SLACK seconds; a wall-clock step there also drops it, which costs a first
run, never a false figure). Irregular intervals (Icinga retries every minute,
normal checks every five) are what least squares over real times handles anyway.

Bounded: samples older than the window go, and at most MAX_SAMPLES stay (the
densest are thinned first), so a window of retries every minute keeps 12 samples,
not 30. An item whose samples are all zero, and not growing, is stored as a key in
a group of such keys (consecutive numeric keys as ranges): 32,000 empty queues
cost a few dozen bytes, not 32,000 lists. Other items store their first value and
then differences (a steady item is a row of zeros).
"""

from __future__ import annotations

import math
import time

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import (Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence,
                        Tuple)
else:
    from nagios_ipc.light import NamedTuple

VERSION = 1
DEFAULT_WINDOW = 1800.0  # seconds: see the closing note of issue 14 for the defaults
MAX_SAMPLES = 12
MIN_GAP = 1.0       # seconds: a run this soon after the previous one replaces its sample
BOOT_SLACK = 10.0   # seconds: how far the boot epoch may move without a boot id
DEFAULT_GROWING = 3  # samples of growth before a time to full is given
MAX_VALUE = 2.0 ** 63  # anything larger is not a count or a size: not kept
MAX_ITEMS = 10000   # busy items with a history per series (the largest values first)


class Moment(NamedTuple):
    """When a sample is taken: which boot, seconds since it, and the wall clock."""

    boot_id: Optional[str]
    boot: float   # seconds since boot (CLOCK_BOOTTIME, else monotonic)
    wall: float   # seconds since the epoch, for the boot epoch and the long output


def read_moment(boot_id_path: str = "/proc/sys/kernel/random/boot_id") -> Moment:
    try:
        boot = time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):  # not Linux
        boot = time.monotonic()
    wall = time.time()
    boot_id: Optional[str] = None
    try:
        with open(boot_id_path, "rb") as handle:
            text = handle.read(64).decode("ascii", "replace").strip()
        if len(text) == 36 and text.count("-") == 4:
            boot_id = text
    except OSError:
        pass  # no boot id on this OS: the boot epoch is the identity
    return Moment(boot_id, boot, wall)


class Trend(NamedTuple):
    """What the history says about one item after this run's sample."""

    value: float
    samples: int                 # samples in the window, this one included
    span: float                  # seconds from the oldest of them to this one
    slope: Optional[float]       # units per second; None: fewer than 2 samples
    growing_for: float = 0.0     # seconds of growth without falling back
    growing_samples: int = 0     # samples of that growth (0: not growing)

    @property
    def per_minute(self) -> Optional[float]:
        return None if self.slope is None else self.slope * 60.0

    def growing(self, samples: int = DEFAULT_GROWING) -> bool:
        """Consistently growing: a positive slope and *samples* samples of growth."""
        return (self.slope is not None and self.slope > 0
                and self.growing_samples >= max(samples, 2))

    def time_to(self, limit: Optional[float], samples: int = DEFAULT_GROWING) -> Optional[float]:
        """Seconds until *limit* at the current slope; None when not consistently
        growing, or no limit, or already there (the check's own 'full' says that)."""
        if limit is None or not self.growing(samples) or self.value >= limit:
            return None
        assert self.slope is not None
        return (limit - self.value) / self.slope


def slope(points: Sequence[Tuple[float, float]]) -> Optional[float]:
    """Least-squares slope of (time, value) points; None when the times do not
    spread (fewer than two distinct). Centred sums: huge values near each other
    (a counter at 2**62) lose no precision to cancellation."""
    n = len(points)
    if n < 2:
        return None
    if max(t for t, _ in points) - min(t for t, _ in points) < 1e-6:
        return None  # one moment (rounding of the means would invent a tiny spread)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    sxx = sum((t - mean_t) ** 2 for t, _ in points)
    if not sxx > 0:
        return None
    sxy = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return sxy / sxx


def _geometry(times: Sequence[float]) -> Tuple[List[float], Optional[float]]:
    """The times' part of slope(): offsets from their mean, and the sum of their
    squares (None when the times do not spread)."""
    if len(times) < 2 or max(times) - min(times) < 1e-6:
        return [], None
    mean = sum(times) / len(times)
    offsets = [t - mean for t in times]
    sxx = sum(d * d for d in offsets)
    return (offsets, sxx) if sxx > 0 else ([], None)


# --- the stored form ---------------------------------------------------------------


def _split(key: str) -> Optional[Tuple[str, int]]:
    """'s1234' -> ('s', 1234) when the digits round-trip (no leading zero)."""
    end = len(key)
    start = end
    while start > 0 and "0" <= key[start - 1] <= "9":  # not isdigit(): '²' is one
        start -= 1
    digits = key[start:]
    if not digits or (len(digits) > 1 and digits[0] == "0") or len(digits) > 18:
        return None
    return key[:start], int(digits)


def pack_keys(keys: Iterable[str]) -> Dict[str, Any]:
    """Keys as {"k": [literal keys], "r": {prefix: [first, last, first, last, ...]}}."""
    literal: List[str] = []
    numbers: Dict[str, List[int]] = {}
    for key in keys:
        split = _split(key)
        if split is None:
            literal.append(key)
        else:
            numbers.setdefault(split[0], []).append(split[1])
    ranges: Dict[str, List[int]] = {}
    for prefix, values in numbers.items():
        values.sort()
        flat: List[int] = []
        for value in values:
            if flat and value == flat[-1] + 1:
                flat[-1] = value
            else:
                flat.extend((value, value))
        ranges[prefix] = flat
    packed: Dict[str, Any] = {}
    if literal:
        packed["k"] = sorted(literal)
    if ranges:
        packed["r"] = ranges
    return packed


def unpack_keys(packed: Dict[str, Any], limit: int) -> List[str]:
    """The keys of pack_keys; ValueError past *limit* keys (a forged range)."""
    keys = [str(k) for k in packed.get("k", [])]
    for prefix, flat in packed.get("r", {}).items():
        if len(flat) % 2:
            raise ValueError("odd range list")
        for index in range(0, len(flat), 2):
            first, last = int(flat[index]), int(flat[index + 1])
            if last < first or len(keys) + last - first >= limit:
                raise ValueError("bad key range")
            keys.extend(f"{prefix}{number}" for number in range(first, last + 1))
    return keys


MAX_KEYS = 1_000_000  # more keys than any host has queues: a forged file


class History:
    """The trend history of one check instance: load it from the state's dict, feed
    each series one run's values (observe), store the result (dump).

    ``notes`` says once why an earlier history was dropped (reboot, older version,
    damage); ``first`` is true when there was no usable earlier sample at all."""

    def __init__(self, data: Any, moment: Moment, window: float = DEFAULT_WINDOW,
                 max_samples: int = MAX_SAMPLES) -> None:
        self.moment = moment
        self.window = window
        self.max_samples = max(max_samples, 2)
        self.notes: List[str] = []
        self.old_times: List[float] = []
        self.old_series: Dict[str, Any] = {}
        self.series: Dict[str, Dict[str, Any]] = {}
        self.untracked = 0  # busy items past MAX_ITEMS: no history kept
        if data is not None:
            try:
                self._load(data)
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
                self.notes.append(f"trend history was damaged ({exc.__class__.__name__}) "
                                  f"and has been restarted")
                self.old_times, self.old_series = [], {}
        self._plan()

    def _load(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise ValueError("not an object")
        if data.get("v") != VERSION:
            self.notes.append(f"trend history of format {data.get('v')!r} (not {VERSION}) "
                              f"dropped: growth is measured again from this run")
            return
        now = self.moment
        if data.get("boot_id") != now.boot_id or (
                now.boot_id is None
                and not abs(float(data["epoch"]) - (now.wall - now.boot)) <= BOOT_SLACK):
            self.notes.append("trend history is from before a reboot (or a clock step on a "
                              "system without a boot id): growth is measured again from "
                              "this run")
            return
        times = [float(t) for t in data["t"]]
        if any(not b > a for a, b in zip(times, times[1:])) or len(times) > 10 * MAX_SAMPLES:
            raise ValueError("sample times not increasing")
        if times and not times[-1] <= now.boot:
            # the boot clock never goes back within a boot: not our history
            raise ValueError("samples from the future")
        series = data["s"]
        if not isinstance(series, dict):
            raise ValueError("series not an object")
        self.old_times, self.old_series = times, series

    def _plan(self) -> None:
        """Which old samples stay: not the one this run replaces (MIN_GAP), none
        older than the window, at most max_samples with this run's."""
        times = self.old_times
        now = self.moment.boot
        keep = list(range(len(times)))
        if keep and now - times[keep[-1]] < MIN_GAP:
            keep.pop()
        keep = [i for i in keep if times[i] >= now - self.window]
        while len(keep) + 1 > self.max_samples:
            # thin where the samples are densest; never the oldest (the span) nor
            # this run's
            span = [times[keep[j + 1]] - times[keep[j - 1]] if j + 1 < len(keep)
                    else now - times[keep[j - 1]] for j in range(1, len(keep))]
            keep.pop(1 + span.index(min(span)))
        self.keep = keep
        self.times = [times[i] for i in keep] + [round(now, 2)]
        self.first = len(self.times) == 1

    def _old_values(self, row: List[Any]) -> List[float]:
        """Kept old values of an item stored as [since, rises, v0, d1, d2, ...]."""
        values: List[float] = []
        total = 0.0
        for index, delta in enumerate(row[2:]):
            total = total + float(delta) if index else float(delta)
            if not (math.isfinite(total) and abs(total) < MAX_VALUE):
                raise ValueError("not a count")
            values.append(total)
        offset = len(self.old_times) - len(values)
        if offset < 0:
            raise ValueError("more values than sample times")
        return [values[i - offset] for i in self.keep if i >= offset]

    def observe(self, name: str, values: Dict[str, float],
                born: Optional[Callable[[str], Optional[float]]] = None) -> Dict[str, Trend]:
        """This run's *values* of series *name* (item key -> value); the trend of
        each. Items missing from *values* are gone: their history is dropped.

        *born* (key -> when the item came to exist, in seconds since boot, or None)
        lets a caller leave out items at zero (32,000 empty queues cost nothing):
        an item with no history that existed at the previous sample was zero then,
        and starts from that zero, not from nothing."""
        old = self.old_series.get(name)
        rows: Dict[str, Any] = {}
        zeros: Dict[str, int] = {}  # key -> number of old zero samples
        if isinstance(old, dict):
            items = old.get("i", {})
            rows = items if isinstance(items, dict) else {}
            try:
                for count, packed in old.get("z", {}).items():
                    number = int(count)
                    for key in unpack_keys(packed, MAX_KEYS):
                        zeros[key] = number
            except (ValueError, TypeError, AttributeError):
                zeros = {}
                self.notes.append(f"trend history of {name} was damaged and has been "
                                  f"restarted")
        times = self.times
        now = times[-1]
        kept_zero = self._kept_zero_counts()
        out_items: Dict[str, List[Any]] = {}
        busy = 0
        if len(values) - len(zeros) > MAX_ITEMS:
            # more busy items than the state may hold: the largest keep a history
            ranked = sorted((v for v in values.values() if v), reverse=True)
            floor = ranked[MAX_ITEMS - 1] if len(ranked) >= MAX_ITEMS else 0
        else:
            floor = None
        out_zero: Dict[int, List[str]] = {}
        trends: Dict[str, Trend] = {}
        zero_trend: Dict[int, Trend] = {}
        geometry: Dict[int, Tuple[List[float], Optional[float]]] = {}
        for key, raw in values.items():
            value = float(raw)
            if not (value == value and abs(value) < MAX_VALUE):  # NaN, inf, absurd
                continue
            if value == 0 and key in zeros:
                count = kept_zero[min(zeros[key], len(self.old_times))] + 1
                out_zero.setdefault(count, []).append(key)
                trend = zero_trend.get(count)
                if trend is None:
                    trend = zero_trend[count] = Trend(
                        0.0, count, now - times[-count], 0.0 if count > 1 else None)
                trends[key] = trend
                continue
            history: List[float] = []
            since: Optional[float] = None
            rises = 0
            row = rows.get(key)
            if key in zeros:
                history = [0.0] * kept_zero[min(zeros[key], len(self.old_times))]
            elif isinstance(row, list) and len(row) >= 3:
                try:
                    history = self._old_values(row)
                    since = None if row[0] is None else float(row[0])
                    rises = int(row[1])
                    if since is not None and not (math.isfinite(since) and since <= now
                                                  and rises >= 1):
                        raise ValueError("growth from the future (or no time at all)")
                except (ValueError, TypeError, IndexError, OverflowError):
                    history, since, rises = [], None, 0
            if (not history and row is None and born is not None and len(times) > 1
                    and key not in zeros):
                since_born = born(key)
                if since_born is not None and since_born < times[-2]:
                    history = [0.0]  # left out as zero at the previous sample
            if history:
                previous = history[-1]
                if value < previous:
                    since, rises = None, 0  # fell back: a drain or a reset
                elif value > previous:
                    if since is None:
                        since, rises = times[-2], 0  # the sample before the first rise
                    rises += 1
            else:
                since, rises = None, 0
            history.append(value)
            length = len(history)
            shape = geometry.get(length)
            if shape is None:
                shape = geometry[length] = _geometry(times[-length:])
            offsets, sxx = shape
            if sxx is None:
                rate = None
            else:
                # slope() with the times' part computed once per length: sum(dt) is
                # 0, so sxy is sum(dt * (v - any constant)); the last value as that
                # constant keeps huge counters exact
                base = history[-1]
                rate = sum(d * (v - base) for d, v in zip(offsets, history)) / sxx
            if rate is None or rate <= 0:
                since, rises = None, 0  # stalled over the window: not growing
            trend = Trend(value, length, now - times[-length], rate,
                          now - since if since is not None else 0.0,
                          rises + 1 if since is not None else 0)
            trends[key] = trend
            if since is None and not any(history):
                out_zero.setdefault(len(history), []).append(key)
                continue
            if floor is not None and (value < floor or busy >= MAX_ITEMS):
                self.untracked += 1
                continue
            busy += 1
            encoded: List[Any] = [None if since is None else round(since, 2), rises]
            last = 0.0
            for index, item in enumerate(history):
                encoded.append(_number(item if index == 0 else item - last))
                last = item
            out_items[key] = encoded
        stored: Dict[str, Any] = {"i": out_items}
        if out_zero:
            stored["z"] = {str(count): pack_keys(keys) for count, keys in out_zero.items()}
        self.series[name] = stored
        return trends

    def _kept_zero_counts(self) -> List[int]:
        """For an item whose last n old samples were zero: how many of them stay
        (index n of the list)."""
        total = len(self.old_times)
        kept = set(self.keep)
        counts = [0]
        for n in range(1, total + 1):
            counts.append(counts[-1] + (1 if total - n in kept else 0))
        return counts

    def dump(self) -> Dict[str, Any]:
        moment = self.moment
        return {"v": VERSION, "boot_id": moment.boot_id,
                "epoch": round(moment.wall - moment.boot, 1),
                "t": [round(t, 2) for t in self.times], "s": self.series}


def _number(value: float) -> Any:
    """An integral float as an int in the JSON (shorter), else rounded to 6 places."""
    if value.is_integer():
        return int(value)
    return round(value, 6)


def rate_text(per_second: float, unit: str = "", per: str = "") -> str:
    """'+2.1 KiB/s', '+68/min', '-3/min' for the first line: per second when at
    least one unit a second, else per minute; *per* "min" always per minute (mail
    queues are counted in messages a minute)."""
    from .units import format_number, human_size

    sign = "+" if per_second >= 0 else "-"
    size = abs(per_second)
    if size >= 1 and per != "min":
        amount, per = size, "s"
    else:
        amount, per = size * 60, "min"
    if unit == "B":
        return f"{sign}{human_size(amount)}/{per}"
    shown = format_number(round(amount, 1) if amount < 10 else round(amount))
    return f"{sign}{shown}{(' ' + unit) if unit else ''}/{per}"


def window_type(text: str) -> float:
    """argparse type of --trend-window: a duration, 0 (trend off) or 1 minute to a day."""
    import argparse

    from .units import RangeError, parse_quantity

    try:
        seconds = float(parse_quantity(text, "duration"))
    except RangeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if seconds != 0 and not 60 <= seconds <= 86400:
        raise argparse.ArgumentTypeError(f"'{text}' is neither 0 (off) nor between 1m and 1d")
    return seconds


def samples_type(text: str) -> int:
    import argparse

    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 2 <= number <= MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"'{text}' is not between 2 and {MAX_SAMPLES}")
    return number


def bare_range(kind: str, bare: str, none: bool = False) -> Callable[[str], Any]:
    """A range where a bare value N means N: ("below": alert below N) or ~:N ("above":
    alert above N): 'warn when full within an hour' is --time-to-full-warning 1h, not
    the guidelines' 0..1h, and a growth threshold of 100 must not alert on a drain
    (the guidelines' 100 alerts on any negative value). Full ranges work as always.
    With *none*, 'none' gives "none": it switches a default threshold off."""
    from .units import range_type

    convert = range_type(kind)

    def parse(text: str) -> Any:
        text = text.strip()
        if none and text.lower() == "none":
            return "none"
        if ":" in text or text.startswith("@"):
            return convert(text)
        return convert(text + ":" if bare == "below" else "~:" + text)

    parse.__name__ = f"{kind} range"
    return parse


def about(seconds: float) -> str:
    """A duration as the first line says it: '45s', '4m', '1h 20m', '3d 4h'."""
    seconds = max(float(seconds), 0.0)
    if seconds < 120:
        return f"{seconds:.0f}s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"
