"""check_host_uptime: was this host up the whole time since the previous run?"""

from __future__ import annotations

import argparse
import math
import time

import nagiosplugin

from .. import cli
from ..state import StateFile
from ..units import (
    format_number,
    format_range,
    human_duration,
    optional_range,
    parse_range,
    quantity_type,
    range_type,
)
from .period import Period, measure
from .source import Clock, Observation, default_source

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Generator, List, Optional, Tuple

NAME = "HOST_UPTIME"
PROG = "check_host_uptime"

DESCRIPTION = """\
Checks how long this host has been up, whether it was up the whole time since the
previous run of this check, and whether it rebooted in between.

Check:
  The uptime comes from /proc/uptime on Linux (to 1/100 s) and from psutil's boot
  time elsewhere (BSD, macOS, Solaris, AIX); where that boot time falls on a
  whole minute (some platforms keep only minutes), the output says "up about"
  and gives the boot time to the minute. A reboot is a changed boot identity: the
  kernel's boot id (/proc/sys/kernel/random/boot_id) on Linux, the boot time
  elsewhere (moves of up to 10 s, e.g. NTP steps, are not reboots).
  Each run keeps what it saw in a state file; the next run measures the period
  since then. Within one boot the period is the growth of the uptime, exact
  whatever the interval (a 10 s interval reports 10 s) and whatever the wall
  clock did (a clock step shows in the long output, not as a reboot).
  After a reboot the host was last seen up at the previous run and is up since
  the new boot: the time in between is counted as down, an upper bound (the
  host went down some time in that gap). Several reboots between two runs look
  the same as one: `reboots` is then 1, read it as "at least 1".
  The first run (no state yet) reports the uptime only: the period measures
  start with the next run. A state file that is not a regular file is refused
  (UNKNOWN, left as it is: --state-file /dev/null does not switch state off).
  A corrupt one gives UNKNOWN once (an OK "first run" could hide a reboot): it
  is moved aside to FILE.corrupt and this run's state saved, so the next run
  measures again.

Perfdata:
  uptime                 seconds since boot (min 0)
  uptime_last_period     seconds up since the previous run (max: the period)
  reboots                boots detected since the previous run (0 or 1)
  downtime_last_period   seconds down since the previous run, at most (max: the period)
  availability           percent of the period up (min 0, max 100)
  All but uptime are left out on the first run; downtime and availability also
  after a reboot across which the wall clock went back (period not measurable).

Examples:
  check_host_uptime                          warn once after each reboot
  check_host_uptime -w 30m: -c 5m:           also alert while the host booted recently
  check_host_uptime --max-uptime 180d        warn when not rebooted (patched) for 180 days
  check_host_uptime --reboots-warning none --availability-critical 99:
"""

EPILOG = """\
Ranges follow the Monitoring Plugins guidelines (10, 10:, ~:10, 10:20, @10:20);
durations take ms, s, m, h, d, w. The reboot warning lasts one run (the run after
the reboot): with max_check_attempts > 1 it may stay SOFT; add -w 30m: for an
alert that lasts until the host has been up for 30 minutes.
State: one file per set of options under ~/.local/state/nagios_ipc/HOST/
(without a usable home /var/tmp/nagios_ipc-UID-*/; or $NAGIOS_IPC_STATE_DIR),
mode 0600; two services with the same options share a file and shorten each
other's periods: give each its own --state-file.
"""


def parser() -> cli.PluginParser:
    p = cli.PluginParser(PROG, NAME, DESCRIPTION, EPILOG)
    g = p.add_argument_group("thresholds")
    g.add_argument("-w", "--warning", type=range_type("duration"), metavar="RANGE",
                   help="WARNING when the uptime is outside RANGE, e.g. 30m: (booted "
                        "less than 30 minutes ago)")
    g.add_argument("-c", "--critical", type=range_type("duration"), metavar="RANGE",
                   help="CRITICAL when the uptime is outside RANGE, e.g. 5m: or 5m:200d")
    g.add_argument("--max-uptime", type=quantity_type("duration"), metavar="DURATION",
                   help="WARNING when up longer than DURATION, e.g. 180d (not rebooted "
                        "for patching); the upper end of -w, which must then have none")
    g.add_argument("--reboots-warning", type=optional_range("count"), metavar="RANGE",
                   default=parse_range("0"),
                   help="WARNING when the reboots since the previous run are outside "
                        "RANGE (default 0: any reboot; 'none' switches it off)")
    g.add_argument("--reboots-critical", type=optional_range("count"), metavar="RANGE",
                   help="CRITICAL when the reboots since the previous run are outside RANGE")
    g.add_argument("--availability-warning", type=optional_range("percent"), metavar="RANGE",
                   help="WARNING when the percent of the period up is outside RANGE, e.g. 99:")
    g.add_argument("--availability-critical", type=optional_range("percent"), metavar="RANGE",
                   help="CRITICAL when the percent of the period up is outside RANGE")
    s = p.add_argument_group("state and sources")
    s.add_argument("--state-file", metavar="PATH",
                   help="where to keep what this run saw for the next one (default: one "
                        "file per set of options, see below)")
    s.add_argument("--boot-source", choices=("auto", "proc", "psutil"), default="auto",
                   help="where uptime and boot identity come from: /proc (Linux), psutil "
                        "(elsewhere), or auto (default: /proc where it exists)")
    p.guard("--state-file", "path")
    return p


