"""Shared plugin conventions: options, the run-time around a check, output.

Every check builds a :class:`PluginParser`, adds its own options, and calls
:func:`run` with a function that turns the parsed arguments into a
``nagiosplugin.Check``. :func:`run` owns everything the Monitoring Plugins
guidelines ask of the process as a whole:

* exit codes 0..3 only; a usage error is UNKNOWN (3), never 2;
* a plugin timeout (``-t``) that names what was still running, and kills
  no process but our own children (see :mod:`nagios_ipc.proc`);
* one clear first line ``NAME STATE: text`` and perfdata that stays within the
  first 1000 bytes (NRPE v2 carries 1023); the rest moves to the long output;
* perfdata numbers with no exponents and no locale;
* ``--details`` to show the long output when there is a problem, always or
  never; ``-v`` adds log lines, ``-vvv`` a traceback on an internal error;
* nothing on stderr.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import signal
import sys
import traceback
import warnings
from types import FrameType

import nagiosplugin

from . import __version__
from .units import format_number, format_range, quantity_type

# out of file descriptors (the process's or the system's): a limit to raise, not a bug;
# every check says it with these words, wherever it meets it
FD_LIMIT = (errno.EMFILE, errno.ENFILE)
FD_LIMIT_FIX = "raise the open files limit (ulimit -n) of this user"

# argparse passes its own few words ('positional arguments', 'options', its error texts)
# through gettext, which on every call imports locale and looks for a catalogue named
# 'messages' under sys.base_prefix that no Python installs: 2% of an idle run's CPU
# time for words that stay English (a plugin's output must not change with the locale)
argparse._ = str  # type: ignore[attr-defined]

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, List, NoReturn, Optional, Sequence, Set, Tuple

STATE_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
FIRST_LINE_MAX = 1000  # bytes; NRPE v2 packets carry 1023 in all
SUMMARY_MAX = 400
DETAIL_CHOICES = ("problem", "always", "never")

log = logging.getLogger("nagiosplugin.nagios_ipc")


class PluginTimeout(BaseException):
    """The plugin's own deadline (-t) passed.

    A BaseException so that no ``except Exception`` in a probe can swallow it.
    """

    def __init__(self, seconds: float, doing: str) -> None:
        super().__init__(seconds, doing)
        self.seconds = seconds
        self.doing = doing


class Stopped(BaseException):
    """SIGTERM, SIGHUP or SIGINT: a scheduler gave up on the check (its timeout is
    shorter than -t) or it is shutting down. A BaseException, as PluginTimeout."""

    def __init__(self, signum: int, doing: str) -> None:
        super().__init__(signum, doing)
        self.signum = signum
        self.doing = doing


class UsageExit(Exception):
    """Raised by the parser instead of exiting, so run() decides the code."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text


