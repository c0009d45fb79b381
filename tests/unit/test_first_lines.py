# ruff: noqa: E501 - ROWS holds whole first lines, one per row: a diff per wording change
"""The first line the on-call engineer reads (issue 17), one row per situation.

Every way a check fails or finds its target absent that the test suites create has a
row here with the exact first line it prints (perfdata left out; temp dirs, test
directories, pids, uids and ports masked by tests/first_line_recorder.py). A change
of wording shows up in review as a diff of ROWS.

How the table stays whole: tests/first_line_recorder.py keeps every first line any
test of the session makes a check print (in-process or as a program, as root or as
nagios; property tests excepted). test_every_failure_line_has_a_row runs last and
fails on an audited line (UNKNOWN, or a watched thing absent) without a row: a new
failure path without a row fails the run. In a run of both tests/unit and
tests/integration it also fails on a row that nothing printed (a stale row).
NAGIOS_IPC_FIRST_LINES=FILE writes the audited lines seen, with their tests, to
FILE (to write rows from).

The standard each row meets (test_row_meets_the_standard): what is wrong and where,
then the fix; at most 200 characters after 'NAME STATE: '; no run of four words
said twice; no internal jargon (exception names, errno, byte strings). Usage
errors are followed by the usage itself; internal errors (a bug) say so.
"""

from __future__ import annotations

import json
import os
import re
from typing import List, NamedTuple, Set

import pytest

from tests import first_line_recorder


class Row(NamedTuple):
    line: str         # the masked first line, perfdata left out
    fix: str          # the part of the line that is the fix ('' for usage and internal
                      # errors, and for findings that are not UNKNOWN)
    seen_in: str      # the test files that make a check print it
    exempt: str = ""  # why the jargon and fix rules do not hold yet (length and
                      # repetition always do)
    maybe: str = ""   # why a full run may not print it (not a stale row then)


# markers of a finding about an absent target (states other than UNKNOWN are audited too)
ABSENT = ("is not running", "no queue with key", "no queues of owner", "no message queues",
          "no connections", "no process")
JARGON = re.compile(r"Traceback|Errno|errno|EAGAIN|EWOULDBLOCK|NoneType|\bNone\b|"
                    r"(?:^|[\s:(=])b'|\\x[0-9a-f]{2}|Decode|Exception\b")


def audited(line: str) -> bool:
    head, _, text = line.partition(": ")
    return head.endswith(" UNKNOWN") or any(marker in text for marker in ABSENT)


def kind(line: str) -> str:
    text = line.partition(": ")[2]
    if text.startswith("usage error: "):
        return "usage"
    if text.startswith("internal error: "):
        return "internal"
    return "failure"


