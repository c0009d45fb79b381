"""System V queues on AIX, HP-UX and Solaris, from ``ipcs -qa``.

All three print a header naming the columns (T ID KEY MODE OWNER GROUP
CREATOR CGROUP CBYTES QNUM QBYTES LSPID LRPID STIME RTIME CTIME, in an order
and with extras that vary by system and release), a "Message Queues:" line,
then one ``q`` line per queue. Parsing follows the header's names, so column
order and extra columns do not matter. Times are printed as hh:mm:ss without a
date (or ``no-entry``): they cannot give an age, and are left out.
"""

from __future__ import annotations

from ..proc import exit_text, find_executable, run_command
from .model import BOUNDS, ANY, ParseError, Queue

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Dict, List, Optional

MAX_IPCS_OUTPUT = 32 * 1024 * 1024
REQUIRED = ("ID", "KEY", "MODE", "OWNER", "CBYTES", "QNUM", "QBYTES")


def _mode_bits(mode: str) -> int:
    """'-Rrw-rw----' or '--rw-r--r--' -> 0o660 / 0o644 (the last nine characters)."""
    bits = 0
    tail = mode[-9:]
    for index, char in enumerate(tail):
        if char != "-":
            bits |= 1 << (8 - index)
    return bits


def _int(value: str, column: str, line: str) -> int:
    try:
        number = int(value, 16) if value.lower().startswith("0x") else int(value)
    except ValueError:
        raise ParseError(f"ipcs: {column} is not a number in {line.strip()[:80]!r}") from None
    lo, hi = BOUNDS.get(column.lower(), ANY)
    if not lo <= number <= hi:
        raise ParseError(f"ipcs: {column} {number} is outside {lo}..{hi} in "
                         f"{line.strip()[:80]!r}")
    return number


def parse_ipcs(text: str) -> List[Queue]:
    header: Optional[List[str]] = None
    queues: List[Queue] = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "T" and header is None:
            header = [name.upper() for name in fields]
            missing = [name for name in REQUIRED if name not in header]
            if missing:
                raise ParseError(f"ipcs header lacks {', '.join(missing)}: run 'ipcs -qa' "
                                 f"(all columns); got {line.strip()[:80]!r}")
            continue
        if fields[0] != "q":
            continue  # banners, "Message Queues:", other facilities
        if header is None:
            raise ParseError("ipcs printed queues before any header line; is it 'ipcs -qa'?")
        if len(fields) != len(header):
            raise ParseError(f"ipcs line has {len(fields)} fields, the header {len(header)}: "
                             f"{line.strip()[:80]!r}")
        row: Dict[str, str] = dict(zip(header, fields))
        qbytes = _int(row["QBYTES"], "QBYTES", line)
        owner = row["OWNER"]
        queues.append(Queue(
            kind="sysv", key=f"0x{_int(row['KEY'], 'KEY', line) & 0xFFFFFFFF:08x}",
            id=_int(row["ID"], "ID", line), owner=owner, creator=row.get("CREATOR", owner),
            perms=_mode_bits(row["MODE"]), messages=_int(row["QNUM"], "QNUM", line),
            bytes=_int(row["CBYTES"], "CBYTES", line), limit_bytes=qbytes,
            limit_source="ipcs", max_messages=qbytes,
            lspid=_int(row["LSPID"], "LSPID", line) or None if "LSPID" in row else None,
            lrpid=_int(row["LRPID"], "LRPID", line) or None if "LRPID" in row else None))
    if header is None:
        raise ParseError("ipcs printed no header line; is it 'ipcs -qa'? "
                         f"got {text.strip()[:80]!r}")
    return queues


class IpcsSource:
    """Runs ``ipcs -qa`` (no shell, own timeout) and parses what it prints."""

    kind = "sysv"

    def __init__(self, command: Optional[str] = None) -> None:
        # a relative --ipcs is looked up in the same fixed directories, never in $PATH
        self.given = command
        self.command = find_executable(command or "ipcs")
        self.notes: List[str] = ["System V queues from 'ipcs -qa': last send/receive times "
                                 "have no date there, so no unread age"]

    def system_max(self) -> Optional[int]:
        return None

    def queues(self) -> List[Queue]:
        if not self.command and self.given:
            raise ParseError(f"--ipcs {self.given}: not found or not executable; give its full "
                             f"path (a bare name is looked up in /usr/sbin, /usr/bin, /sbin, "
                             f"/bin, /usr/local/*)")
        if not self.command:
            raise ParseError("ipcs not found in /usr/bin, /usr/sbin, /bin, /sbin; install it "
                             "or give its path with --ipcs")
        # 32,000 queues (Linux's msgmni ceiling) print ~5 MB: more is a runaway ipcs
        done = run_command([self.command, "-qa"], max_output=MAX_IPCS_OUTPUT)
        if done.returncode != 0:
            raise ParseError(f"'{self.command} -qa' failed ({exit_text(done.returncode)}): "
                             f"{done.stderr_line or 'no message'}")
        return parse_ipcs(done.stdout.decode("utf-8", "replace"))
