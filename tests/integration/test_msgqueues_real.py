"""check_msgqueues against real System V and POSIX queues on this host.

Each test makes its own queues under random keys/names, restricts the check to
them with --key, and removes them afterwards, even on failure.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from tests.helpers import Outcome, run_check

sysv_ipc = pytest.importorskip("sysv_ipc")

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (other uids, mounts)")


@pytest.fixture
def made() -> Iterator[List[int]]:
    """msqids to remove at the end."""
    ids: List[int] = []
    yield ids
    for msqid in ids:
        try:
            sysv_ipc.remove_message_queue(msqid)
        except sysv_ipc.ExistentialError:
            pass


def new_key() -> int:
    while True:
        key = random.randint(0x10000000, 0x7FFFFFFF)
        try:
            sysv_ipc.MessageQueue(key)
        except sysv_ipc.ExistentialError:
            return key


def keys_args(*keys: int) -> List[str]:
    out: List[str] = []
    for key in keys:
        out += ["--key", hex(key)]
    return out


def test_root_queues_exact_figures(made: List[int]) -> None:
    k_full, k_busy, k_empty = new_key(), new_key(), new_key()
    full = sysv_ipc.MessageQueue(k_full, sysv_ipc.IPC_CREX, mode=0o600)
    made.append(full.id)
    full.max_size = 512
    full.send(b"f" * 512)
    busy = sysv_ipc.MessageQueue(k_busy, sysv_ipc.IPC_CREX, mode=0o660)
    made.append(busy.id)
    for size in (100, 200, 300):
        busy.send(b"b" * size)
    empty = sysv_ipc.MessageQueue(k_empty, sysv_ipc.IPC_CREX, mode=0o644)
    made.append(empty.id)
    me = __import__("pwd").getpwuid(os.getuid()).pw_name

    out = run_check("check_msgqueues", ["--type", "sysv", "--report-by", "both",
                                        *keys_args(k_full, k_busy, k_empty)])
    assert out.stderr == ""
    assert out.code == 2
    assert out.summary == (f"MSGQUEUES CRITICAL: 1 full queue of owner {me}: sysv key "
                           f"0x{k_full:08x} id {full.id} (1 message, 512 of 512 B, 100%)")
    perf = out.perfdata
    assert perf[f"queues_{me}"] == "3;;;0"
    assert perf[f"messages_{me}"] == "4;;;0"
    assert perf[f"bytes_{me}"] == "1112B;;;0;33280"
    assert perf[f"qbytes_{me}"] == "33280B;;;0"
    assert perf[f"full_{me}"] == "1;;0;0;3"
    assert perf[f"fill_{me}"] == "100%;80;;0;100"
    assert perf["nonempty_total"] == "2;;;0;3"
    assert perf["messages_total"] == "4;;;0"
    # the detail names every queue with its limit's source
    assert f"sysv key 0x{k_busy:08x} id {busy.id} owner {me} creator {me} perms 0660: " \
           f"3 messages, 600 B of 16384 B (MSG_STAT_ANY), fill 3.7%" in out.stdout


@ROOT_ONLY
def test_queue_of_another_uid_and_unprivileged_run(made: List[int]) -> None:
    key = new_key()
    code = (f"import sysv_ipc; q = sysv_ipc.MessageQueue({key}, sysv_ipc.IPC_CREX, mode=0o600);"
            f"q.send(b'x' * 64); print(q.id)")
    created = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", code],
                             capture_output=True, text=True, check=True)
    made.append(int(created.stdout))
    # root sees it, per owner 'nobody'
    out = run_check("check_msgqueues", ["--type", "sysv", *keys_args(key)])
    assert out.code == 0, out.stdout
    assert out.perfdata["messages_nobody"] == "1;;;0"
    assert out.perfdata["bytes_nobody"] == "64B;;;0;16384"
    # so does nagios, which has no permission on the queue: MSG_STAT_ANY needs none
    out = run_check("check_msgqueues", ["--type", "sysv", "--details", "always",
                                        *keys_args(key)], user="nagios")
    assert out.code == 0, out.stdout + out.stderr
    assert out.perfdata["qbytes_nobody"] == "16384B;;;0"
    assert "(MSG_STAT_ANY)" in out.stdout


@ROOT_ONLY
def test_uid_without_a_name_is_reported_by_number(made: List[int]) -> None:
    import pwd

    uid = 54321
    while True:
        try:
            pwd.getpwuid(uid)
            uid += 1
        except KeyError:
            break
    key = new_key()
    code = (f"import os, sysv_ipc; os.setgid({uid}); os.setuid({uid}); "
            f"q = sysv_ipc.MessageQueue({key}, sysv_ipc.IPC_CREX, mode=0o600); print(q.id)")
    created = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
    made.append(int(created.stdout))
    out = run_check("check_msgqueues", ["--type", "sysv", *keys_args(key)])
    assert out.code == 0, out.stdout
    assert out.perfdata[f"queues_{uid}"] == "1;;;0"


def test_orphaned_reader_and_unread_age(made: List[int]) -> None:
    key = new_key()
    queue = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, mode=0o600)
    made.append(queue.id)
    queue.send(b"first")
    reader = subprocess.Popen([sys.executable, "-c",
                               f"import sysv_ipc; sysv_ipc.MessageQueue({key}).receive()"])
    reader_pid = reader.pid
    assert reader.wait(timeout=30) == 0
    queue.send(b"second")
    queue.send(b"third")
    time.sleep(1.1)
    out = run_check("check_msgqueues", ["--type", "sysv", "--unread-age-warning", "0",
                                        *keys_args(key)])
    me = __import__("pwd").getpwuid(os.getuid()).pw_name
    assert out.code == 1
    assert out.summary.startswith(f"MSGQUEUES WARNING: a non-empty queue of owner {me} unread "
                                  f"for ")
    assert (f" / 1 queue of owner {me} with no reader: sysv key 0x{key:08x} id {queue.id} "
            f"reader pid {reader_pid} gone, 2 messages waiting") in out.summary
    age = int(out.value(f"unread_age_{me}").rstrip("s"))
    assert 1 <= age <= 30


@pytest.fixture
def mqueue_dir() -> str:
    path = "/dev/mqueue"
    if not os.path.ismount(path):
        if os.geteuid() != 0:
            pytest.skip("/dev/mqueue not mounted and not root to mount it")
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "mqueue", "none", path], check=True)
    return path


def test_posix_queues(mqueue_dir: str) -> None:
    posix_ipc = pytest.importorskip("posix_ipc")
    name = f"/nagios_ipc_test_{os.getpid()}_{random.randint(0, 10**6)}"
    full = posix_ipc.MessageQueue(name + "_full", posix_ipc.O_CREX, max_messages=4,
                                  max_message_size=64)
    half = posix_ipc.MessageQueue(name + "_half", posix_ipc.O_CREX, max_messages=8,
                                  max_message_size=128)
    try:
        for size in (10, 20, 30, 40):
            full.send(b"p" * size)
        half.send(b"h" * 100)
        me = __import__("pwd").getpwuid(os.getuid()).pw_name
        out = run_check("check_msgqueues", ["--type", "posix", "--key", name + "_*",
                                            "--details", "always"])
        assert out.code == 2, out.stdout
        assert out.summary == (f"MSGQUEUES CRITICAL: 1 full queue of owner {me}: posix "
                               f"{name}_full (4 of 4 messages, 100 of 256 B, 100%)")
        assert out.perfdata[f"messages_{me}"] == "5;;;0"
        assert out.perfdata[f"bytes_{me}"] == "200B;;;0;1280"
        assert out.perfdata[f"queues_{me}"] == "2;;;0"
        assert f"posix {name}_half owner {me} creator {me} perms 0600: 1 messages, 100 B of " \
               f"1024 B (posix_ipc), fill 12.5%" in out.stdout
        # the C library path gives the same figures when posix_ipc is absent
        from nagios_ipc.msgqueues.posix import _libc_attrs

        attrs = _libc_attrs()
        assert attrs is not None and attrs(name + "_full") == (4, 4, 64)
    finally:
        full.unlink()
        half.unlink()


def test_defaults_on_this_host() -> None:
    """No arguments: a valid result for whatever this host has."""
    out = run_check("check_msgqueues")
    assert out.stderr == ""
    assert out.code in (0, 1, 2)
    assert out.first_line.startswith("MSGQUEUES ")
    assert "sysv_slots=" in out.stdout


# --- growth between runs (issue 14): queues filled and drained at known rates ----------------


class Pacer:
    """Calls *step* every *period* seconds on an absolute schedule (no drift), in a
    thread, until stopped: a producer or consumer at a known rate."""

    def __init__(self, period: float, step: Callable[[], None]) -> None:
        import threading

        self.period = period
        self.step = step
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        tick = 0
        while not self.stop.is_set():
            self.step()
            tick += 1
            self.stop.wait(max(start + tick * self.period - time.monotonic(), 0))

    def __enter__(self) -> Pacer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def sample_runs(args: List[str], count: int, gap: float = 1.15) -> List[Outcome]:
    """*count* runs of the check *gap* seconds apart (over MIN_GAP: one sample each)."""
    outs = []
    for index in range(count):
        if index:
            time.sleep(gap)
        outs.append(run_check("check_msgqueues", args))
    return outs


def number(item: str) -> float:
    return float(item.split(";")[0].rstrip("Bs%"))


def test_sysv_queue_filled_at_a_known_rate(made: List[int], tmp_path: Path) -> None:
    """100 B every 0.25 s (400 B/s, 24000 B/min) into a queue of 4000 B: the growth is
    that rate within 10 %, the time to full the truth (room / rate) within 15 %, and
    the first line says so in the on-call engineer's words."""
    key = new_key()
    queue = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, mode=0o600)
    made.append(queue.id)
    queue.max_size = 4000
    args = ["--type", "sysv", "--key", hex(key), "--report-by", "total", "--details", "always",
            "--state-file", str(tmp_path / "trend.json")]

    def send() -> None:
        try:
            queue.send(b"x" * 100, block=False)
        except sysv_ipc.BusyError:
            pass  # full: the test has failed by then, the assertions say how

    with Pacer(0.25, send):
        outs = sample_runs(args, 4)
    first, last = outs[0], outs[-1]
    assert first.code == 0 and "growth" not in first.summary, first.stdout
    assert "bytes_growth_total" not in first.perfdata
    assert "growth: first sample in " in first.stdout
    growth = number(last.perfdata["bytes_growth_total"])
    assert abs(growth - 24000) <= 2400, last.stdout
    assert abs(number(last.perfdata["messages_growth_total"]) - 240) <= 24, last.stdout
    held = number(last.perfdata["bytes_total"])
    truth = (4000 - held) / 400.0
    ttf = number(last.perfdata["time_to_full_total"])
    assert abs(ttf - truth) <= max(0.15 * truth, 1.0), (ttf, truth, last.stdout)
    print(f"sysv: growth {growth:.0f} B/min (truth 24000), time to full {ttf:.1f} s "
          f"(truth {truth:.1f} s)")
    assert last.code == 2, last.stdout  # full within 10 minutes: CRITICAL by default
    assert re.match(rf"^MSGQUEUES CRITICAL: sysv key 0x{key:08x} id {queue.id} of \S+: "
                    r"\d+% full, \+[\d.]+ B/s for \ds, full in ~\ds$", last.summary), last.summary
    assert last.perfdata["time_to_full_total"].endswith("s;3600:;600:;0")


