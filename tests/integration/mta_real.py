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
from typing import Any, Dict, Iterator, List, Optional

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
        self.ran = False  # the master ran: empty the queue with Postfix's own tool

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
        self.ran = True
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

    @classmethod
    def running(cls, name: str) -> Iterator[PostfixInstance]:
        """A started instance of its own name for a fixture to yield from; cleaned up
        after."""
        instance = cls(name)
        instance.setup()
        try:
            instance.start()
            yield instance
        finally:
            instance.cleanup()

    def cleanup(self) -> None:
        self.stop()
        if self.queue.exists():
            if self.ran:
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


# --- big queues, written directly (submitting 100,000 messages takes ~30 minutes) --------

DOMAINS = [f"customer{i}.example" for i in range(40)] + ["example.com", "example.net",
                                                          "lists.example.org", "gmail.test"]
REASONS = ["connect to mx{n}.{d}[192.0.2.{n}]:25: Connection refused",
           "connect to mx{n}.{d}[192.0.2.{n}]:25: Connection timed out",
           "host mx{n}.{d}[192.0.2.{n}] said: 451 4.7.1 Greylisted, please try again later "
           "(in reply to RCPT TO command)",
           "host mx{n}.{d}[192.0.2.{n}] said: 452 4.2.2 <{r}>: Mailbox full (in reply to RCPT "
           "TO command)",
           "lost connection with mx{n}.{d}[192.0.2.{n}] while receiving the initial server "
           "greeting"]


def _record(kind: bytes, data: bytes) -> bytes:
    length = len(data)
    out = bytearray(kind)
    while True:
        byte = length & 0x7F
        length >>= 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out) + data


def postfix_queue_file(queue_id: str, arrival: float, sender: str, recipients: List[str],
                       body_lines: int = 20) -> bytes:
    """A deferred queue file laid out record for record as Postfix 3.7's cleanup writes
    it (compare tests/fixtures/mta/postfix-3.7.11-spool)."""
    sec = int(arrival)
    envelope = _record(b"T", b"%d %06d" % (sec, int((arrival - sec) * 1e6)))
    envelope += _record(b"A", b"create_time=%d" % sec)
    envelope += _record(b"A", b"rewrite_context=local")
    envelope += _record(b"S", sender.encode())
    for rcpt in recipients:
        envelope += _record(b"A", b"dsn_orig_rcpt=rfc822;" + rcpt.encode())
        envelope += _record(b"O", rcpt.encode())
        envelope += _record(b"R", rcpt.encode())
    lines = [b"Received: by probe.localdomain (Postfix, from userid 0)",
             b"\tid " + queue_id.encode() + b"; Sat,  5 Dec 2026 17:33:54 +0000 (UTC)",
             b"From: " + (sender or "MAILER-DAEMON").encode(),
             b"To: " + ", ".join(recipients).encode(), b"Subject: backlog benchmark", b""]
    lines += [b"line %d of a benchmark message body, long enough to look like text" % i
              for i in range(body_lines)]
    content = b"".join(_record(b"N", line) for line in lines)
    size_len = len(_record(b"C", b"%15d %15d %15d %15d %15d %15d" % ((0,) * 6)))
    offset = size_len + len(envelope) + len(_record(b"M", b""))
    size = _record(b"C", b"%15d %15d %15d %15d %15d %15d" % (len(content), offset,
                                                              len(recipients), 0,
                                                              len(content), 0))
    return size + envelope + _record(b"M", b"") + content + _record(b"X", b"") + \
        _record(b"E", b"")


def postfix_defer_log(recipients: List[str], reasons: List[str]) -> bytes:
    out = []
    for rcpt, reason in zip(recipients, reasons):
        out.append(f"\n<{rcpt}>: {reason}\nrecipient={rcpt}\noffset=249\n"
                   f"dsn_orig_rcpt=rfc822;{rcpt}\nstatus=4.4.1\naction=delayed\n"
                   f"reason={reason}\n\n")
    return "".join(out).encode()


