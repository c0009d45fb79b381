"""debian/ against the one source of each fact: the version (nagios_ipc/__init__.py),
the licence (LICENSE, setup.cfg), the dependencies (setup.cfg).

Fast and root-free; the package itself is built, linted, installed and run under the
real schedulers by tests/integration/test_debian_package.py.
"""

from __future__ import annotations

import configparser
import importlib.machinery
import importlib.util
import re
import shutil
import subprocess
from types import ModuleType

import pytest

import nagios_ipc
from tests.helpers import ROOT

DEBIAN = ROOT / "debian"
# setup.cfg's requirement -> the Debian 12 package that provides it
DEBIAN_NAMES = {"nagiosplugin": "python3-nagiosplugin", "sysv_ipc": "python3-sysv-ipc",
                "psutil": "python3-psutil", "pyzmq": "python3-zmq"}


def version_tool() -> ModuleType:
    """debian/version (a script without .py) as a module: the map the build uses."""
    loader = importlib.machinery.SourceFileLoader("debian_version", str(DEBIAN / "version"))
    spec = importlib.util.spec_from_loader("debian_version", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def changelog_version() -> str:
    first = (DEBIAN / "changelog").read_text().splitlines()[0]
    match = re.match(r"^nagios-ipc \(([^)\s]+)\) \S+; urgency=\w+$", first)
    assert match, f"debian/changelog's first line: {first!r}"
    return match.group(1)


def test_changelog_follows_the_package_version() -> None:
    """The one version is nagios_ipc.__version__; debian/changelog's top entry follows."""
    wanted = version_tool().debian_version(nagios_ipc.__version__)
    assert changelog_version() == wanted, (
        f"debian/changelog is at {changelog_version()}, nagios_ipc.__version__ is "
        f"{nagios_ipc.__version__}: add an entry with `dch -v {wanted}`")
    assert version_tool().python_version() == nagios_ipc.__version__


@pytest.mark.parametrize("pep440, debian", [
    ("0.1.0", "0.1.0"),
    ("0.1.0.post1", "0.1.0.post1"),
    ("0.2.0rc1", "0.2.0~rc1"),
    ("0.2.0b2", "0.2.0~b2"),
    ("1.0a1", "1.0~a1"),
    ("1.0.dev3", "1.0~~dev3"),
])
def test_version_map(pep440: str, debian: str) -> None:
    assert version_tool().debian_version(pep440) == debian


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg orders Debian versions")
def test_mapped_versions_sort_as_in_pep_440() -> None:
    """A pre-release must install before (not after) its release when upgrading."""
    order = ["0.1.0", "0.1.0.post1", "0.2.0.dev1", "0.2.0a1", "0.2.0b1", "0.2.0rc1", "0.2.0"]
    mapped = [version_tool().debian_version(v) for v in order]
    for older, newer in zip(mapped, mapped[1:]):
        done = subprocess.run(["dpkg", "--compare-versions", older, "lt", newer], timeout=30)
        assert done.returncode == 0, f"dpkg orders {older} after {newer}"


def test_copyright_is_the_license_file() -> None:
    """debian/copyright's Expat text is LICENSE's (setup.cfg says MIT)."""
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert setup["metadata"]["license"] == "MIT"
    license_text = (ROOT / "LICENSE").read_text()
    copyright_text = (DEBIAN / "copyright").read_text()
    holder = re.search(r"^Copyright \(c\) (.+)$", license_text, re.M)
    assert holder, "LICENSE has no 'Copyright (c) YEAR HOLDER' line"
    assert f"\nCopyright: {holder.group(1)}\n" in copyright_text
    body = license_text[license_text.index("Permission is hereby granted"):]
    stanza = copyright_text.split("\nLicense: Expat\n")[-1]
    unfolded = "\n".join("" if line == " ." else line[1:] for line in stanza.splitlines())
    assert unfolded.strip() == body.strip()


def test_depends_are_setup_cfg_requirements() -> None:
    """Depends names Debian's package for each install_requires, and nothing from pip."""
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    required = {re.split(r"[<>=!~ ]", line.strip())[0]
                for line in setup["options"]["install_requires"].strip().splitlines()}
    assert required == set(DEBIAN_NAMES)
    control = (DEBIAN / "control").read_text()
    binary = control.split("\nPackage: ", 1)[1]
    depends = re.search(r"^Depends:(.*?)\n(?=\S)", binary, re.S | re.M)
    assert depends
    names = {item.strip() for item in depends.group(1).split(",") if item.strip()}
    assert names == set(DEBIAN_NAMES.values()) | {"${misc:Depends}", "${python3:Depends}"}
    build_depends = re.search(r"^Build-Depends:(.*?)\n(?=\S|\n)", control, re.S | re.M)
    assert build_depends
    # debian/genman runs each built check's --help: the libraries must be there
    assert set(DEBIAN_NAMES.values()) <= {item.strip() for item in
                                          build_depends.group(1).split(",")}
