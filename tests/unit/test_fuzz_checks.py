"""Whole checks (in-process, cli.execute) on fuzzed input files and state (issue 8).

What a parser property cannot see: the path from the file's bytes through the
source, the evaluation and the output. Each run must keep the plugin contract
(tests/robustness.py: exit 0..3, ``NAME STATE`` first, well-formed perfdata,
no traceback, no "internal error"), and a run that cannot understand its input
is one UNKNOWN line. The check's own -t is the hang detector here (cli.execute
owns SIGALRM): a "timed out" is a failure.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nagios_ipc import cli
from nagios_ipc.msgqueues import check as msgqueues
from nagios_ipc.uptime import check as uptime
from nagios_ipc.uptime.source import Clock, Observation, ProcBootSource
from tests.robustness import (
    assert_one_unknown_line,
    assert_plugin_output,
    captures,
    field_mutations,
    fuzz_bytes,
)

PROC_MSG = captures("msgqueues/proc-sysvipc-msg_*")
UPTIME = captures("uptime/*/uptime")
BOOT_ID = captures("uptime/*/sys/kernel/random/boot_id")


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # one directory for the module: hypothesis forbids function-scoped fixtures per example
    path = Path(tempfile.mkdtemp(prefix="nagios_ipc-fuzz-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def fresh(scratch: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=scratch))


def contract(name: str, result: Tuple[int, str]) -> Tuple[int, str]:
    code, text = result
    assert_plugin_output(name, code, text)
    assert "internal error" not in text, text
    assert "timed out" not in text, f"a hang: {text}"
    if code == 3:
        assert_one_unknown_line(name, code, text)
    return code, text


# --- check_msgqueues on a fuzzed /proc/sysvipc/msg -------------------------------------


@given(content=fuzz_bytes(PROC_MSG),
       details=st.sampled_from(["always", "problem"]),
       report=st.sampled_from(["owner", "both"]))
def test_msgqueues_on_fuzzed_proc_file(scratch: Path, content: bytes, details: str,
                                       report: str) -> None:
    directory = fresh(scratch)
    proc = directory / "msg"
    proc.write_bytes(content)
    argv = ["--type", "sysv", "--source", "proc", "--proc-file", str(proc), "-t", "8",
            "--details", details, "--report-by", report, "--unread-age-warning", "1h"]
    contract(msgqueues.NAME, cli.execute(msgqueues.parser(), msgqueues.build, argv))


@pytest.mark.parametrize("capture", range(len(PROC_MSG)))
def test_msgqueues_every_field_extreme(scratch: Path, capture: int) -> None:
    """Each field of the captured table at each extreme (pids and times past the C
    types, negative counts...), through the whole check with the long output."""
    proc = fresh(scratch) / "msg"
    for content in field_mutations(PROC_MSG[capture], limit=600):
        proc.write_bytes(content)
        argv = ["--type", "sysv", "--source", "proc", "--proc-file", str(proc), "-t", "8",
                "--details", "always", "--report-by", "both", "--unread-age-warning", "1h"]
        contract(msgqueues.NAME, cli.execute(msgqueues.parser(), msgqueues.build, argv))


# --- check_mta_backlog on a Postfix spool with one fuzzed queue or defer file ----------

SPOOL = Path(__file__).resolve().parent.parent / "fixtures" / "mta" / "postfix-3.7.11-spool"
SPOOL_FILES = sorted(str(p.relative_to(SPOOL)) for p in SPOOL.rglob("*") if p.is_file())


@given(victim=st.sampled_from(SPOOL_FILES), data=st.data(),
       top=st.sampled_from(["0", "5"]))
def test_mta_postfix_spool_with_a_fuzzed_file(scratch: Path, victim: str, data: st.DataObject,
                                              top: str) -> None:
    from nagios_ipc.mta import check as mta

    spool = fresh(scratch) / "spool"
    shutil.copytree(SPOOL, spool)
    for name in ("incoming", "active", "corrupt"):
        (spool / name).mkdir(exist_ok=True)
    (spool / victim).write_bytes(data.draw(fuzz_bytes([(SPOOL / victim).read_bytes()]),
                                           label="content"))
    argv = ["--mta", "postfix", "--method", "spool", "--spool-dir", str(spool), "--workers",
            "1", "--details", "always", "--top", top, "-t", "8"]
    contract(mta.NAME, cli.execute(mta.parser(), mta.build, argv))


# --- check_host_uptime on fuzzed /proc files and a fuzzed state file --------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(finite, st.integers(), st.sampled_from([math.inf, -math.inf, math.nan,
                                                            1e300, 2**64, -1, 0]))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10)
BOOT_IDS = ["8d9b2f3e-1c4a-4f5e-9a7b-6c5d4e3f2a1b"]
try:  # this host's own boot: the same-boot path too
    BOOT_IDS.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
except OSError:
    pass
hostile = st.sampled_from([math.inf, -math.inf, math.nan, 1e300, 2.0**64, 2**64, -1, -0.0,
                           1e20, 253402300800, True])


@st.composite
def state_dicts(draw: st.DrawFn) -> Any:
    """What to_state() writes with one or two values hostile or missing, maybe extra
    keys: the shapes a hand-edited, old-version or foreign state has."""
    plausible = {"wall": st.floats(0, 4e9), "uptime": st.floats(0, 1e9),
                 "boot_id": st.sampled_from([*BOOT_IDS, None]),
                 "resolution": st.sampled_from([0.01, 1.0, 60.0]),
                 "source": st.sampled_from(["/proc/uptime", "psutil.boot_time()"])}
    broken = draw(st.sets(st.sampled_from(sorted(plausible)), min_size=1, max_size=2))
    value = {}
    for key, good in plausible.items():
        if key not in broken:
            value[key] = draw(good)
            continue
        choice = draw(st.integers(0, 4))
        if choice:  # else missing
            value[key] = draw(hostile if choice < 3 else json_values)
    value.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    return value


def _state_bytes(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


REAL_STATE = _state_bytes(Observation(1.8e9, 722.42, "8d9b2f3e-1c4a-4f5e-9a7b-6c5d4e3f2a1b",
                                      0.01, "/proc/uptime").to_state())
states = st.one_of(st.none(), fuzz_bytes([REAL_STATE]), json_values.map(_state_bytes),
                   *[state_dicts().map(_state_bytes)] * 4)


def uptime_run(directory: Path, state: Any, *argv: str) -> Tuple[int, str]:
    state_file = directory / "state.json"
    if state is not None:
        state_file.write_bytes(state)
    build = functools.partial(uptime.build, source=ProcBootSource(str(directory / "proc")),
                              clock=Clock())
    return contract(uptime.NAME, cli.execute(
        uptime.parser(), build, ["--state-file", str(state_file), "-t", "8", *argv]))


@given(uptime_text=fuzz_bytes(UPTIME), boot_id=fuzz_bytes(BOOT_ID), state=states,
       details=st.sampled_from(["always", "problem"]))
# found by hand: an uptime past any plausible boot reached time.gmtime()
@example(uptime_text=b"1" * 30 + b" 0\n", boot_id=BOOT_ID[0], state=None, details="always")
@example(uptime_text=b"1e300 0\n", boot_id=BOOT_ID[0], state=None, details="problem")
def test_uptime_on_fuzzed_proc_and_state(scratch: Path, uptime_text: bytes, boot_id: bytes,
                                         state: Any, details: str) -> None:
    directory = fresh(scratch)
    (directory / "proc" / "sys" / "kernel" / "random").mkdir(parents=True)
    (directory / "proc" / "uptime").write_bytes(uptime_text)
    (directory / "proc" / "sys" / "kernel" / "random" / "boot_id").write_bytes(boot_id)
    code, _ = uptime_run(directory, state, "--details", details)
    saved = directory / "state.json"
    if code != 3:
        # the run used its observation: the state now holds exactly that, valid
        Observation.from_state(json.loads(saved.read_text()))


def _other_boot(**values: Any) -> bytes:
    state = {"wall": 1.8e9, "uptime": 722.42, "boot_id": BOOT_IDS[0], "resolution": 0.01,
             "source": "/proc/uptime"}
    state.update(values)
    return _state_bytes(state)


@given(state=states)
# found by this property: a previous run at an impossible time reached time.gmtime()
@example(state=_other_boot(wall=math.nan))
@example(state=_other_boot(wall=math.inf))
@example(state=_other_boot(wall=1e300))
@example(state=_other_boot(resolution=math.inf))
@example(state=_other_boot(uptime=1e300, boot_id=BOOT_IDS[-1]))
def test_uptime_state_recovers_or_says_why(scratch: Path, state: Any) -> None:
    """On the real /proc: whatever the state file held, the run succeeds, or says
    UNKNOWN because the state was unusable and moved aside (an OK "first run" could
    hide a reboot), and leaves a valid state behind."""
    directory = fresh(scratch)
    os.symlink("/proc", directory / "proc")
    code, text = uptime_run(directory, state, "--reboots-warning", "none", "--details", "always")
    assert code == 0 or (code == 3 and "moved aside to" in text.splitlines()[0]), text
    Observation.from_state(json.loads((directory / "state.json").read_text()))


# --- check_zmq_hwm with a fuzzed state file, both modes ------------------------------

ZMQ_SNAPSHOT = (Path(__file__).resolve().parent.parent / "fixtures" / "zmq" /
                "stats-snapshot_pyzmq-27.3_libzmq-4.3.5.json").read_bytes()
APP = """\
import socket, sys
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
client = socket.create_connection(server.getsockname()); peer, _ = server.accept()
print(server.getsockname()[1], flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def zmq_app() -> Iterator[int]:
    """A process of this test holding a loopback TCP connection (mode 1 reads it)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", APP], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdout.readline()
    yield proc.pid
    proc.stdin.close()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def stats_endpoint() -> Iterator[str]:
    """A REP socket in a thread answering every request with a real snapshot (mode 2)."""
    import threading

    zmq = pytest.importorskip("zmq")
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.setsockopt(zmq.LINGER, 0)
    port = rep.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    # the captured snapshot, from this process: the check verifies that the pid in the
    # reply is the (user of the) process holding the endpoint
    snapshot = json.loads(ZMQ_SNAPSHOT)
    snapshot["pid"] = os.getpid()
    reply = json.dumps(snapshot).encode()

    def serve() -> None:
        while not stop.is_set():
            if rep.poll(100):
                rep.recv()
                rep.send(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{port}"
    stop.set()
    thread.join(5)
    rep.close(0)
    ctx.term()


def zmq_states() -> st.SearchStrategy[bytes]:
    real = [b'{"conns":{"tcp 127.0.0.1:5556 127.0.0.1:40000":{"q":70000,"acked":12,'
            b'"since":1796493000.0}},"snmp":[207836,5435],"t":1796493318.9966226}',
            b'{"t":1796493318.99,"sends":{"ticks":350},"drops":{"ticks":2650},'
            b'"events":{"ticks":{"closed":3}}}']
    return st.one_of(fuzz_bytes(real), json_values.map(_state_bytes))


@given(state=zmq_states(), mode=st.sampled_from(["sockets", "stats"]))
def test_zmq_with_a_fuzzed_state(scratch: Path, zmq_app: int, stats_endpoint: str,
                                 state: bytes, mode: str) -> None:
    from nagios_ipc.zmqhwm import check as zmqhwm

    path = fresh(scratch) / "state.json"
    path.write_bytes(state)
    select = (["--pid", str(zmq_app)] if mode == "sockets"
              else ["--stats-endpoint", stats_endpoint])
    code, text = contract(zmqhwm.NAME, cli.execute(
        zmqhwm.parser(), zmqhwm.build,
        [*select, "--state-file", str(path), "--details", "always", "-t", "8"]))
    # a bad state is moved aside and said (UNKNOWN) once; this run's state is saved
    assert code != 3 or "moved aside to" in text.splitlines()[0], text
    json.loads(path.read_text())