# --- presentation helpers ------------------------------------------------------------

UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def span(seconds: float) -> str:
    """Three units from the largest non-zero one: 300 -> '5m 0s', 1049040 -> '12d 3h 4m'."""
    total = max(round(seconds), 0)
    values = []
    for unit, size in UNITS:
        count, total = divmod(total, size)
        values.append(f"{count}{unit}")
    start = 0
    while start < 3 and values[start][0] == "0":
        start += 1
    return " ".join(values[start:start + 3])


def stamp(wall: float, resolution: float = 1.0) -> str:
    fmt = "%Y-%m-%d %H:%M UTC" if resolution >= 60 else "%Y-%m-%d %H:%M:%S UTC"
    return time.strftime(fmt, time.gmtime(wall))


# --- data acquisition ------------------------------------------------------------------

class HostUptime(nagiosplugin.Resource):
    """Observes the boot, compares it with the previous run's state, saves the new one."""

    def __init__(self, source: Any, clock: Clock, state_path: Optional[str],
                 state_key: List[Any]) -> None:
        self.source = source
        self.clock = clock
        self.state = StateFile(state_path, PROG, state_key)
        self.period: Optional[Period] = None

    def load_previous(self) -> Optional[Observation]:
        raw = self.state.load(until_saved=True)  # said after this run's state is saved
        if raw is None:
            return None
        try:
            return Observation.from_state(raw)
        except ValueError as exc:
            self.state.hold(self.state.set_aside(f"unusable ({exc})"))
            return None

    def probe(self) -> Generator[nagiosplugin.Metric, None, None]:
        self.doing = f"waiting for the lock on {self.state.path}"
        with self.state:
            previous = self.load_previous()
            # observed under the lock: runs in parallel save in the order they saw
            self.doing = "reading the boot time"
            now = self.source.observe(self.clock)
            self.doing = f"writing {self.state.path}"
            self.state.save(now.to_state())
        self.period = period = measure(previous, now)
        whole = period.whole
        yield nagiosplugin.Metric("uptime", whole.uptime, "s", min=0, context="uptime")
        if period.first:
            return
        yield nagiosplugin.Metric("uptime_last_period", whole.up, "s", min=0, max=whole.length,
                                  context="uptime_last_period")
        yield nagiosplugin.Metric("reboots", period.reboots, min=0, context="reboots")
        if whole.down is not None:
            yield nagiosplugin.Metric("downtime_last_period", whole.down, "s", min=0,
                                      max=whole.length, context="downtime_last_period")
        availability = period.availability
        if availability is not None:
            yield nagiosplugin.Metric("availability", round(availability, 3), "%",
                                      min=0, max=100, context="availability")


# --- presentation ----------------------------------------------------------------------

def _bound_text(value: float, rng: Optional[nagiosplugin.Range], show: Any) -> str:
    if rng is None or rng.match(value):
        return ""
    if rng.invert:
        return f", inside {format_range(rng)}"
    if value < rng.start:
        return f", less than {show(rng.start)}"
    return f", more than {show(rng.end)}"


