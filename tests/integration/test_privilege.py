"""Least privilege under sudo (issue 12), attacked with the real sudo as the nagios user.

The attacker owns the nagios account and the shipped rule (contrib/sudoers.d): it
controls every argument, what env_keep lets through, and files it can write. Each test
installs the rules it needs in /etc/sudoers.d (checked by visudo, removed after) and
runs the checks from /usr/lib/nagios/plugins as the contrib files say.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import pytest
import schedulers  # tests/ is on sys.path (tests/conftest.py)
from schedulers import CLEAN_ENV, PLUGIN_DIR, PRIVILEGED_CONF

from tests.helpers import ROOT, nagios_account

MTA = f"{PLUGIN_DIR}/check_mta_backlog"
MTAS = ("postfix", "exim", "sendmail", "qmail", "opensmtpd", "nullmailer", "imsimta")


@pytest.fixture(scope="module")
def nagios(plugins: Dict[str, Path]) -> Iterator[pwd.struct_passwd]:
    """The nagios account; while these tests refuse things, sudo must not mail root (Debian
    sets mail_badpass): each mail would land in the system's Postfix queue that the
    shipped lines then measure."""
    account = nagios_account()
    with sudo_rule("nagios_ipc-tests-nomail",
                   "Defaults:nagios !mail_badpass, !mail_no_user, !mail_no_perms\n"):
        yield account


@contextlib.contextmanager
def sudo_rule(name: str, text: str) -> Iterator[Path]:
    """A test-only file in /etc/sudoers.d (visudo-checked), removed afterwards."""
    path = Path("/etc/sudoers.d") / name
    path.write_text(text)
    path.chmod(0o440)
    try:
        checked = subprocess.run(["visudo", "-c", "-q", "-f", str(path)], capture_output=True,
                                 text=True, timeout=30)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        yield path
    finally:
        path.unlink()


@contextlib.contextmanager
def shipped_rule() -> Iterator[None]:
    with schedulers.sudo_rules():
        yield


@contextlib.contextmanager
def allowed(*lines: str) -> Iterator[None]:
    """/etc/nagios_ipc/privileged.conf with these lines (an earlier one put back after)."""
    saved = PRIVILEGED_CONF.read_bytes() if PRIVILEGED_CONF.exists() else None
    PRIVILEGED_CONF.parent.mkdir(mode=0o755, exist_ok=True)
    PRIVILEGED_CONF.write_text("".join(f"{line}\n" for line in lines))
    PRIVILEGED_CONF.chmod(0o644)
    try:
        yield
    finally:
        if saved is None:
            PRIVILEGED_CONF.unlink()
        else:
            PRIVILEGED_CONF.write_bytes(saved)


def as_nagios(argv: Sequence[str], env: Optional[Dict[str, str]] = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = dict(CLEAN_ENV, **(env or {}))
    return subprocess.run(["runuser", "-u", "nagios", "--", "/usr/bin/env", *(
        f"{k}={v}" for k, v in full.items()), *argv], capture_output=True, text=True,
        timeout=timeout, env=CLEAN_ENV, stdin=subprocess.DEVNULL, cwd="/")


def sudo(*argv: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    return as_nagios(["/usr/bin/sudo", "-n", *argv], env=env)


@pytest.fixture()
def lair(nagios: pwd.struct_passwd) -> Iterator[Path]:
    """A directory the nagios user owns and writes: the attacker's files."""
    path = Path(tempfile.mkdtemp(prefix="nagios_ipc-lair-"))
    os.chown(path, nagios.pw_uid, nagios.pw_gid)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def lister(lair: Path, nagios: pwd.struct_passwd) -> Path:
    """A 'listing program' of the attacker: records who ran it."""
    script = lair / "lister"
    script.write_text(f"#!/bin/sh\nid -u > {lair}/marker\necho 'Mail queue is empty'\n")
    script.chmod(0o755)
    os.chown(script, nagios.pw_uid, nagios.pw_gid)
    return script