ROWS: List[Row] = [
    Row('MTA_BACKLOG UNKNOWN: out of memory (check ulimit -v for this user)',
        'check ulimit -v for this user', 'test_robust_limits.py', maybe='ulimit -v: memory runs out while loading or while running, as the allocator goes'),
    Row('MSGQUEUES UNKNOWN: state directory <tmp> does not exist; create it or give --state-file elsewhere',
        'create it or give --state-file elsewhere', 'test_msgqueues_check.py'),
    Row('MSGQUEUES UNKNOWN: state file <tmp> was not valid JSON: moved aside to <tmp>; the next runs measure afresh',
        'moved aside to <tmp>; the next runs measure afresh', 'test_msgqueues_check.py'),
    Row('MSGQUEUES UNKNOWN: state file <tmp> is a device, not a regular file; give --state-file the path of a file (made on the first run)',
        'give --state-file the path of a file (made on the first run)', 'test_robust_state.py'),
    Row('MSGQUEUES UNKNOWN: state file <tmp> is a FIFO, not a regular file; give --state-file the path of a file (made on the first run)',
        'give --state-file the path of a file (made on the first run)', 'test_robust_state.py'),
    Row('MSGQUEUES UNKNOWN: state file <tmp> is a socket, not a regular file; give --state-file the path of a file (made on the first run)',
        'give --state-file the path of a file (made on the first run)', 'test_robust_state.py'),
    Row("MSGQUEUES UNKNOWN: usage error: argument --time-to-full-critical: 'none' is not a number (durations take ms, s, m, h, d, w)",
        '', 'test_msgqueues_check.py'),
    Row("MSGQUEUES UNKNOWN: usage error: argument --trend-window: '30s' is neither 0 (off) nor between 1m and 1d",
        '', 'test_msgqueues_check.py'),
    Row('MTA_BACKLOG UNKNOWN: state directory <tmp> does not exist; create it or give --state-file elsewhere',
        'create it or give --state-file elsewhere', 'test_mta_growth.py'),
    Row("MSGQUEUES UNKNOWN: refusing to run under sudo with PYTHONWARNINGS in the environment: keep sudo's env_reset for this check (contrib/sudoers.d/nagios_ipc)",
        "keep sudo's env_reset for this check (contrib/sudoers.d/nagios_ipc)", 'test_privilege.py'),
    Row("MSGQUEUES UNKNOWN: refusing to run under sudo: <test-dir> is writable by its group (its owner could change this check's code); make it root's and not group/world-writable",
        "make it root's and not group/world-writable", 'test_privilege.py'),
    Row("MSGQUEUES UNKNOWN: refusing to run under sudo: <test-dir> is owned by uid <n> (its owner could change this check's code); make it root's and not group/world-writable",
        "make it root's and not group/world-writable", 'test_privilege.py'),
    Row('MTA_BACKLOG UNKNOWN: out of file descriptors; raise the open files limit (ulimit -n) of this user',
        'raise the open files limit (ulimit -n) of this user', 'test_robust_limits.py'),
    Row('ZMQ_HWM CRITICAL: nothing listens on or connects to ipc://<tmp> (<tmp> does not exist: the application is not running there?)',
        '', 'test_zmq_hostile_sockets.py'),
    Row('ZMQ_HWM CRITICAL: nothing listens on or connects to tcp://127.0.0.1:<port> (the application is not running there?)',
        '', 'test_zmq_hostile_sockets.py'),
    Row('ZMQ_HWM CRITICAL: nothing listens on or connects to tcp://192.0.2.1:<port> (the application is not running there?)',
        '', 'test_zmq_addresses.py'),
    Row('ZMQ_HWM CRITICAL: nothing listens on or connects to tcp://127.0.0.1:<port> in pid <n> (feed) (the application is not running there?) / peers 0 (critical 1:)',
        '', 'test_zmq_check.py'),
    Row('ZMQ_HWM OK: no connections of pid <n> (feedpub) (1 listening)',
        '', 'test_zmq_hostile_sockets.py'),
    Row('ZMQ_HWM OK: nothing listens on or connects to ipc://<tmp> (<tmp> does not exist: the application is not running there?)',
        '', 'test_zmq_hostile_sockets.py'),
    Row('ZMQ_HWM OK: nothing listens on or connects to tcp://127.0.0.1:<port> (the application is not running there?)',
        '', 'test_zmq_hostile_sockets.py'),
    Row('ZMQ_HWM UNKNOWN: key file <tmp> holds a secret key and is readable by its group (mode 0640); chmod 600 <tmp> (new key pairs: python3 -m nagios_ipc.zmqhwm.keys DIR NAME)',
        'chmod 600 <tmp> (new key pairs: python3 -m nagios_ipc.zmqhwm.keys DIR NAME)', 'test_zmq_hostile.py'),
    Row('ZMQ_HWM UNKNOWN: key file <tmp> holds a secret key and is readable by others (mode 0644); chmod 600 <tmp> (new key pairs: python3 -m nagios_ipc.zmqhwm.keys DIR NAME)',
        'chmod 600 <tmp> (new key pairs: python3 -m nagios_ipc.zmqhwm.keys DIR NAME)', 'test_zmq_hostile.py'),
    Row("ZMQ_HWM UNKNOWN: no process named 'feedpub' (its name or program, exactly); check --process-name",
        'check --process-name', 'test_zmq_hostile_sockets.py'),
    Row("ZMQ_HWM UNKNOWN: no process named 'feedpub' runs as root (uid <n>); check --process-name and --expect-user",
        'check --process-name and --expect-user', 'test_zmq_hostile_sockets.py'),
    Row("ZMQ_HWM UNKNOWN: no process named 'unique-feed-name.ipc' (its name or program, exactly); check --process-name",
        'check --process-name', 'test_zmq_sockets.py'),
    Row('ZMQ_HWM UNKNOWN: nothing listens at the stats endpoint tcp://127.0.0.1:<port> (connection refused); is the application running with the nagios_ipc helper there?',
        'is the application running with the nagios_ipc helper there?', 'test_zmq_stats.py'),
    Row("ZMQ_HWM UNKNOWN: permission denied connecting to the stats endpoint ipc://<tmp> (uid <n>): let this user connect: StatsServer(..., ipc_mode=0o660, ipc_group='GROUP') in the application",
        "let this user connect: StatsServer(..., ipc_mode=0o660, ipc_group='GROUP') in the application", 'test_zmq_hostile.py'),
    Row('ZMQ_HWM UNKNOWN: pidfile <tmp> does not hold a process id (its first 64 bytes are not one decimal number)',
        '', 'test_zmq_hostile_sockets.py', exempt='a finding about who holds the endpoint or pid: the fix is to find why the application is down, said in the line'),
    Row('ZMQ_HWM UNKNOWN: pidfile <tmp> does not hold a process id (its first 8 bytes are not one decimal number)',
        '', 'test_zmq_sockets.py', exempt='a finding about who holds the endpoint or pid: the fix is to find why the application is down, said in the line'),
    Row('ZMQ_HWM UNKNOWN: pidfile <tmp> is a symlink: refusing to follow it; give the file it points to',
        'give the file it points to', 'test_zmq_hostile_sockets.py'),
    Row('ZMQ_HWM UNKNOWN: pidfile <tmp> is not a regular file; check --pidfile',
        'check --pidfile', 'test_zmq_hostile_sockets.py'),
    Row('ZMQ_HWM UNKNOWN: pidfile <tmp> names pid <n>, which started 3s after the file was written: another process has that pid now (stale pidfile: the application is down?)',
        '', 'test_zmq_hostile_sockets.py', exempt='a finding about who holds the endpoint or pid: the fix is to find why the application is down, said in the line'),
    Row("ZMQ_HWM UNKNOWN: pidfile <tmp> of nagios (uid <n>) names pid <n> of nobody (uid <n>): not the application's process (stale pidfile: the application is down?)",
        '', 'test_zmq_hostile_sockets.py', exempt='a finding about who holds the endpoint or pid: the fix is to find why the application is down, said in the line'),
    Row("ZMQ_HWM UNKNOWN: processes named 'feedpub' run as root (uid <n>), nobody (uid <n>): give --expect-user to say which is the application",
        'give --expect-user to say which is the application', 'test_zmq_hostile_sockets.py'),
    Row('ZMQ_HWM UNKNOWN: state directory <tmp> does not exist; create it or give --state-file elsewhere',
        'create it or give --state-file elsewhere', 'test_zmq_hostile.py'),
    Row('ZMQ_HWM UNKNOWN: state file <tmp> was not UTF-8 text: moved aside to <tmp>; the next runs measure afresh',
        'moved aside to <tmp>; the next runs measure afresh', 'test_robust_state.py'),
    Row('ZMQ_HWM UNKNOWN: state file <tmp> was not a JSON object: moved aside to <tmp>; the next runs measure afresh',
        'moved aside to <tmp>; the next runs measure afresh', 'test_robust_state.py'),
    Row('ZMQ_HWM UNKNOWN: state file <tmp> was not valid JSON: moved aside to <tmp>; the next runs measure afresh',
        'moved aside to <tmp>; the next runs measure afresh', 'test_robust_state.py'),
    Row('ZMQ_HWM UNKNOWN: state file <tmp> is a device, not a regular file; give --state-file the path of a file (made on the first run)',
        'give --state-file the path of a file (made on the first run)', 'test_robust_state.py'),
    Row('ZMQ_HWM UNKNOWN: state file <tmp> is a FIFO, not a regular file; give --state-file the path of a file (made on the first run)',
        'give --state-file the path of a file (made on the first run)', 'test_robust_state.py'),
    Row('ZMQ_HWM UNKNOWN: state file <tmp> is a socket, not a regular file; give --state-file the path of a file (made on the first run)',
        'give --state-file the path of a file (made on the first run)', 'test_robust_state.py'),
    Row('ZMQ_HWM UNKNOWN: the stats endpoint tcp://127.0.0.1:<port> belongs to nobody (uid <n>), not to root: another process holds it (is the application down?)',
        '', 'test_zmq_hostile.py', exempt='a finding about who holds the endpoint or pid: the fix is to find why the application is down, said in the line'),
    Row("ZMQ_HWM UNKNOWN: the stats reply at ipc://<tmp> claims pid <n>, but the socket belongs to pid <n> of nobody (uid <n>): not the application's helper",
        '', 'test_zmq_hostile.py', exempt='a finding about who holds the endpoint or pid: the fix is to find why the application is down, said in the line'),
    Row("ZMQ_HWM UNKNOWN: the stats reply at tcp://127.0.0.1:<port> claims pid <n> of root, but the endpoint belongs to nobody (uid <n>): not the application's helper",
        '', 'test_zmq_hostile.py', exempt='a finding about who holds the endpoint or pid: the fix is to find why the application is down, said in the line'),
    Row('ZMQ_HWM UNKNOWN: the stats reply at tcp://127.0.0.1:<port> claims pid <n>, which does not exist (the endpoint belongs to root (uid <n>))',
        '', 'test_robust_forging.py', exempt='a finding about who holds the endpoint or pid: the fix is to find why the application is down, said in the line'),
    Row("HOST_UPTIME UNKNOWN: cannot import Python module nagiosplugin: install it (pip install nagios_ipc, or Debian's python3-nagiosplugin python3-sysv-ipc python3-psutil python3-zmq)",
        "install it (pip install nagios_ipc, or Debian's python3-nagiosplugin python3-sysv-ipc python3-psutil python3-zmq)", 'test_check_scripts.py'),
    Row('HOST_UPTIME UNKNOWN: cannot open lock file <tmp>: Not a directory; give --state-file a path in a directory this user (uid <n>) owns and can write, or fix the permissions of <tmp>',
        'give --state-file a path in a directory this user (uid <n>) owns and can write, or fix the permissions of <tmp>', 'test_uptime.py'),
    Row('HOST_UPTIME UNKNOWN: cannot open lock file <tmp>: Permission denied; give --state-file a path in a directory this user (uid <n>) owns and can write, or fix the permissions of <tmp>',
        'give --state-file a path in a directory this user (uid <n>) owns and can write, or fix the permissions of <tmp>', 'test_robust_state.py, test_uptime_host.py'),
    Row('HOST_UPTIME UNKNOWN: cannot read <tmp>: No such file or directory; use --boot-source psutil',
        'use --boot-source psutil', 'test_uptime_source.py'),
    Row('HOST_UPTIME UNKNOWN: cannot read state file <tmp>: Permission denied; give --state-file a path in a directory this user (uid <n>) owns and can write, or fix the permissions of <tmp>',
        'give --state-file a path in a directory this user (uid <n>) owns and can write, or fix the permissions of <tmp>', 'test_robust_state.py, test_uptime_host.py'),
    Row('HOST_UPTIME UNKNOWN: cannot read state file <tmp>: Too many open files; raise the open files limit (ulimit -n) of this user',
        'raise the open files limit (ulimit -n) of this user', 'test_robust_limits.py'),
    Row('HOST_UPTIME UNKNOWN: lock file <tmp> is a symlink; remove it',
        'remove it', 'test_robust_state.py'),
    Row('HOST_UPTIME UNKNOWN: out of memory (check ulimit -v for this user)',
        'check ulimit -v for this user', 'test_robust_limits.py', maybe='ulimit -v: memory runs out while loading or while running, as the allocator goes'),
    Row('HOST_UPTIME UNKNOWN: out of memory while loading the check (raise ulimit -v for this user)',
        'raise ulimit -v for this user', 'test_robust_limits.py', maybe='ulimit -v: memory runs out while loading or while running, as the allocator goes'),
    Row('HOST_UPTIME UNKNOWN: state directory <tmp> does not exist; create it or give --state-file elsewhere',
        'create it or give --state-file elsewhere', 'test_uptime.py'),
    Row('HOST_UPTIME UNKNOWN: state file <tmp> was not UTF-8 text: moved aside to <tmp>; the next runs measure afresh',
        'moved aside to <tmp>; the next runs measure afresh', 'test_robust_state.py, test_uptime.py'),
    Row('HOST_UPTIME UNKNOWN: state file <tmp> was not a JSON object: moved aside to <tmp>; the next runs measure afresh',
        'moved aside to <tmp>; the next runs measure afresh', 'test_robust_state.py, test_uptime.py'),
    Row('HOST_UPTIME UNKNOWN: state file <tmp> was not valid JSON: moved aside to <tmp>; the next runs measure afresh',
        'moved aside to <tmp>; the next runs measure afresh', 'test_robust_state.py, test_uptime.py'),
    Row("HOST_UPTIME UNKNOWN: state file <tmp> was unusable ('wall' is not a non-negative number): moved aside to <tmp>; the next runs measure afresh",
        'moved aside to <tmp>; the next runs measure afresh', 'test_uptime.py'),
    Row("HOST_UPTIME UNKNOWN: state file <tmp> was unusable (no 'uptime'): moved aside to <tmp>; the next runs measure afresh",
        'moved aside to <tmp>; the next runs measure afresh', 'test_uptime.py'),
    Row('HOST_UPTIME UNKNOWN: state file <tmp> is a device, not a regular file; give --state-file the path of a file (made on the first run)',
        'give --state-file the path of a file (made on the first run)', 'test_robust_state.py'),
    Row('HOST_UPTIME UNKNOWN: state file <tmp> is a FIFO, not a regular file; give --state-file the path of a file (made on the first run)',
        'give --state-file the path of a file (made on the first run)', 'test_robust_state.py'),
    Row('HOST_UPTIME UNKNOWN: state file <tmp> is a socket, not a regular file; give --state-file the path of a file (made on the first run)',
        'give --state-file the path of a file (made on the first run)', 'test_robust_state.py'),
    Row('HOST_UPTIME UNKNOWN: state file <tmp> stayed locked by another run of this check; is one hanging? (fuser <tmp> names it)',
        'is one hanging? (fuser <tmp> names it)', 'test_conformance.py'),
    Row('HOST_UPTIME UNKNOWN: state file <tmp> is a directory; remove it or give another --state-file',
        'remove it or give another --state-file', 'test_robust_state.py'),
    Row('HOST_UPTIME UNKNOWN: state file <tmp> is a symlink; remove it (refusing to follow it) or give another --state-file',
        'remove it (refusing to follow it) or give another --state-file', 'test_robust_state.py'),
    Row('HOST_UPTIME UNKNOWN: usage error: --max-uptime 5m is below the start of -w (30m)',
        '', 'test_uptime.py'),
    Row('HOST_UPTIME UNKNOWN: usage error: -w already has an upper end; give either -w START:END or -w START: --max-uptime END',
        '', 'test_uptime.py'),
    Row("HOST_UPTIME UNKNOWN: usage error: argument --availability-warning: 'x' is not a number (a percentage)",
        '', 'test_uptime.py'),
    Row("HOST_UPTIME UNKNOWN: usage error: argument --boot-source: invalid choice: 'sysctl' (choose from 'auto', 'proc', 'psutil')",
        '', 'test_uptime.py'),
    Row("HOST_UPTIME UNKNOWN: usage error: argument --reboots-warning: 'a' is not a number",
        '', 'test_uptime.py'),
    Row("HOST_UPTIME UNKNOWN: usage error: argument -c/--critical: '1e3' is not a number (durations take ms, s, m, h, d, w)",
        '', 'test_conformance.py'),
    Row("HOST_UPTIME UNKNOWN: usage error: argument -t/--timeout: 'soon' is not a number (durations take ms, s, m, h, d, w)",
        '', 'test_conformance.py'),
    Row('HOST_UPTIME UNKNOWN: usage error: argument -t/--timeout: expected one argument',
        '', 'test_conformance.py'),
    Row("HOST_UPTIME UNKNOWN: usage error: argument -w/--warning: '10:5': start is greater than end",
        '', 'test_conformance.py'),
    Row('HOST_UPTIME UNKNOWN: usage error: argument -w/--warning: expected one argument',
        '', 'test_conformance.py'),
    Row("HOST_UPTIME UNKNOWN: usage error: argument -w/--warning: unknown unit 'x' in '30x' (durations take ms, s, m, h, d, w)",
        '', 'test_uptime.py'),
    Row('HOST_UPTIME UNKNOWN: usage error: unrecognized arguments: --no-such-option',
        '', 'test_conformance.py'),
    Row('HOST_UPTIME UNKNOWN: usage error: unrecognized arguments: positional-argument',
        '', 'test_conformance.py'),
    Row('MSGQUEUES OK: no message queues (checked: posix, sysv)',
        '', 'test_msgqueues_real.py, test_robust_limits.py'),
    Row('MSGQUEUES OK: no message queues (checked: sysv)',
        '', 'test_msgqueues_check.py'),
    Row("MSGQUEUES UNKNOWN: '<tmp> -qa' did not finish within 0.5s and was stopped; raise -t, or run it by hand to see why it hangs",
        'raise -t, or run it by hand to see why it hangs', 'test_msgqueues_check.py'),
    Row('MSGQUEUES UNKNOWN: --ipcs <tmp>: not found or not executable; give its full path (a bare name is looked up in /usr/sbin, /usr/bin, /sbin, /bin, /usr/local/*)',
        'give its full path (a bare name is looked up in /usr/sbin, /usr/bin, /sbin, /bin, /usr/local/*)', 'test_msgqueues_check.py'),
    Row("MSGQUEUES UNKNOWN: /proc/sysvipc/msg line 5 has 2 fields, the header 14: '1 2'; is <tmp> the kernel's queue table? if so, report it to nagios_ipc",
        "is <tmp> the kernel's queue table? if so, report it to nagios_ipc", 'test_msgqueues_check.py'),
    Row("MSGQUEUES UNKNOWN: 1 POSIX queue not readable by nobody (uid <n>): owner root /app.q: message counts unknown; run as root or their owner, or skip them: --exclude-owner root",
        "run as root or their owner, or skip them: --exclude-owner root", 'test_hostile_queues.py'),
    Row("MSGQUEUES UNKNOWN: 1 POSIX queue not readable by nobody (uid <n>): owner root /app.q: message counts unknown; run as root or their owner, or skip them: --exclude-owner root or --type sysv",
        "run as root or their owner, or skip them: --exclude-owner root or --type sysv", 'test_hostile_queues.py'),
    Row('MSGQUEUES UNKNOWN: POSIX queues asked for but no mqueue filesystem is mounted on /dev/mqueue; mount it: mount -t mqueue none /dev/mqueue',
        'mount it: mount -t mqueue none /dev/mqueue', 'test_msgqueues_check.py'),
    Row("MSGQUEUES UNKNOWN: cannot import Python module nagiosplugin: install it (pip install nagios_ipc, or Debian's python3-nagiosplugin python3-sysv-ipc python3-psutil python3-zmq)",
        "install it (pip install nagios_ipc, or Debian's python3-nagiosplugin python3-sysv-ipc python3-psutil python3-zmq)", 'test_check_scripts.py'),
    Row('MSGQUEUES UNKNOWN: cannot read /proc/sys/kernel/msgmnb: Too many open files; raise the open files limit (ulimit -n) of this user',
        'raise the open files limit (ulimit -n) of this user', 'test_robust_limits.py'),
    Row('MSGQUEUES UNKNOWN: cannot read /proc/sysvipc/msg: permission denied; run as a user that can read it (it is world-readable on a standard Linux)',
        'run as a user that can read it (it is world-readable on a standard Linux)', 'test_msgqueues_check.py'),
    Row('MSGQUEUES UNKNOWN: cannot read <tmp>: No such file or directory; is this Linux with System V IPC (CONFIG_SYSVIPC)? else use --type posix',
        'is this Linux with System V IPC (CONFIG_SYSVIPC)? else use --type posix', 'test_msgqueues_check.py'),
    Row('MSGQUEUES UNKNOWN: out of memory (check ulimit -v for this user)',
        'check ulimit -v for this user', 'test_robust_limits.py', maybe='ulimit -v: memory runs out while loading or while running, as the allocator goes'),
    Row('MSGQUEUES UNKNOWN: timed out after 1s while reading sysv queues; raise -t or find what is slow',
        'raise -t or find what is slow', 'test_conformance.py'),
    Row("MSGQUEUES UNKNOWN: usage error: argument -c/--critical: '1e3' is not a number (a percentage)",
        '', 'test_conformance.py'),
    Row("MSGQUEUES UNKNOWN: usage error: argument -t/--timeout: 'soon' is not a number (durations take ms, s, m, h, d, w)",
        '', 'test_conformance.py'),
    Row('MSGQUEUES UNKNOWN: usage error: argument -t/--timeout: expected one argument',
        '', 'test_conformance.py'),
    Row("MSGQUEUES UNKNOWN: usage error: argument -w/--warning: '10:5': start is greater than end",
        '', 'test_conformance.py'),
    Row('MSGQUEUES UNKNOWN: usage error: argument -w/--warning: expected one argument',
        '', 'test_conformance.py'),
    Row('MSGQUEUES UNKNOWN: usage error: unrecognized arguments: --no-such-option',
        '', 'test_conformance.py'),
    Row('MSGQUEUES UNKNOWN: usage error: unrecognized arguments: positional-argument',
        '', 'test_conformance.py'),
    Row('MTA_BACKLOG CRITICAL: opensmtpd is not running (smtpctl read the queue offline); start it: smtpd (service opensmtpd start)',
        'start it: smtpd (service opensmtpd start)', 'test_mta_down_real.py, test_mta_oncall.py'),
    Row("MTA_BACKLOG CRITICAL: opensmtpd is not running (smtpctl: smtpd doesn't seem to be running); start it: smtpd (service opensmtpd start)",
        'start it: smtpd (service opensmtpd start)', 'test_mta_down_real.py, test_mta_oncall.py'),
    Row('MTA_BACKLOG CRITICAL: postfix is not running (its master.pid is not locked); start it: postfix -c <test-dir> start',
        'start it: postfix -c <test-dir> start', 'test_mta_down_real.py'),
    Row('MTA_BACKLOG CRITICAL: postfix is not running (its master.pid is not locked); start it: postfix start',
        'start it: postfix start', 'test_mta_oncall.py'),
    Row('MTA_BACKLOG CRITICAL: postfix is not running (postqueue read the queue files); start it: postfix -c /etc/postfix-out start',
        'start it: postfix -c /etc/postfix-out start', 'test_mta_oncall.py'),
    Row('MTA_BACKLOG CRITICAL: postfix is not running (postqueue read the queue files); start it: postfix -c <test-dir> start',
        'start it: postfix -c <test-dir> start', 'test_mta_down_real.py'),
    Row('MTA_BACKLOG CRITICAL: postfix is not running (postqueue read the queue files); start it: postfix start / postfix queue: 1 message in all (more than 0)',
        'start it: postfix start', 'test_mta_oncall.py'),
    Row('MTA_BACKLOG CRITICAL: postfix is not running (postqueue: mail system is down); start it: postfix -c <test-dir> start',
        'start it: postfix -c <test-dir> start', 'test_mta_down_real.py'),
    Row('MTA_BACKLOG CRITICAL: postfix is not running (postqueue: mail system is down); start it: postfix start',
        'start it: postfix start', 'test_mta_oncall.py'),
    Row('MTA_BACKLOG OK: postfix is not running (its master.pid is not locked), as --mta-down ok allows; postfix: 1 message queued (maildrop 1)',
        '', 'test_mta_down_real.py'),
    Row('MTA_BACKLOG OK: postfix is not running (postqueue read the queue files), as --mta-down ok allows; postfix: 1 message queued (maildrop 1)',
        '', 'test_mta_down_real.py'),
    Row('MTA_BACKLOG OK: postfix is not running (its master.pid is not locked), as --mta-down ok allows; postfix: 2503 messages queued (deferred 2502, hold 1), oldest deferred 3d 50m, 3.7 MiB, 125 bounces',
        '', 'test_mta_fastpaths_real.py'),
    Row('MTA_BACKLOG OK: postfix is not running (postqueue: mail system is down), as --mta-down ok allows',
        '', 'test_mta_oncall.py'),
    Row("MTA_BACKLOG UNKNOWN: '<tmp> -bp' did not finish within 2.0s and was stopped; raise -t, or run it by hand to see why it hangs",
        'raise -t, or run it by hand to see why it hangs', 'test_mta_more_check.py'),
    Row("MTA_BACKLOG UNKNOWN: '<tmp> -c <test-dir> -j' did not finish within 0.5s and was stopped; raise -t, or run it by hand to see why it hangs",
        'raise -t, or run it by hand to see why it hangs', 'test_conformance.py'),
    Row("MTA_BACKLOG UNKNOWN: '<tmp> -j' did not finish within 2.0s and was stopped; raise -t, or run it by hand to see why it hangs",
        'raise -t, or run it by hand to see why it hangs', 'test_mta.py'),
    Row("MTA_BACKLOG UNKNOWN: '<tmp> qm directory' did not finish within 2.0s and was stopped; raise -t, or run it by hand to see why it hangs",
        'raise -t, or run it by hand to see why it hangs', 'test_mta_more_check.py'),
    Row("MTA_BACKLOG UNKNOWN: '<tmp> show queue' did not finish within 2.0s and was stopped; raise -t, or run it by hand to see why it hangs",
        'raise -t, or run it by hand to see why it hangs', 'test_mta_more_check.py'),
    Row("MTA_BACKLOG UNKNOWN: '<tmp>' did not finish within 2.0s and was stopped; raise -t, or run it by hand to see why it hangs",
        'raise -t, or run it by hand to see why it hangs', 'test_mta_more_check.py'),
    Row("MTA_BACKLOG UNKNOWN: 'exim4 -bp' failed (exit 1): could not open panic log - aborting: see message(s) above; fix: set queue_list_requires_admin = false, or run it as root via contrib/sudoers.d/nagios_ipc",
        'set queue_list_requires_admin = false, or run it as root via contrib/sudoers.d/nagios_ipc', 'test_mta_real.py'),
    Row("MTA_BACKLOG UNKNOWN: 'postqueue -j' failed (exit 69): User nagios(<n>) is not allowed to view the mail queue; fix: add this user to authorized_mailq_users in main.cf, or run it as root via contrib/sudoers.d/nagios_ipc",
        'add this user to authorized_mailq_users in main.cf, or run it as root via contrib/sudoers.d/nagios_ipc', 'test_mta.py'),
    Row('MTA_BACKLOG UNKNOWN: --age-warning needs the message files read; drop --count-only',
        'drop --count-only', 'test_mta.py'),
    Row('MTA_BACKLOG UNKNOWN: --domain needs the message files read; drop --count-only',
        'drop --count-only', 'test_mta.py'),
    Row('MTA_BACKLOG UNKNOWN: --top -1 is negative; give 0 or more',
        'give 0 or more', 'test_mta.py'),
    Row('MTA_BACKLOG UNKNOWN: --workers 0 is too few; give 1 or more',
        'give 1 or more', 'test_mta.py'),
    Row('MTA_BACKLOG UNKNOWN: /var/spool/postfix/maildrop not readable by nagios (0700 postfix); fix: run it as root via contrib/sudoers.d/nagios_ipc, or add this user to authorized_mailq_users in main.cf',
        'run it as root via contrib/sudoers.d/nagios_ipc, or add this user to authorized_mailq_users in main.cf', 'test_robust_limits.py'),
    Row("MTA_BACKLOG UNKNOWN: 'postqueue -j' refused the instance <test-dir> to nagios; fix: add <test-dir> to /etc/postfix/main.cf alternate_config_directories, or run it as root via contrib/sudoers.d/nagios_ipc",
        'add <test-dir> to /etc/postfix/main.cf alternate_config_directories, or run it as root via contrib/sudoers.d/nagios_ipc', 'test_mta_postfix_queue_files_real.py'),
    Row('MTA_BACKLOG UNKNOWN: nagios cannot read the postfix queue by spool scan or listing (see below); fix: run it as root via contrib/sudoers.d/nagios_ipc, or add <test-dir> to /etc/postfix/main.cf alternate_config_directories',
        'run it as root via contrib/sudoers.d/nagios_ipc, or add <test-dir> to /etc/postfix/main.cf alternate_config_directories', 'test_mta_postfix_queue_files_real.py'),
    Row('MTA_BACKLOG UNKNOWN: <test-dir> not readable by nagios (0700 postfix); fix: run it as root via contrib/sudoers.d/nagios_ipc, or add this user to authorized_mailq_users in main.cf',
        'run it as root via contrib/sudoers.d/nagios_ipc, or add this user to authorized_mailq_users in main.cf', 'test_mta_real.py'),
    Row("MTA_BACKLOG UNKNOWN: cannot import Python module nagiosplugin: install it (pip install nagios_ipc, or Debian's python3-nagiosplugin python3-sysv-ipc python3-psutil python3-zmq)",
        "install it (pip install nagios_ipc, or Debian's python3-nagiosplugin python3-sysv-ipc python3-psutil python3-zmq)", 'test_check_scripts.py'),
    Row('MTA_BACKLOG UNKNOWN: cannot parse the postfix queue: not a postqueue -j line: \'{"queue_name": "deferred", "queue_id": "8DF9D1620D3", "arrival_time": 1795456372...\'; fix: if postfix wrote that, report it to nagios_ipc',
        'if postfix wrote that, report it to nagios_ipc', 'test_mta.py'),
    Row('MTA_BACKLOG UNKNOWN: cannot read the exim queue: exim4 or exim not found (searched /usr/sbin, /usr/bin, /sbin, /bin, /usr/local/sbin, /usr/local/bin); fix: install Exim, or give its binary with --mta-binary',
        'install Exim, or give its binary with --mta-binary', 'test_mta_oncall.py'),
    Row('MTA_BACKLOG UNKNOWN: nagios cannot read the exim queue by spool scan or listing (see below); fix: run it as root via contrib/sudoers.d/nagios_ipc, or set queue_list_requires_admin = false, or drop --mta-config',
        'run it as root via contrib/sudoers.d/nagios_ipc, or set queue_list_requires_admin = false, or drop --mta-config', 'test_mta_real.py'),
    Row("MTA_BACKLOG UNKNOWN: nagios cannot read the nullmailer queue by spool scan or listing (see below); fix: run it as root via contrib/sudoers.d/nagios_ipc, or point --mta-binary at nullmailer's mailq",
        "run it as root via contrib/sudoers.d/nagios_ipc, or point --mta-binary at nullmailer's mailq", 'test_mta_more_real.py'),
    Row('MTA_BACKLOG UNKNOWN: nagios cannot read the opensmtpd queue by spool scan or listing (see below); fix: run it as root via contrib/sudoers.d/nagios_ipc, or install opensmtpd or point --mta-binary at smtpctl',
        'run it as root via contrib/sudoers.d/nagios_ipc, or install opensmtpd or point --mta-binary at smtpctl', 'test_mta_more_real.py'),
    Row('MTA_BACKLOG UNKNOWN: nagios cannot read the postfix queue by spool scan or listing (see below); fix: run it as root via contrib/sudoers.d/nagios_ipc, or add this user to authorized_mailq_users in main.cf',
        'run it as root via contrib/sudoers.d/nagios_ipc, or add this user to authorized_mailq_users in main.cf', 'test_conformance.py, test_mta_real.py'),
    Row('MTA_BACKLOG UNKNOWN: nagios cannot read the qmail queue by spool scan or listing (see below); fix: run it as root via contrib/sudoers.d/nagios_ipc, or point --mta-binary at qmail-qread (qmail-qstat beside it)',
        'run it as root via contrib/sudoers.d/nagios_ipc, or point --mta-binary at qmail-qread (qmail-qstat beside it)', 'test_mta_more_real.py'),
    Row('MTA_BACKLOG UNKNOWN: out of memory while loading the check (raise ulimit -v for this user)',
        'raise ulimit -v for this user', 'test_robust_limits.py', maybe='ulimit -v: memory runs out while loading or while running, as the allocator goes'),
    Row('MTA_BACKLOG UNKNOWN: postfix is not running (postqueue: mail system is down); start it: postfix -c <test-dir> start',
        'start it: postfix -c <test-dir> start', 'test_mta_down_real.py'),
    Row('MTA_BACKLOG UNKNOWN: postfix is not running (postqueue: mail system is down); start it: postfix start',
        'start it: postfix start', 'test_mta_oncall.py'),
    Row('MTA_BACKLOG UNKNOWN: timed out after 0.25s while scanning the Postfix queue <test-dir>; raise -t or find what is slow',
        'raise -t or find what is slow', 'test_mta_real.py'),
    Row("MTA_BACKLOG UNKNOWN: usage error: argument --domain: 'example.com' is not DOMAIN=WARN,CRIT",
        '', 'test_mta.py'),
    Row("MTA_BACKLOG UNKNOWN: usage error: argument --mta: invalid choice: 'nosuchmta' (choose from 'auto', 'postfix', 'exim', 'sendmail', 'qmail', 'opensmtpd', 'nullmailer', 'imsimta')",
        '', 'test_mta.py'),
    Row("MTA_BACKLOG UNKNOWN: usage error: argument --queue: 'x=a,b': 'a' is not a number",
        '', 'test_mta.py'),
    Row("MTA_BACKLOG UNKNOWN: usage error: argument -c/--critical: '1e3' is not a number",
        '', 'test_conformance.py'),
    Row("MTA_BACKLOG UNKNOWN: usage error: argument -t/--timeout: 'soon' is not a number (durations take ms, s, m, h, d, w)",
        '', 'test_conformance.py'),
    Row('MTA_BACKLOG UNKNOWN: usage error: argument -t/--timeout: expected one argument',
        '', 'test_conformance.py'),
    Row("MTA_BACKLOG UNKNOWN: usage error: argument -w/--warning: '10:5': start is greater than end",
        '', 'test_conformance.py'),
    Row("MTA_BACKLOG UNKNOWN: usage error: argument -w/--warning: '1e3' is not a number",
        '', 'test_mta.py'),
    Row('MTA_BACKLOG UNKNOWN: usage error: argument -w/--warning: expected one argument',
        '', 'test_conformance.py'),
    Row('MTA_BACKLOG UNKNOWN: usage error: unrecognized arguments: --no-such-option',
        '', 'test_conformance.py'),
    Row('MTA_BACKLOG UNKNOWN: usage error: unrecognized arguments: positional-argument',
        '', 'test_conformance.py'),
    Row('MTA_BACKLOG WARNING: postfix is not running (postqueue: mail system is down); start it: postfix start',
        'start it: postfix start', 'test_mta_oncall.py'),
    Row("TOY UNKNOWN: internal error: KeyError: 'kaputt'",
        '', 'test_cli.py'),
    Row('TOY UNKNOWN: no check results',
        '', 'test_cli.py', "nagiosplugin's own text for a check that yields nothing: a bug, like an internal error"),
    Row('TOY UNKNOWN: timed out after 0.3s while counting sheep; raise -t or find what is slow',
        'raise -t or find what is slow', 'test_cli.py'),
    Row("TOY UNKNOWN: usage error: argument --details: invalid choice: 'sometimes' (choose from 'problem', 'always', 'never')",
        '', 'test_cli.py'),
    Row("TOY UNKNOWN: usage error: argument -t/--timeout: 'soon' is not a number (durations take ms, s, m, h, d, w)",
        '', 'test_cli.py'),
    Row("TOY UNKNOWN: usage error: argument -w/--warning: '5:1': start is greater than end",
        '', 'test_cli.py'),
    Row('TOY UNKNOWN: usage error: argument -w/--warning: expected one argument',
        '', 'test_cli.py'),
    Row("TOY UNKNOWN: usage error: argument values: invalid float value: 'x'",
        '', 'test_cli.py'),
    Row('TOY UNKNOWN: usage error: unrecognized arguments: --nope',
        '', 'test_cli.py'),
    Row("ZMQ_HWM UNKNOWN: cannot import Python module nagiosplugin: install it (pip install nagios_ipc, or Debian's python3-nagiosplugin python3-sysv-ipc python3-psutil python3-zmq)",
        "install it (pip install nagios_ipc, or Debian's python3-nagiosplugin python3-sysv-ipc python3-psutil python3-zmq)", 'test_check_scripts.py'),
    Row('ZMQ_HWM UNKNOWN: cannot open lock file <tmp>: Permission denied; give --state-file a path in a directory this user (uid <n>) owns and can write, or fix the permissions of <tmp>',
        'give --state-file a path in a directory this user (uid <n>) owns and can write, or fix the permissions of <tmp>', 'test_robust_state.py'),
    Row('ZMQ_HWM UNKNOWN: cannot read state file <tmp>: Permission denied; give --state-file a path in a directory this user (uid <n>) owns and can write, or fix the permissions of <tmp>',
        'give --state-file a path in a directory this user (uid <n>) owns and can write, or fix the permissions of <tmp>', 'test_robust_state.py'),
    Row('ZMQ_HWM UNKNOWN: cannot list /proc/<n>/fd: Too many open files; raise the open files limit (ulimit -n) of this user',
        'raise the open files limit (ulimit -n) of this user', 'test_robust_limits.py'),
    Row('ZMQ_HWM UNKNOWN: lock file <tmp> is a symlink; remove it',
        'remove it', 'test_robust_state.py'),
    Row('ZMQ_HWM UNKNOWN: no answer from the stats endpoint tcp://127.0.0.1:<port> within 2s; is the application running with the nagios_ipc helper there?',
        'is the application running with the nagios_ipc helper there?', 'test_zmq_stats.py'),
    Row('ZMQ_HWM UNKNOWN: no process with pid <n>; check --pid',
        'check --pid', 'test_zmq_sockets.py'),
    Row('ZMQ_HWM UNKNOWN: no stats endpoint at ipc://<tmp>: <tmp> does not exist (is the application running with the nagios_ipc helper?)',
        'is the application running with the nagios_ipc helper?', 'test_zmq_stats.py'),
    Row('ZMQ_HWM UNKNOWN: out of memory (check ulimit -v for this user)',
        'check ulimit -v for this user', 'test_robust_limits.py', maybe='ulimit -v: memory runs out while loading or while running, as the allocator goes'),
    Row('ZMQ_HWM UNKNOWN: out of memory while loading the check (raise ulimit -v for this user)',
        'raise ulimit -v for this user', 'test_robust_limits.py', maybe='ulimit -v: memory runs out while loading or while running, as the allocator goes'),
    Row("ZMQ_HWM UNKNOWN: permission denied reading /proc/<n>/fd (uid <n>); run the check as root or as the application's user (e.g. sudo -u APPUSER in the command definition)",
        "run the check as root or as the application's user (e.g. sudo -u APPUSER in the command definition)", 'test_robust_limits.py, test_zmq_privilege.py'),
    Row('ZMQ_HWM UNKNOWN: pid <n> (sleep) has no sockets at all: is it the ZeroMQ application? check the process selection',
        'check the process selection', 'test_zmq_sockets.py'),
    Row('ZMQ_HWM UNKNOWN: pid <n> (python) uses another network namespace: its sockets are not visible here; run the check in it (nsenter -t <n> -n check_zmq_hwm ...)',
        'run the check in it (nsenter -t <n> -n check_zmq_hwm ...)', 'test_zmq_addresses.py'),
    Row('ZMQ_HWM UNKNOWN: state file <tmp> is a directory; remove it or give another --state-file',
        'remove it or give another --state-file', 'test_robust_state.py'),
    Row('ZMQ_HWM UNKNOWN: state file <tmp> is a symlink; remove it (refusing to follow it) or give another --state-file',
        'remove it (refusing to follow it) or give another --state-file', 'test_robust_state.py'),
    Row('ZMQ_HWM UNKNOWN: stats reply is not JSON (JSONDecodeError); is a nagios_ipc helper listening there?',
        'is a nagios_ipc helper listening there?', 'test_zmq_stats.py', "zmq wording is the ZeroMQ hardening branch's (issue 17 item 1 and its own): an exception name"),
    Row('ZMQ_HWM UNKNOWN: stats reply is not a nagios_ipc.zmq_stats/1 snapshot; is a nagios_ipc helper listening there?',
        'is a nagios_ipc helper listening there?', 'test_zmq_stats.py'),
    Row("ZMQ_HWM UNKNOWN: stats reply: socket #1 'name' is not a valid str",
        '', 'test_zmq_stats.py', "zmq wording is the ZeroMQ hardening branch's (issue 17 item 1 and its own): no fix named, a type name"),
    Row("ZMQ_HWM UNKNOWN: the ZeroMQ handshake with ipc://<tmp> failed: is --curve-server-key the application's stats public key, and does the endpoint use CURVE?",
        "is --curve-server-key the application's stats public key", 'test_robust_zmq_helper.py'),
    Row('ZMQ_HWM UNKNOWN: the ZeroMQ handshake with ipc://<tmp> failed: the endpoint may require CURVE (give --curve-server-key)',
        'give --curve-server-key', 'test_robust_zmq_helper.py'),
    Row("ZMQ_HWM UNKNOWN: the ZeroMQ handshake with tcp://127.0.0.1:<port> failed: is --curve-server-key the application's stats public key, and does the endpoint use CURVE?",
        "is --curve-server-key the application's stats public key", 'test_zmq_stats.py'),
    Row('ZMQ_HWM UNKNOWN: the ZeroMQ handshake with tcp://127.0.0.1:<port> failed: the endpoint may require CURVE (give --curve-server-key)',
        'give --curve-server-key', 'test_zmq_stats.py'),
    Row('ZMQ_HWM UNKNOWN: the stats endpoint answered an error: x',
        '', 'test_zmq_stats.py', "zmq wording is the ZeroMQ hardening branch's (issue 17 item 1 and its own): no fix named"),
    Row('ZMQ_HWM UNKNOWN: the stats endpoint ipc://<tmp> refused our CURVE client key (authentication failed); give --curve-client-key-file with a key the application allows',
        'give --curve-client-key-file with a key the application allows', 'test_robust_zmq_helper.py'),
    Row('ZMQ_HWM UNKNOWN: the stats endpoint tcp://127.0.0.1:<port> refused our CURVE client key (authentication failed); give --curve-client-key-file with a key the application allows',
        'give --curve-client-key-file with a key the application allows', 'test_zmq_stats.py'),
    Row('ZMQ_HWM UNKNOWN: usage error: --stats-endpoint (mode 2) cannot be combined with --pid/--pidfile/--process-name/--endpoint (mode 1); run two services',
        '', 'test_zmq_check.py'),
    Row("ZMQ_HWM UNKNOWN: usage error: argument --endpoint: 'tcp://example.org:5555': give an IP address or * (no host names, so that the check never waits for DNS)",
        '', 'test_zmq_sockets.py'),
    Row("ZMQ_HWM UNKNOWN: usage error: argument --sendq-warning: 'lots' is not a number (sizes take B, KB, MB, GB, TB; binary multiples)",
        '', 'test_zmq_check.py'),
    Row("ZMQ_HWM UNKNOWN: usage error: argument --stall-bytes: '1e3' is not a number (sizes take B, KB, MB, GB, TB; binary multiples)",
        '', 'test_zmq_check.py'),
    Row("ZMQ_HWM UNKNOWN: usage error: argument -t/--timeout: 'soon' is not a number (durations take ms, s, m, h, d, w)",
        '', 'test_conformance.py'),
    Row('ZMQ_HWM UNKNOWN: usage error: argument -t/--timeout: expected one argument',
        '', 'test_conformance.py'),
    Row('ZMQ_HWM UNKNOWN: usage error: select the application with --pid, --pidfile, --process-name or --endpoint (mode 1), or give --stats-endpoint (mode 2)',
        '', 'test_zmq_sockets.py'),
    Row('ZMQ_HWM UNKNOWN: usage error: unrecognized arguments: --no-such-option',
        '', 'test_conformance.py'),
    Row('ZMQ_HWM UNKNOWN: usage error: unrecognized arguments: --warning',
        '', 'test_conformance.py'),
    Row('ZMQ_HWM UNKNOWN: usage error: unrecognized arguments: -c 1e3',
        '', 'test_conformance.py'),
    Row('ZMQ_HWM UNKNOWN: usage error: unrecognized arguments: -w 10:5',
        '', 'test_conformance.py'),
    Row('ZMQ_HWM UNKNOWN: usage error: unrecognized arguments: positional-argument',
        '', 'test_conformance.py'),

    Row('MSGQUEUES CRITICAL: no queue with key 0x0000162e: is its application running?',
        'is its application running?', 'test_absent_targets.py'),
    Row('MSGQUEUES CRITICAL: no queue with key 0x00007777 or 0x00008888, no queues of owner web: is its application running?',
        'is its application running?', 'test_absent_targets.py'),
    Row('MSGQUEUES CRITICAL: no queue with key 0x00007777: is its application running?',
        'is its application running?', 'test_absent_targets.py'),
    Row('MSGQUEUES CRITICAL: no queues of owner ap?x: is its application running?',
        'is its application running?', 'test_absent_targets.py'),
    Row('MSGQUEUES CRITICAL: no queues of owner web: is its application running? / owner app: 3 messages',
        'is its application running?', 'test_absent_targets.py'),
    Row('MSGQUEUES OK: no queues of owner web, as --absent ok allows; no message queues (checked: sysv)',
        '', 'test_absent_targets.py'),
    Row('MSGQUEUES UNKNOWN: no queues of owner web: is its application running?',
        'is its application running?', 'test_absent_targets.py'),
    Row('MSGQUEUES WARNING: no queues of owner web: is its application running?',
        'is its application running?', 'test_absent_targets.py'),
    Row('MSGQUEUES UNKNOWN: out of memory while loading the check (raise ulimit -v for this user)',
        'raise ulimit -v for this user', 'test_robust_limits.py', maybe='ulimit -v: memory runs out while loading or while running, as the allocator goes'),
    Row("MTA_BACKLOG UNKNOWN: --queue corrupt: command method ('/usr/sbin/postqueue -c <test-dir> -j') does not list the postfix corrupt queue; fix: run it as root via contrib/sudoers.d/nagios_ipc with --method spool",
        'run it as root via contrib/sudoers.d/nagios_ipc with --method spool', 'test_mta_real.py, test_mta_postfix_queue_files_real.py'),
    Row("MTA_BACKLOG UNKNOWN: --queue-age corrupt: command method ('/usr/sbin/postqueue -c <test-dir> -j') does not list the postfix corrupt queue; fix: run it as root via contrib/sudoers.d/nagios_ipc with --method spool",
        'run it as root via contrib/sudoers.d/nagios_ipc with --method spool', 'test_mta_postfix_queue_files_real.py'),
    Row('MTA_BACKLOG UNKNOWN: --queue defered: postfix has no queue of that name; its queues: maildrop, incoming, active, deferred, hold, corrupt',
        'its queues: maildrop, incoming, active, deferred, hold, corrupt', 'test_absent_targets.py'),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.line[:70] for r in ROWS])
