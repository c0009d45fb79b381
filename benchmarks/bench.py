#!/usr/bin/env python3
"""Benchmarks: each check against a floor or the tools operators use today.

Every figure is a ratio measured in one run: the compared commands are
interleaved round by round (in a shuffled order), so a noisy neighbour slows
them alike. Each side keeps its median CPU time (user + system from wait4, the
command's children included), its median wall time and its peak RSS. Targets are
judged on CPU time: on these shared machines the wall time of a 40 ms process
moves by +-20 % between runs, its CPU time by a few per cent. Absolute times are
context only.

    benchmarks/run                 # everything (as root: builds queues, cleans up)
    benchmarks/run startup msgqueues
    benchmarks/run growth          # check_msgqueues' growth history at 32,000 queues
Results: benchmarks/RESULTS.md (rewritten each full run).
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CHECKS = ROOT / "checks"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "25"))


@dataclass
class Sample:
    seconds: List[float]  # wall
    cpu: List[float]  # user + system
    rss_kib: List[int]

    @property
    def median(self) -> float:
        """Median CPU seconds: what every ratio and target uses."""
        return statistics.median(self.cpu)

    @property
    def wall(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_rss(self) -> int:
        return max(self.rss_kib)


WORK = ROOT / "benchmarks" / "work"


def compiled(name: str) -> str:
    """benchmarks/NAME.c, compiled once (again when the source is newer)."""
    binary = WORK / name
    source = ROOT / "benchmarks" / f"{name}.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run(["gcc", "-O2", "-o", str(binary), str(source)], check=True)
    return str(binary)


def launcher() -> str:
    """benchmarks/launch.c: see there why RSS needs it."""
    return compiled("launch")


def run_once(argv: Sequence[str],
             env: Optional[Dict[str, str]] = None) -> Tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS KiB) of one run of *argv* (absolute path
    first)."""
    done = subprocess.run([launcher(), *argv], capture_output=True, text=True, env=env,
                          check=True)
    seconds, cpu, rss, _status = done.stdout.split()
    return float(seconds), float(cpu), int(rss)


def interleave(commands: Dict[str, Sequence[str]], rounds: int = ROUNDS,
               env: Optional[Dict[str, str]] = None) -> Dict[str, Sample]:
    samples = {name: Sample([], [], []) for name in commands}
    for argv in commands.values():  # warm caches once, unmeasured
        run_once(argv, env)
    for _ in range(rounds):
        order = list(commands)
        random.shuffle(order)
        for name in order:
            seconds, cpu, rss = run_once(commands[name], env)
            samples[name].seconds.append(seconds)
            samples[name].cpu.append(cpu)
            samples[name].rss_kib.append(rss)
    return samples


def check(name: str, *args: str) -> List[str]:
    return [PYTHON, str(CHECKS / name), *args]


@dataclass
class Row:
    what: str
    sample: Sample
    ratio: str


@dataclass
class Section:
    title: str
    rows: List[Row]
    verdicts: List[str]


Bench = Callable[[], Section]
BENCHES: Dict[str, Bench] = {}


def bench(name: str) -> Callable[[Bench], Bench]:
    def register(func: Bench) -> Bench:
        BENCHES[name] = func
        return func

    return register


def rows(samples: Dict[str, Sample], base: str) -> List[Row]:
    floor = samples[base].median
    return [Row(name, sample, f"{sample.median / floor:.2f}x")
            for name, sample in samples.items()]


def verdict(label: str, value: float, target: float, better: str = "below") -> str:
    met = value <= target if better == "below" else value >= target
    return f"{'MET' if met else 'MISSED'}: {label} = {value:.2f}x (target {better} {target}x)"


# --- 1. start-up -----------------------------------------------------------------------


def installed_checks() -> List[str]:
    return sorted(p.name for p in CHECKS.glob("check_*") if os.access(p, os.X_OK))


FLOOR = "floor: python -c 'import nagiosplugin'"
STARTUP_TARGET = 1.25


