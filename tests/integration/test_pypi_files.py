"""PyPI readiness (issue 13): `python3 -m build` on what a clean clone holds gives a
wheel and an sdist that pass `twine check`; the wheel installs into a clean venv
(dependencies from PyPI) whose console scripts work.

The build runs with Debian's python3-build and setuptools (--no-isolation: no
download for the build itself); only the venv install reaches PyPI, as tests/run's
own venv does.
"""

from __future__ import annotations

import re
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
import schedulers
from schedulers import CLEAN_ENV
from test_debian_package import export_tree, must, run

import nagios_ipc

CHECKS = sorted(schedulers.console_scripts())


@pytest.fixture(scope="module")
def dist() -> Iterator[Path]:
    why = schedulers.missing_tools("/usr/bin/git", "/usr/bin/twine", "/usr/bin/unshare")
    if why:
        pytest.skip(why)
    if run(["/usr/bin/python3", "-c", "import build"]).returncode != 0:
        pytest.skip("python3-build is not installed (tests/debian-packages/packaging.txt)")
    if not (schedulers.ROOT / ".git").exists():
        pytest.skip("not a git checkout: the files are built from what a clone holds")
    workdir = schedulers.make_workdir("nagios-ipc-pypi-")
    try:
        tree = workdir / "src"
        export_tree(tree)
        must(["/usr/bin/python3", "-m", "build", "--no-isolation", "--outdir",
              str(workdir / "dist"), str(tree)],
             env={**CLEAN_ENV, "HOME": str(workdir)}, timeout=300)
        yield workdir / "dist"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_wheel_and_sdist_pass_twine_check(dist: Path) -> None:
    version = nagios_ipc.__version__
    wheel = dist / f"nagios_ipc-{version}-py3-none-any.whl"
    sdist = dist / f"nagios_ipc-{version}.tar.gz"
    assert sorted(dist.iterdir()) == sorted([wheel, sdist])
    done = must(["twine", "check", "--strict", str(wheel), str(sdist)], timeout=120)
    assert done.stdout.count("PASSED") == 2, done.stdout
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
        metadata = archive.read(f"nagios_ipc-{version}.dist-info/METADATA").decode()
    assert f"nagios_ipc-{version}.dist-info/LICENSE" in in_wheel
    assert re.search(r"^License: MIT$", metadata, re.M)
    required = {re.sub(r"[-_.]+", "-", match.group(1)).lower() for match in
                re.finditer(r"^Requires-Dist: ([\w.-]+)(.*)$", metadata, re.M)
                if "extra ==" not in match.group(2)}
    assert required == {"nagiosplugin", "sysv-ipc", "psutil", "pyzmq"}, metadata
    modules = {name for name in in_wheel if name.startswith("nagios_ipc/")}
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert modules and modules <= in_sdist, sorted(modules - in_sdist)
    assert {"LICENSE", "README.md", "setup.cfg", "pyproject.toml"} <= in_sdist


def test_wheel_in_a_clean_venv(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    must(["/usr/bin/python3", "-m", "venv", str(venv)])
    wheel = next(dist.glob("*.whl"))
    must([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
          str(wheel)], env={**CLEAN_ENV, "HOME": str(tmp_path)}, timeout=300)
    for check in CHECKS:
        done = run([str(venv / "bin" / check), "-V"], cwd=Path("/"))
        assert done.stdout == f"{check} {nagios_ipc.__version__} (nagios_ipc)\n", done
    # a fresh System V IPC namespace: no queue of another test, a certain answer
    done = run(["unshare", "-i", str(venv / "bin" / "check_msgqueues"), "--type", "sysv"],
               cwd=Path("/"))
    assert (done.returncode, done.stdout) == (
        0, "MSGQUEUES OK: no message queues (checked: sysv) | sysv_slots=0%;80;95;0;100\n")
    located = run([str(venv / "bin" / "python"), "-c",
                   "import nagios_ipc; print(nagios_ipc.__file__)"], cwd=Path("/"))
    assert located.stdout.startswith(str(venv)), located
