"""check_mta_backlog: growth between runs, time to the CRITICAL level, stuck mail.

From the counts every mode reads (--count-only too, every MTA and method): the
growth of all messages, of the deferred ones and of each queue, and the time
until the deferred count reaches the -c bound at its growth (time_to_critical),
or the whole queue reaches --capacity (time_to_full: the Messaging Server job
controller's MAX_MESSAGES, for one). With the message files read: the trend of the
oldest deferred message's age; an age that rises with the clock while the count
stays flat is mail that is stuck, not slow. History: nagios_ipc.trend, in the
check's state file.
"""

from __future__ import annotations

import argparse

import nagiosplugin

from .. import trend
from ..state import StateError, StateFile
from ..trend import about
from ..units import format_number

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

NO_TREND = trend.Trend(0.0, 0, 0.0, None)
STUCK_AGE_RATE = 0.9     # the oldest age rises at 90% of the clock's rate or more
FLAT = 0.5               # deferred messages per minute, either way: a flat count

HELP = """\
Growth between runs (a sample per run in the state file; growth is the
least-squares slope over --trend-window; nothing on the first run or after
a reboot, and never an alert on a drain):
  messages_growth      messages gained per minute, all queues
  deferred_growth      deferred messages gained per minute (--growth-warning)
  messages_growth_QUEUE  per queue
  deferred_age_growth  seconds the oldest deferred message ages per minute: 60
                       while nothing of it leaves (not with --count-only)
  time_to_critical     seconds until the deferred count reaches the -c bound at
                       its growth, while it grows consistently (--growing-samples)
  time_to_full         seconds until all messages reach --capacity, likewise
  A figure not known has no perfdata item at all (not 0, not a huge number): a
  graph shows a gap.
"""


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("growth between runs")
    g.add_argument("--trend-window", type=trend.window_type, default=trend.DEFAULT_WINDOW,
                   metavar="DURATION",
                   help="growth is the least-squares slope over this long (default 30m; 1m "
                        "to 1d; 0 turns growth and the state file off)")
    g.add_argument("--growing-samples", type=trend.samples_type,
                   default=trend.DEFAULT_GROWING, metavar="N",
                   help="samples the deferred count must have grown over, without falling "
                        "back, before it has a time to critical (default 3; 2 to 12)")
    g.add_argument("--state-file", metavar="PATH",
                   help="where the samples are kept (default: one file per set of options "
                        "under ~/.local/state/nagios_ipc/HOST/)")
    g.add_argument("--capacity", type=int, metavar="N",
                   help="messages the MTA can hold (e.g. the Messaging Server job "
                        "controller's MAX_MESSAGES, 100000 by default): gives time_to_full")
    for option, dest, kind, bare, text, default in (
            ("--growth-warning", "growth_warning", "count", "above",
             "deferred messages gained per minute (a bare N means ~:N)", None),
            ("--growth-critical", "growth_critical", "count", "above",
             "deferred messages gained per minute (a bare N means ~:N)", None),
            ("--time-to-critical-warning", "ttc_warning", "duration", "below",
             "time until the deferred count reaches the -c bound (a bare duration N "
             "means N:, alert below it)", "1h"),
            ("--time-to-critical-critical", "ttc_critical", "duration", "below",
             "time until the deferred count reaches the -c bound", None),
            ("--time-to-full-warning", "ttf_warning", "duration", "below",
             "time until all messages reach --capacity (a bare N means N:)", "1h"),
            ("--time-to-full-critical", "ttf_critical", "duration", "below",
             "time until all messages reach --capacity", "10m")):
        level = "WARNING" if option.endswith("warning") else "CRITICAL"
        parse = trend.bare_range(kind, bare, none=True)
        g.add_argument(option, dest=dest, metavar="RANGE",
                       type=parse,
                       help=f"{level} on the {text}"
                            + (f" (default {default}; 'none' switches it off)"
                               if default else ""))
    p.guard("--state-file", "path")  # type: ignore[attr-defined]


def state_key(args: argparse.Namespace) -> List[Any]:
    """What names the queue being sampled: each its own history."""
    return ["trend", args.mta, args.config_dir, args.spool_dir, args.mta_binary,
            args.mta_config]


