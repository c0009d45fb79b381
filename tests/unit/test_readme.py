"""README.md's per-check reference is each check's --help, verbatim."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_readme_matches_help() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "readme.py")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block[0].endswith("/opt/nagios_ipc/bin/check_msgqueues")
    assert block[1] == "tests/run"
    assert "exec tests/run" in (ROOT / ".ci" / "run").read_text()
