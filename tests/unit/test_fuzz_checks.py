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
    """On the real /proc: whatever the state file held, the run succeeds (the state
    replaced, noted once) and leaves a valid state behind."""
    directory = fresh(scratch)
    os.symlink("/proc", directory / "proc")
    code, text = uptime_run(directory, state, "--reboots-warning", "none", "--details", "always")
    assert code == 0, text
    Observation.from_state(json.loads((directory / "state.json").read_text()))
