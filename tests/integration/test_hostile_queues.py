"""check_msgqueues attacked by other local users (issue 18 items 1, 8, 11; issue 20 item 3).

Every test runs in a private IPC namespace (with its own mqueue filesystem in a
private mount namespace): the queues the attackers make are real kernel queues,
made by real processes under other uids, yet nothing on the host sees them and
they vanish with the namespace. The check runs there as the nagios user, the way
NRPE runs it.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, List, Sequence

import pytest
import schedulers  # tests/ is on sys.path (tests/conftest.py)
from helpers import CHECKS, ROOT, Outcome, nagios_account  # type: ignore[import-not-found]

pytest.importorskip("sysv_ipc")
NOBODY, DAEMON = 65534, 1  # the attackers and victims: real accounts of every Debian


class IpcNamespace:
    """A sleeping process in new IPC and mount namespaces (mqueue mounted on
    /dev/mqueue there); commands join both through nsenter."""

    def __init__(self) -> None:
        script = ("mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue && "
                  "echo $$ && exec sleep 600")
        self.proc = subprocess.Popen(["unshare", "--ipc", "--mount", "--fork", "sh", "-c",
                                      script], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.pid = int(self.proc.stdout.readline())
        # growth history of its own: another run's (same options, other queue ids) in the
        # user's default state directory would add findings to the first lines compared here
        self.state = tempfile.mkdtemp(prefix="nagios-ipc-hostile-", dir="/var/tmp")
        os.chmod(self.state, 0o711)  # each user's directory below is its own, 0700

    def argv(self, argv: Sequence[str]) -> List[str]:
        return ["nsenter", "-t", str(self.pid), "--ipc", "--mount", "--", *argv]

    def as_uid(self, uid: int, code: str) -> str:
        """Python *code* run by a process of *uid* (an attacker); its stdout."""
        wrapper = f"import os; os.setgroups([]); os.setgid({uid}); os.setuid({uid})\n{code}"
        done = subprocess.run(self.argv([sys.executable, "-c", wrapper]), capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def check(self, args: Sequence[str], user: str = "nagios") -> Outcome:
        argv = ["runuser", "-u", user, "--", sys.executable, str(CHECKS / "check_msgqueues"),
                *args]
        state = os.path.join(self.state, user)
        if not os.path.isdir(state):
            os.mkdir(state, 0o700)
            account = pwd.getpwnam(user)
            os.chown(state, account.pw_uid, account.pw_gid)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
               "NAGIOS_IPC_STATE_DIR": state}
        done = subprocess.run(self.argv(argv), capture_output=True, text=True, timeout=60,
                              env=env, stdin=subprocess.DEVNULL)
        return Outcome(done.returncode, done.stdout, done.stderr)

    def close(self) -> None:
        os.kill(self.pid, 15)  # the sleep we started; the namespaces and queues go with it
        self.proc.wait(timeout=30)
        shutil.rmtree(self.state, ignore_errors=True)


@pytest.fixture
def ns() -> Iterator[IpcNamespace]:
    nagios_account()  # root and a nagios user, else skip
    if not os.path.exists("/usr/bin/unshare") or not os.path.exists("/usr/bin/nsenter"):
        pytest.skip("needs unshare and nsenter (util-linux)")
    namespace = IpcNamespace()
    try:
        yield namespace
    finally:
        namespace.close()


SYSV = "import sysv_ipc\n"


# --- item 1: one queue with msg_qbytes = 0 ---------------------------------------------------

def test_zero_limit_queue_does_not_change_other_queues(ns: IpcNamespace) -> None:
    # the victims: nobody's 0600 queue full at its limit (2048 B), root's 0600 queue
    # half full of the 16384 B it was made with before msgmnb went down to 4096
    victim = int(ns.as_uid(NOBODY, SYSV + "q = sysv_ipc.MessageQueue(0x1111, sysv_ipc.IPC_CREX, "
                                         "mode=0o600, max_message_size=8192)\n"
                                         "q.max_size = 2048\nq.send(b'v' * 2048, block=False)\n"
                                         "print(q.id)"))
    healthy = int(ns.as_uid(0, SYSV + "q = sysv_ipc.MessageQueue(0x2222, sysv_ipc.IPC_CREX, "
                                      "mode=0o600, max_message_size=8192)\n"
                                      "q.send(b'h' * 8000, block=False)\nprint(q.id)\n"
                                      "open('/proc/sys/kernel/msgmnb', 'w').write('4096')"))
    honest = ns.check(["--type", "sysv", "--details", "always"])
    assert honest.code == 2, honest.stdout
    # the attack: daemon makes a queue of its own and lowers its limit to 0
    odd = int(ns.as_uid(DAEMON, SYSV + "q = sysv_ipc.MessageQueue(0x3333, sysv_ipc.IPC_CREX, "
                                       "mode=0o600)\nq.max_size = 0\nprint(q.id)"))
    out = ns.check(["--type", "sysv", "--details", "always"])
    assert out.stderr == ""
    # before the fix, every limit was taken from the default msgmnb (now 4096): nobody's
    # full queue read 50% (no alert), root's healthy one "8000 of 4096 B": CRITICAL for
    # the wrong queue
    assert (out.code, out.summary) == (2, (
        f"MSGQUEUES CRITICAL: 1 full queue of owner nobody: sysv key 0x00001111 id {victim} "
        f"(1 message, 2048 of 2048 B, 100%) / 1 full queue of owner daemon: sysv key "
        f"0x00003333 id {odd} (limit 0 B: full by definition, no message fits)"))
    perf = out.perfdata
    assert (perf["fill_nobody"], perf["qbytes_nobody"]) == ("100%;80;;0;100", "2048B;;;0")
    assert (perf["fill_root"], perf["full_root"]) == ("48.83%;80;;0;100", "0;;0;0;1")
    assert (perf["qbytes_daemon"], perf["full_daemon"]) == ("0B;;;0", "1;;0;0;1")
    assert f"sysv key 0x00002222 id {healthy} owner root creator root perms 0600: 1 " \
           f"messages, 8000 B of 16384 B (MSG_STAT_ANY), fill 48.8%;" in out.stdout
    assert f"sysv key 0x00003333 id {odd} owner daemon creator daemon perms 0600: 0 " \
           f"messages, 0 B of 0 B (MSG_STAT_ANY), fill 100%, FULL (a limit of 0 B: no " \
           f"message fits);" in out.stdout
    assert "note:" not in out.stdout  # every limit read, none assumed
    # the other owners' figures are those of the honest run, to the byte
    for label in ("fill_nobody", "qbytes_nobody", "bytes_nobody", "fill_root", "qbytes_root"):
        assert out.perfdata[label] == honest.perfdata[label], label


# --- item 8 and issue 20 item 3: thousands of owners made by one user ------------------------

FAKE_OWNERS = 5000


@pytest.fixture
def fake_owners(ns: IpcNamespace) -> IpcNamespace:
    """nobody makes 5,000 queues with a message each and hands each to another uid;
    daemon's queue is full (the real problem)."""
    ns.as_uid(DAEMON, SYSV + "q = sysv_ipc.MessageQueue(0x4444, sysv_ipc.IPC_CREX, mode=0o600)\n"
                             "q.max_size = 100\nq.send(b'd' * 100, block=False)")
    ns.as_uid(NOBODY, SYSV + f"for uid in range(3_000_000, 3_000_000 + {FAKE_OWNERS}):\n"
                             "    q = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, mode=0o600)\n"
                             "    q.send(b'f' * 10)\n"
                             "    q.uid = uid\n")
    return ns


