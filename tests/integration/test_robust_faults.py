"""Hung, dying and flooding listing commands, end to end with the real executables
(issue 8).

The seam is each check's own option for the listing binary, an absolute path
(check_msgqueues --source ipcs --ipcs PATH, as on AIX/HP-UX/Solaris;
check_mta_backlog --method command --mta-binary PATH for Postfix and Exim): no
test-only seam was needed. The fakes are small programs in a temp dir. Each run
must give one UNKNOWN line naming the command within the plugin timeout, keep
its memory bounded (peak RSS from wait4), and leave no process of the fake's
session (process group) behind.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from tests.helpers import CHECKS
from tests.robustness import assert_one_unknown_line

TIMEOUT = 3  # -t of the check
SLACK = 4.0  # interpreter start-up and reporting on a loaded 2-core machine
MEMORY_MB = 120  # peak RSS of a check run (python + nagiosplugin ~ 20 MB; caps 16/32 MiB)

# (check, its NAME, argv with {fake}, what the listing prints when it works)
TARGETS: List[Tuple[str, str, List[str], bytes]] = [
    ("check_msgqueues", "MSGQUEUES", ["--type", "sysv", "--source", "ipcs", "--ipcs", "{fake}"],
     b"q 1 0x1 --rw------- root root root root 0 0 16384 0 0 no-entry no-entry 10:00:00\n"),
    ("check_mta_backlog", "MTA_BACKLOG",
     ["--mta", "postfix", "--method", "command", "--mta-binary", "{fake}"],
     b'{"queue_name": "deferred", "queue_id": "8DF9D1620D3", "arrival_time": 1795456372, '
     b'"message_size": 4792, "sender": "a@b.example", "recipients": [{"address": '
     b'"x@y.example", "delay_reason": "connect to 127.0.0.1[127.0.0.1]:2525: refused"}]}\n'),
    ("check_mta_backlog", "MTA_BACKLOG",
     ["--mta", "exim", "--method", "command", "--mta-binary", "{fake}"],
     b" 2m  2.9K 1xVYEb-0007mT-1g <a@b.example>\n          x@y.example\n\n"),
]
IDS = ["msgqueues-ipcs", "mta-postfix-command", "mta-exim-command"]

# fakes: the program prints its pid (and its children's) first to PIDS, then misbehaves
FAKES: Dict[str, str] = {
    # hangs with a grandchild in the same process group
    "hang": "import os, sys, time\n"
            "child = os.fork()\n"
            "if child == 0:\n    time.sleep(1000)\n    os._exit(0)\n"
            "open(PIDS, 'w').write(f'{os.getpid()} {child}')\n"
            "time.sleep(1000)\n",
    # dies by a signal after a little output
    "segv": "import os, signal, sys\n"
            "open(PIDS, 'w').write(str(os.getpid()))\n"
            "sys.stdout.buffer.write(LINE); sys.stdout.flush()\n"
            "os.kill(os.getpid(), signal.SIGSEGV)\n",
    # gigabytes of valid-looking lines
    "flood-lines": "import os, sys\n"
                   "open(PIDS, 'w').write(str(os.getpid()))\n"
                   "block = LINE * (1048576 // len(LINE) + 1)\n"
                   "while True:\n    sys.stdout.buffer.write(block)\n",
    # gigabytes without a newline
    "flood-bytes": "import os, sys\n"
                   "open(PIDS, 'w').write(str(os.getpid()))\n"
                   "block = b'x' * 1048576\n"
                   "while True:\n    sys.stdout.buffer.write(block)\n",
    # closes stdout and keeps running (a daemonising listing)
    "close-and-linger": "import os, time\n"
                        "open(PIDS, 'w').write(str(os.getpid()))\n"
                        "os.close(1); os.close(2)\n"
                        "time.sleep(1000)\n",
}
# words the UNKNOWN line must contain, per fake
WORDS = {"hang": ["did not finish", "stopped"], "segv": ["SIGSEGV"],
         "flood-lines": [], "flood-bytes": [], "close-and-linger": ["stopped"]}


@pytest.fixture()
def fakes(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def make_fake(directory: Path, kind: str, line: bytes) -> Tuple[Path, Path]:
    pids = directory / f"{kind}.pids"
    fake = directory / kind
    fake.write_text(f"#!{sys.executable}\nPIDS = {str(pids)!r}\nLINE = {line!r}\n"
                    + FAKES[kind])
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return fake, pids


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that is not ours counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def session_members(sid: int) -> List[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":  # field 6 of stat: session
                found.append(int(entry))
    return found


# Runs the check and reaps it with wait4 for its own rusage. It runs in a small interpreter
# of its own: a child's peak RSS counts the memory of the process it was forked from
# (before exec), and pytest after the unit tests is far bigger than a check.
MEASURE = """\
import json, os, subprocess, sys, time
out, err, deadline, argv = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
start = time.monotonic()
with open(out, "wb") as o, open(err, "wb") as e:
    proc = subprocess.Popen(argv, stdout=o, stderr=e, stdin=subprocess.DEVNULL)
while True:
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid:
        break
    if time.monotonic() - start > deadline:
        proc.kill()
        pid, status, usage = os.wait4(proc.pid, 0)
        break
    time.sleep(0.02)
print(json.dumps([os.waitstatus_to_exitcode(status), time.monotonic() - start,
                  usage.ru_maxrss]))
"""


def run_measured(argv: List[str], directory: Path) -> Tuple[int, str, str, float, int]:
    """(exit code, stdout, stderr, seconds, peak RSS in KiB) of one check run."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    out_path, err_path = directory / "stdout", directory / "stderr"
    done = subprocess.run([sys.executable, "-c", MEASURE, str(out_path), str(err_path),
                           str(TIMEOUT + SLACK + 10), *argv], capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=TIMEOUT + SLACK + 30)
    assert done.returncode == 0, done.stderr
    code, elapsed, peak = json.loads(done.stdout)
    return code, out_path.read_text(), err_path.read_text(), elapsed, peak


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
@pytest.mark.parametrize("kind", sorted(FAKES))
def test_listing_command_fault(fakes: Path, target: Tuple[str, str, List[str], bytes],
                               kind: str) -> None:
    check, name, template, line = target
    fake, pids = make_fake(fakes, kind, line)
    argv = [sys.executable, str(CHECKS / check),
            *[part.format(fake=fake) for part in template], "-t", str(TIMEOUT)]
    code, stdout, stderr, elapsed, rss = run_measured(argv, fakes)
    assert_one_unknown_line(name, code, stdout, stderr, mentions=WORDS[kind])
    assert str(fake) in stdout or fake.name in stdout or "postqueue" in stdout, stdout
    assert elapsed < TIMEOUT + SLACK, f"{elapsed:.1f}s for -t {TIMEOUT}: {stdout}"
    assert rss < MEMORY_MB * 1024, f"peak RSS {rss // 1024} MiB: {stdout}"
    # nothing of the fake left: its pids, and anything else in its session
    deadline = time.monotonic() + 3
    recorded = [int(p) for p in pids.read_text().split()] if pids.exists() else []
    while time.monotonic() < deadline and any(alive(p) for p in recorded):
        time.sleep(0.05)
    left = [p for p in recorded if alive(p)]
    left += [p for p in (session_members(recorded[0]) if recorded else []) if p not in left]
    for pid in left:  # do not leave them to other tests either
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"left running after the check: {left}"

