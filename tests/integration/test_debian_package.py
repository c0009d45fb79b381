"""The Debian package (debian/), built, linted, installed and run for real (issue 13).

Once per test session (fixture ``built``): the tree a clean clone holds (``git
archive`` of HEAD, or of ``git stash create`` when tracked files have local edits)
is exported to a temp dir; ``apt-get build-dep`` installs the Build-Depends as a
builder would (tests/debian-packages/packaging.txt has them installed already, so it
normally installs nothing); ``dpkg-buildpackage -us -uc -b`` builds it, and again
from a copy one version up, for the upgrade. Then, for this module (fixture
``installed``): ``apt-get install ./OLD.deb``, an admin edit of a conffile,
``apt-get install ./NEW.deb`` with no terminal (a conffile prompt would fail it),
the checks as the nagios user, the man page, a real Icinga 2 with the stock ITL
includes and a real NRPE with the shipped example commands; the last test purges.

Restoring the machine: the package is purged (also when a test fails), the sudoers
example placed for the sudo commands is removed, the state file a check made under
/var/tmp is removed after the test saw it survive the purge. While the package is
installed this module holds the plugin-dir lock of tests/schedulers.py (other runs'
scheduler tests wait; this run's own wrappers step aside), and the scheduler tests
never load the package's Icinga file (schedulers.ITL_INCLUDES), so they pass whether
the package is installed or not.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set

import pytest
import schedulers
from plugin_output import state_word
from schedulers import CLEAN_ENV, ICINGA, PLUGIN_DIR, Icinga, Netns, Nrpe, icinga_value

ROOT = schedulers.ROOT
PACKAGE = "monitoring-plugins-nagios-ipc"
SOURCE = "nagios-ipc"
DOC = Path("/usr/share/doc") / PACKAGE
ICINGA_FILE = schedulers.PACKAGE_ICINGA_FILE
NAGIOS_CONFIG = Path("/etc/nagios-plugins/config")
EDITED_CONFFILE = NAGIOS_CONFIG / "check_msgqueues.cfg"
ADMIN_EDIT = "# an admin's edit: kept across the upgrade\n"
SUDOERS = Path("/etc/sudoers.d/nagios_ipc-package-test")  # its own name: not another test's
APT_ENV = {**CLEAN_ENV, "DEBIAN_FRONTEND": "noninteractive"}
TOOLS = ("/usr/bin/dpkg-buildpackage", "/usr/bin/apt-get", "/usr/bin/lintian",
         "/usr/bin/git", "/usr/bin/man", ICINGA, schedulers.NRPE, schedulers.CHECK_NRPE,
         "/usr/bin/unshare", "/usr/bin/nsenter")
CHECKS = sorted(schedulers.console_scripts())


def run(argv: Sequence[str], cwd: Optional[Path] = None, timeout: float = 300,
        env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env or CLEAN_ENV, stdin=subprocess.DEVNULL)


def must(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = run(argv, **kwargs)  # type: ignore[arg-type]
    assert done.returncode == 0, f"{' '.join(argv)}: exit {done.returncode}\n" \
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def prefix(check: str) -> str:
    """The first word of a check's output: check_zmq_hwm -> ZMQ_HWM."""
    return check[len("check_"):].upper()


def package_status() -> str:
    done = run(["dpkg-query", "-W", "-f=${Status} ${Version}", PACKAGE])
    return done.stdout if done.returncode == 0 else ""


def installed() -> bool:
    return package_status().startswith("install ok installed")


# --- building --------------------------------------------------------------------------

@dataclass
class Build:
    old: Path           # the .deb at the tree's version
    new: Path           # the .deb one version up
    old_version: str
    new_version: str
    changes: Path       # the old build's .changes (lintian reads the whole upload)
    tree: Path          # the exported source tree (as built)
    build_dep: str      # apt-get build-dep's output
    seconds: float      # both builds


def export_tree(target: Path) -> None:
    """What a clean clone checks out: tracked files only, local edits included."""
    stash = run(["git", "-C", str(ROOT), "stash", "create"]).stdout.strip()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar",
                              stash or "HEAD"], capture_output=True, timeout=120, check=True)
    target.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, timeout=120,
                   check=True)


def bump(version: str) -> str:
    """One release up: 0.1.0 -> 0.1.1, 0.2.0rc1 -> 0.2.1."""
    release = re.match(r"\d+(?:\.\d+)*", version)
    assert release, version
    parts = release.group(0).split(".")
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts)


