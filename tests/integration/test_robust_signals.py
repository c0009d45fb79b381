"""A scheduler that gives up sends SIGTERM (Icinga 2, Nagios 4 and NRPE do, when their
timeout is shorter than the plugin's -t): the check still prints one UNKNOWN line and
leaves no listing command running (issue 20, item 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import CHECKS


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_gives_one_line_and_kills_the_command(signum: int, tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    slow = tmp_path / "slow"
    slow.write_text(f"#!/bin/sh\necho $$ > {marker}\nexec sleep 60\n")
    slow.chmod(0o755)
    proc = subprocess.Popen([sys.executable, str(CHECKS / "check_mta_backlog"), "--mta",
                             "nullmailer", "--method", "command", "--mta-binary", str(slow),
                             "-t", "30"], stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 20
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline, "the listing command never started"
        time.sleep(0.05)
    child = int(marker.read_text())
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 3
    assert out.splitlines() == [
        f"MTA_BACKLOG UNKNOWN: stopped by {signal.Signals(signum).name} while running "
        f"'{slow}' (reading the nullmailer queue); if the scheduler's timeout sent it, set -t "
        f"below that timeout"], out
    assert err == ""
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # the listing command's whole group went with the check
