"""Queue content cannot forge the output or reach a command line, end to end (issue 8).

* check_mta_backlog reading a listing (a fake postqueue -j / exim -bp through
  --mta-binary) whose senders, recipient domains and deferral reasons carry '|',
  newlines, quotes and format directives: the output has exactly the text lines and
  '|' of the same listing with harmless words, and the fake saw only the fixed
  arguments.
* check_zmq_hwm reading a stats endpoint (a REP socket of this test, loopback)
  whose socket names and endpoints carry the same: the same comparison.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.helpers import CHECKS
from tests.robustness import assert_plugin_output, text_lines
from zmqtools import serve_snapshot

HOSTILE = ["ev|il=1", "a\nMTA_BACKLOG OK: forged | x=1", "%s%n{0}%(x)s", "'q'=5",
           "cr\rtab\tnul", "\u202ertl"]
HARMLESS = ["evil", "aforged", "percent", "quoted", "crtab", "rtl"]


def run(argv: List[str], timeout: float = 60) -> Tuple[int, str, str]:
    import subprocess

    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout, proc.stderr


def fake_listing(directory: Path, name: str, output: bytes) -> Tuple[Path, Path]:
    """A program that records its argv (a JSON line per run) and prints *output*."""
    record = directory / f"{name}.argv"
    data = directory / f"{name}.out"
    data.write_bytes(output)
    fake = directory / name
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
                    f"sys.stdout.buffer.write(open({str(data)!r}, 'rb').read())\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return fake, record


def postqueue_lines(words: List[str]) -> bytes:
    lines = []
    for index, word in enumerate(words):
        lines.append(json.dumps({
            "queue_name": "deferred", "queue_id": f"8DF9D1620D{index}",
            "arrival_time": 1795456372 - index * 3600, "message_size": 4792,
            "sender": f"{word}@sender{index}.example",
            "recipients": [{"address": f"rcpt@{word}.example{index}",
                            "delay_reason": f"host said: 451 {word}"}]}))
    return ("\n".join(lines) + "\n").encode()


def exim_bp(words: List[str]) -> bytes:
    text = ""
    for index, word in enumerate(words):
        text += (f" {index + 2}h  2.9K 1xVYEb-0007mT-{index:02d} <{word}@s.example>\n"
                 f"          r@{word}.example{index}\n\n")
    return text.encode()


# exim -bp is line-oriented: a raw newline cannot be inside one of its fields
ONE_LINE = [(h, s) for h, s in zip(HOSTILE, HARMLESS) if "\n" not in h and "\r" not in h]


@pytest.mark.parametrize("mta,listing,arguments,hostile,harmless", [
    ("postfix", postqueue_lines, ["-j"], HOSTILE, HARMLESS),
    ("exim", exim_bp, ["-bp"], [h for h, _ in ONE_LINE], [s for _, s in ONE_LINE]),
])
def test_mta_content_cannot_forge_output(tmp_path: Path, mta: str, listing: object,
                                         arguments: List[str], hostile: List[str],
                                         harmless: List[str]) -> None:
    outputs = {}
    codes = {}
    for kind, words in (("hostile", hostile), ("harmless", harmless)):
        fake, record = fake_listing(tmp_path, f"{mta}-{kind}", listing(words))  # type: ignore[operator]
        code, out, err = run([str(CHECKS / "check_mta_backlog"), "--mta", mta, "--method",
                              "command", "--mta-binary", str(fake), "--details", "always",
                              "--top", "5", "-w", "1", "-c", "100"])
        assert_plugin_output("MTA_BACKLOG", code, out, err)
        assert code in (1, 2), out  # over -w 1: a problem, with the long output
        # every run of the program recorded (Exim's is asked for its spool too: -bP)
        runs = [json.loads(line) for line in record.read_text().splitlines()]
        assert any(argv[-len(arguments):] == arguments for argv in runs), runs
        assert not any(word in record.read_text() for word in HOSTILE[:3])
        outputs[kind], codes[kind] = out, code
    assert codes["hostile"] == codes["harmless"], outputs
    assert len(text_lines(outputs["hostile"])) == len(text_lines(outputs["harmless"])), outputs
    assert outputs["hostile"].count("|") == outputs["harmless"].count("|"), outputs


def snapshot(words: List[str]) -> bytes:
    base = json.loads((Path(__file__).resolve().parent.parent / "fixtures" / "zmq" /
                       "stats-snapshot_pyzmq-27.3_libzmq-4.3.5.json").read_text())
    sockets = []
    for index, word in enumerate(words):
        sock = dict(base["sockets"][index % len(base["sockets"])])
        sock["name"] = word
        sock["endpoints"] = [f"tcp://127.0.0.1:{9000 + index}", f"ipc:///run/{word}.ipc"]
        sockets.append(sock)
    base["sockets"] = sockets
    base["pipes_stats_note"] = words[0]
    return json.dumps(base).encode()


def test_zmq_stats_content_cannot_forge_output(tmp_path: Path) -> None:
    outputs: Dict[str, str] = {}
    for kind, words in (("hostile", HOSTILE), ("harmless", HARMLESS)):
        endpoint, thread, ctx = serve_snapshot(snapshot(words))
        try:
            code, out, err = run([str(CHECKS / "check_zmq_hwm"), "--stats-endpoint", endpoint,
                                  "--details", "always", "--state-file",
                                  str(tmp_path / f"{kind}.json"), "-t", "8"])
        finally:
            thread.join()
            ctx.destroy(linger=0)  # type: ignore[attr-defined]
        assert_plugin_output("ZMQ_HWM", code, out, err)
        assert "internal error" not in out, out
        outputs[kind] = out
    assert len(text_lines(outputs["hostile"])) == len(text_lines(outputs["harmless"])), outputs
    assert outputs["hostile"].count("|") == outputs["harmless"].count("|"), outputs
