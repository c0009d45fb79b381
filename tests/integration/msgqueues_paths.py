"""check_msgqueues' fast path against its reference path on real queues (run by
tests/integration/test_msgqueues_fast_path.py inside private IPC and mount namespaces,
as root: the queues it makes are real kernel queues nothing else sees).

For each seed it makes a mix of System V queues in a random order: idle ones of
several owners (root, nobody, daemon, a uid with no name) under random, negative
and IPC_PRIVATE (0, shared) keys, a full queue, a queue of qbytes 0, queues with
messages, a queue whose reader is gone; and POSIX queues. Then it runs the check
in-process twice per set of options: with the sources as built (the System V one
takes its fast path, SysvProcSource.batch) and with the same sources stripped of
their fast path (every queue built, as before issue 15). It prints one JSON line
per run pair: exit codes and whole outputs (first line, perfdata, long output),
and how many queues the fast path built and left idle.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import sysv_ipc

from nagios_ipc import cli, trend
from nagios_ipc.msgqueues import check
from nagios_ipc.msgqueues.sysv import SysvProcSource

NOBODY, DAEMON, NAMELESS = 65534, 1, 54321
NOW = 1_900_000_000.0


class Reference:
    """A source without its fast path: MsgQueues then builds every queue."""

    def __init__(self, source: object) -> None:
        self.source = source

    def __getattr__(self, name: str) -> Any:
        if name == "batch":
            raise AttributeError(name)
        return getattr(self.source, name)


class Counted:
    """A source whose fast path reports what it built and left idle."""

    def __init__(self, source: SysvProcSource, seen: Dict[str, int]) -> None:
        self.source = source
        self.seen = seen

    def batch(self) -> Any:
        found = self.source.batch()
        self.seen["built"] += len(found.queues)
        self.seen["idle"] += sum(len(part.rows) for part in found.idle)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)


def run(argv: Sequence[str], fast: bool, step: int, state: Optional[str],
        seen: Dict[str, int]) -> Tuple[int, str]:
    def sources(args: Any) -> Tuple[List[object], List[str]]:
        found, strict = check.build_sources(args)
        if fast:
            return [Counted(s, seen) if isinstance(s, SysvProcSource) else s
                    for s in found], strict
        return [Reference(s) for s in found], strict

    def build(args: Any) -> Any:
        moment = trend.Moment("00000000-0000-0000-0000-000000000015", 1000.0 + 60 * step,
                              NOW + 60 * step)
        return check.build(args, make_sources=sources, now=lambda: NOW + 60 * step,
                           moment=lambda: moment)

    extra = ["--state-file", state] if state else ["--trend-window", "0"]
    return cli.execute(check.parser(), build, [*argv, *extra])


def compare(seed: int, label: str, argv: Sequence[str], step: int = 0,
            states: Optional[Tuple[str, str]] = None, **facts: Any) -> None:
    seen = {"built": 0, "idle": 0}
    fast = run(argv, True, step, states[0] if states else None, seen)
    reference = run(argv, False, step, states[1] if states else None, {"built": 0, "idle": 0})
    if states:  # each path has a history of its own; the long output names its file
        fast = (fast[0], fast[1].replace(states[0], "STATE"))
        reference = (reference[0], reference[1].replace(states[1], "STATE"))
    print(json.dumps({"seed": seed, "label": label, "argv": list(argv), "step": step,
                      "fast": fast, "reference": reference, **seen, **facts}), flush=True)


class Scenario:
    def __init__(self, seed: int, idle: int, posix: bool) -> None:
        self.rng = random.Random(seed)
        self.sysv: List[sysv_ipc.MessageQueue] = []
        self.posix: List[Any] = []
        self.busy: List[sysv_ipc.MessageQueue] = []
        kinds = (["idle"] * idle + ["full", "zero", "zero", "busy", "busy", "busy",
                                    "orphaned", "private", "private", "negative"])
        self.rng.shuffle(kinds)
        for kind in kinds:
            self.make(kind)
        if posix:
            import posix_ipc

            for index, count in enumerate((0, 0, 3, 10)):
                queue = posix_ipc.MessageQueue(f"/fast_path_{seed}_{index}", posix_ipc.O_CREX,
                                               max_messages=10, max_message_size=64)
                for _ in range(count):
                    queue.send(b"p" * 16, timeout=0)
                self.posix.append(queue)

    def key(self, kind: str) -> int:
        if kind == "private":
            return sysv_ipc.IPC_PRIVATE
        while True:
            key = self.rng.randint(1, 0x7FFFFFFF) * (-1 if kind == "negative" else 1)
            try:
                sysv_ipc.MessageQueue(key)
            except sysv_ipc.ExistentialError:
                return key

    def make(self, kind: str) -> None:
        queue = sysv_ipc.MessageQueue(self.key(kind), sysv_ipc.IPC_CREX, mode=0o600)
        self.sysv.append(queue)
        if kind == "full":
            queue.max_size = 512
            queue.send(b"f" * 512, block=False)
        elif kind == "zero":  # issue 18: full by definition, empty as it is
            queue.max_size = 0
        elif kind == "busy":
            queue.send(b"b" * self.rng.randint(1, 900), block=False)
            self.busy.append(queue)
        elif kind == "orphaned":  # its last reader is gone
            queue.send(b"1", block=False)
            queue.send(b"2", block=False)
            subprocess.run([sys.executable, "-c", "import sysv_ipc; sysv_ipc.MessageQueue("
                            f"{queue.key}).receive()"], check=True, timeout=60)
        owner = self.rng.choice((0, 0, 0, NOBODY, DAEMON, NAMELESS))
        if owner:
            queue.uid = owner  # IPC_SET as root: another owner, root stays the creator

    def grow(self) -> None:
        for queue in self.busy:
            try:
                queue.send(b"g" * 100, block=False)
            except sysv_ipc.BusyError:
                pass

    def remove(self) -> None:
        for queue in self.sysv:
            queue.remove()
        for queue in self.posix:
            queue.close()
            queue.unlink()


OPTIONS: List[Tuple[str, List[str]]] = [
    ("defaults", []),
    ("always", ["--details", "always"]),
    ("both", ["--report-by", "both", "--details", "always", "-v"]),
    ("total-5", ["--report-by", "total", "--details", "always", "--details-limit", "5"]),
    ("one-owner", ["--max-owners", "1", "--details", "always"]),
    ("no-details", ["--details", "always", "--details-limit", "0"]),
    ("sysv-fill-0", ["--type", "sysv", "--fill-warning", "@0", "--details", "always"]),
    ("filtered", ["--owner", "root", "--details", "always"]),
]


def stat_all_check(seed: int) -> None:
    """sysv.stat_all (one buffer, calls made from C, _ctypes alone) against read_limits' way
    (one call at a time, struct unpacked), free slots between the queues included."""
    from nagios_ipc.msgqueues.sysv import MSG_INFO, MSG_STAT_ANY, _Msgctl, stat_all

    msgctl = _Msgctl()
    found = stat_all()
    top, _ = msgctl.call(0, MSG_INFO)
    ids, keys, qbytes = [], [], []
    for index in range(top + 1):
        msqid, (key, _cbytes, _qnum, limit) = msgctl.call(index, MSG_STAT_ANY)
        if msqid >= 0:
            ids.append(msqid)
            keys.append(key)
            qbytes.append(limit)
    print(json.dumps({"seed": seed, "label": "stat_all", "step": 0, "slots": top + 1,
                      "same": found == (ids, keys, qbytes), "queues": len(ids)}), flush=True)


def main() -> None:
    state_dir = sys.argv[1]
    os.chdir(state_dir)
    for seed, idle, posix in ((1, 40, True), (2, 300, True), (3, 1500, False),
                              (4, 0, False), (5, 200, True)):
        scenario = Scenario(seed, idle, posix)
        try:
            stat_all_check(seed)
            for label, argv in OPTIONS:
                compare(seed, label, argv)
            states = (f"{state_dir}/fast-{seed}.json", f"{state_dir}/reference-{seed}.json")
            for step in range(4):  # growth: the same history on both paths
                compare(seed, "growth", ["--details", "always", "--report-by", "both"],
                        step, states)
                scenario.grow()
        finally:
            scenario.remove()
    # every queue idle: the fullest (0%) is the first idle one, built alone
    queues = [sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, mode=0o600) for _ in range(500)]
    for queue in queues[::7]:
        queue.uid = NOBODY
    with open("/proc/sysvipc/msg") as handle:  # the first queue in the kernel's order
        first = int(handle.read().splitlines()[1].split()[1])
    try:
        for label, argv in OPTIONS:
            compare(0, label, argv, first=first)
    finally:
        for queue in queues:
            queue.remove()


if __name__ == "__main__":
    main()