class MtaGrowth:
    def __init__(self, args: argparse.Namespace,
                 moment: Callable[[], trend.Moment] = trend.read_moment) -> None:
        self.args = args
        self.window = args.trend_window
        self.samples = args.growing_samples
        self.capacity = args.capacity
        self.state = StateFile(args.state_file, "check_mta_backlog", state_key(args))
        self.explicit = args.state_file is not None
        self.moment = moment
        self.notes: List[str] = []
        self.active = False
        self.first = True
        self.counts: Dict[str, trend.Trend] = {}
        self.ages: Dict[str, trend.Trend] = {}
        self.bound: Optional[float] = critical_bound(args)
        self.deferred = 0
        self.messages = 0

    def observe(self, resource: Any, deferred: int) -> None:
        b = resource.backlog
        self.deferred, self.messages = deferred, b.messages
        counts: Dict[str, float] = {"messages": b.messages, "deferred": deferred}
        for name, stats in b.queues.items():
            if b.detailed or name in b.counted:
                counts[f"q:{name}"] = stats.messages
        ages: Dict[str, float] = {}
        if b.detailed:
            _, age = b.oldest_of(resource.deferred_queues)
            if age is not None:
                ages["deferred_age"] = round(age)
        try:
            with self.state:
                data = self.state.load()
                history = trend.History((data or {}).get("trend"), self.moment(),
                                        window=self.window)
                self.counts = history.observe("n", counts)
                self.ages = history.observe("a", ages)
                self.state.save({"trend": history.dump()})
        except StateError as exc:
            if self.explicit:
                raise
            self.notes.append(f"growth not measured: {exc}")
            return
        self.active = True
        self.first = history.first
        self.notes.extend(history.notes)

    def of(self, key: str) -> trend.Trend:
        return self.counts.get(key, NO_TREND)

    def time_to_critical(self) -> Optional[float]:
        return self.of("deferred").time_to(self.bound, self.samples)

    def time_to_full(self) -> Optional[float]:
        return self.of("messages").time_to(self.capacity, self.samples)

    def stuck(self) -> bool:
        """The oldest deferred message ages with the clock over the samples while the
        deferred count stays flat: nothing of it is leaving."""
        age = self.ages.get("deferred_age", NO_TREND)
        deferred = self.of("deferred")
        return (self.deferred > 0 and age.slope is not None and deferred.slope is not None
                and age.samples >= self.samples and age.slope >= STUCK_AGE_RATE
                and abs(deferred.slope * 60) < FLAT)

    def metrics(self, queues: Sequence[str]) -> Iterator[nagiosplugin.Metric]:
        if not self.active:
            return
        for label, key, context in (("messages_growth", "messages", "messages_growth"),
                                    ("deferred_growth", "deferred", "deferred_growth")):
            rate = self.of(key).per_minute
            if rate is not None:
                yield nagiosplugin.Metric(label, round(rate, 2), context=context)
        for name in queues:
            rate = self.of(f"q:{name}").per_minute
            if rate is not None:
                yield nagiosplugin.Metric(f"messages_growth_{name}", round(rate, 2),
                                          context="queue_growth")
        age = self.ages.get("deferred_age", NO_TREND).per_minute
        if age is not None:
            yield nagiosplugin.Metric("deferred_age_growth", round(age, 2), "s",
                                      context="age_growth")
        seconds = self.time_to_critical()
        if seconds is not None:
            yield nagiosplugin.Metric("time_to_critical", int(seconds), "s", min=0,
                                      context="time_to_critical")
        seconds = self.time_to_full()
        if seconds is not None:
            yield nagiosplugin.Metric("time_to_full", int(seconds), "s", min=0,
                                      context="time_to_full")

    def growing_text(self, key: str) -> str:
        """'+68/min for 10m' (or '+68/min' while not yet consistent)."""
        series = self.of(key)
        text = trend.rate_text(series.slope or 0.0, per="min")
        if series.growing_samples:
            text += f" for {about(series.growing_for)}"
        return text

    def lines(self, mta: str) -> List[str]:
        """The long output's growth lines."""
        lines = [f"note: {note}" for note in self.notes]
        if not self.active:
            return lines
        deferred = self.of("deferred")
        if deferred.slope is None:
            lines.append(f"growth: first sample in {self.state.path}; growth from the next run")
            return lines
        lines.append(f"growth over {about(deferred.span)} ({deferred.samples} samples): "
                     f"messages {self.growing_text('messages')}, deferred "
                     f"{self.growing_text('deferred')}")
        if self.stuck():
            age = self.ages["deferred_age"]
            lines.append(f"stuck, not slow: the oldest deferred {mta} message aged with the "
                         f"clock over {about(age.span)} while the deferred count stayed "
                         f"flat at {self.deferred}: nothing of it is being delivered")
        return lines


