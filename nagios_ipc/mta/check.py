"""check_mta_backlog: is mail stuck in the MTA's queue, where, since when, and why."""

from __future__ import annotations

import argparse
import os
import time

import nagiosplugin

from .. import cli
from ..units import format_number, human_duration, human_size, optional_range, parse_range
from .model import NotRunning, ParseError, Settings, Unavailable
from .registry import METHOD_CHOICES, NAMES

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Generator, List, Optional, Sequence, Tuple

    Pair = Tuple[str, Optional[nagiosplugin.Range], Optional[nagiosplugin.Range]]

    Ranges = Tuple[Optional[nagiosplugin.Range], Optional[nagiosplugin.Range]]

NAME = "MTA_BACKLOG"
PROG = "check_mta_backlog"

DESCRIPTION = """\
Checks the mail queue of this host's MTA: how many messages wait, in which
queue, since when (the oldest message's arrival, never a retry time), for
which destination domains, why they were deferred, and how many are bounces
(null sender).

Check:
  MTAs and their queues: Postfix (maildrop incoming active deferred hold
  corrupt), Exim (queued frozen; each named queue NAME as NAME, NAME.frozen),
  Sendmail (each queue directory by its name:
  mqueue, clientmqueue, queue groups; NAME.quarantined), qmail (local remote
  todo), OpenSMTPD (queue, queue.suspended, offline), nullmailer (queue failed),
  Messaging Server (per channel: CHANNEL, CHANNEL.delayed, CHANNEL.held; command
  only, imsimta qm directory). --mta auto picks the installed one.
  Methods: 'spool' scans the queue directory (fast; needs read access: root,
  e.g. through the sudo rule in contrib/sudoers.d/nagios_ipc); 'command' runs the
  MTA's own listing (postqueue -j, exim -bp; needs the MTA's listing permission:
  Postfix authorized_mailq_users, Exim queue_list_requires_admin = false).
  'auto' (default) uses the spool when readable, else the command; the long
  output says which ran. When neither works: UNKNOWN naming both fixes.
  A stopped daemon is said first, CRITICAL by default (--mta-down): mail is
  not flowing. Seen for Postfix (postqueue says the mail system is down; the
  spool's pid/master.pid is not locked) and OpenSMTPD (smtpctl lists the queue
  offline, or 'show status' gets no answer). Exim, sendmail, qmail and
  nullmailer list their queues without a daemon, and some run without one.
  --count-only reads directory entries only (no message file is opened; Exim:
  the head of each -H file, for its frozen flag): message counts per queue,
  nothing else. Otherwise each queue file is read as far as the
  envelope (arrival, size, sender, recipients), and with --top > 0 the deferral
  reasons too (Postfix defer logs, Exim msglog) when the long output shows them:
  never with --details never; with --details problem a Postfix or Exim spool
  within the deferred thresholds is read without them first, and again for them
  only if the state is not OK.
  Defaults with no arguments: WARNING above 100 deferred messages, CRITICAL
  above 500; WARNING when the oldest deferred message is older than 4h,
  CRITICAL older than 1d. 'none' switches a default off.
  Deferred means Postfix's deferred queue, every Exim message not frozen (named
  queues included),
  Sendmail's queues but the quarantined, qmail's local and remote, OpenSMTPD's
  queue, nullmailer's queue, the Messaging Server's delayed messages.
"""

EPILOG = """\
Perfdata:
  messages             messages in all queues
  messages_QUEUE       messages per queue (Postfix: maildrop incoming active
                       deferred hold corrupt; corrupt with --method spool only,
                       postqueue never lists it; Exim: queued frozen)
  deferred             deferred messages (the -w/-c measure)
  bytes                bytes in all queues (B)
  oldest_QUEUE         age of the oldest message per queue (s; 0 when empty)
  deferred_age         age of the oldest deferred message (s)
  bounces              messages with the null sender (bounces, DSNs)
  held                 held (Postfix hold) or frozen (Exim) messages; Sendmail
                       quarantined, OpenSMTPD paused, Messaging Server .HELD
  domain_DOMAIN        messages for a --domain, by recipient domain
  --count-only gives messages, messages_QUEUE and deferred only (Exim: the head
  of each -H file is read for the frozen flag, so deferred means the same in
  both modes).

Ranges follow the Monitoring Plugins guidelines (10, 10:, ~:10, 10:20, @10:20);
durations take s, m, h, d; sizes B, KB, MB, GB. WARN,CRIT pairs: either may be
empty (',5' sets only CRITICAL).

Examples:
  check_mta_backlog                                    defaults, auto-detected MTA
  check_mta_backlog -w 50 -c 200 --age-warning 1h --domain example.com=20,100
  sudo -n check_mta_backlog --method spool -t 8        spool scan as root (NRPE)
  check_mta_backlog --count-only -w 1000 -c 5000       cheapest run on a huge queue
  check_mta_backlog --mta postfix --config-dir /etc/postfix-out   a second instance
  check_mta_backlog --mta exim --mta-binary /usr/sbin/exim4 --mta-config /etc/exim4/alt.conf
"""