FAN_MAX = 5000  # PUSH sockets per helper process: see ZmqApps.pull_with


class ZmqApps:
    """ZeroMQ applications (tests/integration/zmq_apps.py) for the benchmarks to check,
    each a real process with real sockets; killed on exit."""

    def __init__(self) -> None:
        self.procs: List[subprocess.Popen] = []  # type: ignore[type-arg]

    def start(self, *argv: str) -> int:
        import json

        apps = ROOT / "tests" / "integration" / "zmq_apps.py"
        proc = subprocess.Popen([PYTHON, str(apps), *argv], stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)
        self.procs.append(proc)
        assert proc.stdout is not None
        json.loads(proc.stdout.readline())  # ready
        return proc.pid

    def pull_with(self, count: int) -> Tuple[int, str]:
        """A PULL application with *count* idle TCP connections from another process:
        (its pid, its endpoint)."""
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            endpoint = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
        server = self.start("pull", "--endpoint", endpoint)
        # a PUSH socket holds two descriptors (its connection and its mailbox) and the
        # hard limit here is 20,000 open files, which root cannot raise (no
        # CAP_SYS_RESOURCE): a fan process of 10,000 stopped at 9,992 connections
        for start in range(0, count, FAN_MAX):
            self.start("fan", "--connect", endpoint, "--count",
                       str(min(FAN_MAX, count - start)))
        return server, endpoint

    def __enter__(self) -> ZmqApps:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()


def wait_for_peers(argv: Sequence[str], count: int) -> None:
    """Until check_zmq_hwm (*argv*) sees all *count* connections accepted."""
    for _ in range(200):
        done = subprocess.run(argv, capture_output=True, text=True)
        if f" peers={count};" in done.stdout:
            return
        time.sleep(0.1)
    raise RuntimeError(f"check_zmq_hwm never saw {count} peers: {done.stdout}")


@bench("startup")
def startup() -> Section:
    """Every check as it runs on an idle host with its defaults (trend state kept in
    the user's state directory, as in production): check_mta_backlog finds the
    installed Postfix and reads its spool, check_zmq_hwm checks a real application
    (a PULL with one connection) by pid. In a private IPC namespace: on a shared
    machine other people's tests leave System V queues in the host's (53 of them once
    made check_msgqueues 1.41x instead of 1.1x), which is no idle host."""
    private = private_ipc_namespace()
    commands: Dict[str, Sequence[str]] = {FLOOR: [PYTHON, "-c", "import nagiosplugin"]}
    apps = ZmqApps()
    with apps:
        pid, _endpoint = apps.pull_with(1)
        for name in installed_checks():
            args = ["--pid", str(pid)] if name == "check_zmq_hwm" else []
            commands[name] = check(name, *args)
        wait_for_peers(commands["check_zmq_hwm"], 1)
    for context in ("check_load", "check_users", "check_file_age"):
        path = f"/usr/lib/nagios/plugins/{context}"
        if os.path.exists(path):
            extra = ["-f", "/etc/hostname"] if context == "check_file_age" else []
            commands[f"context: monitoring-plugins {context}"] = [path, *extra]
        samples = interleave(commands)
    base = next(iter(commands))
    verdicts = [verdict(f"{name} / floor", samples[name].median / samples[base].median,
                        STARTUP_TARGET) for name in installed_checks()]
    where = " (a private IPC namespace)" if private else ""
    return Section("Start-up on an idle host" + where + ", against the floor `python -c "
                   "'import nagiosplugin'` (same interpreter)", rows(samples, base), verdicts)


# --- 2. check_msgqueues against the number of queues --------------------------------------


def private_ipc_namespace() -> bool:
    """Move this process (and the checks it starts) into a new IPC namespace, so that
    the 32,000 queues neither disturb nor are disturbed by anything else on the host.
    Needs root; without it the queues are made in the host's namespace."""
    import ctypes

    clone_newipc = 0x08000000
    libc = ctypes.CDLL(None, use_errno=True)
    return os.geteuid() == 0 and libc.unshare(clone_newipc) == 0