class UptimeSummary(nagiosplugin.Summary):
    def __init__(self, resource: HostUptime) -> None:
        self.resource = resource

    def _failed(self, results: nagiosplugin.Results, name: str) -> Optional[nagiosplugin.Range]:
        """The range the metric *name* broke, or None when it is fine or absent."""
        if name not in results:
            return None
        result = results[name]
        if result.state == nagiosplugin.state.Ok or result.metric is None:
            return None
        context = result.metric.contextobj
        critical = getattr(context, "critical", None)
        if result.state == nagiosplugin.state.Critical and critical is not None:
            return critical  # type: ignore[no-any-return]
        return getattr(context, "warning", None)

    def text(self, results: nagiosplugin.Results) -> str:
        period = self.resource.period
        assert period is not None
        now, whole = period.now, period.whole
        about = "about " if now.resolution >= 60 else ""
        uptime_range = self._failed(results, "uptime")
        uptime_bad = _bound_text(now.uptime, uptime_range, human_duration)
        booted = stamp(now.boot_time, now.resolution) + (
            ", minute resolution" if now.resolution >= 60 else "")
        since = f"since {booted}"
        if period.reboots:
            text = f"rebooted since last check: booted {booted}"
            if whole.down is not None and whole.length is not None:
                text += f", down at most {span(whole.down)} of the last {span(whole.length)}"
            else:
                text += ", downtime unknown (the clock went back across the reboot)"
            if uptime_bad:
                text += f"; up only {about}{span(whole.uptime)}{uptime_bad}"
        else:
            text = f"up {about}{span(whole.uptime)} ({since}){uptime_bad}"
            if period.first:
                text += ", first run: period measures start with the next run"
            elif whole.length is not None:
                text += f", up the whole last period of {span(whole.length)}"
        availability = period.availability
        if availability is not None and self._failed(results, "availability") is not None:
            text += f", available {format_number(round(availability, 3))}%" + _bound_text(
                availability, self._failed(results, "availability"),
                lambda v: format_number(v) + "%")
        note = period.note
        if note:
            text += f" ({note})"
        return text

    def ok(self, results: nagiosplugin.Results) -> str:
        return self.text(results)

    def problem(self, results: nagiosplugin.Results) -> str:
        if self.resource.period is None:  # the probe failed: say why
            return str(results.first_significant)
        return self.text(results)

    def verbose(self, results: nagiosplugin.Results) -> List[str]:
        period = self.resource.period
        if period is None:
            return []
        now = period.now
        lines = [f"boot: {stamp(now.boot_time, now.resolution)}, up {now.uptime:.2f}s "
                 f"(from {now.source}"
                 + (f", boot id {now.boot_id})" if now.boot_id else ", no boot id on this OS)")]
        if now.resolution >= 60:
            lines.append("resolution: the boot time is known to the minute only")
        prev = period.previous
        if prev is not None:
            lines.append(f"previous run: {stamp(prev.wall)}, boot "
                         f"{stamp(prev.boot_time, prev.resolution)}"
                         + (f", boot id {prev.boot_id}" if prev.boot_id else ""))
        if period.reboots:
            lines.append("reboots: at least 1 ("
                         + ("boot id changed" if now.boot_id else "boot time moved")
                         + "); more reboots between two runs look the same as one")
            if period.whole.down is not None:
                lines.append(f"down at most {span(period.whole.down)}: last seen up "
                             f"{stamp(prev.wall) if prev else '?'} (previous run), up again "
                             f"since {stamp(now.boot_time, now.resolution)}; it went down "
                             f"some time in between")
            else:
                lines.append(f"downtime unknown: the wall clock puts the previous run "
                             f"{span(-period.clock_step)} after this boot (stepped back)")
        elif period.clock_step:
            sign = "+" if period.clock_step > 0 else "-"
            lines.append(f"wall clock stepped {sign}{span(abs(period.clock_step))} between "
                         f"the runs; the period is measured on the uptime, which clock "
                         f"steps do not move")
        if period.note:
            lines.append(f"note: {period.note}")
        lines.append(f"state file: {self.resource.state.path}")
        return lines


# --- wiring ----------------------------------------------------------------------------

def uptime_warning(args: argparse.Namespace) -> Optional[nagiosplugin.Range]:
    warning: Optional[nagiosplugin.Range] = args.warning
    if args.max_uptime is None:
        return warning
    if warning is not None and (warning.invert or warning.end != math.inf):
        raise nagiosplugin.CheckError("usage error: -w already has an upper end; give "
                                      "either -w START:END or -w START: --max-uptime END")
    start = warning.start if warning is not None else 0
    if start > args.max_uptime:
        raise nagiosplugin.CheckError(f"usage error: --max-uptime "
                                      f"{human_duration(args.max_uptime)} is below the "
                                      f"start of -w ({human_duration(start)})")
    text = "~" if start == -math.inf else format_number(start)
    return parse_range(f"{text}:{format_number(args.max_uptime)}", "duration")


def state_key(args: argparse.Namespace) -> List[Tuple[str, str]]:
    """The options that make one instance differ from another (not -t, -v, --details)."""
    key = []
    for name, value in sorted(vars(args).items()):
        if name in ("timeout", "verbose", "details", "state_file"):
            continue
        text = format_range(value) if isinstance(value, nagiosplugin.Range) else str(value)
        key.append((name, text))
    return key


def build(args: argparse.Namespace, source: Any = None,
          clock: Optional[Clock] = None) -> nagiosplugin.Check:
    resource = HostUptime(source or default_source(args.boot_source), clock or Clock(),
                          args.state_file, state_key(args))
    return nagiosplugin.Check(
        resource,
        nagiosplugin.ScalarContext("uptime", uptime_warning(args), args.critical),
        nagiosplugin.ScalarContext("uptime_last_period"),
        nagiosplugin.ScalarContext("reboots", args.reboots_warning, args.reboots_critical),
        nagiosplugin.ScalarContext("downtime_last_period"),
        nagiosplugin.ScalarContext("availability", args.availability_warning,
                                   args.availability_critical),
        UptimeSummary(resource),
    )


def main(argv: Optional[List[str]] = None) -> None:
    cli.run(parser(), build, argv)