DOWN_STATES = ("critical", "warning", "unknown", "ok")

DEFAULTS = {"deferred_warning": "100", "deferred_critical": "500",
            "age_warning": "4h", "age_critical": "1d"}


class Measure:
    __slots__ = ("kind", "name", "text", "uom")

    def __init__(self, name: str, kind: str, uom: str, text: str) -> None:
        self.name, self.kind, self.uom, self.text = name, kind, uom, text


MEASURES = (
    Measure("deferred", "count", "", "deferred messages"),
    Measure("age", "duration", "s", "age of the oldest deferred message"),
    Measure("total", "count", "", "number of messages in all queues"),
    Measure("bytes", "size", "B", "size of all queued messages"),
    Measure("bounces", "count", "", "number of bounces (null sender)"),
    Measure("held", "count", "", "number of held or frozen messages"),
)


# messages from which a spool is read by --workers processes: below it, forking costs
# more than it saves (and an idle host's run stays one process)
PARALLEL_FROM = 2000


def pair_type(kind: str, what: str) -> Callable[[str], Pair]:
    """NAME=WARN,CRIT with ranges of *kind*."""

    def parse(text: str) -> Pair:
        name, sep, ranges = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}=WARN,CRIT")
        warn_text, _, crit_text = ranges.partition(",")
        try:
            warn = parse_range(warn_text, kind) if warn_text.strip() else None
            crit = parse_range(crit_text, kind) if crit_text.strip() else None
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"'{text}': {exc}") from None
        if warn is None and crit is None:
            raise argparse.ArgumentTypeError(f"'{text}' has neither WARN nor CRIT")
        return name, warn, crit

    parse.__name__ = f"{what}=WARN,CRIT"
    return parse


def parser() -> cli.PluginParser:
    from . import growth

    p = cli.PluginParser(PROG, NAME, DESCRIPTION, EPILOG + "\n" + growth.HELP)
    src = p.add_argument_group("which MTA and how to read it")
    src.add_argument("--mta", choices=("auto", *NAMES), default="auto",
                     help="the MTA (default auto: the first installed of postfix, exim, ...)")
    src.add_argument("--method", choices=METHOD_CHOICES, default="auto",
                     help="spool scan, the MTA's listing command, or auto (default: the "
                          "spool when readable, else the command)")
    src.add_argument("--config-dir", metavar="DIR",
                     help="Postfix instance configuration directory (multi-instance, "
                          "e.g. /etc/postfix-out)")
    src.add_argument("--spool-dir", metavar="DIR",
                     help="queue directory if not the MTA's configured one (Postfix "
                          "queue_directory, Exim spool_directory)")
    src.add_argument("--mta-binary", metavar="PATH",
                     help="listing binary for --method command (postqueue, exim/exim4)")
    src.add_argument("--mta-config", metavar="FILE",
                     help="alternate MTA configuration file (Exim: passed as -C)")
    src.add_argument("--mta-down", choices=DOWN_STATES, default="critical",
                     help="the state when the MTA's daemon is not running (Postfix, "
                          "OpenSMTPD): mail is not flowing; said first (default critical; "
                          "'ok' for a standby node)")
    what = p.add_argument_group("what to read")
    what.add_argument("--count-only", action="store_true",
                      help="count messages per queue from directory entries only; no message "
                           "file is opened (ages, bytes, bounces, domains and reasons are not "
                           "measured)")
    what.add_argument("--top", type=int, default=5, metavar="N",
                      help="list the top N destination domains and deferral reasons in the "
                           "long output (default 5; 0 skips reading deferral reasons)")
    what.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), metavar="N",
                      help="processes reading a spool in parallel (default 2 on hosts with "
                           "two or more CPUs, else 1; 1 keeps the check on one CPU)")
    lim = p.add_argument_group("thresholds")
    lim.add_argument("-w", "--warning", dest="deferred_warning",
                     type=optional_range("count", "none"), metavar="RANGE",
                     help="WARNING when the number of deferred messages is outside RANGE "
                          "(default 100)")
    lim.add_argument("-c", "--critical", dest="deferred_critical",
                     type=optional_range("count", "none"), metavar="RANGE",
                     help="CRITICAL when the number of deferred messages is outside RANGE "
                          "(default 500)")
    for measure in MEASURES[1:]:
        option = measure.name
        for level in ("warning", "critical"):
            default = DEFAULTS.get(f"{measure.name}_{level}")
            lim.add_argument(f"--{option}-{level}", dest=f"{measure.name}_{level}",
                             type=optional_range(measure.kind, "none"), metavar="RANGE",
                             help=f"{level.upper()} when the {measure.text} is outside "
                                  f"RANGE" + (f" (default {default})" if default else ""))
    lim.add_argument("--queue", dest="queue_limits", action="append", default=[],
                     type=pair_type("count", "QUEUE"), metavar="QUEUE=WARN,CRIT",
                     help="thresholds on the messages in one queue, e.g. active=500,2000 "
                          "(repeatable)")
    lim.add_argument("--queue-age", dest="queue_age_limits", action="append", default=[],
                     type=pair_type("duration", "QUEUE"), metavar="QUEUE=WARN,CRIT",
                     help="thresholds on the oldest message's age in one queue, e.g. "
                          "hold=1d,7d (repeatable)")
    lim.add_argument("--domain", dest="domain_limits", action="append", default=[],
                     type=pair_type("count", "DOMAIN"), metavar="DOMAIN=WARN,CRIT",
                     help="thresholds on the messages for one recipient domain, e.g. "
                          "example.com=50,200 (repeatable)")
    growth.add_options(p)
    p.guard("--config-dir", "path")
    p.guard("--spool-dir", "path")
    p.guard("--mta-binary", "program")
    p.guard("--mta-config", "path")
    return p