def one_unknown_line(done: subprocess.CompletedProcess[str], name: str, *words: str) -> None:
    assert done.returncode == 3, (done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{name} UNKNOWN: "), done.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in done.stdout + done.stderr


# --- the shipped rule --------------------------------------------------------------------

def test_shipped_lines_read_the_system_queue(nagios: pwd.struct_passwd) -> None:
    # exactly what contrib/nrpe, contrib/nagios and the Icinga sudo commands run
    with shipped_rule():
        for argv in ([MTA, "--method", "spool", "-t", "8"],
                     [MTA, "--method", "spool", "--count-only", "-w", "1000", "-c", "5000",
                      "-t", "8"]):
            done = sudo(*argv)
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
            assert done.stdout.startswith("MTA_BACKLOG OK: postfix"), done.stdout


def test_shipped_rule_refuses_other_arguments(lair: Path, nagios: pwd.struct_passwd) -> None:
    program = lister(lair, nagios)
    with shipped_rule():
        for argv in ([MTA, "--method", "command", "--mta-binary", str(program)],
                     [MTA, "--method", "spool", "-t", "8", "--spool-dir", str(lair)],
                     [MTA], [f"{PLUGIN_DIR}/check_msgqueues", "--ipcs", str(program)]):
            done = sudo(*argv)
            assert done.returncode == 1 and "sudo:" in done.stderr, (argv, done)
    assert not (lair / "marker").exists()


# --- the check's own refusals, under a rule wider than the shipped one ----------------------

WIDE = (f"nagios ALL=(root) NOPASSWD: {MTA}, {PLUGIN_DIR}/check_msgqueues, "
        f"{PLUGIN_DIR}/check_zmq_hwm, {PLUGIN_DIR}/check_host_uptime\n")


@pytest.mark.parametrize("mta", MTAS)
def test_callers_program_never_runs_as_root(mta: str, lair: Path,
                                            nagios: pwd.struct_passwd) -> None:
    program = lister(lair, nagios)
    with sudo_rule("nagios_ipc-wide", WIDE):
        done = sudo(MTA, "--mta", mta, "--method", "command", "--mta-binary", str(program))
    one_unknown_line(done, "MTA_BACKLOG", "--mta-binary", "refused under sudo",
                     str(PRIVILEGED_CONF))
    assert not (lair / "marker").exists()


def test_allowed_program_runs_as_the_caller(lair: Path, nagios: pwd.struct_passwd) -> None:
    # the admin allowed it: it runs, but with the caller's uid, never root's
    program = lister(lair, nagios)
    with sudo_rule("nagios_ipc-wide", WIDE), allowed(
            f"check_mta_backlog --mta-binary {program}"):
        sudo(MTA, "--mta", "nullmailer", "--method", "command", "--mta-binary", str(program))
    assert (lair / "marker").read_text().strip() == str(nagios.pw_uid)


@pytest.mark.parametrize("argv", [
    ["check_msgqueues", "--ipcs", "{lister}"],
    ["check_msgqueues", "--proc-file", "/etc/shadow"],
    ["check_msgqueues", "--mqueue-dir", "{lair}"],
    ["check_zmq_hwm", "--pidfile", "/etc/shadow"],
    ["check_zmq_hwm", "--stats-endpoint", "ipc:///run/some.sock"],
    ["check_zmq_hwm", "--stats-endpoint", "tcp://127.0.0.1:1", "--curve-server-key-file",
     "/etc/shadow"],
    ["check_zmq_hwm", "--pid", "1", "--state-file", "{lair}/state"],
    ["check_host_uptime", "--state-file", "{lair}/state"],
    ["check_mta_backlog", "--config-dir", "{lair}"],
    ["check_mta_backlog", "--spool-dir", "{lair}"],
    ["check_mta_backlog", "--mta", "exim", "--mta-config", "/etc/shadow"],
], ids=lambda argv: "_".join(argv[:2]))
def test_every_path_option_is_refused(argv: List[str], lair: Path,
                                      nagios: pwd.struct_passwd) -> None:
    words = [w.format(lair=lair, lister=lister(lair, nagios)) for w in argv]
    option = [w for w in words if w.startswith("--")][-1]  # the option under test comes last
    with sudo_rule("nagios_ipc-wide", WIDE):
        done = sudo(f"{PLUGIN_DIR}/{words[0]}", *words[1:])
    name = {"check_msgqueues": "MSGQUEUES", "check_zmq_hwm": "ZMQ_HWM",
            "check_host_uptime": "HOST_UPTIME", "check_mta_backlog": "MTA_BACKLOG"}[words[0]]
    one_unknown_line(done, name, option, "refused under sudo")
    assert "root:" not in done.stdout
    assert not (lair / "marker").exists() and not (lair / "state").exists()


def hostile_spool(lair: Path, nagios: pwd.struct_passwd) -> Path:
    """A Postfix-shaped tree of the attacker's: links to root-only files, a FIFO (a
    reader would hang), a socket, a linked hash directory."""
    spool = lair / "spool"
    for queue in ("maildrop", "incoming", "active", "deferred/A", "hold", "corrupt", "defer"):
        (spool / queue).mkdir(parents=True)
    (spool / "deferred" / "A" / "A1B2C3D4E5").symlink_to("/etc/shadow")
    os.mkfifo(spool / "active" / "F1F2F3F4F5")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(spool / "incoming" / "S1S2S3S4S5"))
    server.close()
    (spool / "hold" / "B").symlink_to("/etc")
    (lair / "main.cf").symlink_to("/etc/shadow")
    for path in [spool, *spool.rglob("*")]:
        os.chown(path, nagios.pw_uid, nagios.pw_gid, follow_symlinks=False)
    return spool


