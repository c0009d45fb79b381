"""The real schedulers for the integration tests: Icinga 2, NRPE, Nagios 4.

Every daemon runs inside a private network namespace that has only loopback
(:class:`Netns`: ``unshare -n`` + ``ip link set lo up``, held open by a sleeping
process; daemons and clients such as ``check_nrpe`` or the REST client join it
with ``nsenter``), with its own config, state and log files in a temp dir, and is
stopped by its PID. In a fresh namespace every port on 127.0.0.1 is free, so each
instance still gets ports picked at run time (:func:`free_ports`) only to keep two
instances in one namespace (master and agent) apart.

The checks run from /usr/lib/nagios/plugins, as the contrib files say:
:func:`installed_plugins` puts a small wrapper there for each console script
(running this checkout with the test venv's Python) and removes it afterwards.
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "checks"
CONTRIB = ROOT / "contrib"
PLUGIN_DIR = Path("/usr/lib/nagios/plugins")
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
ICINGA = "/usr/sbin/icinga2"
NRPE = "/usr/sbin/nrpe"
CHECK_NRPE = "/usr/lib/nagios/plugins/check_nrpe"
NAGIOS4 = "/usr/sbin/nagios4"
WRAPPER_MARK = "# nagios_ipc test wrapper"


def console_scripts() -> Dict[str, str]:
    """script name -> 'module:function', from setup.cfg: every check there is."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    scripts: Dict[str, str] = {}
    for line in parser["options.entry_points"]["console_scripts"].strip().splitlines():
        name, _, target = line.partition("=")
        scripts[name.strip()] = target.strip()
    return scripts


def missing_tools(*tools: str) -> Optional[str]:
    """Why these tests cannot run here, or None."""
    if os.getuid() != 0:
        return "needs root (network namespaces, daemons, the nagios user)"
    for tool in tools:
        if not os.access(tool, os.X_OK):
            return f"{tool} is not installed (tests/debian-packages/schedulers.txt)"
    return None


def make_workdir(prefix: str) -> Path:
    """A temp dir the nagios user can enter (pytest's tmp_path is 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def stop(proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    """End a process we started, with its session (it was started in its own)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait(timeout=5)


def free_ports(count: int) -> List[int]:
    """Distinct ports; in a private namespace any is free, these are only distinct."""
    return random.sample(range(20000, 60000), count)


# --- the private network namespace -----------------------------------------------------