def test_row_meets_the_standard(row: Row) -> None:
    head, _, text = row.line.partition(": ")
    assert len(text) <= 200, f"{len(text)} characters: say less, or move detail below"
    words = re.findall(r"[\w./<>-]+", text.lower())
    grams = [" ".join(words[i:i + 4]) for i in range(len(words) - 3)]
    repeated = {g for g in grams if grams.count(g) > 1}
    assert not repeated, f"said twice: {repeated}"
    assert row.seen_in
    if row.exempt or kind(row.line) == "internal":
        return
    assert not JARGON.search(text), f"jargon: {JARGON.search(text)}"
    if kind(row.line) == "usage" or not head.endswith(" UNKNOWN"):
        assert row.fix == "" or row.fix in text
        return
    assert row.fix and row.fix in text, "name the fix"
    assert text.index(row.fix) > 0, "what is wrong comes before the fix"


def test_rows_are_unique() -> None:
    lines = [r.line for r in ROWS]
    assert len(lines) == len(set(lines))


def test_every_failure_line_has_a_row(request: pytest.FixtureRequest) -> None:
    """Runs last (tests/conftest.py orders it): see the module's docstring."""
    seen = [(line, test) for line, test in first_line_recorder.RECORDED if audited(line)]
    dump = os.environ.get("NAGIOS_IPC_FIRST_LINES")
    if dump:
        with open(dump, "w") as handle:
            json.dump(sorted(set(seen)), handle, indent=0)
    known = {r.line for r in ROWS}
    missing = sorted({line for line, _ in seen if line not in known})
    assert not missing, ("first lines without a row in tests/unit/test_first_lines.py "
                         "(add one, after holding it to the standard):\n" + "\n".join(missing))
    parts: Set[str] = {p for item in request.session.items
                       for p in item.nodeid.split("/")[:2]}
    if {"unit", "integration"} <= parts:
        printed = {line for line, _ in seen}
        stale = sorted(known - printed - {r.line for r in ROWS if r.maybe})
        assert not stale, "rows no test printed (remove them, or restore the test):\n" + \
            "\n".join(stale)