class PluginParser(argparse.ArgumentParser):
    """argparse with the guidelines' reserved options and exit code 3 on misuse."""

    def __init__(self, prog: str, name: str, description: str,
                 epilog: Optional[str] = None, timeout: float = 10.0) -> None:
        super().__init__(
            prog=prog,
            description=description,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            add_help=False,
        )
        self.check_name = name
        general = self.add_argument_group("general options")
        general.add_argument("-h", "--help", action="help",
                             help="show this help and exit")
        general.add_argument("-V", "--version", action="version",
                             version=f"%(prog)s {__version__} (nagios_ipc)",
                             help="print the version and exit")
        general.add_argument("-v", "--verbose", action="count", default=0,
                             help="more output: -v adds log lines to the long output, "
                                  "-vvv a traceback on an internal error (repeat up to 3 times)")
        general.add_argument("-t", "--timeout", type=_timeout_type, default=timeout,
                             metavar="SECONDS",
                             help="give up after this long with UNKNOWN, naming what was "
                                  f"still running (default {format_number(timeout)}s; units "
                                  "ms, s, m)")
        self.guarded: List[Tuple[str, str]] = []  # (option, kind): see guard()
        general.add_argument("--details", choices=DETAIL_CHOICES, default="problem",
                             help="when to print the long output, one line per item: when the "
                                  "state is not OK (default), always, or never")

    def guard(self, option: str, kind: str = "path") -> None:
        """Mark *option* as naming a program, a path or an ipc:// endpoint ("program",
        "path", "endpoint"): under privilege (sudo) a value the caller gives is
        refused unless the administrator allowed it (nagios_ipc.privilege)."""
        self.guarded.append((option, kind))

    def guarded_given(self, args: argparse.Namespace) -> List[Tuple[str, str, str]]:
        """(option, value, kind) for every guarded option the command line set."""
        from .privilege import guarded_values

        given = []
        for option, kind in self.guarded:
            dest = self._option_string_actions[option].dest
            default = self.get_default(dest)
            for value in guarded_values(getattr(args, dest, None)):
                if value in guarded_values(default):
                    continue  # the check's own default path
                if kind == "endpoint" and not value.startswith("ipc://"):
                    continue  # tcp:// names no file of this host
                given.append((option, value, kind))
        return given

    def error(self, message: str) -> NoReturn:
        # the message quotes the value given: sanitized, so that '|' or a newline in
        # it cannot start perfdata or forge lines
        raise UsageExit(3, f"{self.check_name} UNKNOWN: usage error: {sanitize(message)}\n"
                           f"{self.format_usage()}"
                           f"Try '{self.prog} --help' for the options.\n")

    def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
        text = getattr(self, "_printed", "") + (message or "")
        raise UsageExit(0 if status == 0 else 3, text)

    def print_help(self, file: Any = None) -> None:
        raise UsageExit(0, self.format_help())

    def _print_message(self, message: str, file: Any = None) -> None:
        # --version prints through here, then calls exit(): keep it for exit()
        self._printed = getattr(self, "_printed", "") + (message or "")


MAX_TIMEOUT = 86400.0  # seconds; setitimer() overflows far beyond, and no scheduler waits


def _timeout_type(text: str) -> float:
    seconds = quantity_type("duration")(text)
    if not 0 <= seconds <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"'{text}' is not between 0 and "
                                         f"{format_number(MAX_TIMEOUT)} seconds")
    return seconds


def _describe_activity(frame: Optional[FrameType]) -> str:
    """Say what the interrupted code was doing, from the live frames.

    A running command (nagios_ipc.proc.run_command keeps ``argv``) wins over the
    resource being probed (any object with a ``doing`` or ``name`` attribute).
    """
    command = None
    resource = None
    while frame is not None:
        local = frame.f_locals
        if (frame.f_code.co_name in ("run_command", "stream_lines") and "argv" in local
                and command is None):
            command = " ".join(str(a) for a in local["argv"])
        owner = local.get("self")
        if resource is None and isinstance(owner, nagiosplugin.Resource):
            resource = getattr(owner, "doing", None) or f"probing {owner.name}"
        frame = frame.f_back
    if command:
        return f"running '{command}'" + (f" ({resource})" if resource else "")
    return resource or "starting up"


def _install_stop_handlers() -> None:
    """Turn SIGTERM/SIGHUP/SIGINT into Stopped: the running command's process group is
    killed on the way out (nagios_ipc.proc) and one UNKNOWN line is still printed."""
    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        raise Stopped(signum, _describe_activity(frame))

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, on_signal)


def _install_timeout(seconds: float) -> None:
    def on_alarm(signum: int, frame: Optional[FrameType]) -> None:
        raise PluginTimeout(seconds, _describe_activity(frame))

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def remaining_time(default: float = 10.0) -> float:
    """Seconds left before the plugin's own timeout (for child timeouts)."""
    left = signal.getitimer(signal.ITIMER_REAL)[0]
    return left if left > 0 else default


def sanitize(text: str) -> str:
    """One printable ASCII line: no '|', which would start perfdata."""
    text = text.replace("|", "/").replace("\r", " ").replace("\n", " ").replace("\t", " ")
    if text.isprintable() and text.isascii():
        return text  # the usual line, whole (100 detail lines: no loop per character)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text.encode("ascii", "backslashreplace").decode("ascii")