def test_sysv_queue_draining_is_never_alerted_on_growth(made: List[int],
                                                        tmp_path: Path) -> None:
    key = new_key()
    queue = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, mode=0o600)
    made.append(queue.id)
    for _ in range(40):
        queue.send(b"d" * 100)

    def receive() -> None:
        try:
            queue.receive(block=False)
        except sysv_ipc.BusyError:
            pass

    args = ["--type", "sysv", "--key", hex(key), "--report-by", "total",
            "--growing-samples", "2", "--growth-warning", "0",
            "--state-file", str(tmp_path / "trend.json")]
    with Pacer(0.25, receive):
        outs = sample_runs(args, 3)
    for out in outs:
        assert out.code == 0, out.stdout  # a drain is no growth, whatever the threshold
        assert "time_to_full_total" not in out.perfdata
    assert abs(number(outs[-1].perfdata["bytes_growth_total"]) + 24000) <= 2400


def test_posix_queue_filled_at_a_known_rate(mqueue_dir: str, tmp_path: Path) -> None:
    """One message every 0.3 s into a POSIX queue of mq_maxmsg 10 (the message limit
    binds, not the bytes): growth 200/min within 25 % (one message is a large step
    over 2 seconds), full in (10 - n) / rate within 1 s."""
    posix_ipc = pytest.importorskip("posix_ipc")
    name = f"/nagios_ipc_trend_{os.getpid()}_{random.randint(0, 10**6)}"
    queue = posix_ipc.MessageQueue(name, posix_ipc.O_CREX, max_messages=10,
                                   max_message_size=1000)

    def send() -> None:
        try:
            queue.send(b"p", timeout=0)
        except posix_ipc.BusyError:
            pass

    try:
        args = ["--type", "posix", "--key", name, "--report-by", "total",
                "--state-file", str(tmp_path / "trend.json")]
        with Pacer(0.3, send):
            outs = sample_runs(args, 3, gap=1.05)
        last = outs[-1]
        rate = number(last.perfdata["messages_growth_total"])
        assert abs(rate - 200) <= 50, last.stdout
        held = number(last.perfdata["messages_total"])
        truth = (10 - held) / (200 / 60)
        ttf = number(last.perfdata["time_to_full_total"])
        assert abs(ttf - truth) <= 1.0, (ttf, truth, last.stdout)
        print(f"posix: growth {rate:.0f}/min (truth 200), time to full {ttf:.1f} s "
              f"(truth {truth:.1f} s)")
        assert last.code == 2 and "full in ~" in last.summary, last.stdout
    finally:
        queue.close()
        queue.unlink()


