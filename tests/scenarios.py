"""One table for every check: how to set up real data, and what to expect.

The scheduler tests (Icinga 2, NRPE, Nagios 4) and the conformance suite run
every case of every check listed here; a console script in setup.cfg without an
entry here fails ``test_every_check_has_a_scenario``.

An entry is a context manager ``scenario(workdir, netns) -> Scenario``: it makes the real
data the cases look at (queues, spools, sockets, state files) under its own keys,
owners and paths, yields the cases, and removes everything afterwards. Cases look
only at what their scenario made, so other tests running at the same time (other
queues, other spools) cannot change their result.

``{tag}`` in a case's arguments is replaced by a word per runner ("icinga", "nrpe",
"C", ...), so runners that keep state (state files) do not share it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Sequence, Tuple


@dataclass(frozen=True)
class Case:
    id: str
    args: Tuple[str, ...]
    state: int                  # the exit code the real data must give
    first_line: str             # regex the summary (first line before ' | ') must match
    settled: str = ""           # regex the summary matches once state is warm (2nd run on)
    thresholds: Dict[str, Tuple[str, str]] = field(default_factory=dict)
    # perfdata label -> (warn, crit) as the command line gave them
    perf_explains_state: bool = True  # the worst threshold in perfdata is the state
    max_first_line: int = 1000  # bytes, perfdata included (NRPE v2 carries 1023)

    def argv(self, tag: str) -> List[str]:
        return [arg.replace("{tag}", tag) for arg in self.args]

    def is_settled(self, first_line: str) -> bool:
        """Whether a run (its first line, perfdata included) shows the steady state."""
        return not self.settled or re.search(self.settled, first_line) is not None


@dataclass(frozen=True)
class Scenario:
    check: str                        # console script name
    name: str                         # the NAME in "NAME STATE: ..."
    cases: Tuple[Case, ...]
    hang_args: Tuple[str, ...]        # with -t 1: a dependency that never answers
    hang_says: str                    # regex: what the timeout message must name
    volatile: Tuple[str, ...] = ()    # regexes of what may change between two runs
    narrow: Callable[[str, List[str]], List[str]] = lambda command, argv: argv
    # a shipped NRPE command (name, argv) made to look only at this scenario's data
    host_vars: Dict[str, object] = field(default_factory=dict)
    # custom vars of an Icinga host that point the example services of
    # contrib/icinga2/nagios_ipc_services.conf at this scenario's data
    nagios_prefix: Tuple[str, ...] = ()
    # how the nagios user runs the cases under NRPE, e.g. sudo -n with the rule in
    # contrib/sudoers.d/ (installed for the NRPE tests)

    def normal(self, text: str) -> str:
        for pattern in self.volatile:
            text = re.sub(pattern, "#", text)
        return text


def nagios_ids() -> Tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("nagios")
    return entry.pw_uid, entry.pw_gid


# --- check_msgqueues ---------------------------------------------------------------------

@contextlib.contextmanager
def msgqueues(workdir: Path, netns: Any) -> Iterator[Scenario]:
    """Real System V queues: one full, one over a message threshold, 50 owners, and one
    a producer fills at 10 messages (10 B) a second: full in ~27 minutes from empty, so
    a consistent growth the default --time-to-full-warning (1h) warns about, and the
    default critical (10 minutes) only after 17 minutes, longer than any test module
    keeps a scenario (half the rate still warns: ~55 minutes)."""
    import threading
    import time

    import sysv_ipc

    base = random.randrange(3_000_000, 3_900_000, 100)  # unused uids of our own
    queues: List[sysv_ipc.MessageQueue] = []

    def queue(uid: int, messages: int, size: int = 10,
              limit: int = 16384) -> sysv_ipc.MessageQueue:
        q = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX | 0o600, max_message_size=8192)
        queues.append(q)
        q.max_size = limit  # root may lower qbytes (not raise it over msgmnb)
        for _ in range(messages):
            q.send(b"m" * size, block=False)
        q.uid = uid
        return q

    hang = workdir / "msgqueues-hang.fifo"
    state = workdir / "msgqueues-state"  # every runner (the nagios user too) may write
    state.mkdir()
    state.chmod(0o1777)
    stop = threading.Event()

    def produce(target: sysv_ipc.MessageQueue) -> None:
        start, tick = time.monotonic(), 0
        # an absolute schedule: a busy test process delays a message, not the rate
        while not stop.wait(max(start + tick * 0.1 - time.monotonic(), 0)):
            tick += 1
            with contextlib.suppress(sysv_ipc.BusyError, sysv_ipc.ExistentialError):
                target.send(b"g", block=False)

    producer = None
    try:
        full = queue(base, 1, size=100, limit=100)
        busy = queue(base + 1, 3)
        filling = queue(base + 2, 0)
        producer = threading.Thread(target=produce, args=(filling,), daemon=True)
        producer.start()
        filling_key = f"0x{filling.key:08x}"
        for index in range(50):
            queue(base + 10 + index, 1)
        full_key, busy_key = f"0x{full.key:08x}", f"0x{busy.key:08x}"
        os.mkfifo(hang)
        fifty = f"{base // 100}[1-5]?"  # base+10 .. base+59
        yield Scenario(
            check="check_msgqueues", name="MSGQUEUES",
            cases=(
                # --trend-window 0 in the snapshot cases: a runner's run and the direct
                # run after it would differ by one growth sample (the trend case below)
                Case("full_queue",
                     ("--type", "sysv", "--key", full_key, "--trend-window", "0"), 2,
                     rf"^MSGQUEUES CRITICAL: 1 full queue of owner {base}: sysv key "
                     rf"{full_key} id \d+ \(1 message, 100 of 100 B, 100%\)$"),
                Case("messages_threshold",
                     ("--type", "sysv", "--key", busy_key, "--messages-warning", "2",
                      "--messages-critical", "5", "--bytes-critical", "1KB",
                      "--trend-window", "0"), 1,
                     rf"^MSGQUEUES WARNING: owner {base + 1}: 3 messages$",
                     thresholds={f"messages_{base + 1}": ("2", "5"),
                                 f"bytes_{base + 1}": ("", "1024")}),
                # 50 owners: 400 perfdata items, the first line must stay short and the
                # rest go to the long output (NRPE v2 carries 1023 bytes)
                Case("fifty_owners",
                     ("--type", "sysv", "--owner", fifty, "--details", "always",
                      "--fill-warning", "50", "--trend-window", "0"), 0,
                     r"^MSGQUEUES OK: 50 sysv queues of 50 owners, 50 messages, 500 B "
                     r"queued, fullest 0.1% \(sysv key 0x[0-9a-f]{8} id \d+ of \d+\)$",
                     thresholds={f"fill_{base + 10}": ("50", "")}),
                # growth between runs (issue 14): each runner's own history; from the
                # second run on, the producer's queue is growing and full within the hour
                Case("trend",
                     ("--type", "sysv", "--key", filling_key, "--report-by", "total",
                      "--growing-samples", "2", "--details", "never",
                      "--state-file", f"{state}/trend-{{tag}}.json"), 1,
                     rf"^MSGQUEUES WARNING: sysv key {filling_key} id \d+ of {base + 2}: "
                     r"\d+% full, \+[\d.]+ \w+/(s|min) for [\dsmhd ]+, full in ~[\dsmhd ]+$",
                     settled=r"time_to_full_total=\d+s"),
            ),
            hang_args=("--type", "sysv", "--proc-file", str(hang)),
            hang_says=r"timed out after 1s while reading sysv queues;",
            # ages and the host-wide slot use move while other tests make queues
            volatile=(r"unread_age_(\w+)=\d+s", r"sysv_slots=[\d.]+%", r"\([\dsmhd ]+ ago\)",
                      # the producer's queue grows between the scheduler's run and ours
                      r"(messages|bytes|fill|messages_growth|bytes_growth|time_to_full)"
                      r"_total=[-\d.]+(B|%|s)?",
                      r"\d+% full, \+[\d.]+ \w+/(s|min) for [\dsmhd ]+, full in ~[\dsmhd ]+",
                      r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r"pid \d+ \([^)]*\)",
                      r"sysv_slots [^,;]*"),
            # shipped commands without growth: their runs by several runners (v3, v2,
            # direct) would differ by growth samples; the trend case covers growth
            narrow=lambda command, argv: [*argv, "--type", "sysv", "--key", full_key,
                                          "--key", busy_key, "--trend-window", "0"],
        )
    finally:
        stop.set()
        if producer is not None:
            producer.join(timeout=5)
        for q in queues:
            with contextlib.suppress(Exception):
                q.remove()
        with contextlib.suppress(FileNotFoundError):
            hang.unlink()


# --- check_host_uptime ---------------------------------------------------------------------

@contextlib.contextmanager
def host_uptime(workdir: Path, netns: Any) -> Iterator[Scenario]:
    """This host's real uptime; state files in a dir every runner may write (sticky)."""
    state = workdir / "uptime-state"
    state.mkdir()
    state.chmod(0o1777)
    # what hangs: another run holding the state file's lock (a FIFO state file, which
    # used to hang the read, is refused at once now)
    hang = workdir / "uptime-hang.json"
    lock = os.open(f"{hang}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    os.fchmod(lock, 0o666)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        yield Scenario(
            check="check_host_uptime", name="HOST_UPTIME",
            cases=(
                Case("period",
                     ("--state-file", f"{state}/period-{{tag}}.json", "-w", "1s:",
                      "--availability-critical", "50:"), 0,
                     r"^HOST_UPTIME OK: up [\dhmds ]+ \(since [-\d: ]+ UTC\), (first run: "
                     r"period measures start with the next run|up the whole last period "
                     r"of \d+s)$",
                     settled=r"up the whole last period",
                     thresholds={"uptime": ("1:", ""), "availability": ("", "50:")}),
                Case("max_uptime",  # up longer than 1 s: WARNING, as after 180 days
                     ("--state-file", f"{state}/max-{{tag}}.json", "--max-uptime", "1s",
                      "--reboots-warning", "none"), 1,
                     r"^HOST_UPTIME WARNING: up [\dhmds ]+ \(since [-\d: ]+ UTC\), more than "
                     r"1s",
                     settled=r"up the whole last period",
                     thresholds={"uptime": ("1", "")}),
            ),
            hang_args=("--state-file", str(hang)),
            hang_says=(r"state file " + re.escape(str(hang)) + " stayed locked by another "
                       r"run of this check"),
            volatile=(r"\d+",),  # the uptime and the period grow every second
            narrow=lambda command, argv: [*argv, "--state-file",
                                          f"{state}/shipped-{command}.json"],
        )
    finally:
        os.close(lock)
        for path in (hang, Path(f"{hang}.lock")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


# --- check_mta_backlog ---------------------------------------------------------------------

@contextlib.contextmanager
def mta_backlog(workdir: Path, netns: Any) -> Iterator[Scenario]:
    """A real Postfix instance of our own (tests/integration/mta_real.py): three mails
    deferred (the relay on loopback refuses), two of them for example.com."""
    from tests.integration.mta_real import PostfixInstance, available

    why = available()
    if why:
        import pytest

        pytest.skip(why)
    postfix = PostfixInstance("postfix-schedulers")
    sleeper = workdir / "mta-hang.sh"
    sleeper.write_text("#!/bin/sh\nexec sleep 60\n")
    sleeper.chmod(0o755)
    postfix.setup()
    try:
        postfix.start()
        for recipient in ("one@example.com", "two@example.com", "three@example.org"):
            postfix.send("app@probe.localdomain", [recipient])
        postfix.wait_queue(lambda queue: len(queue) == 3 and all(
            message["queue_name"] == "deferred" for message in queue))
        instance = ("--mta", "postfix", "--config-dir", str(postfix.etc))
        # no growth history in these snapshot cases: a runner's run and the direct run
        # after it would differ by one sample (growth: tests/integration/
        # test_mta_growth_real.py)
        still = ("--trend-window", "0")
        yield Scenario(
            check="check_mta_backlog", name="MTA_BACKLOG",
            cases=(
                Case("deferred_warning", (*instance, "-w", "2", "-c", "10", *still), 1,
                     r"^MTA_BACKLOG WARNING: postfix deferred queue: 3 messages \(more than 2\), "
                     r"oldest [\dsmhd ]+, top destination example.com \(2\)$",
                     thresholds={"deferred": ("2", "10")}),
                Case("domain_critical",
                     (*instance, "--domain", "example.com=,1", "--details", "always",
                      *still), 2,
                     r"^MTA_BACKLOG CRITICAL: postfix queue: 2 messages for example.com "
                     r"\(more than 1\)$",
                     thresholds={"domain_example_com": ("", "1"),
                                 "deferred": ("100", "500")}),
                Case("count_only",
                     (*instance, "--count-only", "-w", "5", "-c", "10", *still), 0,
                     r"^MTA_BACKLOG OK: postfix: 3 messages queued \(deferred 3\)$",
                     thresholds={"deferred": ("5", "10")}),
            ),
            hang_args=(*instance, "--method", "command", "--mta-binary", str(sleeper)),
            hang_says=re.escape(str(sleeper)) + r".*(did not finish|timed out)",
            # ages grow while the test runs
            volatile=(r"\b\d+[smhd]\b( \d+[smhd]\b)*",),
            narrow=lambda command, argv: [*argv, *instance, *still],
            nagios_prefix=("/usr/bin/sudo", "-n"),
            host_vars={"nagios_ipc_mta": True, "mta_backlog_mta": "postfix",
                       "mta_backlog_config_dir": str(postfix.etc)},
        )
    finally:
        postfix.cleanup()


# --- check_zmq_hwm -----------------------------------------------------------------------

def replace_selection(argv: List[str], selection: List[str]) -> List[str]:
    """A shipped command with its application (--process-name, --pidfile, --stats-endpoint
    VALUE) replaced by ours."""
    out: List[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--process-name", "--pidfile", "--pid", "--stats-endpoint", "--endpoint"):
            skip = True
        else:
            out.append(arg)
    return [*out, *selection]


@contextlib.contextmanager
def zmq_hwm(workdir: Path, netns: Any) -> Iterator[Scenario]:
    """Real ZeroMQ applications (tests/integration/zmq_apps.py) in the namespace the
    checks run in, as nagios (mode 1 reads /proc/PID/fd: the same user or root): a
    PUB (SNDHWM 100) with a draining SUB and a SUB that never reads, whose TCP
    connection then stalls (zero window)."""
    import subprocess
    import sys

    from tests.integration.zmqtools import APPS, App, read_line

    started: List[App] = []
    root = str(Path(__file__).resolve().parent.parent)

    def start(*args: str) -> App:
        argv = netns.argv(["runuser", "-u", "nagios", "--", sys.executable, str(APPS), *args])
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, text=True,
                                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": root,
                                     "PYTHONUNBUFFERED": "1"})
        app = App(proc, {})
        started.append(app)
        app.info = read_line(proc, "ready", 20)
        return app

    state = workdir / "zmq-state"
    state.mkdir()
    state.chmod(0o1777)
    try:
        endpoint = f"tcp://127.0.0.1:{random.randrange(20000, 60000)}"
        pub = start("pub", "--endpoint", endpoint, "--hwm", "100")
        drain = start("sub", "--connect", endpoint)
        start("sub", "--connect", endpoint, "--never")
        # a stats endpoint that never answers: a PULL where the check's REQ expects a REP
        hang = f"ipc://{state}/stats-hang.ipc"  # nagios may make its socket there
        start("pull", "--endpoint", hang, "--read", "0")
        quiet = ("--retrans-warning", "none")  # the host's retransmissions are not ours
        yield Scenario(
            check="check_zmq_hwm", name="ZMQ_HWM",
            cases=(
                Case("stalled_subscriber",
                     ("--pid", str(pub.pid), *quiet, "--state-file",
                      f"{state}/stalled-{{tag}}.json", "--recvq-warning", "1MB"), 2,
                     rf"^ZMQ_HWM CRITICAL: 1 of 2 peers stalled, worst: tcp "
                     rf"{endpoint[6:]} -> 127.0.0.1:\d+ in pid {pub.pid} \(python\d?\): "
                     r"Send-Q [\d.]+ [KM]iB",
                     settled=r"retrans=",  # the host's retransmissions from the 2nd run on
                     thresholds={"stalled": ("", "0"), "recvq": ("1048576", "")}),
                Case("draining_subscriber",
                     ("--pid", str(drain.pid), *quiet, "--state-file",
                      f"{state}/drain-{{tag}}.json", "--recvq-warning", "1MB"), 0,
                     rf"^ZMQ_HWM OK: 1 peer of pid {drain.pid} \(python\d?\), none stalled",
                     settled=r"retrans=",
                     thresholds={"recvq": ("1048576", "")}),
            ),
            hang_args=("--stats-endpoint", hang, "--state-file", f"{state}/hang.json"),
            hang_says=re.escape(hang),
            # queues move (a draining peer's queue shows in B or KiB), stalls grow
            volatile=(r"[\d.]+ (?:[KMG]i)?B\b", r"\d+(\.\d+)?"),
            narrow=lambda command, argv: replace_selection(
                argv, ["--pid", str(pub.pid), *quiet, "--state-file",
                       f"{state}/shipped-{command}.json"]),
            host_vars={"nagios_ipc_zmq": {"feed": {"zmq_hwm_pid": [pub.pid],
                                                   "zmq_hwm_retrans_warning": "none"}}},
        )
    finally:
        import signal

        for app in started:  # ours, by PID; SIGKILL: a PUB mid-send may linger on TERM
            with contextlib.suppress(ProcessLookupError):
                os.kill(app.pid, signal.SIGKILL)
        for app in started:
            app.stop()


SCENARIOS: Dict[str, Callable[[Path, Any], ContextManager[Scenario]]] = {
    "check_msgqueues": msgqueues,
    "check_host_uptime": host_uptime,
    "check_mta_backlog": mta_backlog,
    "check_zmq_hwm": zmq_hwm,
}


@contextlib.contextmanager
def all_scenarios(workdir: Path, checks: Sequence[str],
                  netns: Any) -> Iterator[Dict[str, Scenario]]:
    """Every check's scenario entered at once (those that have one); *netns* is the
    namespace (tests/schedulers.Netns) the daemons and checks will run in."""
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(SCENARIOS[name](workdir, netns))
               for name in checks if name in SCENARIOS}