def set_version(tree: Path, version: str) -> str:
    """__version__ and a new debian/changelog entry, as a release does; returns the
    Debian version (debian/version's map, run by the build to check them)."""
    init = tree / "nagios_ipc" / "__init__.py"
    init.write_text(re.sub(r'^__version__ = "[^"]*"', f'__version__ = "{version}"',
                           init.read_text(), flags=re.M))
    debian_version = must([sys.executable, str(tree / "debian" / "version")]).stdout.strip()
    changelog = tree / "debian" / "changelog"
    text = changelog.read_text()
    trailer = next(line for line in text.splitlines() if line.startswith(" -- "))
    maintainer = trailer[4:].split("  ", 1)[0]
    changelog.write_text(
        f"{SOURCE} ({debian_version}) unstable; urgency=medium\n\n"
        f"  * Upgrade test build (tests/integration/test_debian_package.py).\n\n"
        f" -- {maintainer}  {formatdate(usegmt=False, localtime=False)}\n\n" + text)
    return debian_version


def dpkg_buildpackage(tree: Path) -> None:
    # a builder's environment: nothing of this test run's venv or PYTHONPATH
    env = {**CLEAN_ENV, "HOME": str(tree.parent), "LC_ALL": "C.UTF-8"}
    must(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, env=env, timeout=600)


@pytest.fixture(scope="session")
def built() -> Iterator[Build]:
    why = schedulers.missing_tools(*TOOLS)
    if why:
        pytest.skip(why)
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the package is built from what a clone holds")
    workdir = schedulers.make_workdir("nagios-ipc-deb-")
    try:
        tree = workdir / "old" / SOURCE
        export_tree(tree)
        new_tree = workdir / "new" / SOURCE
        shutil.copytree(tree, new_tree, symlinks=True)
        build_dep = must(["apt-get", "build-dep", "-y", "-q", "-o", "DPkg::Lock::Timeout=600",
                          "./"], cwd=tree, env=APT_ENV, timeout=900).stdout
        old_version = must([sys.executable, str(tree / "debian" / "version")]).stdout.strip()
        python_version = re.search(
            r'^__version__ = "([^"]+)"', (tree / "nagios_ipc" / "__init__.py").read_text(),
            re.M)
        assert python_version
        new_version = set_version(new_tree, bump(python_version.group(1)))
        started = time.monotonic()
        dpkg_buildpackage(tree)
        dpkg_buildpackage(new_tree)
        seconds = time.monotonic() - started
        yield Build(old=tree.parent / f"{PACKAGE}_{old_version}_all.deb",
                    new=new_tree.parent / f"{PACKAGE}_{new_version}_all.deb",
                    old_version=old_version, new_version=new_version,
                    changes=next(tree.parent.glob(f"{SOURCE}_{old_version}_*.changes")),
                    tree=tree, build_dep=build_dep, seconds=seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def deb_files(deb: Path) -> Dict[str, str]:
    """path -> mode string of each entry of the package."""
    listing = must(["dpkg-deb", "-c", str(deb)]).stdout
    files: Dict[str, str] = {}
    for line in listing.splitlines():
        fields = line.split(None, 5)
        files[fields[5].split(" -> ")[0].lstrip(".")] = fields[0]
    return files


def test_build_from_a_clean_tree(built: Build) -> None:
    assert built.old.is_file() and built.new.is_file(), sorted(
        p.name for p in built.tree.parent.iterdir())
    assert re.search(r"^0 upgraded, 0 newly installed|^\d+ upgraded, \d+ newly installed",
                     built.build_dep, re.M), built.build_dep
    # the built tree was what git holds: no venv, egg-info or build dir came along
    assert not (built.tree / ".venv").exists()
    assert built.seconds < 120, f"two package builds took {built.seconds:.0f} s"


def test_lintian_clean(built: Build) -> None:
    """No error and no warning (info and pedantic tags are listed, not failed)."""
    done = run(["lintian", "--fail-on", "error,warning", "--tag-display-limit", "0",
                str(built.changes)], timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not re.search(r"^[EW]: ", done.stdout, re.M), done.stdout


def test_layout(built: Build) -> None:
    files = deb_files(built.old)
    for check in CHECKS:
        assert files.get(f"{PLUGIN_DIR}/{check}") == "-rwxr-xr-x", check
        assert f"/usr/share/man/man1/{check}.1.gz" in files, check
    assert "/usr/lib/python3/dist-packages/nagios_ipc/__init__.py" in files
    assert not [path for path in files if path.startswith("/usr/bin/")]
    assert str(ICINGA_FILE) in files
    for cfg in sorted((ROOT / "contrib" / "nagios").glob("*.cfg")):
        assert f"{NAGIOS_CONFIG}/{cfg.name}" in files, cfg.name
    for example in [*sorted((ROOT / "contrib" / "nrpe").glob("*")),
                    *sorted((ROOT / "contrib" / "sudoers.d").glob("*")),
                    *sorted((ROOT / "contrib" / "grafana").glob("*")),
                    *sorted((ROOT / "contrib" / "icingaweb2-graphite").glob("*"))]:
        assert f"{DOC}/examples/{example.parent.name}/{example.name}" in files, example
    for doc in ("copyright", "changelog.gz"):
        assert f"{DOC}/{doc}" in files
    conffiles = set(must(["dpkg-deb", "-I", str(built.old), "conffiles"]).stdout.split())
    assert conffiles == {path for path in files if path.startswith("/etc/")
                         and not path.endswith("/")}
    fields = must(["dpkg-deb", "-f", str(built.old), "Depends", "Architecture"]).stdout
    assert "Architecture: all" in fields
    depends = {item.strip() for item in fields.split("Depends:", 1)[1].split("\n")[0].split(",")}
    assert depends == {"python3-nagiosplugin", "python3-psutil", "python3-sysv-ipc",
                       "python3-zmq", "python3:any"}


def test_icinga_file_is_the_contrib_files(built: Build) -> None:
    """One file made from every contrib/icinga2/check_*.conf at build time."""
    text = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(built.old)], capture_output=True,
                          timeout=60, check=True).stdout
    content = subprocess.run(["tar", "-xO", f".{ICINGA_FILE}"], input=text,
                             capture_output=True, timeout=60, check=True).stdout.decode()
    for conf in sorted((built.tree / "contrib" / "icinga2").glob("check_*.conf")):
        assert conf.read_text() in content, conf.name
    assert set(command_names(content)) == set(contrib_command_names(built.tree))