def test_concurrent_runs_share_one_growth_history(made: List[int], tmp_path: Path) -> None:
    """Twelve runs at once on one state file: the lock serialises them, every one
    answers (no UNKNOWN, no traceback), and the history is whole afterwards; runs
    under a second apart share one sample, so no rate is made of them."""
    import json

    key = new_key()
    queue = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, mode=0o600)
    made.append(queue.id)
    queue.send(b"c" * 10)
    state = tmp_path / "trend.json"
    argv = [sys.executable, str(Path(__file__).resolve().parents[2] / "checks" /
                                "check_msgqueues"),
            "--type", "sysv", "--key", hex(key), "--report-by", "total",
            "--state-file", str(state)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(12)]
    results = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read())  # type: ignore[union-attr]
               for p in procs]
    for code, out, err in results:
        assert code == 0 and err == "" and out.startswith("MSGQUEUES OK: "), out
    stored = json.loads(state.read_text())["trend"]
    times = stored["t"]
    # samples under a second apart were merged: whatever the spread of the runs, the
    # kept ones are at least a second apart, and the count (1 message) is whole
    assert 1 <= len(times) <= 12 and all(b - a >= 0.99 for a, b in zip(times, times[1:]))
    assert stored["s"]["m"]["i"]["total"][2] == 1