class Netns:
    """A network namespace with only loopback, held by a sleeping process."""

    def __init__(self) -> None:
        self.holder = subprocess.Popen(
            ["/usr/bin/unshare", "-n", "/bin/sh", "-c",
             "ip link set lo up && echo up && exec sleep 100000"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=CLEAN_ENV,
            start_new_session=True)
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        if line.strip() != b"up":
            stop(self.holder)
            raise RuntimeError("could not bring up loopback in a new network namespace")
        self.processes: List[subprocess.Popen[bytes]] = []

    def argv(self, argv: Sequence[str]) -> List[str]:
        return ["/usr/bin/nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *argv]

    def links(self) -> List[str]:
        out = self.run(["ip", "-o", "link", "show"]).stdout
        return [line.split(":")[1].strip() for line in out.splitlines()]

    def run(self, argv: Sequence[str], timeout: float = 60,
            env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(argv), capture_output=True, text=True,
                              timeout=timeout, env=env or CLEAN_ENV,
                              stdin=subprocess.DEVNULL)

    def start(self, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen(self.argv(argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=CLEAN_ENV,
                                    start_new_session=True)
        self.processes.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.processes):
            stop(proc)
        stop(self.holder)


# --- the checks in the plugin directory -------------------------------------------------

# the wrappers this process has in PLUGIN_DIR now (installed_plugins), by check name
_WRAPPERS: Dict[str, Path] = {}


def _lock_plugin_dir() -> IO[str]:
    """The exclusive lock on PLUGIN_DIR between test runs (other worktrees): held
    while wrappers are there, and while the Debian package test has the package
    installed. Waits up to 10 min."""
    PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
    lock = open(PLUGIN_DIR / ".nagios_ipc-tests.lock", "w")
    deadline = time.monotonic() + 600
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() > deadline:
                lock.close()
                raise RuntimeError("another test run held the plugin-dir lock for 10 min") \
                    from None
            time.sleep(0.5)


def _write_wrapper(name: str, target: Path) -> None:
    target.write_text(f"#!/bin/sh\n{WRAPPER_MARK} (tests/schedulers.py), removed "
                      f"after the tests\nexec {sys.executable} {CHECKS / name} "
                      f'"$@"\n')
    target.chmod(0o755)


@contextlib.contextmanager
def installed_plugins() -> Iterator[Dict[str, Path]]:
    """Wrappers /usr/lib/nagios/plugins/check_X -> this checkout, for the whole run.

    An exclusive lock keeps two test runs (other worktrees) from removing each
    other's wrappers; a real plugin already there is moved aside and put back."""
    lock = _lock_plugin_dir()
    placed: Dict[str, Path] = {}
    moved: List[Tuple[Path, Path]] = []
    try:
        for name in console_scripts():
            target = PLUGIN_DIR / name
            if target.exists() or target.is_symlink():
                if WRAPPER_MARK not in target.read_text(errors="replace")[:200]:
                    aside = target.with_name(name + ".nagios_ipc-test-aside")
                    target.rename(aside)
                    moved.append((aside, target))
            _write_wrapper(name, target)
            placed[name] = target
            _WRAPPERS[name] = target
        yield placed
    finally:
        _WRAPPERS.clear()
        for target in placed.values():
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        for aside, target in moved:
            aside.rename(target)
        lock.close()


@contextlib.contextmanager
def plugin_dir_for_package() -> Iterator[None]:
    """PLUGIN_DIR without test wrappers, for as long as the Debian package test has
    the package installed there (tests/integration/test_debian_package.py): another
    run's installed_plugins waits for the lock (else it would move the package's
    files aside under dpkg's feet); this run's own wrappers, if the session fixture
    placed them, step aside and come back afterwards."""
    if _WRAPPERS:  # this process holds the lock already (installed_plugins)
        wrappers = dict(_WRAPPERS)
        for target in wrappers.values():
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        try:
            yield
        finally:
            for name, target in wrappers.items():
                _write_wrapper(name, target)
        return
    lock = _lock_plugin_dir()
    try:
        yield
    finally:
        lock.close()


# --- Icinga 2 --------------------------------------------------------------------------

# The Debian package's CheckCommands (debian/rules), in the ITL's plugins-contrib.d
# while the package is installed: the scheduler tests load this checkout's
# contrib/icinga2 instead, and one CheckCommand defined twice is an error.
ICINGA_CONTRIB_D = Path("/usr/share/icinga2/include/plugins-contrib.d")
PACKAGE_ICINGA_FILE = ICINGA_CONTRIB_D / "nagios-ipc.conf"


def _plugins_contrib_without_package() -> str:
    """What `include <plugins-contrib>` loads (include_recursive "plugins-contrib.d":
    every *.conf below it), less the package's file, whether installed or not."""
    files = sorted(path for path in ICINGA_CONTRIB_D.rglob("*.conf")
                   if path != PACKAGE_ICINGA_FILE)
    return "".join(f'include "{path}"\n' for path in files)


ITL_INCLUDES = """\
const PluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "/usr/lib/nagios/plugins"
const ManubulonPluginDir = "/usr/lib/nagios/plugins"
include <itl>
include <plugins>
""" + _plugins_contrib_without_package() + """\
include <manubulon>
include <windows-plugins>
include <nscp>
"""


def contrib_icinga_files() -> List[Path]:
    return sorted((CONTRIB / "icinga2").glob("*.conf"))


def icinga_includes() -> str:
    return "".join(f'include "{path}"\n' for path in contrib_icinga_files())


class Icinga:
    """One Icinga 2 instance: its own directories, certificates and API port."""

    def __init__(self, root: Path, node: str, port: int, zone: Optional[str] = None) -> None:
        self.root = root
        self.node = node
        self.port = port
        self.zone = zone or node
        self.password = "nagios-ipc-" + node
        for sub in ("data", "log", "cache", "spool", "run", "etc"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.config = root / "etc" / "icinga2.conf"
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def defines(self) -> List[str]:
        r = self.root
        return [f"-DDataDir={r}/data", f"-DLogDir={r}/log", f"-DCacheDir={r}/cache",
                f"-DSpoolDir={r}/spool", f"-DInitRunDir={r}/run", "-DRunAsUser=root",
                "-DRunAsGroup=root", f"-DNodeName={self.node}", f"-DZoneName={self.zone}"]

    @property
    def certs(self) -> Path:
        return self.root / "data" / "certs"

    def pki(self, ca: Icinga) -> None:
        """A certificate for this node, signed by *ca*'s CA (made on first use).

        openssl with 2048-bit keys, not 'icinga2 pki' (4096 bits: seconds per key on a
        busy machine); Icinga checks the chain and the node name (CN), nothing else."""
        ca_dir = ca.root / "data" / "ca"
        if not (ca_dir / "ca.crt").exists():
            ca_dir.mkdir(parents=True, exist_ok=True)
            self._openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                           "-subj", "/CN=nagios-ipc-test-ca", "-keyout", str(ca_dir / "ca.key"),
                           "-out", str(ca_dir / "ca.crt")])
        self.certs.mkdir(parents=True, exist_ok=True)
        key, csr, crt = (self.certs / f"{self.node}.{ext}" for ext in ("key", "csr", "crt"))
        self._openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={self.node}",
                       "-keyout", str(key), "-out", str(csr)])
        self._openssl(["x509", "-req", "-in", str(csr), "-CA", str(ca_dir / "ca.crt"),
                       "-CAkey", str(ca_dir / "ca.key"), "-CAcreateserial", "-days", "2",
                       "-out", str(crt)])
        shutil.copy(ca_dir / "ca.crt", self.certs / "ca.crt")

    @staticmethod
    def _openssl(args: Sequence[str]) -> None:
        done = subprocess.run(["openssl", *args], capture_output=True, text=True,
                              env=CLEAN_ENV, timeout=60, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"openssl {args[0]}: {done.stdout}{done.stderr}")

    def api_config(self) -> str:
        return f"""
object ApiListener "api" {{
  bind_host = "127.0.0.1"
  bind_port = {self.port}
  accept_commands = true
  accept_config = true
}}
object ApiUser "root" {{
  password = "{self.password}"
  permissions = [ "*" ]
}}
"""

    def _icinga(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([ICINGA, *args], capture_output=True, text=True,
                              env=CLEAN_ENV, timeout=60, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"icinga2 {' '.join(args[:2])}: {done.stdout}{done.stderr}")
        return done

    def validate(self, text: str) -> subprocess.CompletedProcess[str]:
        self.config.write_text(text)
        return subprocess.run([ICINGA, "daemon", "-C", "-c", str(self.config), *self.defines],
                              capture_output=True, text=True, env=CLEAN_ENV, timeout=60,
                              stdin=subprocess.DEVNULL)

    def start(self, netns: Netns, text: str) -> None:
        checked = self.validate(text)
        if checked.returncode != 0:
            raise RuntimeError("icinga2 daemon -C refused the test config:\n"
                               + errors_of(checked.stdout + checked.stderr))
        self.proc = netns.start([ICINGA, "daemon", "-c", str(self.config), *self.defines],
                                self.root / "log" / "stdout.log")
        self.netns = netns

    def api(self, path: str, body: Optional[Dict[str, Any]] = None,
            timeout: float = 10) -> Any:
        """GET (or POST *body* to) /v1/... from inside the namespace, verifying the
        server against the CA the instance was made with."""
        script = ("import json, ssl, sys, urllib.request, base64\n"
                  "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
                  "ctx.check_hostname = False  # the certificate names the node\n"
                  "body = sys.argv[4].encode() if sys.argv[4] else None\n"
                  "req = urllib.request.Request(sys.argv[1], data=body, headers={"
                  "'Accept': 'application/json', 'Authorization': 'Basic ' + "
                  "base64.b64encode(sys.argv[3].encode()).decode()})\n"
                  "try:\n"
                  "    print(urllib.request.urlopen(req, context=ctx, timeout=5).read()"
                  ".decode())\n"
                  "except Exception as exc:\n"
                  "    print(json.dumps({'error': str(exc)}))\n")
        done = self.netns.run(["/usr/bin/python3", "-c", script,
                               f"https://127.0.0.1:{self.port}{path}",
                               str(self.certs / "ca.crt"), f"root:{self.password}",
                               json.dumps(body) if body is not None else ""],
                              timeout=timeout)
        return json.loads(done.stdout or '{"error": "no answer"}')

    def results(self, host: str) -> Dict[str, Dict[str, Any]]:
        """service name -> last_check_result (None before the first)."""
        data = self.api(f"/v1/objects/services?filter=host.name==%22{host}%22"
                        "&attrs=last_check_result&attrs=name")
        return {item["attrs"]["name"]: item["attrs"]["last_check_result"]
                for item in data.get("results", [])}

    def wait_results(self, host: str, ready: Callable[[str, Dict[str, Any]], bool],
                     expect: Sequence[str], timeout: float = 30) -> Dict[str, Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        results: Dict[str, Dict[str, Any]] = {}
        seen: Dict[str, Any] = {}
        while time.monotonic() < deadline:
            seen = self.results(host)
            results = {name: result for name, result in seen.items()
                       if result is not None and ready(name, result)}
            if set(expect) <= set(results):
                return results
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.3)
        log = (self.root / "log" / "stdout.log")
        raise AssertionError(f"Icinga {self.node}: no settled result for "
                             f"{sorted(set(expect) - set(results))}: "
                             + "\n".join(f"{name}: {(seen.get(name) or {}).get('output')!r}"
                                         for name in sorted(set(expect) - set(results)))
                             + "\nlog tail:\n"
                             + (log.read_text()[-3000:] if log.exists() else "(none)"))

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


def errors_of(text: str) -> str:
    return "\n".join(line for line in text.splitlines()
                     if "critical/" in line or "warning/" in line or "Error" in line)[-4000:]


def icinga_string(value: str) -> str:
    return json.dumps(value)


def icinga_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[ " + ", ".join(icinga_value(v) for v in value) + " ]"
    if isinstance(value, dict):
        return "{ " + "; ".join(f"{icinga_string(str(k))} = {icinga_value(v)}"
                                for k, v in value.items()) + " }"
    if isinstance(value, (int, float)):
        return str(value)
    return icinga_string(str(value))


# --- CheckCommand definitions, read back from the contrib files -------------------------

COMMAND_RE = re.compile(r'object\s+CheckCommand\s+"([^"]+)"\s*\{(.*?)\n\}', re.S)
ARGUMENT_RE = re.compile(r'"(-[^"]+)"\s*=\s*(\{[^{}]*\}|"[^"]*")', re.S)


class CheckCommandDef:
    """Enough of a contrib CheckCommand to map plugin options onto its variables."""

    def __init__(self, name: str, body: str, path: Path) -> None:
        self.name = name
        self.path = path
        plugin = re.search(r'^\s*command\s*=\s*\[\s*\w+\s*\+\s*"/([^"]+)"\s*\]', body, re.M)
        self.plugin = plugin.group(1) if plugin else ""
        self.arguments: Dict[str, Dict[str, str]] = {}
        for option, block in ARGUMENT_RE.findall(body):
            if block.startswith('"'):  # "-x" = "$var$": the short form
                self.arguments[option] = {"value": block}
                continue
            fields = dict(re.findall(r'^\s*(\w+)\s*=\s*(.+?)\s*$', block.strip("{}"), re.M))
            self.arguments[option] = fields

    def variable(self, option: str) -> Tuple[str, bool]:
        """Custom variable behind *option*, and whether it is a flag (set_if)."""
        fields = self.arguments[option]
        if "set_if" in fields:
            return fields["set_if"].strip('"$'), True
        return fields["value"].strip('"$'), False

    def vars_for(self, args: Sequence[str]) -> Dict[str, Any]:
        """Plugin options -> the custom variables that make Icinga pass them."""
        long_of = self.aliases()
        out: Dict[str, Any] = {}
        index = 0
        while index < len(args):
            option = long_of.get(args[index], args[index])
            value: Any = True
            variable, flag = self.variable(option)
            if "=" in option:
                raise ValueError(option)
            if not flag:
                index += 1
                value = args[index]
                if self.arguments[option].get("repeat_key") == "true":
                    value = [*out.get(variable, []), value]
            out[variable] = value
            index += 1
        return out

    def aliases(self) -> Dict[str, str]:
        return {"-w": "--warning", "-c": "--critical", "-t": "--timeout", "-v": "--verbose"}


def check_commands() -> Dict[str, CheckCommandDef]:
    """plugin file name -> its CheckCommand from contrib/icinga2/*.conf."""
    found: Dict[str, CheckCommandDef] = {}
    for path in contrib_icinga_files():
        for name, body in COMMAND_RE.findall(path.read_text()):
            definition = CheckCommandDef(name, body, path)
            if definition.plugin and definition.plugin not in found:
                found[definition.plugin] = definition  # the first: the plain one
    return found


# --- NRPE ------------------------------------------------------------------------------

def contrib_nrpe_commands() -> Dict[str, str]:
    """command name -> command line, from every contrib/nrpe/*.cfg."""
    commands: Dict[str, str] = {}
    for path in sorted((CONTRIB / "nrpe").glob("*.cfg")):
        for line in path.read_text().splitlines():
            match = re.match(r"command\[([\w.-]+)\]=(.+)$", line.strip())
            if match:
                assert match.group(1) not in commands, f"{match.group(1)} twice ({path})"
                commands[match.group(1)] = match.group(2)
    return commands


def plugin_of(command_line: str) -> str:
    """The check a command line runs (after a sudo -n, if any)."""
    for word in command_line.split():
        if word.startswith(f"{PLUGIN_DIR}/") or word.startswith("$USER1$/"):
            return word.rsplit("/", 1)[1]
    raise ValueError(f"no plugin from {PLUGIN_DIR} in {command_line!r}")


SUDO = "/usr/bin/sudo -n "
PRIVILEGED_CONF = Path("/etc/nagios_ipc/privileged.conf")


def guarded_options() -> Dict[str, List[str]]:
    """check name -> its options that privileged mode refuses (PluginParser.guard)."""
    import importlib

    out: Dict[str, List[str]] = {}
    for name, target in console_scripts().items():
        module = importlib.import_module(target.partition(":")[0])
        out[name] = [option for option, _kind in module.parser().guarded]
    return out


def sudoers_escape(word: str) -> str:
    return re.sub(r"([,:=\\])", r"\\\1", word)


@contextlib.contextmanager
def sudo_rules(command_lines: Sequence[str] = ()) -> Iterator[List[Path]]:
    """contrib/sudoers.d/* installed in /etc/sudoers.d/ (checked by visudo first); a
    file of the same name already there is left alone. The sudo lines among
    *command_lines* that the shipped rule does not list (the tests' own instances,
    e.g. --config-dir of a private Postfix) get a test-only rule of exact lines, and
    their guarded paths a test /etc/nagios_ipc/privileged.conf: what an admin adds
    for a second instance (README, Security). Removed afterwards."""
    placed: List[Path] = []
    saved_conf: Optional[bytes] = None
    try:
        for rule in sorted((CONTRIB / "sudoers.d").glob("*")):
            target = Path("/etc/sudoers.d") / rule.name
            checked = subprocess.run(["visudo", "-c", "-q", "-f", str(rule)],
                                     capture_output=True, text=True, timeout=30)
            if checked.returncode != 0:
                raise AssertionError(f"visudo refuses {rule}: {checked.stdout}{checked.stderr}")
            if target.exists():
                continue
            shutil.copy(rule, target)
            target.chmod(0o440)
            placed.append(target)
        # what sudo is asked to run: the shell's redirection (NRPE runs lines through sh)
        # is not an argument
        extra = sorted({" ".join(w for w in line[len(SUDO):].split() if w != "2>&1")
                        for line in command_lines if line.startswith(SUDO)})
        if extra:
            guarded = guarded_options()
            allowed = set()
            for line in extra:
                words = line.split()
                check = words[0].rsplit("/", 1)[1]
                for index, word in enumerate(words[:-1]):
                    if word in guarded.get(check, ()):
                        allowed.add(f"{check} {word} {words[index + 1]}")
            rule = Path("/etc/sudoers.d/nagios_ipc-tests")
            rule.write_text("# nagios_ipc test run: exact command lines, removed afterwards\n"
                            "Cmnd_Alias NAGIOS_IPC_TESTS = " + ", \\\n    ".join(
                                " ".join(sudoers_escape(w) for w in line.split())
                                for line in extra) + "\n"
                            "Defaults!NAGIOS_IPC_TESTS env_reset, !env_keep, !setenv\n"
                            "nagios ALL=(root) NOPASSWD: NAGIOS_IPC_TESTS\n")
            rule.chmod(0o440)
            placed.append(rule)
            checked = subprocess.run(["visudo", "-c", "-q", "-f", str(rule)],
                                     capture_output=True, text=True, timeout=30)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            if allowed:
                if PRIVILEGED_CONF.exists():
                    saved_conf = PRIVILEGED_CONF.read_bytes()
                PRIVILEGED_CONF.parent.mkdir(mode=0o755, exist_ok=True)
                PRIVILEGED_CONF.write_text("".join(f"{a}\n" for a in sorted(allowed)))
                PRIVILEGED_CONF.chmod(0o644)
        yield placed
    finally:
        for target in placed:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        if saved_conf is not None:
            PRIVILEGED_CONF.write_bytes(saved_conf)
        else:
            with contextlib.suppress(FileNotFoundError):
                PRIVILEGED_CONF.unlink()


class Nrpe:
    """An nrpe daemon (nrpe_user nagios) on 127.0.0.1 in *netns* with given commands."""

    def __init__(self, netns: Netns, root: Path, commands: Dict[str, str],
                 command_timeout: int = 60, include_dir: Optional[Path] = None) -> None:
        self.netns = netns
        self.root = root
        self.port = free_ports(1)[0]
        lines = [f"pid_file={root}/nrpe.pid", "server_address=127.0.0.1",
                 f"server_port={self.port}", "allowed_hosts=127.0.0.1", "nrpe_user=nagios",
                 "nrpe_group=nagios", "dont_blame_nrpe=0", f"command_timeout={command_timeout}",
                 "connection_timeout=30", "disable_syslog=1", f"log_file={root}/nrpe.log"]
        lines += [f"command[{name}]={line}" for name, line in commands.items()]
        if include_dir is not None:  # like Debian's nrpe.cfg: include_dir=/etc/nagios/nrpe.d
            lines.append(f"include_dir={include_dir}")
        self.config = root / "nrpe.cfg"
        self.config.write_text("\n".join(lines) + "\n")
        self.proc = netns.start([NRPE, "-c", str(self.config), "-f"], root / "nrpe.out")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.netns.run([CHECK_NRPE, "-H", "127.0.0.1", "-p", str(self.port),
                               "-t", "2"]).returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"nrpe did not answer: {(root / 'nrpe.out').read_text()[-2000:]}")

    def ask(self, command: str, v2: bool = False,
            timeout: int = 30) -> subprocess.CompletedProcess[str]:
        argv = [CHECK_NRPE, "-H", "127.0.0.1", "-p", str(self.port), "-t", str(timeout),
                "-c", command]
        if v2:
            argv.insert(1, "-2")
        return self.netns.run(argv, timeout=timeout + 10)


