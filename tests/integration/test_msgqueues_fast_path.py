"""check_msgqueues at scale (issue 15): the fast path (idle queues counted, not built;
SysvProcSource.batch) gives exactly what the reference path (every queue built)
gives, on real queues: exit code, first line, whole perfdata, long output, growth.

The queues live in private IPC and mount namespaces (tests/integration/
msgqueues_paths.py makes them and runs both paths there), so nothing on the host
sees them and they vanish with the namespaces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

pytest.importorskip("sysv_ipc")
pytest.importorskip("posix_ipc")

HELPER = Path(__file__).resolve().parent / "msgqueues_paths.py"


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> List[Dict[str, Any]]:
    if os.geteuid() != 0:
        pytest.skip("needs root: private IPC and mount namespaces, queues of other uids")
    state = tmp_path_factory.mktemp("fast-path")
    script = ('mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue && '
              'exec "$0" "$1" "$2"')
    done = subprocess.run(["unshare", "--ipc", "--mount", "--fork", "sh", "-c", script,
                           sys.executable, str(HELPER), str(state)],
                          capture_output=True, text=True, timeout=300,
                          cwd=str(HELPER.parents[2]))
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_all_limits_in_one_pass_are_read_limits_ones(pairs: List[Dict[str, Any]]) -> None:
    stats = [p for p in pairs if p["label"] == "stat_all"]
    assert len(stats) == 5
    for stat in stats:
        assert stat["same"], stat
    assert any(stat["slots"] > stat["queues"] for stat in stats)  # with free slots between


def test_fast_path_output_is_the_reference_output(pairs: List[Dict[str, Any]]) -> None:
    pairs = [p for p in pairs if p["label"] != "stat_all"]
    assert len(pairs) == 5 * (8 + 4) + 8
    for pair in pairs:
        where = (pair["seed"], pair["label"], pair["step"])
        fast_code, fast_text = pair["fast"]
        ref_code, ref_text = pair["reference"]
        assert fast_code == ref_code, where
        assert fast_text == ref_text, (where, fast_text, ref_text)
        assert fast_text.startswith("MSGQUEUES "), where


def test_fast_path_was_taken(pairs: List[Dict[str, Any]]) -> None:
    """Not a silent fallback: idle queues were left unbuilt, busy ones built."""
    for pair in (p for p in pairs if p["label"] != "stat_all"):
        where = (pair["seed"], pair["label"])
        if pair["label"] == "filtered":  # a filter looks at every queue: all built
            assert pair["idle"] == pair["built"] == 0, where
        elif pair["seed"] == 0:  # 500 idle queues, nothing else
            assert (pair["built"], pair["idle"]) == (0, 500), where
        elif pair["label"] != "growth" or pair["step"] == 0:
            # the full one, two of qbytes 0, three busy, the orphaned one; the rest idle
            # (the two IPC_PRIVATE ones and the negative-key one too)
            assert pair["built"] == 7, where
            assert pair["idle"] == {1: 40, 2: 300, 3: 1500, 4: 0, 5: 200}[pair["seed"]] + 3, where


def test_what_the_paths_agree_on_is_right(pairs: List[Dict[str, Any]]) -> None:
    """Agreement alone could be a shared mistake: a few figures held to the truth."""
    by = {(p["seed"], p["label"], p["step"]): p["fast"] for p in pairs if "fast" in p}
    first = next(p["first"] for p in pairs if p["seed"] == 0)
    code, text = by[(0, "sysv-fill-0", 0)]
    # all 500 empty: the fullest queue (0%) named is the first in /proc's order
    assert code == 1, text
    assert text.startswith("MSGQUEUES WARNING: fullest queue of owner root at 0%: sysv key "), text
    assert f" id {first} (0 messages, 0 of 16384 B, 0%)" in text.splitlines()[0], text
    code, text = by[(0, "both", 0)]
    assert "queues_total=500;;;0 " in text and "qbytes_total=8192000B;;;0" in text, text
    code, text = by[(3, "always", 0)]
    assert code == 2, text  # the full queue and the qbytes 0 ones
    assert "(a limit of 0 B: no message fits)" in text
    assert "... and " in text  # 1,510 queues: 100 lines shown


def test_growth_sequence_matches(pairs: List[Dict[str, Any]]) -> None:
    steps = [p for p in pairs if p["label"] == "growth" and p["seed"] == 2]
    assert [p["step"] for p in steps] == [0, 1, 2, 3]
    assert "growth: first sample in " in steps[0]["fast"][1]
    last = steps[-1]["fast"][1]
    assert "bytes_growth_total=" in last and "messages_growth_total=" in last, last
