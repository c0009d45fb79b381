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


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
@pytest.mark.parametrize("args, code, start", [
    (["--help"], 0, "usage: "),
    (["--no-such-option"], 3, " UNKNOWN: usage error: unrecognized arguments: --no-such-option"),
])
def test_leaves_without_teardown_with_the_whole_output(script: object, tmp_path: object,
                                                       args: list, code: int,
                                                       start: str) -> None:
    """After main() a script leaves through os._exit, skipping the interpreter's
    teardown (issue 15: an eighth of an idle run's CPU time). The output must still be
    whole when stdout is a file (block-buffered, flushed by hand) and the code kept;
    an atexit hook proves the teardown did not run."""
    from pathlib import Path

    path = Path(str(script))
    module = next(line.split("=", 1)[1].strip().split(":")[0]
                  for line in (path.parent.parent / "setup.cfg").read_text().splitlines()
                  if line.strip().startswith(f"{path.name} ="))
    probe = ("import atexit, runpy, sys\n"
             "atexit.register(lambda: print('torn down'))\n"
             f"sys.argv = [{str(path)!r}, *{args!r}]\n"
             f"runpy.run_path({str(path)!r}, run_name='__main__')\n")
    out = Path(str(tmp_path)) / "out"
    with open(out, "w") as handle:
        done = subprocess.run([sys.executable, "-c", probe], stdout=handle,
                              stderr=subprocess.PIPE, timeout=60)
    text = out.read_text()
    assert done.returncode == code and done.stderr == b""
    assert "torn down" not in text
    if code == 0:
        import importlib

        assert text == importlib.import_module(module).parser().format_help()
    else:
        first = text.split("\n", 1)[0]
        assert first.endswith(start) and text.endswith(f"Try '{path.name} --help' for the "
                                                      f"options.\n")
