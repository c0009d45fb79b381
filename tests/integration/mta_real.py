"""Real Postfix and Exim instances for the check_mta_backlog tests and benchmark.

Each instance lives under /var/lib/nagios_ipc-test/<name>/ (made by
tests/provision/mta.sh), runs its daemon inside a private network namespace
with only loopback (``unshare -n``), relays to a loopback port where nothing
listens (mail is deferred with "Connection refused"), and is stopped by PID
and emptied afterwards. A lock file keeps two runs from sharing an instance.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

TOP = Path("/var/lib/nagios_ipc-test")
EXIM_ROOT = TOP / "exim-root"
RELAY_PORT = 2525  # nothing listens there inside the private namespace


def available() -> Optional[str]:
    """Why the real MTAs cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (runs MTAs in a private network namespace)"
    if not os.path.exists("/usr/sbin/postfix"):
        return "postfix is not installed (tests/run installs tests/debian-packages/mta.txt)"
    if not (EXIM_ROOT / "usr/sbin/exim4").exists():
        return "exim is not unpacked (tests/provision/mta.sh)"
    if not shutil.which("unshare"):
        return "unshare missing"
    return None


class _Locked:
    def __init__(self, home: Path) -> None:
        self.home = home
        self._lock: Optional[Any] = None

    def lock(self) -> None:
        TOP.mkdir(parents=True, exist_ok=True)
        self._lock = open(TOP / f"{self.home.name}.lock", "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _netns_argv(command: str) -> List[str]:
    return ["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {command}"]


class PostfixInstance(_Locked):
    """A private Postfix instance (-c ETC), its master in a private network namespace."""

    def __init__(self, name: str = "postfix-it") -> None:
        super().__init__(TOP / name)
        self.etc = self.home / "etc"
        self.queue = self.home / "queue"
        self.data = self.home / "data"
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def postconf(self, *settings: str) -> None:
        subprocess.run(["postconf", "-c", str(self.etc), "-e", *settings], check=True)

    def setup(self, **extra: str) -> None:
        self.lock()
        self.stop()
        if self.queue.exists():
            shutil.rmtree(self.queue)
        for path in (self.etc, self.queue, self.data):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o755)
        shutil.chown(self.data, "postfix", "postfix")
        shutil.copy("/usr/share/postfix/master.cf.dist", self.etc / "master.cf")
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "myhostname": "probe.localdomain",
            "mydomain": "localdomain",
            "myorigin": "$myhostname",
            "mydestination": "$myhostname, localhost",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "master_service_disable": "inet",   # no smtpd: instances never compete for ports
            "relayhost": f"[127.0.0.1]:{RELAY_PORT}",
            "smtp_dns_support_level": "disabled",
            "maillog_file": str(self.home / "postfix.log"),
            "alias_maps": "",
            "alias_database": "",
            "queue_run_delay": "1h",             # deferred mail stays deferred during a test
            "minimal_backoff_time": "1h",
            "maximal_backoff_time": "2h",
            "authorized_mailq_users": "static:anyone",
        }
        settings.update(extra)
        (self.etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        subprocess.run(["postconf", "-c", str(self.etc), "-F", "*/*/chroot = n"], check=True)
        subprocess.run(["postfix", "-c", str(self.etc), "check"], check=True,
                       capture_output=True)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            # the master itself (not 'postfix start-fg', whose master outlives the script):
            # its PID is ours to stop
            _netns_argv(f"/usr/lib/postfix/sbin/master -s -c {self.etc}"),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (self.queue / "pid" / "master.pid").exists() and \
                    (self.queue / "public" / "showq").exists():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"postfix exited {self.proc.returncode}; see "
                                   f"{self.home}/postfix.log")
            time.sleep(0.1)
        raise RuntimeError("postfix did not start within 20s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self.queue.exists():
            subprocess.run(["postsuper", "-c", str(self.etc), "-d", "ALL"],
                           capture_output=True)
            shutil.rmtree(self.queue, ignore_errors=True)
        self.unlock()

    def send(self, sender: str, recipients: List[str], body: str = "test\n",
             subject: str = "backlog test") -> None:
        text = (f"From: {sender or 'MAILER-DAEMON'}\nTo: {', '.join(recipients)}\n"
                f"Subject: {subject}\n\n{body}")
        subprocess.run(["/usr/sbin/sendmail", "-C", str(self.etc), "-f", sender or "<>",
                        *recipients], input=text.encode(), check=True, timeout=30)

    def postqueue(self) -> List[Dict[str, Any]]:
        import json

        done = subprocess.run(["postqueue", "-c", str(self.etc), "-j"], capture_output=True,
                              check=True, timeout=60)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def wait_queue(self, predicate: Any, timeout: float = 30) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            queue = self.postqueue()
            if predicate(queue):
                return queue
            if time.monotonic() > deadline:
                raise AssertionError(f"queue never reached the state: {queue}")
            time.sleep(0.3)

    def hold(self, queue_id: str) -> None:
        subprocess.run(["postsuper", "-c", str(self.etc), "-h", queue_id], check=True,
                       capture_output=True)


EXIM_CONF = """\
primary_hostname = probe.localdomain
qualify_domain = probe.localdomain
disable_ipv6 = true
spool_directory = {spool}
log_file_path = {home}/log/%slog
exim_path = {exim}
exim_user = Debian-exim
exim_group = Debian-exim
keep_environment =
host_lookup =
rfc1413_hosts =
trusted_users = root
queue_list_requires_admin = {admin}
domainlist local_domains = probe.localdomain
begin routers
unknown_local:
  driver = redirect
  domains = +local_domains
  allow_fail
  data = :fail: Unknown user
smarthost:
  driver = manualroute
  domains = ! +local_domains
  transport = remote_smtp
  route_list = * 127.0.0.2::{port}
  self = send
  no_more
begin transports
remote_smtp:
  driver = smtp
  connect_timeout = 2s
begin retry
* * F,2h,15m; F,4d,6h
"""


class EximInstance(_Locked):
    """Exim unpacked by tests/provision/mta.sh, run with -C (a trusted config) and its
    own spool; every delivery attempt inside a private network namespace."""

    def __init__(self, name: str = "exim-it", list_requires_admin: bool = True) -> None:
        super().__init__(TOP / name)
        self.spool = self.home / "spool"
        self.conf = self.home / "exim.conf"
        self.binary = str(EXIM_ROOT / "usr/sbin/exim4")
        self.list_requires_admin = list_requires_admin

    def setup(self) -> None:
        self.lock()
        if self.spool.exists():
            shutil.rmtree(self.spool)
        for path in (self.home, self.home / "log", self.spool):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o755)
        for path in (self.home / "log", self.spool):
            shutil.chown(path, "Debian-exim", "Debian-exim")
            os.chmod(path, 0o750)
        self.configure(self.list_requires_admin)

    def configure(self, list_requires_admin: bool) -> None:
        self.conf.write_text(EXIM_CONF.format(spool=self.spool, home=self.home,
                                              exim=self.binary, port=RELAY_PORT,
                                              admin="true" if list_requires_admin else "false"))
        os.chmod(self.conf, 0o644)

    def exim(self, *args: str, input: Optional[bytes] = None) -> str:
        command = " ".join([self.binary, "-C", str(self.conf), *args])
        done = subprocess.run(_netns_argv(command), input=input, capture_output=True,
                              timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{command}: exit {done.returncode}: {done.stderr!r}")
        return done.stdout.decode()

    def send(self, sender: str, recipients: List[str], body: str = "test\n",
             queue_only: bool = False) -> None:
        text = (f"From: {sender or 'MAILER-DAEMON'}\nTo: {', '.join(recipients)}\n"
                f"Subject: backlog test\n\n{body}")
        self.exim("-odq" if queue_only else "-odi", "-f", f"'{sender}'" if sender else "'<>'",
                  *recipients, input=text.encode())

    def ids(self) -> List[str]:
        return [line.split()[2] for line in self.exim("-bp").splitlines()
                if line[:1] == " " and "<" in line]

    def cleanup(self) -> None:
        shutil.rmtree(self.spool, ignore_errors=True)
        self.unlock()