# --- Nagios 4 --------------------------------------------------------------------------

def nagios_main_config(root: Path, objects: str, interval_length: int = 60) -> Path:
    """A minimal nagios.cfg with every contrib/nagios/*.cfg and *objects*."""
    for sub in ("var", "spool", "rw"):
        (root / sub).mkdir(exist_ok=True)
    (root / "resource.cfg").write_text(f"$USER1$={PLUGIN_DIR}\n")
    (root / "objects.cfg").write_text(objects)
    lines = [f"log_file={root}/var/nagios.log", f"resource_file={root}/resource.cfg",
             f"status_file={root}/var/status.dat", f"temp_file={root}/var/nagios.tmp",
             f"temp_path={root}/var", f"lock_file={root}/var/nagios.lock",
             f"state_retention_file={root}/var/retention.dat", "retain_state_information=0",
             f"command_file={root}/rw/nagios.cmd", "check_external_commands=0",
             f"check_result_path={root}/spool", f"object_cache_file={root}/var/objects.cache",
             # else every instance's workers meet at /var/lib/nagios4/rw/nagios.qh
             f"query_socket={root}/rw/nagios.qh",
             f"precached_object_file={root}/var/objects.precache",
             "nagios_user=root", "nagios_group=root", "use_syslog=0",
             f"interval_length={interval_length}", "status_update_interval=1",
             "check_result_reaper_frequency=1", "max_check_result_reaper_time=2",
             "service_check_timeout=30", "enable_notifications=0",
             "execute_host_checks=0", "log_initial_states=0",
             "illegal_macro_output_chars=`~$&|'\"<>",
             f"cfg_file={root}/objects.cfg"]
    lines += [f"cfg_file={path}" for path in sorted((CONTRIB / "nagios").glob("*.cfg"))]
    config = root / "nagios.cfg"
    config.write_text("\n".join(lines) + "\n")
    return config


def read_status_dat(path: Path) -> List[Dict[str, str]]:
    """servicestatus blocks of a Nagios status.dat."""
    blocks: List[Dict[str, str]] = []
    for match in re.finditer(r"servicestatus \{\n(.*?)\n\s*\}", path.read_text(), re.S):
        block: Dict[str, str] = {}
        for line in match.group(1).splitlines():
            key, _, value = line.strip().partition("=")
            block[key] = value
        blocks.append(block)
    return blocks