def test_key_id_selects_a_queue_by_its_msqid() -> None:
    """--key id:N names a queue by its msqid (the only name of an IPC_PRIVATE queue);
    a number alone stays a key. Real queues in a private IPC namespace."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a private IPC namespace (unshare -i)")
    # root's queues: an IPC_PRIVATE one with a message, one under key 5 with another;
    # the check runs in the namespace where they are, then the namespace goes
    script = (
        "import subprocess, sys, sysv_ipc\n"
        "private = sysv_ipc.MessageQueue(sysv_ipc.IPC_PRIVATE, sysv_ipc.IPC_CREX, mode=0o600)\n"
        "private.send(b'p' * 7)\n"
        "five = sysv_ipc.MessageQueue(5, sysv_ipc.IPC_CREX, mode=0o600)\n"
        "five.send(b'f' * 11)\n"
        "check = [sys.executable, sys.argv[1], '--type', 'sysv', '--trend-window', '0',\n"
        "         '--report-by', 'total']\n"
        "for args in ([f'id:{private.id}'], [f'msqid:{private.id}'], ['5'],\n"
        "             [f'--exclude-key=id:{private.id}'], ['id:999999']):\n"
        "    argv = [a if a.startswith('--') else '--key=' + a for a in args]\n"
        "    done = subprocess.run(check + argv, capture_output=True, text=True)\n"
        "    print(done.returncode, done.stdout.splitlines()[0])\n"
        "print(private.id)\n")
    done = subprocess.run(["unshare", "-i", sys.executable, "-c", script,
                           str(Path(__file__).parents[2] / "checks" / "check_msgqueues")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    *lines, msqid = done.stdout.splitlines()
    lines = [re.sub(r" \| .*", "", line) for line in lines]
    # before the fix, id:N (and a bare msqid) matched nothing: "no queue with key ..."
    private = (f"0 MSGQUEUES OK: 1 sysv queue of 1 owner, 1 messages, 7 B queued, fullest "
               f"0% (sysv key 0x00000000 id {msqid} of root)")
    five = ("0 MSGQUEUES OK: 1 sysv queue of 1 owner, 1 messages, 11 B queued, fullest 0.1% "
            "(sysv key 0x00000005 id ")
    assert lines[0] == lines[1] == private, lines
    assert lines[2].startswith(five) and lines[3].startswith(five), lines
    assert lines[4] == ("2 MSGQUEUES CRITICAL: no queue with key id:999999: is its "
                        "application running?"), lines
