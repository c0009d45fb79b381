"""The thin executables in checks/: a missing dependency is one UNKNOWN line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import CHECKS

SCRIPTS = sorted(p for p in CHECKS.glob("check_*"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_missing_dependency_is_unknown(script: object) -> None:
    # -S: no site-packages, so nagiosplugin & co. cannot be imported
    done = subprocess.run([sys.executable, "-S", "-E", str(script)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3
    assert done.stderr == ""
    assert done.stdout.count("\n") == 1
    assert " UNKNOWN: cannot import Python module " in done.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_executable_and_named_in_setup_cfg(script: object) -> None:
    from pathlib import Path

    path = Path(str(script))
    assert path.stat().st_mode & 0o111
    setup = (path.parent.parent / "setup.cfg").read_text()
    assert f"{path.name} = nagios_ipc." in setup