def join_hints(results: Iterable[nagiosplugin.Result], most: int = 3) -> str:
    """The results' hints (or texts), each once, in order: at most *most*, then a count."""
    hints: List[str] = []
    for result in results:
        text = result.hint or str(result)
        if text not in hints:
            hints.append(text)
    shown = " / ".join(hints[:most])
    if len(hints) > most:
        shown += f" / and {len(hints) - most} more"
    return shown


LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def perf_label(label: str) -> str:
    """The one rule for every label part (owner, queue, domain): ASCII letters, digits,
    '_' and '-' stay, anything else becomes '_'. Graphite splits its tree at '.'
    (Icinga's GraphiteWriter keeps dots, replacing only space, '\\' and '/'), and
    quotes, '=', globs or non-ASCII break or mislead the readers of perfdata."""
    label = LABEL_UNSAFE.sub("_", label)
    # a '-' (www-data) is outside \\w: quoted as nagiosplugin quotes such labels
    return f"'{label}'" if "-" in label else label


def format_perf(perf: nagiosplugin.Performance) -> str:
    def threshold(value: Any) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, nagiosplugin.Range):
            return format_range(value)
        if isinstance(value, (int, float)):
            return format_number(value)
        return format_range(nagiosplugin.Range(str(value)))

    def num(value: Any) -> str:
        return "" if value is None or value == "" else format_number(value)

    fields = [f"{perf_label(perf.label)}={format_number(perf.value)}{perf.uom or ''}",
              threshold(perf.warn), threshold(perf.crit), num(perf.min), num(perf.max)]
    while fields and fields[-1] == "":
        fields.pop()
    return ";".join(fields)


def collect_perfdata(check: nagiosplugin.Check) -> List[str]:
    """Perfdata in the order the metrics were produced, each label once.

    Two labels that perf_label maps to one (john.doe, john_doe) are told apart by a
    suffix _2, _3... on the later ones, so no graph gets two series' values."""
    seen = set()
    printed: Set[str] = set()
    out = []
    for result in getattr(check.results, "results", check.results):  # in production order
        metric = result.metric
        if metric is None or metric.contextobj is None:
            continue
        perf = metric.contextobj.performance(metric, metric.resource)
        if not perf or perf.label in seen:
            continue
        seen.add(perf.label)
        item = format_perf(perf)
        label, rest = item.split("=", 1)
        number = 1
        while label in printed:
            number += 1
            label = perf_label(f"{perf.label}_{number}")
        printed.add(label)
        out.append(f"{label}={rest}")
    return out


def render(name: str, check: nagiosplugin.Check, details: str,
           log_lines: Sequence[str] = ()) -> Tuple[int, str]:
    """The whole plugin output and exit code for an evaluated check."""
    code = min(max(int(check.exitcode), 0), 3)
    summary = sanitize(check.summary_str.strip())
    if len(summary) > SUMMARY_MAX:
        summary = summary[:SUMMARY_MAX - 3] + "..."
    first = f"{name} {STATE_NAMES[code]}" + (f": {summary}" if summary else "")
    long_lines: List[str] = []
    if details == "always" or (details == "problem" and code != 0):
        verbose = check.verbose_str
        lines = verbose if isinstance(verbose, (list, tuple)) else str(verbose).splitlines()
        long_lines = [sanitize(line) for line in lines if line]
    long_lines.extend(sanitize(line) for line in log_lines)
    return code, layout(first, long_lines, collect_perfdata(check))