# --- data acquisition --------------------------------------------------------------------


class MtaBacklog(nagiosplugin.Resource):
    """Reads one MTA's queue through one source and aggregates it."""

    def __init__(self, args: argparse.Namespace, now: Callable[[], float] = time.time) -> None:
        self.args = args
        self.now = now
        self.backlog: Any = None
        self.module: Any = None
        self.source: Any = None
        self.fallback: Optional[Unavailable] = None
        self.deferred_queues: Tuple[str, ...] = ()
        self.stopped: Optional[NotRunning] = None
        self.causes: List[str] = []  # why no method could read the queue, one per method
        self.growth: Any = None  # MtaGrowth, set by build()
        self.doing = "finding the MTA"
        self.reasons_later = False  # collect() left the deferral reasons for read_reasons()
        self.queued: Optional[int] = None  # messages in the queue from directory entries

    def settings(self, now: float) -> Settings:
        a = self.args
        return Settings(spool_dir=a.spool_dir, config_dir=a.config_dir, binary=a.mta_binary,
                        config_file=a.mta_config, timeout=max(float(a.timeout or 10) - 1.0, 0.5),
                        now=now, reasons=a.top > 0 and a.details != "never")

    def collect(self) -> None:
        from . import registry

        now = self.now()
        settings = self.settings(now)
        module = registry.detect(settings) if self.args.mta == "auto" \
            else registry.load(self.args.mta)
        self.module = module
        self.doing = f"opening the {module.NAME} queue"
        source, fallback = registry.open_source(module, settings, self.args.method)
        self.source, self.fallback = source, fallback
        self.doing = getattr(source, "doing", f"reading the {module.NAME} queue")
        queues = tuple(getattr(module, "QUEUES", ()))
        self.deferred_queues = tuple(getattr(module, "DEFERRED_QUEUES", queues))
        self.queued = None
        reasons = settings.reasons
        try:
            if self.args.count_only:
                backlog = self.make(now, queues, reasons)
                backlog.add_counts(source.counts())
            else:
                if (reasons and self.args.details == "problem"
                        and getattr(source, "reasons_apart", False)
                        and self._looks_ok(self._queue_size(source))):
                    # reasons are long output, printed only if the state is not OK: a
                    # queue within the deferred thresholds is read without them first
                    # (they cost a file per message, half a Postfix scan's time);
                    # BacklogCheck reads them after all if the state is not OK
                    self.reasons_later = True
                    reasons = False
                    self.source.settings = settings._replace(reasons=False)
                backlog = self.read(source, now, queues, reasons)
        except NotRunning:
            raise  # news in itself, whatever method was tried before
        except Unavailable as exc:
            if fallback is None:
                raise
            raise registry.merge(module.NAME, [fallback, exc]) from None
        # every queue the source knows of, empty ones too: the same perfdata labels in
        # every run and in both modes (sendmail's queue directories, Exim's named queues)
        for name in getattr(source, "queue_names", lambda: ())():
            backlog.queue(name)
        unlisted = getattr(source, "unlisted", ())
        for name in unlisted:  # unknown, not empty: no figure rather than a 0
            backlog.queues.pop(name, None)
        asked = [(option, q) for option, limits in (("--queue", self.args.queue_limits),
                                                    ("--queue-age", self.args.queue_age_limits))
                 for q, _, _ in limits if q in unlisted]
        if asked:
            # a threshold on a queue this method cannot see would be a silent OK
            option, name = asked[0]
            raise Unavailable(f"{option} {name}: {source.method} method ('"
                              f"{' '.join(getattr(source, 'argv', ()))}') does not list the "
                              f"{module.NAME} {name} queue",
                              f"{getattr(module, 'SUDO_FIX', 'run it as root')} with "
                              f"--method spool",
                              [f"spool not used: {fallback.reason}"] if fallback else [])
        self.backlog = backlog
        pick = getattr(module, "deferred_queues", None)
        if pick is not None:  # queue names known only once read (sendmail dirs, channels)
            self.deferred_queues = tuple(pick(tuple(backlog.queues)))

    def _queue_size(self, source: Any) -> int:
        if self.queued is None:
            self.queued = _queued(source)
        return self.queued

    def _looks_ok(self, queued: int) -> bool:
        """Whether a queue of *queued* messages is within the deferred thresholds (a
        guess of the state: the other measures, and Exim's frozen messages, may say
        otherwise; BacklogCheck then reads the reasons after all)."""
        ranges = [limit_of(self.args, "deferred", level) for level in ("warning", "critical")]
        return all(rng is None or rng.match(queued) for rng in ranges)

    def make(self, now: float, queues: Tuple[str, ...], reasons: bool) -> Any:
        from .backlog import Backlog

        return Backlog(now, [d for d, _, _ in self.args.domain_limits],
                       want_domains=self.args.top > 0, want_reasons=reasons, queues=queues)

    def read(self, source: Any, now: float, queues: Tuple[str, ...],
             reasons: bool) -> Any:
        """A Backlog of every message of *source* (in parallel with --workers on a
        large spool); deferral reasons tallied when *reasons*."""
        def make() -> Any:
            return self.make(now, queues, reasons)

        workers = self.args.workers
        if (workers > 1 and hasattr(source, "partitions")
                and self._queue_size(source) >= PARALLEL_FROM):
            from .backlog import collect_parallel

            return collect_parallel(source.partitions(workers), make)
        backlog = make()
        stream = source.messages()
        try:
            backlog.add_messages(stream)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return backlog

    def read_reasons(self) -> None:
        """The deferral reasons left out by collect(): the queue read again with them
        (the whole read, so that each message's reasons are taken exactly as in a run
        that reads them at once; only the reason tally is kept from it)."""
        source = self.source
        self.reasons_later = False
        source.settings = source.settings._replace(reasons=True, envelopes=False)
        self.doing = f"{getattr(source, 'doing', 'reading the queue')} for deferral reasons"
        try:
            again = self.read(source, self.backlog.now, tuple(self.backlog.queues), True)
        except Unavailable as exc:
            if self.fallback is None:
                raise
            from . import registry

            raise registry.merge(self.mta, [self.fallback, exc]) from None
        self.backlog.reasons = again.reasons

    def failed(self, exc: Exception) -> nagiosplugin.CheckError:
        """The UNKNOWN of a queue that could not be read."""
        if isinstance(exc, Unavailable):
            fix = exc.fix.replace("; or ", ", or ")
            self.causes = list(exc.details)  # the long output (BacklogSummary.verbose)
            return nagiosplugin.CheckError(f"{exc.reason}" + (f"; fix: {fix}" if fix else ""))
        return nagiosplugin.CheckError(f"cannot parse the {self.mta} queue: {exc}; fix: if "
                                       f"{self.mta} wrote that, report it to nagios_ipc")

    def probe(self) -> Generator[nagiosplugin.Metric, None, None]:
        try:
            self.collect()
        except NotRunning as exc:
            self.stopped = exc  # nothing listed: the stopped daemon is the whole finding
            yield nagiosplugin.Metric("running", 0, context="running")
            return
        except (Unavailable, ParseError) as exc:
            raise self.failed(exc) from None
        b = self.backlog
        absent = self.watched_absent()
        self.stopped = getattr(self.source, "stopped", None)
        if self.stopped is not None:
            yield nagiosplugin.Metric("running", 0, context="running")
        yield nagiosplugin.Metric("messages", b.messages, min=0, context="total")
        for name, stats in b.queues.items():
            if b.detailed or name in b.counted:
                yield nagiosplugin.Metric(f"messages_{name}", stats.messages, min=0,
                                          context="queue")
        for name in absent:  # a queue empty now that the MTA lists only when not
            yield nagiosplugin.Metric(f"messages_{name}", 0, min=0, context="queue")
        deferred = sum(b.queues[q].messages for q in self.deferred_queues if q in b.queues)
        yield nagiosplugin.Metric("deferred", deferred, min=0, context="deferred")
        if self.growth is not None:  # nagios_ipc/mta/growth.py: every mode, --count-only too
            self.doing = f"recording growth in {self.growth.state.path}"
            self.growth.observe(self, deferred)
            yield from self.growth.metrics([name for name in b.queues
                                            if b.detailed or name in b.counted])
        if not b.detailed:
            return
        if b.sized:
            yield nagiosplugin.Metric("bytes", b.bytes, "B", min=0, context="bytes")
        for name in b.queues:
            age = b.age(name)
            yield nagiosplugin.Metric(f"oldest_{name}", round(age or 0), "s", min=0,
                                      context="queue_age")
        for name in absent:
            yield nagiosplugin.Metric(f"oldest_{name}", 0, "s", min=0, context="queue_age")
        _, age = b.oldest_of(self.deferred_queues)
        yield nagiosplugin.Metric("deferred_age", round(age or 0), "s", min=0, context="age")
        yield nagiosplugin.Metric("bounces", b.bounces, min=0, max=b.messages, context="bounces")
        yield nagiosplugin.Metric("held", b.held, min=0, max=b.messages, context="held")
        if b.damaged:
            yield nagiosplugin.Metric("damaged", b.damaged, min=0, context="damaged")
        for domain, count in b.watched.items():
            yield nagiosplugin.Metric(f"domain_{domain}", count, min=0, max=b.messages,
                                      context="domain")

    def watched_absent(self) -> List[str]:
        """Queues --queue names that this run did not see, when they can be empty; a
        name the MTA never has is UNKNOWN (a typo would otherwise be a silent OK)."""
        seen = self.backlog.queues
        known = tuple(getattr(self.module, "ALL_QUEUES", getattr(self.module, "QUEUES", ())))
        dynamic = hasattr(self.module, "deferred_queues")  # queue names from config or channels
        absent = []
        for name in dict.fromkeys(q for q, _, _ in (*self.args.queue_limits,
                                                   *self.args.queue_age_limits)):
            if name in seen:
                continue
            if not dynamic and name not in known:
                raise nagiosplugin.CheckError(
                    f"--queue {name}: {self.mta} has no queue of that name; its queues: "
                    f"{', '.join(known)}")
            absent.append(name)
        return absent

    @property
    def mta(self) -> str:
        return getattr(self.module, "NAME", "MTA")