def test_allowed_spool_of_the_caller_leaks_nothing(lair: Path,
                                                   nagios: pwd.struct_passwd) -> None:
    spool = hostile_spool(lair, nagios)
    with sudo_rule("nagios_ipc-wide", WIDE), allowed(
            f"check_mta_backlog --spool-dir {spool}", f"check_mta_backlog --config-dir {lair}"):
        for extra in ([], ["--count-only"]):
            done = sudo(MTA, "--mta", "postfix", "--method", "spool", "--spool-dir", str(spool),
                        "--config-dir", str(lair), "-t", "8", *extra)
            one_unknown_line(done, "MTA_BACKLOG", "not followed")
            assert "root:" not in done.stdout and "internal error" not in done.stdout
    # each odd file alone is refused by name, none read, none waited on
    (spool / "deferred" / "A" / "A1B2C3D4E5").unlink()
    (spool / "hold" / "B").unlink()
    with sudo_rule("nagios_ipc-wide", WIDE), allowed(f"check_mta_backlog --spool-dir {spool}"):
        done = sudo(MTA, "--mta", "postfix", "--spool-dir", str(spool), "-t", "8")
    one_unknown_line(done, "MTA_BACKLOG", "not followed")
    assert "is a FIFO" in done.stdout or "is a socket" in done.stdout


# --- the environment ------------------------------------------------------------------------