def assert_whole_items(text: str) -> None:
    """Every perfdata item of every line is whole: label=value[UOM][;warn;crit;min;max]."""
    item = re.compile(r"^'?[\w.-]+'?=-?[\d.]+(%|B|s|c)?(;[^;\s]*){0,4}$")
    lines = text.splitlines()
    chunks = [lines[0].split(" | ", 1)[1]] + [line[1:] for line in lines[1:]
                                              if line.startswith("|")]
    for chunk in chunks:
        for part in chunk.split(" "):
            assert item.match(part), part


def test_thousands_of_owners_give_bounded_output(fake_owners: IpcNamespace) -> None:
    out = fake_owners.check(["--type", "sysv"])
    # before the fix: 945 KB (5,001 owners x 8 items), cut by NRPE v3 inside a label
    assert out.code == 2, out.stdout[:2000]
    assert len(out.stdout.encode()) < 32 * 1024, len(out.stdout)  # 100 detail lines too
    assert out.summary == ("MSGQUEUES CRITICAL: 1 full queue of owner daemon: sysv key "
                           "0x00004444 id 0 (1 message, 100 of 100 B, 100%)")
    first = out.first_line.split(" | ")[1].split()
    assert first[:2] == ["sysv_slots=15.63%;80;95;0;100", "queues_daemon=1;;;0"]
    rest = FAKE_OWNERS - 19  # 20 owners of their own: daemon and 19 of nobody's
    assert re.search(
        f"queues_other_owners={rest};;;0 messages_other_owners={rest};;;0 "
        f"bytes_other_owners={10 * rest}B;;;0;{16384 * rest} qbytes_other_owners="
        f"{16384 * rest}B;;;0 full_other_owners=0;;;0;{rest} fill_other_owners=0.06%;;;0;100 "
        f"unread_age_other_owners=\\d+s;;;0 orphaned_other_owners=0;;;0;{rest} "
        f"other_owners={rest};;;0\n$", out.stdout), out.stdout[-600:]
    assert_whole_items(out.stdout)
    assert len(out.perfdata) == 1 + 20 * 8 + 9
    # all of it in the long output too: still far under NRPE v3's 64 KiB
    always = fake_owners.check(["--type", "sysv", "--details", "always",
                                "--report-by", "both"])
    assert len(always.stdout.encode()) < 40 * 1024, len(always.stdout)
    assert_whole_items(always.stdout)
    assert always.first_line.split(" | ")[1].startswith("queues_total=5001;;;0 ")