def fill_postfix_queue(queue: Path, count: int, now: float, seed: int = 1) -> None:
    """*count* deferred messages (and their defer logs) in queue/deferred/<hash>/."""
    import random

    rng = random.Random(seed)
    pw = __import__("pwd").getpwnam("postfix")
    made = set()
    for i in range(count):
        queue_id = f"{rng.randrange(16 ** 5):05X}{i:06X}"
        sub = queue_id[0]
        if sub not in made:
            for top in ("deferred", "defer"):
                (queue / top / sub).mkdir(parents=True, exist_ok=True)
                os.chown(queue / top / sub, pw.pw_uid, pw.pw_gid)
                os.chmod(queue / top / sub, 0o700)
            made.add(sub)
        domain = DOMAINS[min(int(rng.expovariate(0.25)), len(DOMAINS) - 1)]
        recipients = [f"user{rng.randrange(1000)}@{domain}"]
        if rng.random() < 0.1:
            recipients.append(f"other{i}@{rng.choice(DOMAINS)}")
        sender = "" if rng.random() < 0.05 else f"app{rng.randrange(20)}@probe.localdomain"
        arrival = now - rng.uniform(60, 3 * 86400)
        # each domain has two MX hosts (as DNS would give), each failing its own way
        reasons = [REASONS[min(int(rng.expovariate(0.8)), len(REASONS) - 1)].format(
            n=sum(r.split("@")[1].encode()) % 200 + rng.randrange(2), d=r.split("@")[1], r=r)
            for r in recipients]
        for top, data in (("deferred", postfix_queue_file(queue_id, arrival, sender,
                                                          recipients)),
                          ("defer", postfix_defer_log(recipients, reasons))):
            path = queue / top / sub / queue_id
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700 if top ==
                         "deferred" else 0o600)
            os.write(fd, data)
            os.fchown(fd, pw.pw_uid, pw.pw_gid)
            os.close(fd)


def exim_id(when: int, serial: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

    def b62(value: int, width: int) -> str:
        out = ""
        for _ in range(width):
            value, rest = divmod(value, 62)
            out = digits[rest] + out
        return out

    return f"{b62(when, 6)}-{b62(serial, 6)}-{b62(serial % 3844, 2)}"


def fill_exim_spool(spool: Path, count: int, now: float, seed: int = 1,
                    first: int = 0) -> None:
    """*count* queued messages (-H, -D, msglog) as Exim 4.96 writes them; *first*: how
    many this spool has already (their ids are not made again)."""
    import random

    rng = random.Random(seed)
    pw = __import__("pwd").getpwnam("Debian-exim")
    for top in ("input", "msglog"):
        (spool / top).mkdir(parents=True, exist_ok=True)
        os.chown(spool / top, pw.pw_uid, pw.pw_gid)
        os.chmod(spool / top, 0o750)
    for i in range(count):
        when = int(now - rng.uniform(60, 3 * 86400))
        message_id = exim_id(when, 100000 + first + i)
        domain = DOMAINS[min(int(rng.expovariate(0.25)), len(DOMAINS) - 1)]
        rcpt = f"user{rng.randrange(1000)}@{domain}"
        sender = "" if rng.random() < 0.05 else f"app{rng.randrange(20)}@probe.localdomain"
        headers = [f"Received: from root by probe.localdomain with local (Exim 4.96)\n"
                   f"\tid {message_id};\n\tSat, 05 Dec 2026 17:33:54 +0000\n",
                   f"From: {sender or 'MAILER-DAEMON'}\n", f"To: {rcpt}\n",
                   "Subject: backlog benchmark\n"]
        flags = "P", "F", "T", " "
        header_text = "".join(f"{len(h):03d}{f} {h}" for h, f in zip(headers, flags))
        frozen = f"-frozen {when}\n" if rng.random() < 0.02 else ""
        h_file = (f"{message_id}-H\nroot 0 0\n<{sender}>\n{when} 0\n"
                  f"-received_time_usec .{rng.randrange(10 ** 6):06d}\n-ident root\n"
                  f"-received_protocol local\n-body_linecount 20\n"
                  f"{frozen}"
                  f"XX\n1\n{rcpt}\n\n{header_text}")
        d_file = f"{message_id}-D\n" + "".join(
            f"line {n} of a benchmark message body, long enough to look like text\n"
            for n in range(20))
        log = (f"2026-12-05 17:33:54 Received from {sender} U=root P=local S=1234\n"
               f"2026-12-05 17:33:54 {rcpt} R=smarthost T=remote_smtp defer (111): "
               f"Connection refused\n")
        for path, data in ((spool / "input" / f"{message_id}-H", h_file),
                           (spool / "input" / f"{message_id}-D", d_file),
                           (spool / "msglog" / message_id, log)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.write(fd, data.encode())
            os.fchown(fd, pw.pw_uid, pw.pw_gid)
            os.close(fd)