# --- installed -------------------------------------------------------------------------

def command_names(text: str) -> List[str]:
    return re.findall(r'^object\s+CheckCommand\s+"([^"]+)"', text, re.M)


def contrib_command_names(tree: Path) -> List[str]:
    """Every CheckCommand of contrib/icinga2/check_*.conf, found, not listed here: the
    names may change (renames keep an alias for a release)."""
    names: List[str] = []
    for conf in sorted((tree / "contrib" / "icinga2").glob("check_*.conf")):
        names += command_names(conf.read_text())
    return names


@dataclass
class Installed:
    build: Build
    upgrade: subprocess.CompletedProcess[str]
    after_upgrade: str          # the edited conffile after the upgrade
    workdir: Path


def apt_install(deb: Path) -> subprocess.CompletedProcess[str]:
    """apt-get install ./x.deb with no terminal and no --force-conf* option: a
    conffile question would end in an error, not in a silent answer."""
    return run(["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=600",
                f"./{deb.name}"], cwd=deb.parent, env=APT_ENV, timeout=900)


def purge() -> subprocess.CompletedProcess[str]:
    return run(["apt-get", "purge", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", PACKAGE],
               env=APT_ENV, timeout=600)


def state_dir_candidates() -> List[Path]:
    """Where the checks of root and nagios keep state by default (nagios_ipc/state.py):
    ~/.local/state/nagios_ipc/HOST, or /var/tmp/nagios_ipc-UID on hosts upgraded from
    before that."""
    host = "".join(ch if ch.isalnum() or ch in "._-" else "_"
                   for ch in os.uname().nodename).lstrip(".") or "localhost"
    users = [pwd.getpwnam(name) for name in ("root", "nagios")]
    return ([Path(user.pw_dir, ".local", "state", "nagios_ipc", host) for user in users]
            + [Path(f"/var/tmp/nagios_ipc-{user.pw_uid}") for user in users])


def nagios_state_dir() -> Path:
    """The nagios user's default state directory as the installed package finds it."""
    found = as_nagios(["/usr/bin/python3", "-c", "from nagios_ipc.state import "
                       "default_state_dir; print(default_state_dir())"])
    assert found.returncode == 0 and found.stdout.startswith("/"), found
    return Path(found.stdout.strip())


@contextlib.contextmanager
def state_dirs_restored() -> Iterator[None]:
    """The default state directories of root and nagios as they were (the shipped NRPE
    commands and the Icinga 2 agent keep state there): files that appear while the
    package is installed are removed after, and a directory that was not there."""
    dirs = state_dir_candidates()
    before = {path: set(path.iterdir()) if path.is_dir() else None for path in dirs}
    try:
        yield
    finally:
        for path, had in before.items():
            if not path.is_dir():
                continue
            for made in set(path.iterdir()) - (had or set()):
                with contextlib.suppress(FileNotFoundError):
                    made.unlink()
            if had is None:
                with contextlib.suppress(OSError):
                    path.rmdir()


@pytest.fixture(scope="module")
def package(built: Build) -> Iterator[Installed]:
    if package_status():
        pytest.fail(f"{PACKAGE} is on this machine already ({package_status()}): this "
                    f"test installs and purges it; purge it first")
    workdir = schedulers.make_workdir("nagios-ipc-debinst-")
    shutil.chown(workdir, "nagios", "nagios")
    try:
        with schedulers.plugin_dir_for_package(), state_dirs_restored():
            try:
                first = apt_install(built.old)
                assert first.returncode == 0, first.stdout + first.stderr
                with EDITED_CONFFILE.open("a") as conf:
                    conf.write(ADMIN_EDIT)
                upgrade = apt_install(built.new)
                yield Installed(build=built, upgrade=upgrade,
                                after_upgrade=EDITED_CONFFILE.read_text()
                                if EDITED_CONFFILE.exists() else "", workdir=workdir)
            finally:
                if package_status():
                    done = purge()
                    assert done.returncode == 0, done.stdout + done.stderr
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def sudo_rule(package: Installed) -> Iterator[Path]:
    """The shipped sudoers example, installed as its comment says (0440, visudo -c),
    for the sudo commands of the NRPE examples and the CheckCommands; removed after."""
    examples = sorted((DOC / "examples" / "sudoers.d").iterdir())
    assert examples
    # files with a dot are templates (sudo skips them in /etc/sudoers.d); the one for
    # check_zmq_hwm as the application's user is filled in as its comment says, with
    # nagios as the application's user (zmq_hwm_sudo in the Icinga test below)
    text = "".join(path.read_text() for path in examples if "." not in path.name)
    text += (DOC / "examples" / "sudoers.d" / "nagios_ipc_zmq.example").read_text().replace(
        "APPUSER", "nagios")
    try:
        SUDOERS.write_text(text)
        SUDOERS.chmod(0o440)
        must(["visudo", "-c", "-q", "-f", str(SUDOERS)])
        yield SUDOERS
    finally:
        with contextlib.suppress(FileNotFoundError):
            SUDOERS.unlink()


def test_upgrade_keeps_conffiles_without_questions(package: Installed) -> None:
    build = package.build
    assert package.upgrade.returncode == 0, package.upgrade.stdout + package.upgrade.stderr
    assert "conffile" not in package.upgrade.stdout.lower(), package.upgrade.stdout
    assert package_status() == f"install ok installed {build.new_version}"
    assert package.after_upgrade.endswith(ADMIN_EDIT)
    assert f"{build.new_version}" in run(["/usr/lib/nagios/plugins/check_msgqueues", "-V"],
                                         cwd=Path("/")).stdout


def as_nagios(argv: Sequence[str], ipc_namespace: bool = False
              ) -> subprocess.CompletedProcess[str]:
    """As the nagios user from /, with a scheduler's bare environment; in a fresh
    System V IPC namespace (no queue of other tests) when asked."""
    wrap = ["unshare", "-i"] if ipc_namespace else []
    return run([*wrap, "runuser", "-u", "nagios", "--", *argv], cwd=Path("/"), timeout=60)


@contextlib.contextmanager
def zeromq_app(workdir: Path, netns: Optional[Netns] = None) -> Iterator[int]:
    """A ZeroMQ PUB bound on an ipc:// endpoint (no network), run by Debian's
    python3-zmq as nagios (in *netns*: socket tables are per namespace); its pid."""
    script = ("import os, sys, time, zmq\n"
              "pub = zmq.Context().socket(zmq.PUB)\n"
              "pub.bind('ipc://' + sys.argv[1])\n"
              "print(os.getpid(), flush=True)\n"
              "time.sleep(120)\n")
    argv = ["runuser", "-u", "nagios", "--", "/usr/bin/python3", "-c", script,
            str(workdir / f"pub-{time.monotonic_ns()}.ipc")]
    proc = subprocess.Popen(netns.argv(argv) if netns else argv, stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=CLEAN_ENV, start_new_session=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        schedulers.stop(proc)


def empty_postfix_spool(spool: Path) -> Path:
    """An empty Postfix queue directory tree, readable by nagios."""
    for sub in ("maildrop", "incoming", "active", "deferred", "hold", "corrupt"):
        (spool / sub).mkdir(parents=True)
    return spool


def test_checks_run_as_nagios(package: Installed) -> None:
    """Each check from /usr/lib/nagios/plugins under /usr/bin/python3, as nagios,
    importing the package's nagios_ipc (not this checkout's)."""
    for check in CHECKS:
        assert (PLUGIN_DIR / check).read_text().splitlines()[0] == "#!/usr/bin/python3"
    where = as_nagios(["/usr/bin/python3", "-c", "import nagios_ipc; print(nagios_ipc.__file__)"])
    assert where.stdout.strip() == "/usr/lib/python3/dist-packages/nagios_ipc/__init__.py"

    lines: Dict[str, str] = {}
    codes: Dict[str, int] = {}
    done = as_nagios([f"{PLUGIN_DIR}/check_msgqueues", "--type", "sysv"], ipc_namespace=True)
    lines["check_msgqueues"], codes["check_msgqueues"] = done.stdout.split("\n")[0], \
        done.returncode
    spool = empty_postfix_spool(package.workdir / "postfix-spool")
    done = as_nagios([f"{PLUGIN_DIR}/check_mta_backlog", "--mta", "postfix", "--method",
                      "spool", "--spool-dir", str(spool)])
    lines["check_mta_backlog"], codes["check_mta_backlog"] = done.stdout.split("\n")[0], \
        done.returncode
    done = as_nagios([f"{PLUGIN_DIR}/check_host_uptime", "--state-file",
                      str(package.workdir / "uptime.json")])
    lines["check_host_uptime"], codes["check_host_uptime"] = done.stdout.split("\n")[0], \
        done.returncode
    with zeromq_app(package.workdir) as pid:
        done = as_nagios([f"{PLUGIN_DIR}/check_zmq_hwm", "--pid", str(pid)])
    lines["check_zmq_hwm"], codes["check_zmq_hwm"] = done.stdout.split("\n")[0], done.returncode
    assert set(lines) == set(CHECKS), "a check of setup.cfg without a run here"

    assert lines["check_msgqueues"] == \
        "MSGQUEUES OK: no message queues (checked: sysv) | sysv_slots=0%;80;95;0;100"
    assert lines["check_mta_backlog"].startswith(
        "MTA_BACKLOG OK: postfix: 0 messages queued | messages=0;;;0 "), lines
    assert re.fullmatch(r"HOST_UPTIME OK: up [\dsmhd ]+ \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
                        r"UTC\), first run: period measures start with the next run \| "
                        r"uptime=\d+s;;;0", lines["check_host_uptime"]), lines
    assert re.fullmatch(r"ZMQ_HWM OK: no connections of pid \d+ \(python3\) \(1 listening\) \| "
                        r"peers=0;;;0 stalled=0;;0;0;0 stalled_for=0s;;;0 not_reading=0;;0;0;0 "
                        r"sendq=0B;;;0 "
                        r"sendq_fill=0%;80;;0;100 recvq=0B;;;0 fds=[\d.]+%;80;95;0;100",
                        lines["check_zmq_hwm"]), lines
    assert codes == {check: 0 for check in CHECKS}, (codes, lines)


def test_man_page(package: Installed) -> None:
    done = run(["man", "-P", "cat", "check_msgqueues"], env={**CLEAN_ENV, "MANWIDTH": "80"})
    assert done.returncode == 0, done.stderr
    assert re.search(r"check_msgqueues - System V and POSIX message queues", done.stdout)
    assert "--report-by" in done.stdout  # the options of its --help
    for check in CHECKS:
        assert run(["man", "-w", check]).stdout.strip() == f"/usr/share/man/man1/{check}.1.gz"


# --- a real Icinga 2 with the stock ITL includes ---------------------------------------

class StockIcinga(Icinga):
    """Icinga as Debian runs it (as nagios), with /etc/icinga2/constants.conf: that
    sets ZoneName = NodeName itself, so no -DZoneName."""

    @property
    def defines(self) -> List[str]:
        return [define.replace("-DRunAsUser=root", "-DRunAsUser=nagios")
                .replace("-DRunAsGroup=root", "-DRunAsGroup=nagios")
                for define in super().defines if not define.startswith("-DZoneName=")]


def stock_includes() -> str:
    """The stock icinga2.conf's ITL part: its own lines, but for the site's files
    (zones.conf, features-enabled, conf.d), which the test replaces."""
    stock = Path("/etc/icinga2/icinga2.conf").read_text()
    lines = [line.strip() for line in stock.splitlines()
             if line.strip().startswith(("include ", "include_recursive "))]
    assert "include <plugins-contrib>" in lines, "the stock icinga2.conf changed"
    kept = [line.replace('include "constants.conf"', 'include "/etc/icinga2/constants.conf"')
            for line in lines if not re.search(r'zones\.conf|features-enabled|"conf\.d"', line)]
    return "\n".join(kept) + "\n"


def test_icinga2_stock_config_runs_every_check_command(package: Installed, sudo_rule: Path
                                                       ) -> None:
    names = contrib_command_names(package.build.tree)
    assert names and set(names) == set(command_names(ICINGA_FILE.read_text()))
    root = package.workdir / "icinga"
    icinga = StockIcinga(root, "pkgtest", schedulers.free_ports(1)[0])
    with contextlib.ExitStack() as stack:
        netns = stack.enter_context(contextlib.closing(Netns()))
        icinga.pki(icinga)
        pid = stack.enter_context(zeromq_app(package.workdir, netns))
        spool = empty_postfix_spool(package.workdir / "icinga-spool")
        # the plain commands (their own command line) with options that make each
        # check's answer certain; the others (import of a plain one: an alias, the
        # sudo variant) with none, as a service using them on its own would
        args = {"check_zmq_hwm": ["--pid", str(pid), "--state-file",
                                  str(root / "zmq.json")],
                "check_mta_backlog": ["--mta", "postfix", "--method", "spool",
                                      "--spool-dir", str(spool)],
                "check_host_uptime": ["--state-file", str(root / "uptime.json")],
                # queues of an owner no account has: none, whatever other tests made
                "check_msgqueues": ["--owner", "nagios-ipc-nobody-*", "--absent", "ok"]}
        defs = {name: schedulers.CheckCommandDef(name, body, ICINGA_FILE) for name, body in
                schedulers.COMMAND_RE.findall(ICINGA_FILE.read_text())}
        # the first CheckCommand of each plugin (as schedulers.check_commands() takes it);
        # the others (an alias such as nagios_ipc_host_uptime, the sudo variants) run with
        # no variables, as a service using them on its own would
        certain: set = set()
        for name, d in defs.items():
            if args.get(d.plugin) and d.plugin not in {defs[c].plugin for c in certain}:
                certain.add(name)
        services = ""
        for name in names:
            variables = defs[name].vars_for(args[defs[name].plugin]) if name in certain else {}
            if name == "zmq_hwm_sudo":  # the line of the sudoers example, user nagios
                variables = {"zmq_hwm_sudo_user": "nagios", "zmq_hwm_process_name": ["feed"],
                             "zmq_hwm_timeout": 8}
            services += (f'object Service "{name}" {{\n  host_name = "pkg"\n'
                         f'  check_command = "{name}"\n  check_interval = 1s\n'
                         f'  retry_interval = 1s\n  max_check_attempts = 1\n'
                         + "".join(f"  vars.{key} = {icinga_value(value)}\n"
                                   for key, value in variables.items()) + "}\n")
        config = (stock_includes() + f"""
object IcingaApplication "app" {{ }}
object CheckerComponent "checker" {{ }}
object Endpoint "{icinga.node}" {{ }}
object Zone "{icinga.node}" {{ endpoints = [ "{icinga.node}" ] }}
{icinga.api_config()}
object Host "pkg" {{
  check_command = "dummy"
  enable_active_checks = false
}}
""" + services)
        must(["chown", "-R", "nagios:nagios", str(root)])
        checked = icinga.validate(config)
        assert checked.returncode == 0, schedulers.errors_of(checked.stdout + checked.stderr)
        assert re.search(rf"Instantiated {len(names)} Services\.", checked.stdout), \
            checked.stdout[-2000:]
        icinga.start(netns, config)
        stack.callback(icinga.stop)
        results = icinga.wait_results("pkg", lambda _name, _result: True, names, timeout=60)
    for name, result in results.items():
        command = result["command"]
        assert command[0].startswith(f"{PLUGIN_DIR}/check_") or command[:2] == [
            "/usr/bin/sudo", "-n"], (name, command)
        check = next(word.rsplit("/", 1)[1] for word in command
                     if word.startswith(f"{PLUGIN_DIR}/"))
        state = int(result["state"])
        word = state_word(state)
        assert re.match(rf"{prefix(check)} {word}: ", result["output"]), (name, result["output"])
        assert "cannot import" not in result["output"], result["output"]
        if name in certain:
            assert state == 0, (name, command, result["output"])
    assert len(certain) == len(args), f"a plain CheckCommand per check: {sorted(certain)}"


# --- a real NRPE with the shipped examples ---------------------------------------------

def test_nrpe_example_commands(package: Installed, sudo_rule: Path) -> None:
    """The example nrpe.d files copied as they are into an nrpe.d; check_nrpe asks
    every command over v3 and v2 packets: each answers with its check's line."""
    nrpe_d = package.workdir / "nrpe.d"
    nrpe_d.mkdir()
    commands: Dict[str, str] = {}
    for example in sorted((DOC / "examples" / "nrpe").glob("*.cfg")):
        shutil.copy(example, nrpe_d / example.name)
        for line in example.read_text().splitlines():
            match = re.match(r"command\[([\w.-]+)\]=(.+)$", line.strip())
            if match:
                commands[match.group(1)] = schedulers.plugin_of(match.group(2))
    assert set(commands.values()) == set(CHECKS), commands
    netns = Netns()
    try:
        daemon = Nrpe(netns, package.workdir, {}, include_dir=nrpe_d)
        answers = {(name, v2): daemon.ask(name, v2=v2) for name in commands
                   for v2 in (False, True)}
    finally:
        netns.close()
    for (name, v2), done in answers.items():
        line = done.stdout.split("\n")[0]
        assert re.match(rf"{prefix(commands[name])} {state_word(done.returncode)}: ", line), (
            name, "v2" if v2 else "v3", done.returncode, done.stdout, done.stderr)
        assert "cannot import" not in line


# --- purge: the last test of the module ------------------------------------------------

def test_purge_leaves_nothing_but_the_state_dir(package: Installed) -> None:
    files = [Path(line) for line in must(["dpkg-query", "-L", PACKAGE]).stdout.splitlines()
             if line.strip()]
    owned = [path for path in files if path.is_file() or path.is_symlink()]
    assert len(owned) > 40, owned
    # a check with its default state file: the nagios user's ~/.local/state/nagios_ipc/HOST
    # (a directory of its own in /var/tmp when its home cannot hold it: that name is
    # random until a check has made it, hence the second look after the run)
    state_dir = nagios_state_dir()
    had_dir = state_dir.exists()
    before: Set[Path] = set(state_dir.iterdir()) if had_dir else set()
    made = as_nagios([f"{PLUGIN_DIR}/check_host_uptime", "--max-uptime", "3650d"])
    assert made.returncode == 0, made.stdout
    if nagios_state_dir() != state_dir:
        state_dir, had_dir, before = nagios_state_dir(), False, set()
    ours = set(state_dir.iterdir()) - before
    assert ours, f"check_host_uptime kept no state in {state_dir}"
    try:
        done = purge()
        assert done.returncode == 0, done.stdout + done.stderr
        assert package_status() == ""
        left = [path for path in owned if path.exists() or path.is_symlink()]
        assert not left, left
        assert not ICINGA_FILE.exists() and not DOC.exists()
        imported = run(["/usr/bin/python3", "-c", "import nagios_ipc"], cwd=Path("/"))
        assert imported.returncode == 1 and "ModuleNotFoundError" in imported.stderr, imported
        # the admin's to remove (README): purge does not touch what checks made at run time
        assert state_dir.is_dir()
        assert all(path.exists() for path in ours)
    finally:
        for path in ours:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if not had_dir:
            with contextlib.suppress(OSError):
                state_dir.rmdir()
    assert os.path.isdir(PLUGIN_DIR)  # Debian's own plugins' directory stays