def test_hostile_environment_has_no_effect(lair: Path, nagios: pwd.struct_passwd) -> None:
    """A site whose sudoers lets the caller's environment through (env_keep), and an
    attacker who fills it: a sitecustomize on PYTHONPATH, an LD_PRELOAD library, a PATH
    of fake programs. The shipped rule's own Defaults reset it: none of them runs."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "a C compiler builds the LD_PRELOAD library (Debian gcc)"
    pydir, bindir = lair / "py", lair / "bin"
    pydir.mkdir()
    bindir.mkdir()
    (pydir / "sitecustomize.py").write_text(
        f"import os\nopen('{lair}/marker-python', 'w').write(str(os.geteuid()))\n")
    source = lair / "evil.c"
    source.write_text(
        '#include <stdio.h>\n#include <unistd.h>\n__attribute__((constructor)) static void '
        f'evil(void) {{ FILE *f = fopen("{lair}/marker-preload", "w"); '
        'if (f) { fprintf(f, "%d", (int)geteuid()); fclose(f); } }\n')
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(lair / "evil.so"), str(source)],
                   check=True, capture_output=True, timeout=60)
    for name in ("postconf", "postqueue", "python3", "sh", "id"):
        fake = bindir / name
        fake.write_text(f"#!/bin/sh\necho ran > {lair}/marker-path-{name}\n")
        fake.chmod(0o755)
    for path in [*lair.rglob("*")]:
        os.chown(path, nagios.pw_uid, nagios.pw_gid)
    hostile = {"PYTHONPATH": str(pydir), "PYTHONSTARTUP": str(pydir / "sitecustomize.py"),
               "LD_PRELOAD": str(lair / "evil.so"), "PATH": f"{bindir}:/usr/bin:/bin",
               "MAIL_CONFIG": str(lair), "PYTHONINSPECT": "1"}
    keep = " ".join(hostile)
    # the control: these variables do reach a program that sudo runs for nagios here
    with sudo_rule("nagios_ipc-env", f'Defaults:nagios env_keep += "{keep}"\n'
                   "nagios ALL=(root) NOPASSWD: /usr/bin/env\n"):
        control = sudo("/usr/bin/env", env=hostile)
        assert f"PYTHONPATH={pydir}" in control.stdout, control
        with shipped_rule():
            done = sudo(MTA, "--method", "spool", "-t", "8", env=hostile)
    assert done.returncode == 0 and done.stdout.startswith("MTA_BACKLOG OK: postfix"), done
    assert sorted(p.name for p in lair.glob("marker*")) == []


def test_environment_reaching_the_check_is_refused(nagios: pwd.struct_passwd) -> None:
    # no sudoers can be made to pass them with the shipped rule; should a site's own rule
    # do it, the check still refuses to go on (what sudo would set, plus the variable)
    env = dict(CLEAN_ENV, SUDO_UID=str(nagios.pw_uid), SUDO_GID=str(nagios.pw_gid),
               SUDO_USER="nagios", PYTHONWARNINGS="ignore")
    done = subprocess.run([sys.executable, str(ROOT / "checks" / "check_msgqueues")],
                          capture_output=True, text=True, env=env, timeout=60)
    one_unknown_line(done, "MSGQUEUES", "PYTHONWARNINGS", "env_reset")


# --- the code must be root's ------------------------------------------------------------------

def test_group_writable_copy_is_refused(nagios: pwd.struct_passwd) -> None:
    # a copy in a root-owned place (/var/lib), run through sudo by an exact rule
    base = Path("/var/lib/nagios_ipc-test")  # root's, 0755, like every directory above it
    base.mkdir(mode=0o755, exist_ok=True)
    copy = Path(tempfile.mkdtemp(prefix="copy-", dir=base))
    try:
        copy.chmod(0o755)
        shutil.copytree(ROOT / "nagios_ipc", copy / "nagios_ipc",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "checks", copy / "checks")
        script = copy / "checks" / "check_msgqueues"
        line = f"{sys.executable} {script}"
        with sudo_rule("nagios_ipc-copy", f"nagios ALL=(root) NOPASSWD: {line}\n"):
            works = sudo(sys.executable, str(script))
            assert works.stdout.startswith("MSGQUEUES OK"), works
            (copy / "nagios_ipc").chmod(0o775)
            refused = sudo(sys.executable, str(script))
            one_unknown_line(refused, "MSGQUEUES", f"{copy}/nagios_ipc is writable by its group")
            (copy / "nagios_ipc").chmod(0o755)
            os.chown(copy / "nagios_ipc" / "cli.py", nagios.pw_uid, nagios.pw_gid)
            refused = sudo(sys.executable, str(script))
            one_unknown_line(refused, "MSGQUEUES", "cli.py is owned by uid")
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def test_untrusted_allow_list_is_refused(lair: Path, nagios: pwd.struct_passwd) -> None:
    with sudo_rule("nagios_ipc-wide", WIDE), allowed(f"check_mta_backlog --spool-dir {lair}"):
        os.chown(PRIVILEGED_CONF, nagios.pw_uid, nagios.pw_gid)
        done = sudo(MTA, "--spool-dir", str(lair))
    one_unknown_line(done, "MTA_BACKLOG", f"ignoring {PRIVILEGED_CONF}", "owned by uid")


def test_root_without_sudo_is_unchanged(lair: Path) -> None:
    # a root cron job: any path, as before (no SUDO_UID)
    done = subprocess.run([sys.executable, str(ROOT / "checks" / "check_msgqueues"),
                           "--proc-file", "/proc/sysvipc/msg", "--mqueue-dir", str(lair)],
                          capture_output=True, text=True, env=CLEAN_ENV, timeout=60)
    assert done.stdout.startswith("MSGQUEUES "), done.stdout
    assert "refused" not in done.stdout


# --- through a real Icinga 2 that runs as nagios (as Debian's does) --------------------------

class NagiosIcinga(schedulers.Icinga):
    @property
    def defines(self) -> List[str]:
        return [d.replace("RunAsUser=root", "RunAsUser=nagios")
                .replace("RunAsGroup=root", "RunAsGroup=nagios") for d in super().defines]


@contextlib.contextmanager
def nagios_icinga(nagios: pwd.struct_passwd, netns: schedulers.Netns, host: str
                  ) -> Iterator[Callable[[str], NagiosIcinga]]:
    """An Icinga 2 that runs as nagios (as Debian's does), with the contrib
    CheckCommands and one host; yields start(services) -> the running instance."""
    why = schedulers.missing_tools(schedulers.ICINGA)
    if why:
        pytest.skip(why)
    workdir = schedulers.make_workdir("nagios-ipc-icinga-sudo-")
    icinga = NagiosIcinga(workdir, "icinga-sudo", schedulers.free_ports(1)[0])

    def start(services: str) -> NagiosIcinga:
        icinga.pki(icinga)
        for path in [workdir, *workdir.rglob("*")]:
            os.chown(path, nagios.pw_uid, nagios.pw_gid)
        icinga.start(netns, schedulers.ITL_INCLUDES + schedulers.icinga_includes() + f"""
object IcingaApplication "app" {{ }}
object CheckerComponent "checker" {{ }}
object Endpoint "{icinga.node}" {{ }}
object Zone "{icinga.zone}" {{ endpoints = [ "{icinga.node}" ] }}
{icinga.api_config()}
object Host "{host}" {{ check_command = "dummy"; enable_active_checks = false }}
""" + services)
        return icinga

    try:
        yield start
    finally:
        icinga.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_icinga2_runs_the_sudo_check_commands(nagios: pwd.struct_passwd,
                                              netns: schedulers.Netns) -> None:
    host = "mail-host"
    names = ["mta_backlog_sudo", "mta_backlog_sudo_count"]
    services = "".join(
        f'object Service "{name}" {{\n  host_name = "{host}"\n  check_command = "{name}"\n'
        f"  check_interval = 1s\n  retry_interval = 1s\n}}\n" for name in names)
    with nagios_icinga(nagios, netns, host) as start, shipped_rule():
        results = start(services).wait_results(
            host, lambda name, result: "MTA_BACKLOG" in result["output"], names, timeout=120)
    for name, result in results.items():
        assert result["output"].startswith("MTA_BACKLOG OK: postfix"), (name, result)
        assert result["state"] == 0


# --- NRPE without the rule: readable, not "NRPE: Unable to read output" ----------------------

def test_nrpe_sudo_commands_without_and_with_the_rule(nagios: pwd.struct_passwd,
                                                      netns: schedulers.Netns) -> None:
    commands = {name: line for name, line in schedulers.contrib_nrpe_commands().items()
                if name.startswith("check_mta_backlog")}
    assert {"check_mta_backlog", "check_mta_backlog_sudo",
            "check_mta_backlog_sudo_count"} <= set(commands)
    workdir = schedulers.make_workdir("nagios-ipc-nrpe-sudo-")
    daemon = None
    try:
        daemon = schedulers.Nrpe(netns, workdir, commands)
        for name in ("check_mta_backlog_sudo", "check_mta_backlog_sudo_count"):
            answer = daemon.ask(name)
            assert answer.stdout.strip() == "sudo: a password is required", answer
        with shipped_rule():
            for name in ("check_mta_backlog_sudo", "check_mta_backlog_sudo_count"):
                for v2 in (False, True):
                    answer = daemon.ask(name, v2=v2)
                    assert answer.returncode == 0, (name, answer)
                    assert answer.stdout.startswith("MTA_BACKLOG OK: postfix"), (name, answer)
    finally:
        if daemon is not None:
            schedulers.stop(daemon.proc)
        shutil.rmtree(workdir, ignore_errors=True)


# --- check_zmq_hwm mode 1 as the application's user (sudo -u APPUSER, never root) -----------

@contextlib.contextmanager
def zmq_example_rule(user: str) -> Iterator[List[str]]:
    """contrib/sudoers.d/nagios_ipc_zmq.example with APPUSER replaced, installed under a
    name without a dot (as its comment says); yields its command lines."""
    text = (ROOT / "contrib" / "sudoers.d" / "nagios_ipc_zmq.example").read_text()
    with sudo_rule("nagios_ipc_zmq", text.replace("APPUSER", user)):
        yield [line for line in text.splitlines() if line.startswith("    /usr/lib/")]


@contextlib.contextmanager
def feed_app(user: str, netns: Optional[schedulers.Netns] = None) -> Iterator[int]:
    """A ZeroMQ PUB named 'feed' (comm) run by *user*, with a SUB that never reads; in
    *netns* when the check runs there (socket tables are per network namespace)."""
    from zmqtools import Apps, free_port

    apps = Apps()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    prefix = netns.argv([]) if netns is not None else []  # nsenter --net=... --
    try:
        pub = apps.start("pub", "--endpoint", endpoint, "--name", "feed", user=user,
                         prefix=prefix)
        apps.start("sub", "--connect", endpoint, "--never", user=user, prefix=prefix)
        yield pub.pid
    finally:
        apps.stop_all()


@pytest.fixture()
def nobody_state() -> Iterator[None]:
    """nobody has no home: its state goes to a /var/tmp directory of its own; removed."""
    before = set(Path("/var/tmp").glob("nagios_ipc-65534*"))
    yield
    for path in set(Path("/var/tmp").glob("nagios_ipc-65534*")) - before:
        shutil.rmtree(path, ignore_errors=True)


def test_zmq_mode1_as_the_application_user(nagios: pwd.struct_passwd,
                                           nobody_state: None) -> None:
    nrpe_line = next(line for line in (ROOT / "contrib" / "nrpe" / "check_zmq_hwm.cfg")
                     .read_text().splitlines() if line.startswith("#command[check_zmq_hwm_sudo]"))
    argv = nrpe_line.split("=", 1)[1].replace("APPUSER", "nobody").split()
    assert argv[-1] == "2>&1"
    argv = argv[:-1]
    with feed_app("nobody") as pid:
        # as nagios itself: the application's /proc/PID/fd is not readable
        plain = as_nagios(argv[argv.index("-u") + 2:])
        assert plain.returncode == 3 and "permission denied" in plain.stdout, plain
        with zmq_example_rule("nobody"):
            for _ in range(40):  # the SUB's queue fills: a few runs until it is stalled
                done = as_nagios(argv)
                if done.returncode == 2:
                    break
    assert done.stdout.startswith("ZMQ_HWM CRITICAL: 1 of 1 peer stalled"), done
    assert f"pid {pid}" in done.stdout or "feed" in done.stdout


def test_icinga2_runs_zmq_hwm_sudo(nagios: pwd.struct_passwd, netns: schedulers.Netns,
                                   nobody_state: None) -> None:
    host = "app-host"
    service = f"""object Service "zmq feed" {{
  host_name = "{host}"
  check_command = "zmq_hwm_sudo"
  check_interval = 1s
  retry_interval = 1s
  vars.zmq_hwm_sudo_user = "nobody"
  vars.zmq_hwm_process_name = [ "feed" ]
  vars.zmq_hwm_timeout = 8
}}
"""
    with nagios_icinga(nagios, netns, host) as start, feed_app("nobody", netns), \
            zmq_example_rule("nobody"):
        results = start(service).wait_results(
            host, lambda name, result: result["output"].startswith("ZMQ_HWM CRITICAL"),
            ["zmq feed"], timeout=120)
    result = results["zmq feed"]
    assert result["command"] == ["/usr/bin/sudo", "-n", "-u", "nobody",
                                 f"{PLUGIN_DIR}/check_zmq_hwm", "--process-name", "feed",
                                 "--timeout", "8"], result["command"]
    assert result["output"].startswith("ZMQ_HWM CRITICAL: 1 of 1 peer stalled"), result