def shipped_commands(path: Path, prefix: str) -> List[List[str]]:
    """The check_msgqueues command lines of a contrib file, as argument lists after the
    plugin's path (Nagios' $ARG1$ left empty)."""
    commands = []
    for line in path.read_text().splitlines():
        if line.strip().startswith(prefix) and "check_msgqueues" in line:
            argv = shlex.split(line.split("check_msgqueues", 2)[-1].replace("$ARG1$", ""))
            commands.append(argv)
    assert commands, path
    return commands


def test_shipped_nrpe_and_nagios_commands_stay_under_8kb(fake_owners: IpcNamespace) -> None:
    """Nagios 4 cuts plugin output at 8 KB now and then: the shipped commands stay
    below it under attack, and keep the Total, the slots and the problem first."""
    for path, prefix in ((ROOT / "contrib" / "nrpe" / "check_msgqueues.cfg", "command["),
                         (ROOT / "contrib" / "nagios" / "check_msgqueues.cfg", "command_line")):
        for argv in shipped_commands(path, prefix):
            out = fake_owners.check([*argv, "--type", "sysv"])
            assert out.code == 2, (argv, out.stdout[:500])
            assert len(out.stdout.encode()) < 8 * 1024, (argv, len(out.stdout))
            assert_whole_items(out.stdout)
            head = out.first_line.split(" | ")[1]
            assert "sysv_slots=" in head, argv
            assert ("full_daemon=1" in head) or ("full_total=1" in head), argv


