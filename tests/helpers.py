"""Running the real check executables the way a scheduler does."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "checks"


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def first_line(self) -> str:
        return self.stdout.split("\n", 1)[0]

    @property
    def summary(self) -> str:
        return self.first_line.split(" | ", 1)[0]

    @property
    def perfdata(self) -> Dict[str, str]:
        """label -> full perfdata item (value;warn;crit;min;max) from all lines."""
        text = self.stdout
        items: Dict[str, str] = {}
        lines = text.splitlines()
        in_perf = False
        chunks: List[str] = []
        for index, line in enumerate(lines):
            if index == 0 or not in_perf:
                if "|" in line:
                    chunks.append(line.split("|", 1)[1])
                    in_perf = index > 0
            else:
                chunks.append(line)
        for chunk in chunks:
            for item in chunk.split():
                label, _, value = item.partition("=")
                items[label.strip("'")] = value
        return items

    def value(self, label: str) -> str:
        return self.perfdata[label].split(";")[0]


def run_check(name: str, args: Sequence[str] = (), env: Optional[Dict[str, str]] = None,
              user: Optional[str] = None, timeout: float = 60,
              python: Optional[str] = None) -> Outcome:
    """Run checks/<name> as a subprocess; *user* runs it through runuser (root only)."""
    argv: List[str] = [python or sys.executable, str(CHECKS / name), *args]
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    full_env = dict(os.environ)
    full_env.pop("PYTHONPATH", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env,
                          stdin=subprocess.DEVNULL)
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def nagios_account() -> pwd.struct_passwd:
    """The nagios user's passwd entry; skips unless root (to switch to it) and it exists."""
    import pytest

    if os.getuid() != 0:
        pytest.skip("needs root to run the check as the nagios user")
    try:
        return pwd.getpwnam("nagios")
    except KeyError:
        pytest.skip("no nagios user (install nagios-nrpe-server)")


def shared_tempdir(prefix: str, owner: Optional[pwd.struct_passwd] = None) -> Iterator[Path]:
    """A temp dir other users can enter (pytest's tmp_path is 0700 root), owned by *owner*
    if given; removed afterwards. For a fixture: ``yield from shared_tempdir(...)``."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix))
    if owner is not None:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