def _queued(source: Any) -> int:
    """How many messages the source holds, as cheaply as it can say (Exim's counts()
    reads each -H file for its frozen flag; its size_hint() lists directories only)."""
    hint = getattr(source, "size_hint", None)
    if hint is not None:
        return int(hint())
    return sum(c.messages for c in source.counts())


# --- evaluation ------------------------------------------------------------------------


class Threshold(nagiosplugin.ScalarContext):
    """warn/crit ranges (None = none), optionally per metric (queue_deferred, ...);
    hints name the queue, the count and the oldest age."""

    def __init__(self, name: str, warning: Optional[nagiosplugin.Range],
                 critical: Optional[nagiosplugin.Range],
                 describe: Callable[[nagiosplugin.Metric, MtaBacklog], str],
                 per_metric: Optional[Dict[str, Ranges]] = None) -> None:
        super().__init__(name)
        self.warn_range = warning
        self.crit_range = critical
        self.hint_of = describe
        self.per_metric = per_metric or {}

    def ranges(self, metric: nagiosplugin.Metric) -> Ranges:
        return self.per_metric.get(metric.name, (self.warn_range, self.crit_range))

    def evaluate(self, metric: nagiosplugin.Metric,
                 resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        warn, crit = self.ranges(metric)
        for rng, state in ((crit, nagiosplugin.Critical), (warn, nagiosplugin.Warn)):
            if rng is not None and not rng.match(metric.value):
                assert isinstance(resource, MtaBacklog)
                text = self.hint_of(metric, resource)
                beyond = _beyond(metric.value, rng, metric.uom)
                # the threshold note goes where the text marks it (after the count), else last
                hint = text.replace("\0", beyond) if "\0" in text else text + beyond
                return self.result_cls(state, hint, metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)

    def performance(self, metric: nagiosplugin.Metric,
                    resource: nagiosplugin.Resource) -> nagiosplugin.Performance:
        warn, crit = self.ranges(metric)
        return nagiosplugin.Performance(metric.name, metric.value, metric.uom, warn, crit,
                                        metric.min, metric.max)


def _show(value: float, uom: Optional[str]) -> str:
    if uom == "s":
        return human_duration(value)
    if uom == "B":
        return human_size(value)
    return format_number(value)


def _beyond(value: float, rng: nagiosplugin.Range, uom: Optional[str]) -> str:
    if rng.invert:
        return f" (inside {_show(rng.start, uom)}..{_show(rng.end, uom)})"
    if value > rng.end:
        return f" (more than {_show(rng.end, uom)})"
    return f" (less than {_show(rng.start, uom)})"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _queue_text(resource: MtaBacklog, queue: str) -> str:
    b = resource.backlog
    stats = b.queues.get(queue)
    count = stats.messages if stats else 0
    text = f"{resource.mta} {queue} queue: {_plural(count, 'message')}\0"
    age = b.age(queue)
    if age is not None:
        text += f", oldest {human_duration(age)}"
    return text


def _deferred_text(metric: nagiosplugin.Metric, resource: MtaBacklog) -> str:
    b = resource.backlog
    queues = [q for q in resource.deferred_queues if q in b.queues]
    where = "/".join(queues) or "deferred"
    text = f"{resource.mta} {where} queue: {_plural(int(metric.value), 'message')}\0"
    _, age = b.oldest_of(queues)
    if age is not None:
        text += f", oldest {human_duration(age)}"
    top = b.top_domain_of(queues)  # of these queues' mail only, not the held mail's
    if top:
        text += f", top destination {top[0]} ({top[1]})"
    return text


def _age_text(metric: nagiosplugin.Metric, resource: MtaBacklog) -> str:
    queue, _ = resource.backlog.oldest_of(resource.deferred_queues)
    return f"oldest {resource.mta} {queue or 'deferred'} message {human_duration(metric.value)} old"


def limit_of(args: argparse.Namespace, name: str, level: str) -> Optional[nagiosplugin.Range]:
    """The range of a measure's threshold: given, its default, or None ('none')."""
    value = getattr(args, f"{name}_{level}")
    if value == "none":
        return None
    if value is None and f"{name}_{level}" in DEFAULTS:
        return parse_range(DEFAULTS[f"{name}_{level}"], "duration" if name == "age" else "count")
    return value  # type: ignore[no-any-return]


def contexts_for(args: argparse.Namespace) -> List[nagiosplugin.Context]:
    def limit(name: str, level: str) -> Optional[nagiosplugin.Range]:
        return limit_of(args, name, level)

    simple = {
        "total": lambda m, r: f"{r.mta} queue: {_plural(int(m.value), 'message')} in all",
        "bytes": lambda m, r: f"{r.mta} queue: {human_size(m.value)} in all",
        "bounces": lambda m, r: f"{r.mta} queue: {_plural(int(m.value), 'bounce')} "
                                f"(null sender)",
        "held": lambda m, r: f"{r.mta} queue: {_plural(int(m.value), 'message')} "
                             f"{'frozen' if r.mta == 'exim' else 'held'}",
    }
    out: List[nagiosplugin.Context] = [
        Threshold("deferred", limit("deferred", "warning"), limit("deferred", "critical"),
                  _deferred_text),
        Threshold("age", limit("age", "warning"), limit("age", "critical"), _age_text),
    ]
    for name, describe in simple.items():
        out.append(Threshold(name, limit(name, "warning"), limit(name, "critical"), describe))
    queue_limits = {f"messages_{q}": (w, c) for q, w, c in args.queue_limits}
    age_limits = {f"oldest_{q}": (w, c) for q, w, c in args.queue_age_limits}
    domain_limits = {f"domain_{d.lower()}": (w, c) for d, w, c in args.domain_limits}
    out.append(Threshold("queue", None, None,
                         lambda m, r: _queue_text(r, m.name[len("messages_"):]), queue_limits))
    out.append(Threshold("queue_age", None, None,
                         lambda m, r: f"oldest message in the {r.mta} "
                                      f"{m.name[len('oldest_'):]} queue "
                                      f"{human_duration(m.value)} old", age_limits))
    out.append(Threshold("domain", None, None,
                         lambda m, r: f"{r.mta} queue: {_plural(int(m.value), 'message')} "
                                      f"for {m.name[len('domain_'):]}", domain_limits))
    return out


class Running(nagiosplugin.Context):
    """The MTA's daemon is down: the state --mta-down gives (no perfdata: the figure
    would exist only in some runs, and graphs of it say nothing the state does not)."""

    def __init__(self, state: str) -> None:
        super().__init__("running")
        self.state = {"critical": nagiosplugin.Critical, "warning": nagiosplugin.Warn,
                      "unknown": nagiosplugin.Unknown, "ok": nagiosplugin.Ok}[state]

    def evaluate(self, metric: nagiosplugin.Metric,
                 resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        assert isinstance(resource, MtaBacklog) and resource.stopped is not None
        return self.result_cls(self.state, stopped_text(resource), metric)

    def performance(self, metric: nagiosplugin.Metric,
                    resource: nagiosplugin.Resource) -> None:
        return None


class Damaged(nagiosplugin.Context):
    """Queue files that do not parse: WARNING naming the first and its fix (the message
    is counted; the MTA deals with the file when it next tries it, which may be hours
    away). No perfdata: the figure exists only in runs that find one."""

    def __init__(self) -> None:
        super().__init__("damaged")

    def evaluate(self, metric: nagiosplugin.Metric,
                 resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        assert isinstance(resource, MtaBacklog)
        b = resource.backlog
        where, _, fix = b.damaged_files[0]
        more = f" (and {b.damaged - 1} more, see below)" if b.damaged > 1 else ""
        return self.result_cls(nagiosplugin.Warn, f"{resource.mta} queue: damaged queue file "
                                                  f"{where}{more}: {fix}", metric)

    def performance(self, metric: nagiosplugin.Metric,
                    resource: nagiosplugin.Resource) -> None:
        return None


def stopped_text(resource: MtaBacklog) -> str:
    exc = resource.stopped
    assert exc is not None
    return f"{resource.mta} is not running ({exc.reason}); start it: {exc.fix}"


# --- presentation ----------------------------------------------------------------------


class BacklogSummary(nagiosplugin.Summary):
    def __init__(self, resource: MtaBacklog, top: int) -> None:
        self.resource = resource
        self.top = top

    def ok(self, results: nagiosplugin.Results) -> str:
        r = self.resource
        b = r.backlog
        if r.stopped is not None:  # --mta-down ok: still said first, without the fix
            stopped = f"{r.mta} is not running ({r.stopped.reason}), as --mta-down ok allows"
            if b is None:
                return stopped
            return f"{stopped}; {self._ok_text(b)}"
        return self._ok_text(b)

    def _ok_text(self, b: Any) -> str:
        r = self.resource
        parts = [f"{r.mta}: {_plural(b.messages, 'message')} queued"]
        busy = [f"{name} {stats.messages}" for name, stats in b.queues.items() if stats.messages]
        if busy:
            parts[0] += f" ({', '.join(busy)})"
        if b.detailed:
            queue, age = b.oldest_of(r.deferred_queues)
            if age is not None:
                parts.append(f"oldest {queue} {human_duration(age)}")
            if b.sized:
                parts.append(human_size(b.bytes))
            if b.bounces:
                parts.append(_plural(b.bounces, "bounce"))
        return ", ".join(parts)

    def problem(self, results: nagiosplugin.Results) -> str:
        # a stopped MTA comes first whatever its state: it explains the rest
        worst = sorted((x for x in results if x.state != nagiosplugin.Ok),
                       key=lambda x: (x.metric is None or x.metric.name != "running",
                                      -int(x.state)))
        return cli.join_hints(worst)

    def verbose(self, results: nagiosplugin.Results) -> List[str]:
        r = self.resource
        b = r.backlog
        if b is None:
            return list(r.causes)
        source = r.source
        lines = [f"method: {source.method} ({source_where(source)})" + (
            f"; spool not used: {r.fallback.reason}" if r.fallback else "")]
        lines.extend(source_notes(source))
        if r.growth is not None:
            lines.extend(r.growth.lines(r.mta))
        for name, stats in b.queues.items():
            if not (b.detailed or name in b.counted):
                continue
            line = f"{name}: {_plural(stats.messages, 'message')}"
            if stats.sized:
                line += f", {human_size(stats.bytes)}"
            if stats.oldest is not None:
                line += (f", oldest {human_duration(b.age(name) or 0)} (arrived "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(stats.oldest))})")
            lines.append(line)
        if not b.detailed:
            lines.append("count only: no message file read")
            return lines
        lines.append(f"bounces (null sender): {b.bounces}; "
                     f"{'frozen' if r.mta == 'exim' else 'held'}: {b.held}")
        lines.extend(f"damaged queue file {where} ({what}): {fix}"
                     for where, what, fix in b.damaged_files)
        if b.damaged > len(b.damaged_files):
            lines.append(f"and {b.damaged - len(b.damaged_files)} more damaged queue files")
        if self.top > 0:
            top = b.domains.top(self.top)
            if top:
                lines.append("top destinations: " + ", ".join(f"{d} {n}" for d, n in top))
            reasons = b.reasons.top(self.top)
            if reasons:
                lines.append("top deferral reasons:")
                lines.extend(f"  {n} x {reason}" for reason, n in reasons)
        return lines


def source_notes(source: Any) -> List[str]:
    """What the source noticed on the way: listing lines it skipped (the shared rule in
    nagios_ipc/mta/listing.py), queues it could not look for."""
    notes = list(getattr(source, "notes", ()))
    skipped = getattr(source, "skipped", None)
    note = skipped.note() if skipped is not None else None
    if note:
        notes.append(note)
    return notes


def source_where(source: Any) -> str:
    """What a source read: its directories or the commands it ran."""
    dirs = getattr(source, "dirs", None)
    if dirs:  # sendmail: one or more queue directories
        return ", ".join(getattr(d, "path", str(d)) for d in dirs)
    root = getattr(source, "root", None)
    if root:
        return str(root)
    argv = getattr(source, "argv", None)
    if argv:
        return " ".join(argv)
    for attr, args in (("smtpctl", "show queue"), ("sendmail", "-bp"),
                       ("qread", ""), ("mailq", ""), ("imsimta", "qm directory")):
        program = getattr(source, attr, None)
        if program:
            return f"{program} {args}".strip()
    return "?"


# --- wiring ----------------------------------------------------------------------------


class BacklogCheck(nagiosplugin.Check):
    """A Check that reads the deferral reasons after the evaluation when collect() left
    them out and the long output will show them (state not OK, --details problem):
    still inside the check's timeout, which render() is not."""

    def __call__(self) -> None:
        super().__call__()
        resource = self.resources[0]
        if not (isinstance(resource, MtaBacklog) and resource.reasons_later
                and resource.backlog is not None and self.exitcode != 0):
            return
        try:
            resource.read_reasons()
        except (Unavailable, ParseError) as exc:
            # what a run reading them at once says: UNKNOWN with the cause, no figures
            error = resource.failed(exc)
            resource.backlog = None
            resource.stopped = None
            self.results = nagiosplugin.Results()
            self.results.add(nagiosplugin.Result(nagiosplugin.Unknown, str(error)))
            self.perfdata = []



def build(args: argparse.Namespace, now: Callable[[], float] = time.time,
          moment: Optional[Callable[[], Any]] = None) -> nagiosplugin.Check:
    if args.top < 0:
        raise nagiosplugin.CheckError(f"--top {args.top} is negative; give 0 or more")
    if args.workers < 1:
        raise nagiosplugin.CheckError(f"--workers {args.workers} is too few; give 1 or more")
    if args.count_only:
        # these measures need the message files: silently ignoring them would be a wrong OK
        wanted = [option for option, given in (
            ("--domain", args.domain_limits), ("--queue-age", args.queue_age_limits),
            *((f"--{m.name}-{level}", getattr(args, f"{m.name}_{level}") not in (None, "none"))
              for m in MEASURES if m.name in ("age", "bytes", "bounces", "held")
              for level in ("warning", "critical"))) if given]
        if wanted:
            raise nagiosplugin.CheckError(f"{', '.join(wanted)} need"
                                          f"{'s' if len(wanted) == 1 else ''} the message "
                                          f"files read; drop --count-only")
    resource = MtaBacklog(args, now)
    extra: List[nagiosplugin.Context] = []
    if args.trend_window > 0:
        from . import growth

        resource.growth = growth.MtaGrowth(args, **({"moment": moment} if moment else {}))
        extra = growth.contexts(args)
    return BacklogCheck(resource, Running(args.mta_down), Damaged(), *contexts_for(args), *extra,
                        BacklogSummary(resource, args.top))


def main(argv: Optional[Sequence[str]] = None) -> None:
    cli.run(parser(), build, argv)