class IpcNetns(schedulers.Netns):
    """schedulers.Netns (loopback only) inside an IpcNamespace: an NRPE started here
    runs its checks on the attackers' queues."""

    def __init__(self, ipc: IpcNamespace) -> None:
        self.holder = subprocess.Popen(
            ipc.argv(["unshare", "-n", "sh", "-c", "ip link set lo up && echo up && "
                      "exec sleep 100000"]),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=schedulers.CLEAN_ENV,
            start_new_session=True)
        assert self.holder.stdout is not None
        assert self.holder.stdout.readline().strip() == b"up"
        self.processes: List[subprocess.Popen[bytes]] = []

    def argv(self, argv: Sequence[str]) -> List[str]:
        ns = f"/proc/{self.holder.pid}/ns"
        return ["/usr/bin/nsenter", f"--net={ns}/net", f"--ipc={ns}/ipc", f"--mount={ns}/mnt",
                "--", *argv]


def test_real_nrpe_v2_keeps_totals_slots_and_the_problem(fake_owners: IpcNamespace) -> None:
    """Through a real NRPE (nrpe_user nagios) and check_nrpe: v2 packets keep 1023
    bytes, and those hold the slots, the Total and the owner with the full queue; v3
    carries the whole output, under 8 KB, ending with a whole item."""
    why = schedulers.missing_tools(schedulers.NRPE, schedulers.CHECK_NRPE)
    if why:
        pytest.skip(why)
    shipped = {name: argv for name, argv in zip(
        ("check_msgqueues", "check_msgqueues_total"),
        shipped_commands(ROOT / "contrib" / "nrpe" / "check_msgqueues.cfg", "command["))}
    commands = {name: " ".join([sys.executable, str(CHECKS / "check_msgqueues"), *argv,
                                "--type", "sysv"]) for name, argv in shipped.items()}
    netns = IpcNetns(fake_owners)
    workdir = schedulers.make_workdir("nagios-ipc-hostile-nrpe-")
    try:
        daemon = schedulers.Nrpe(netns, workdir, commands)
        for name, must in (("check_msgqueues", ("sysv_slots=", "full_daemon=1;")),
                           ("check_msgqueues_total", ("sysv_slots=", "full_total=1;"))):
            v3 = daemon.ask(name)
            v2 = daemon.ask(name, v2=True)
            assert v3.returncode == v2.returncode == 2, (v3.stdout[:300], v2.stdout[:300])
            assert len(v3.stdout.encode()) < 8 * 1024, len(v3.stdout)
            assert_whole_items(v3.stdout)
            assert len(v2.stdout.encode()) <= 1024  # 1023 bytes and check_nrpe's newline
            for text in must:
                assert text in v2.stdout, (name, text, v2.stdout)
    finally:
        netns.close()
        shutil.rmtree(workdir, ignore_errors=True)


# --- item 11: a long POSIX queue name ----------------------------------------------------------

def test_long_posix_name_cannot_hide_another_full_queue(ns: IpcNamespace) -> None:
    pytest.importorskip("posix_ipc")  # the attacker's process imports it
    # daemon: the longest name the kernel takes (255 bytes: 63 emoji), full, readable by
    # all (so that nagios sees its fill), larger than the victim's, and an owner name
    # before the victim's in the alphabet (the order of findings before the fix)
    name = "/" + "\U0001f600" * 63
    made = ns.as_uid(DAEMON, "import posix_ipc\n"
                             f"q = posix_ipc.MessageQueue({name!r}, posix_ipc.O_CREX, mode=0o644, "
                             "max_messages=10, max_message_size=8192)\n"
                             "for _ in range(10): q.send(b'e' * 8192)\nprint(q.name)")
    assert made.strip() == name
    victim = int(ns.as_uid(NOBODY, SYSV + "q = sysv_ipc.MessageQueue(0x5555, sysv_ipc.IPC_CREX, "
                                          "mode=0o600)\nq.max_size = 64\n"
                                          "q.send(b'v' * 64, block=False)\nprint(q.id)"))
    out = ns.check(["--details", "never"])
    # before the fix: the first finding alone, with the name escaped (10 characters per
    # emoji), filled the 400-character summary; nobody's full queue was cut off
    shown = "\\U0001f600" * 4 + "\\U00"  # with '/' and '...': 48 characters
    assert (out.code, out.summary) == (2, (
        f"MSGQUEUES CRITICAL: 1 full queue of owner daemon: posix /{shown}... (10 of 10 "
        f"messages, 81920 of 81920 B, 100%) / 1 full queue of owner nobody: sysv key 0x00005555 id "
        f"{victim} (1 message, 64 of 64 B, 100%)"))
    detail = ns.check(["--details", "always"]).stdout.splitlines()
    assert max(len(line) for line in detail[1:-1]) < 400