def layout(first: str, long_lines: List[str], perfdata: List[str]) -> str:
    """First line with as much perfdata as fits FIRST_LINE_MAX; the rest on one
    last line of its own, '|a=1 b=2', after the long output.

    The guidelines allow 'LONG TEXT | perf' followed by more perf lines, but
    Icinga 2 (2.13) takes perfdata only from the part after a '|' on each line:
    perf items on later lines become plugin output, and a space after the '|'
    becomes part of the first label (measured with the real daemon,
    tests/integration/test_icinga2.py). Nagios 4 reads this form too."""
    head: List[str] = []
    size = len(first) + 3
    rest_index = len(perfdata)
    for index, item in enumerate(perfdata):
        if size + len(item) + 1 > FIRST_LINE_MAX:
            rest_index = index
            break
        head.append(item)
        size += len(item) + 1
    lines = [first + (" | " + " ".join(head) if head else "")]
    lines.extend(long_lines)
    rest = perfdata[rest_index:]
    if rest:
        lines.append("|" + " ".join(rest))
    return "\n".join(lines) + "\n"


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname.lower()}: {record.getMessage()}")


def run(parser: PluginParser, build: Callable[[argparse.Namespace], nagiosplugin.Check],
        argv: Optional[Sequence[str]] = None) -> NoReturn:
    """Parse, build, probe, evaluate and print; always exits 0..3.

    Nothing may reach stderr (Icinga 2 merges it into the output, NRPE drops it):
    warnings are silenced and fd 2 goes to /dev/null, which also catches what C
    libraries write there."""
    warnings.simplefilter("ignore")
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass  # no /dev/null (a broken chroot): keep the real stderr
    sys.stderr = open(os.devnull, "w")  # lives as long as the process
    code, text = execute(parser, build, argv)
    sys.stdout.write(text)
    sys.stdout.flush()
    sys.exit(code)


def execute(parser: PluginParser, build: Callable[[argparse.Namespace], nagiosplugin.Check],
            argv: Optional[Sequence[str]] = None) -> Tuple[int, str]:
    name = parser.check_name
    verbose = 0
    try:
        try:
            args = parser.parse_args(argv)
        except UsageExit as exc:
            return exc.code, exc.text
        verbose = min(args.verbose, 3)
        from .privilege import Refused, enforce

        try:
            enforce(parser.prog, parser.guarded_given(args))
        except Refused as exc:
            return 3, f"{name} UNKNOWN: {sanitize(str(exc))}\n"
        handler = _ListHandler()
        root = logging.getLogger("nagiosplugin")
        root.handlers[:] = [handler]
        root.setLevel(logging.DEBUG if verbose >= 2
                      else logging.INFO if verbose else logging.WARNING)
        root.propagate = False
        _install_stop_handlers()
        if args.timeout and args.timeout > 0:
            _install_timeout(float(args.timeout))
        try:
            check = build(args)
            check()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return render(name, check, args.details, handler.lines)
    except PluginTimeout as exc:
        return 3, (f"{name} UNKNOWN: timed out after {format_number(exc.seconds)}s while "
                   f"{sanitize(exc.doing)}; raise -t or find what is slow\n")
    except Stopped as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return 3, (f"{name} UNKNOWN: stopped by {signal.Signals(exc.signum).name} while "
                   f"{sanitize(exc.doing)}; if the scheduler's timeout sent it, set -t "
                   f"below that timeout\n")
    except nagiosplugin.CheckError as exc:
        return 3, f"{name} UNKNOWN: {sanitize(str(exc))}\n"
    except KeyboardInterrupt:
        return 3, f"{name} UNKNOWN: interrupted\n"
    except MemoryError:
        return 3, f"{name} UNKNOWN: out of memory (check ulimit -v for this user)\n"
    except OSError as exc:
        if exc.errno not in FD_LIMIT:  # a limit, not a bug
            return _internal_error(name, exc, verbose)
        return 3, f"{name} UNKNOWN: out of file descriptors; {FD_LIMIT_FIX}\n"
    except Exception as exc:  # any bug or surprise must still be one UNKNOWN line
        return _internal_error(name, exc, verbose)


def _internal_error(name: str, exc: BaseException, verbose: int) -> Tuple[int, str]:
    text = f"{name} UNKNOWN: internal error: {type(exc).__name__}: {sanitize(str(exc))}\n"
    if verbose >= 3:
        text += "".join(sanitize(line) + "\n" for line in traceback.format_exc().splitlines())
    return 3, text
