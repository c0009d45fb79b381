"""benchmarks/spoolfloor.c and spoolfloor.py read what check_mta_backlog's full detail
reads: a floor that skipped files would make RESULTS.md's "the most any reader could
reach" figures wrong. Both are run on small spools laid out as Postfix and Exim lay
theirs out, and must find every message and open every file the check opens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def floor_c(tmp_path_factory: pytest.TempPathFactory) -> str:
    binary = tmp_path_factory.mktemp("spoolfloor") / "spoolfloor"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", str(binary),
                    str(ROOT / "benchmarks" / "spoolfloor.c")], check=True)
    return str(binary)


def write(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def postfix_queue(root: Path) -> Tuple[int, int]:
    """(messages, files the check opens) of a queue as Postfix lays it out: 3 deferred
    in hash directories (2 with a defer log in the same hash directory of defer/), one
    held (hold/ is flat, its log is in defer/<first character>/), one active, one
    incoming, one in maildrop."""
    for name in ("A1B2C3", "A9F8E7", "B0C0D0"):
        write(root / "deferred" / name[0] / name)
    for name in ("A1B2C3", "B0C0D0", "C5D5E5"):
        write(root / "defer" / name[0] / name, "recipient=a@b\nreason=timed out\n")
    write(root / "hold" / "C5D5E5")
    write(root / "active" / "D1D2D3")
    write(root / "incoming" / "E1E2E3")
    write(root / "maildrop" / "F1F2F3")
    return 7, 7 + 3


def exim_spool(root: Path) -> Tuple[int, int]:
    """(messages, files opened): 4 messages in flat input/ and msglog/, one without a
    msglog, and 2 more in split directories (split_spool_directory: input/X/)."""
    for sub, message_id in (("", "1aBcDe-000001-AB"), ("", "1aBcDe-000002-AB"),
                            ("", "1aBcDe-000003-AB"), ("", "1aBcDe-000004-AB"),
                            ("X", "1aBcDX-000005-AB"), ("X", "1aBcDX-000006-AB")):
        write(root / "input" / sub / f"{message_id}-H")
        write(root / "input" / sub / f"{message_id}-D")
        if not message_id.endswith("4-AB"):
            write(root / "msglog" / sub / message_id)
    return 6, 6 + 5


def run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done
    return done.stdout.strip()


@pytest.mark.parametrize("mta, layout", [("postfix", postfix_queue), ("exim", exim_spool)])
def test_floors_read_what_the_check_reads(tmp_path: Path, floor_c: str, mta: str,
                                          layout: Callable[[Path], Tuple[int, int]]) -> None:
    messages, opened = layout(tmp_path)
    expected = f"{messages} messages, {opened} files opened"
    assert run([floor_c, mta, str(tmp_path)]) == expected
    assert run([floor_c, mta, str(tmp_path), "--no-fstat"]) == expected
    assert run([sys.executable, str(ROOT / "benchmarks" / "spoolfloor.py"), mta,
                str(tmp_path)]) == expected
