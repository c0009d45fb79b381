"""check_zmq_hwm: growth between runs (nagios_ipc.trend), opt-in with --trend-window.

Mode 1: each peer's Send-Q over the window: the fastest growth (sendq_growth, B per
minute) and the time until the soonest peer's Send-Q reaches its send buffer
(time_to_full). Mode 2: the least-squares rate of the helper's cumulative drop and
would-block counters over the window (drops_trend, wouldblock_trend, per minute),
steadier than the since-the-previous-run rates. An own Resource, probed after the
check's main one (nagiosplugin probes resources in order), with its own history in
the default state directory: the check's --state-file keeps its own format.
"""

from __future__ import annotations

import argparse

import nagiosplugin

from .. import trend
from ..state import StateError, StateFile

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Generator, List, Optional

HELP = """\
Growth between runs (off unless --trend-window is given, e.g. 30m; a sample per
run in a state file of its own, one per set of options under
~/.local/state/nagios_ipc/HOST/; nothing on the first run or after a reboot):
  sendq_growth         mode 1: the fastest-growing peer's Send-Q, B per minute
                       (least squares over the window; --growth-warning)
  time_to_full         mode 1: seconds until the soonest peer's Send-Q reaches its
                       send buffer, while it grows consistently (--growing-samples)
  drops_trend          mode 2: XPUB_NODROP refusals per minute over the window
  wouldblock_trend     mode 2: zmq.Again results per minute over the window
  A figure not known has no perfdata item at all: a graph shows a gap.
"""


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("growth between runs (off by default)")
    g.add_argument("--trend-window", type=trend.window_type, default=0.0,
                   metavar="DURATION",
                   help="measure growth as the least-squares slope over this long (1m to "
                        "1d, e.g. 30m; default 0: off)")
    g.add_argument("--growing-samples", type=trend.samples_type,
                   default=trend.DEFAULT_GROWING, metavar="N",
                   help="samples a peer's Send-Q must have grown over, without falling "
                        "back, before it has a time to full (default 3; 2 to 12)")
    for option, dest, kind, bare, text, default in (
            ("--growth-warning", "growth_warning", "size", "above",
             "fastest Send-Q growth per minute (B, KB, MB; a bare N means ~:N)", None),
            ("--growth-critical", "growth_critical", "size", "above",
             "fastest Send-Q growth per minute (a bare N means ~:N)", None),
            ("--time-to-full-warning", "ttf_warning", "duration", "below",
             "time until a peer's Send-Q fills its send buffer (a bare duration N means "
             "N:, alert below it)", "10m"),
            ("--time-to-full-critical", "ttf_critical", "duration", "below",
             "time until a peer's Send-Q fills its send buffer", None)):
        level = "WARNING" if option.endswith("warning") else "CRITICAL"
        parse = trend.bare_range(kind, bare, none=True)
        g.add_argument(option, dest=dest, metavar="RANGE", type=parse,
                       help=f"{level} on the {text}"
                            + (f" (default {default} with --trend-window; 'none' switches "
                               f"it off)" if default else ""))


class Growth(nagiosplugin.Resource):
    name = "growth"

    def __init__(self, args: argparse.Namespace, main: Any, state_key: List[Any],
                 moment: Callable[[], trend.Moment] = trend.read_moment) -> None:
        self.main = main
        self.window = args.trend_window
        self.samples = args.growing_samples
        self.state = StateFile(None, "check_zmq_hwm-trend", state_key)
        self.moment = moment
        self.notes: List[str] = []
        self.doing = "recording growth"

    def history(self, series: Dict[str, Dict[str, float]]) -> Optional[Dict[str, Dict[str,
                                                                                     Any]]]:
        """Observe each series; None (and a note) when the state cannot be used."""
        try:
            with self.state:
                data = self.state.load()
                history = trend.History((data or {}).get("trend"), self.moment(),
                                        window=self.window)
                out = {name: history.observe(name, values) for name, values in series.items()}
                self.state.save({"trend": history.dump()})
        except StateError as exc:
            self.note(f"growth not measured: {exc}")
            return None
        for note in history.notes:
            self.note(note)
        return out

    def note(self, text: str) -> None:
        """Into the main resource's notes: the check's summary shows those."""
        notes = getattr(self.main, "notes", None)
        (notes if isinstance(notes, list) else self.notes).append(text)

    def probe(self) -> Generator[nagiosplugin.Metric, None, None]:
        self.doing = f"recording growth in {self.state.path}"
        peers = getattr(self.main, "peers", None)
        if peers is not None:
            yield from self.sockets(peers)
            return
        snapshot = getattr(self.main, "snapshot", None)
        if snapshot is not None:
            yield from self.stats(snapshot)

    def sockets(self, peers: List[Any]) -> Generator[nagiosplugin.Metric, None, None]:
        values = {peer.conn.key: float(peer.conn.send_q) for peer in peers}
        found = self.history({"q": values})
        if found is None:
            return
        trends = found["q"]
        rates = [t.per_minute for t in trends.values() if t.per_minute is not None]
        if rates:
            yield nagiosplugin.Metric("sendq_growth", round(max(rates), 2), "B",
                                      context="sendq_growth")
        soonest = [t.time_to(peer.conn.sndbuf or None, self.samples)
                   for peer in peers for t in [trends[peer.conn.key]]]
        known = [s for s in soonest if s is not None]
        if known:
            yield nagiosplugin.Metric("time_to_full", int(min(known)), "s", min=0,
                                      context="time_to_full")

    def stats(self, snapshot: Any) -> Generator[nagiosplugin.Metric, None, None]:
        # an application restart (other pid or start time) makes other keys: its
        # counters start again from a history of their own
        app = f"{snapshot.pid} {snapshot.started}"
        totals = [s.totals() for s in snapshot.sockets]
        values = {f"{app} {counter}": float(sum(t.get(counter, 0) for t in totals))
                  for counter in ("drops", "wouldblock")}
        found = self.history({"c": values})
        if found is None:
            return
        for counter in ("drops", "wouldblock"):
            rate = found["c"][f"{app} {counter}"].per_minute
            if rate is not None:
                yield nagiosplugin.Metric(f"{counter}_trend", round(max(rate, 0.0), 2),
                                          min=0, context=f"{counter}_trend")


def parts(args: argparse.Namespace, main: Any, state_key: List[Any], mode: int,
          moment: Optional[Callable[[], trend.Moment]] = None) -> List[Any]:
    """The growth Resource and its contexts for nagiosplugin.Check, or nothing when
    --trend-window is 0 (the default)."""
    if not args.trend_window:
        return []
    from ..units import parse_range
    from .check import Measure, MeasureContext

    def given(value: Any, default: Optional[str] = None) -> Any:
        if value == "none":
            return None
        if value is None and default:
            return parse_range(default + ":", "duration")
        return value

    growth = Growth(args, main, [*state_key, ("trend", "1")],
                    **({"moment": moment} if moment else {}))
    if mode == 1:
        contexts = [
            MeasureContext(Measure("sendq_growth", "size", "the fastest Send-Q growth"),
                           given(args.growth_warning), given(args.growth_critical)),
            MeasureContext(Measure("time_to_full", "duration",
                                   "the time until a Send-Q fills its send buffer"),
                           given(args.ttf_warning, "10m"), given(args.ttf_critical)),
        ]
    else:
        contexts = [MeasureContext(Measure(f"{c}_trend", "count", f"{c} per minute", mode=2),
                                   None, None) for c in ("drops", "wouldblock")]
    return [growth, *contexts]