def existing_queues() -> int:
    """System V queues already there (in this IPC namespace): the sizes are totals."""
    if not os.path.exists("/proc/sysvipc/msg"):
        return 0
    with open("/proc/sysvipc/msg") as handle:
        return len(handle.read().splitlines()) - 1


@bench("msgqueues")
def msgqueues() -> Section:
    import sysv_ipc

    private = private_ipc_namespace()

    existing = existing_queues()
    counts = (0, 1000, 32000 - existing)
    queues: List[object] = []
    samples: Dict[str, Sample] = {}
    try:
        for count in counts:
            while len(queues) < count:
                queues.append(sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, mode=0o600))
            label = f"{count + existing} queues"
            # one run per size; sizes cannot interleave (queues exist or not), so each
            # size is interleaved with the empty-host floor command for its own ratio
            result = interleave({label: check("check_msgqueues", "--type", "sysv"),
                                 f"floor@{label}": [PYTHON, "-c", "import nagiosplugin"]},
                                rounds=max(5, ROUNDS // 2))
            samples.update(result)
    finally:
        for queue in queues:
            queue.remove()  # type: ignore[attr-defined]
    labels = [f"{c + existing} queues" for c in counts]
    norm = {label: samples[label].median / samples[f"floor@{label}"].median for label in labels}
    table = [Row(label, samples[label], f"{norm[label] / norm[labels[0]]:.2f}x of {labels[0]}")
             for label in labels]
    growth = (norm[labels[2]] - norm[labels[1]]) / max(counts[2] - counts[1], 1)
    floor_ms = samples[f"floor@{labels[0]}"].median * 1000
    verdicts = [verdict(f"{labels[1]} / {labels[0]}", norm[labels[1]] / norm[labels[0]], 1.1),
                verdict(f"{labels[2]} / {labels[0]}", norm[labels[2]] / norm[labels[0]], 2.5),
                f"CPU per queue: {growth * floor_ms * 1000:.2f} us "
                f"(floor {floor_ms:.1f} ms)"]
    where = "a private IPC namespace" if private else "the host's IPC namespace"
    return Section("check_msgqueues with 0, 1,000 and 32,000 System V queues in "
                   f"{where} (ratios normalised by the floor measured beside each size)",
                   table, verdicts)


@bench("growth")
def growth() -> Section:
    """check_msgqueues with 32,000 System V queues and a full window of growth history
    (12 samples, issue 14), against the same run with growth off (--trend-window 0):
    all queues empty, then all busy (the worst case: 10,000 items per figure kept)."""
    import shutil
    import tempfile

    import sysv_ipc

    private = private_ipc_namespace()
    existing = existing_queues()
    queues: List[sysv_ipc.MessageQueue] = []
    state = tempfile.mkdtemp(prefix="nagios_ipc-bench-")
    samples: Dict[str, Sample] = {}
    sizes: Dict[str, int] = {}
    try:
        while len(queues) < 32000 - existing:
            queues.append(sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, mode=0o600))
        off = check("check_msgqueues", "--type", "sysv", "--trend-window", "0")
        for label in ("empty", "busy"):
            path = os.path.join(state, f"{label}.json")
            on = check("check_msgqueues", "--type", "sysv", "--state-file", path)
            for index in range(12):  # a full window: 12 samples over a second apart
                if label == "busy":
                    for queue in queues:
                        queue.send(b"x" * (1 + index % 3), block=False)
                run_once(on)
                time.sleep(1.05)
            sizes[label] = os.path.getsize(path)
            # runs under a second apart replace the newest sample: the window stays full
            samples.update(interleave({f"{label}: growth off": off,
                                       f"{label}: growth on, full window": on},
                                      rounds=max(5, ROUNDS // 3)))
    finally:
        for queue in queues:
            queue.remove()
        shutil.rmtree(state, ignore_errors=True)
    table = [Row(name, sample,
                 f"{sample.median / samples[name.split(':')[0] + ': growth off'].median:.2f}x "
                 f"of growth off") for name, sample in samples.items()]
    empty = samples["empty: growth on, full window"].median / samples["empty: growth off"].median
    busy = samples["busy: growth on, full window"].median / samples["busy: growth off"].median
    where = "a private IPC namespace" if private else "the host's IPC namespace"
    return Section(f"check_msgqueues growth history with 32,000 System V queues in {where}",
                   table,
                   [verdict("32,000 empty queues, growth on / off", empty, 1.1),
                    f"busy (worst case): growth on / off = {busy:.2f}x",
                    f"state with a full window: {sizes['empty']} bytes (empty), "
                    f"{sizes['busy']} bytes (busy)"])


# --- 4. check_zmq_hwm sockets mode against the number of connections ----------------------


@bench("zmq_hwm")
def zmq_hwm() -> Section:
    """Two PULL applications at once, one with 1 and one with 10,000 TCP connections
    (idle PUSH sockets of helper processes on 127.0.0.1), checked in interleaved
    rounds: the host's sockets are the same for both runs (the 1-connection run
    also pays for the kernel's dump of the other application's sockets, so the
    ratio isolates what the selected application's own connections cost)."""
    import tempfile

    counts = (1, 10000)
    work = tempfile.mkdtemp(prefix="bench-zmq-")
    commands: Dict[str, Sequence[str]] = {}
    with ZmqApps() as apps:
        for count in counts:
            server, _endpoint = apps.pull_with(count)
            argv = check("check_zmq_hwm", "--pid", str(server), "--state-file",
                         f"{work}/state-{count}.json")
            wait_for_peers(argv, count)
            commands[f"{count} connections"] = argv
        commands[FLOOR] = [PYTHON, "-c", "import nagiosplugin"]
        samples = interleave(commands)
    labels = [f"{c} connections" for c in counts]
    base = samples[labels[0]].median
    table = [Row(name, sample, f"{sample.median / base:.2f}x of {labels[0]}")
             for name, sample in samples.items()]
    floor = samples[FLOOR].median
    verdicts = [verdict(f"{labels[1]} / {labels[0]}", samples[labels[1]].median / base, 2.0),
                f"check with 1 connection / floor: {base / floor:.2f}x "
                f"(floor {floor * 1000:.1f} ms CPU)"]
    return Section("check_zmq_hwm sockets mode against an application with 1 and one with "
                   "10,000 connections, both running, interleaved", table, verdicts)


# --- 3. check_mta_backlog against check_mailq and the MTAs' own listings ----------------------


def _mta_rows(samples: Dict[str, Sample], base: str, label: str) -> List[Row]:
    floor = samples[base].median
    return [Row(f"{label}: {name}", sample, f"{floor / sample.median:.2f}x faster"
                if sample.median < floor else f"{sample.median / floor:.2f}x slower")
            for name, sample in samples.items()]


MTA_SIZES = (10000, 100000)


def _floor_note(label: str, samples: Dict[str, Sample], base: float,
                floors: Tuple[str, str, str], full: str) -> str:
    """What the system calls of full detail alone leave of a target against check_mailq:
    from C (with and without fstat) and from Python (nothing parsed)."""
    calls, bare, python = (samples[name].median for name in floors)
    return (f"{label}: full detail's system calls alone take {calls * 1000:.0f} ms CPU from C "
            f"({bare * 1000:.0f} ms without fstat), {python * 1000:.0f} ms from Python with "
            f"nothing parsed: check_mailq / those = {base / calls:.2f}x ({base / bare:.2f}x), "
            f"{base / python:.2f}x, the most a reader in C, and one in Python, could reach "
            f"here; the check spends {(samples[full].median - python) * 1000:.0f} ms beyond "
            f"the Python one")


@bench("mta")
def mta() -> Section:
    """Postfix with 10,000 and 100,000 deferred messages, Exim with 10,000 and 100,000
    queued ones.

    The queues are written directly in each MTA's own file format (Postfix queue files
    with their defer logs, Exim -H/-D/msglog files; tests/integration/mta_real.py), which
    both MTAs' own listings accept; submitting 100,000 messages would take ~30 minutes.
    Postfix is stopped (nothing may change the queue while it is measured): postqueue
    then reads the queue directly, as its showq daemon would."""
    sys.path.insert(0, str(ROOT))
    from tests.integration.mta_real import (EximInstance, PostfixInstance, available,
                                            fill_exim_spool, fill_postfix_queue)

    problem = available()
    if problem:
        return Section(f"check_mta_backlog: not run ({problem})", [], [])
    mailq = "/usr/lib/nagios/plugins/check_mailq"
    table: List[Row] = []
    verdicts: List[str] = []
    full_rss: Dict[Tuple[str, int], int] = {}
    rounds = max(5, ROUNDS // 3)
    count_only, full = "check_mta_backlog --count-only", "check_mta_backlog (full detail)"
    # the system calls of full detail alone, in C (benchmarks/spoolfloor.c): the least any
    # full-detail reader can cost here, so the verdicts can say what a target leaves
    floor, floor_bare = "system calls alone (spoolfloor.c)", "the same without fstat"
    floor_py = "the same system calls from Python (spoolfloor.py)"
    spoolfloor = compiled("spoolfloor")
    spoolfloor_py = [PYTHON, str(ROOT / "benchmarks" / "spoolfloor.py")]
    postfix = PostfixInstance("postfix-bench")
    postfix.setup()
    try:
        now = time.time()
        have = 0
        for size in MTA_SIZES:
            fill_postfix_queue(postfix.queue, size - have, now, seed=size)
            have = size
            os.sync()  # the new files' writeback must not fall into the measurement
            etc = str(postfix.etc)
            args = ["--mta", "postfix", "--config-dir", etc, "--method", "spool",
                    "--trend-window", "0"]
            commands: Dict[str, Sequence[str]] = {
                "check_mailq -M postfix": [mailq, "-M", "postfix", "-w", "1000000", "-c",
                                           "2000000", "-d", etc],
                "postqueue -j": ["/usr/sbin/postqueue", "-c", etc, "-j"],
                count_only: check("check_mta_backlog", *args, "--count-only"),
                full: check("check_mta_backlog", *args),
                floor: [spoolfloor, "postfix", str(postfix.queue)],
                floor_bare: [spoolfloor, "postfix", str(postfix.queue), "--no-fstat"],
                floor_py: [*spoolfloor_py, "postfix", str(postfix.queue)],
            }
            samples = interleave(commands, rounds=rounds)
            table += _mta_rows(samples, "check_mailq -M postfix", f"postfix {size:,}")
            full_rss["postfix", size] = samples[full].peak_rss
            base = samples["check_mailq -M postfix"].median
            if size == 100000:
                verdicts.append(verdict("postfix 100,000: check_mailq / count-only",
                                        base / samples[count_only].median, 20, "above"))
                verdicts.append(verdict("postfix 100,000: check_mailq / full detail",
                                        base / samples[full].median, 3.0, "above"))
                verdicts.append(_floor_note("postfix 100,000", samples, base,
                                            (floor, floor_bare, floor_py), full))
    finally:
        postfix.cleanup()
    exim = EximInstance("exim-bench")
    exim.setup()
    try:
        # check_mailq -M exim runs /usr/bin/mailq with no options: in a private mount
        # namespace that path is a wrapper running this Exim with its config; every
        # command below runs through the same namespace set-up, for a fair comparison
        wrapper = WORK / "exim-mailq"
        WORK.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(f"#!/bin/sh\nexec {exim.binary} -C {exim.conf} -bp\n")
        wrapper.chmod(0o755)

        def in_ns(*argv: str) -> List[str]:
            return ["/usr/bin/unshare", "-m", "sh", "-c",
                    f"mount --bind {wrapper} /usr/bin/mailq && exec \"$@\"", "sh", *argv]

        base_args = ["--mta", "exim", "--mta-binary", exim.binary, "--mta-config",
                     str(exim.conf), "--method", "spool", "--trend-window", "0"]
        commands = {
            "check_mailq -M exim": in_ns(mailq, "-M", "exim", "-w", "1000000", "-c",
                                         "2000000"),
            "exim -bp": in_ns(exim.binary, "-C", str(exim.conf), "-bp"),
            count_only: in_ns(*check("check_mta_backlog", *base_args, "--count-only")),
            full: in_ns(*check("check_mta_backlog", *base_args)),
            floor: in_ns(spoolfloor, "exim", str(exim.spool)),
            floor_bare: in_ns(spoolfloor, "exim", str(exim.spool), "--no-fstat"),
            floor_py: in_ns(*spoolfloor_py, "exim", str(exim.spool)),
        }
        now = time.time()
        have = 0
        for size in MTA_SIZES:
            fill_exim_spool(exim.spool, size - have, now, seed=size, first=have)
            have = size
            os.sync()
            samples = interleave(commands, rounds=rounds)
            table += _mta_rows(samples, "check_mailq -M exim", f"exim {size:,}")
            full_rss["exim", size] = samples[full].peak_rss
            base = samples["check_mailq -M exim"].median
            verdicts.append(verdict(f"exim {size:,}: check_mailq / count-only",
                                    base / samples[count_only].median, 1.0, "above"))
            verdicts.append(verdict(f"exim {size:,}: check_mailq / full detail",
                                    base / samples[full].median, 1.0, "above"))
            verdicts.append(_floor_note(f"exim {size:,}", samples, base,
                                        (floor, floor_bare, floor_py), full))
    finally:
        exim.cleanup()
    for mta_name in ("postfix", "exim"):
        verdicts.append(verdict(f"{mta_name} full detail peak RSS 100,000 / 10,000",
                                full_rss[mta_name, 100000] / full_rss[mta_name, 10000], 1.1))
    return Section("check_mta_backlog against monitoring-plugins check_mailq and the MTAs' "
                   "own listings (ratio: CPU time against check_mailq of the same queue; "
                   "growth off: --trend-window 0)", table, verdicts)


# --- report ---------------------------------------------------------------------------


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (f"{platform.node()}: {platform.system()} {platform.release()}, {os.cpu_count()} "
            f"cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()} "
            f"({PYTHON}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def report(sections: Iterator[Section]) -> str:
    out = ["# Benchmark results", "", f"Machine: {machine()}", "",
           f"Each ratio is measured in one run, commands interleaved over {ROUNDS} rounds "
           "(fewer where a round takes seconds). Ratios and targets use the median CPU "
           "time (user + system from wait4, children included); the median wall time is "
           "beside it; peak RSS is the maximum over the rounds.", ""]
    for section in sections:
        out += [f"## {section.title}", "",
                "| command | median CPU ms | median wall ms | ratio (CPU) | peak RSS MiB |",
                "| --- | ---: | ---: | ---: | ---: |"]
        out += [f"| {r.what} | {r.sample.median * 1000:.1f} | {r.sample.wall * 1000:.1f} | "
                f"{r.ratio} | {r.sample.peak_rss / 1024:.1f} |" for r in section.rows]
        out += [""] + [f"- {v}" for v in section.verdicts] + [""]
        print("\n".join(out[-(len(section.rows) + len(section.verdicts) + 5):]), flush=True)
    return "\n".join(out)


def main(argv: Sequence[str]) -> int:
    names = list(argv) or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHES)}")
        return 2
    text = report(BENCHES[name]() for name in names)
    if not argv:
        (ROOT / "benchmarks" / "RESULTS.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