def critical_bound(args: argparse.Namespace) -> Optional[float]:
    """The deferred count at which -c alerts: the end of its range (default 500);
    None when -c is off or alerts on no upper end."""
    from ..units import parse_range
    from .check import DEFAULTS

    value = args.deferred_critical
    if value == "none":
        return None
    rng = value if value is not None else parse_range(DEFAULTS["deferred_critical"], "count")
    if rng.invert or rng.end == float("inf"):
        return None
    return float(rng.end) + 1  # '500' alerts above 500: at 501


class GrowthContext(nagiosplugin.Context):
    """Judges one growth figure; None ranges stay absent from perfdata."""

    def __init__(self, name: str, warning: Any, critical: Any,
                 describe: Callable[[nagiosplugin.Metric, Any], str]) -> None:
        super().__init__(name)
        self.warn_range = None if warning == "none" else warning
        self.crit_range = None if critical == "none" else critical
        self.hint_of = describe

    def evaluate(self, metric: nagiosplugin.Metric,
                 resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        for rng, state in ((self.crit_range, nagiosplugin.Critical),
                           (self.warn_range, nagiosplugin.Warn)):
            if rng is not None and not rng.match(metric.value):
                return self.result_cls(state, self.hint_of(metric, resource), metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)

    def performance(self, metric: nagiosplugin.Metric,
                    resource: nagiosplugin.Resource) -> nagiosplugin.Performance:
        return nagiosplugin.Performance(metric.name, metric.value, metric.uom, self.warn_range,
                                        self.crit_range, metric.min, metric.max)


def contexts(args: argparse.Namespace) -> List[nagiosplugin.Context]:
    from ..units import parse_range

    def default(value: Any, text: Optional[str]) -> Any:
        if value is None and text:
            return parse_range(text + ":", "duration")
        return value

    def growth(r: Any) -> MtaGrowth:
        return r.growth  # type: ignore[no-any-return]

    def deferred_text(m: nagiosplugin.Metric, r: Any) -> str:
        g = growth(r)
        text = f"{r.mta}: {g.deferred} deferred ({g.growing_text('deferred')})"
        return text + (", stuck, not slow" if g.stuck() else "")

    def critical_text(m: nagiosplugin.Metric, r: Any) -> str:
        g = growth(r)
        return (f"{r.mta}: {g.deferred} deferred ({g.growing_text('deferred')}), CRITICAL "
                f"level in ~{about(m.value)}")

    def full_text(m: nagiosplugin.Metric, r: Any) -> str:
        g = growth(r)
        return (f"{r.mta}: {g.messages} messages ({g.growing_text('messages')}), capacity "
                f"{format_number(g.capacity or 0)} in ~{about(m.value)}")

    plain = "{}".format
    return [
        GrowthContext("messages_growth", None, None, lambda m, r: plain(m.name)),
        GrowthContext("deferred_growth", args.growth_warning, args.growth_critical,
                      deferred_text),
        GrowthContext("queue_growth", None, None, lambda m, r: plain(m.name)),
        GrowthContext("age_growth", None, None, lambda m, r: plain(m.name)),
        GrowthContext("time_to_critical", default(args.ttc_warning, "1h"), args.ttc_critical,
                      critical_text),
        GrowthContext("time_to_full", default(args.ttf_warning, "1h"),
                      default(args.ttf_critical, "10m"), full_text),
    ]