# --- POSIX queues the monitoring user may not read -------------------------------------------

def test_unreadable_posix_queues_are_unknown_never_ok_with_zeros(ns: IpcNamespace) -> None:
    pytest.importorskip("posix_ipc")
    # root's 0600 queue, full by its message count; nobody's own queue, readable by it
    ns.as_uid(0, "import posix_ipc\nq = posix_ipc.MessageQueue('/app.q', posix_ipc.O_CREX, "
                 "mode=0o600, max_messages=4, max_message_size=64)\n"
                 "for _ in range(4): q.send(b'a' * 10)")
    ns.as_uid(NOBODY, "import posix_ipc\nq = posix_ipc.MessageQueue('/own.q', posix_ipc.O_CREX, "
                      "mode=0o600, max_messages=4, max_message_size=64)\nq.send(b'o' * 5)")
    args = ["--type", "posix", "--trend-window", "0", "--details", "always"]
    assert ns.check(args, user="root").code == 2  # root sees the full queue
    out = ns.check(args, user="nobody")
    assert out.stderr == ""
    # before the fix: "MSGQUEUES OK: 2 posix queues of 2 owners, 1 messages, 5 B queued"
    # with messages_root=0 bytes_root=0B
    assert (out.code, out.summary) == (3, (
        "MSGQUEUES UNKNOWN: 1 POSIX queue not readable by nobody (uid 65534): owner root "
        "/app.q: message counts unknown; run as root or their owner, or skip them: "
        "--exclude-owner root"))
    perf = out.perfdata
    assert perf["queues_root"] == "1;;;0"
    for unknown in ("messages_root", "bytes_root", "qbytes_root", "full_root", "fill_root"):
        assert unknown not in perf  # left out, not 0
    assert perf["messages_nobody"] == "1;;;0"
    assert perf["bytes_nobody"] == "5B;;;0;256"
    assert "posix /app.q owner root creator root perms 0600: ? messages, ? B of unknown" \
        in out.stdout
    # each unreadable queue counted once (it was twice: file and mq_getattr)
    assert "note: 1 POSIX queue(s) without message counts" in out.stdout
    # a full queue nobody can read is still CRITICAL, the unreadable one named after it
    ns.as_uid(0, "import posix_ipc\nq = posix_ipc.MessageQueue('/open.q', posix_ipc.O_CREX, "
                 "mode=0o644, max_messages=2, max_message_size=64)\n"
                 "q.send(b'p'); q.send(b'q')")
    out = ns.check(args, user="nobody")
    assert (out.code, out.summary) == (2, (
        "MSGQUEUES CRITICAL: 1 full queue of owner root: posix /open.q (2 of 2 messages, 2 of "
        "128 B, 100%) / 1 POSIX queue not readable by nobody (uid 65534): owner root /app.q: "
        "message counts unknown; run as root or their owner, or skip them: --exclude-owner "
        "root"))
    assert "messages_root" not in out.perfdata
    # without --type the way out names System V too; excluded, the rest is judged
    out = ns.check(["--trend-window", "0", "--exclude-key", "/open.q"], user="nobody")
    assert out.code == 3 and out.summary.endswith(
        "skip them: --exclude-owner root or --type sysv"), out.stdout
    out = ns.check(["--type", "posix", "--trend-window", "0", "--exclude-owner", "root"],
                   user="nobody")
    assert (out.code, out.summary) == (0, "MSGQUEUES OK: 1 posix queue of 1 owner, 1 messages, "
                                          "5 B queued, fullest 25% (posix /own.q of nobody)")
