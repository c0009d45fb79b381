"""System V message queues on Linux: /proc/sysvipc/msg plus each queue's limit.

/proc/sysvipc/msg is world-readable and lists every queue, but has no qbytes
(the queue's byte limit). That comes, in order of preference, from
msgctl(MSG_STAT_ANY) (Linux >= 4.17, no permission needed), msgctl(IPC_STAT)
(needs read permission on the queue), or the system default msgmnb, and each
queue says which one it got.
"""

from __future__ import annotations

import bisect
import io
import struct
import sys

from ..cli import FD_LIMIT, FD_LIMIT_FIX
from .model import ANY, BOUNDS, INT32, Batch, Idle, ParseError, Queue, out_of_bounds

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

    NameOf = Callable[[int], str]
    Stat = Tuple[List[int], List[int], List[int]]  # msqids, keys, qbytes (see stat_all)

PROC_MSG = "/proc/sysvipc/msg"
COLUMNS = ("key", "msqid", "perms", "cbytes", "qnum", "lspid", "lrpid", "uid", "gid",
           "cuid", "cgid", "stime", "rtime", "ctime")
IPC_STAT = 2
MSG_INFO = 12
MSG_STAT_ANY = 13
QBYTES_MAX = 2**63 - 1  # the field is unsigned long: beyond, the layout is not ours


def parse_proc_msg(text: str) -> List[Dict[str, int]]:
    """Rows of /proc/sysvipc/msg as dicts of ints, keyed by the header's names."""
    header, rows = parse_proc_rows(text)
    return [dict(zip(header, row)) for row in rows]


def parse_proc_rows(text: str) -> Tuple[List[str], List[List[int]]]:
    """The header's column names and each row as ints (the fast path)."""
    lines = text.splitlines()
    if not lines:
        raise ParseError("/proc/sysvipc/msg is empty (not even a header)")
    header = lines[0].split()
    missing = [name for name in ("key", "msqid", "perms", "cbytes", "qnum", "uid", "cuid")
               if name not in header]
    if missing:
        raise ParseError(f"/proc/sysvipc/msg header lacks {', '.join(missing)}: "
                         f"{lines[0].strip()[:80]!r}")
    width = len(header)
    body = lines[1:]
    widths = set(map(len, map(str.split, body)))  # C loops: a host can have 32,000 queues
    widths.discard(0)
    if widths <= {width}:
        try:  # the fast path: every row has the header's width; convert all at once
            flat = list(map(int, " ".join(body).split()))
            if flat and (min(flat) < INT32[0] or max(flat) > INT32[1]):
                _check_bounds(header, flat)
            return header, [flat[i:i + width] for i in range(0, len(flat), width)]
        except ValueError:
            pass  # find the line to name, below
    split = [line.split() for line in body]
    rows = []
    for number, (line, fields) in enumerate(zip(body, split), start=2):
        if len(fields) != width:
            if not fields:
                continue
            raise ParseError(f"/proc/sysvipc/msg line {number} has {len(fields)} fields, "
                             f"the header {width}: {line.strip()[:80]!r}")
        try:
            rows.append(list(map(int, fields)))
        except ValueError:
            raise ParseError(f"/proc/sysvipc/msg line {number} is not numeric: "
                             f"{line.strip()[:80]!r}") from None
    flat = [value for row in rows for value in row]  # reached only if the fast path was not
    if flat and (min(flat) < INT32[0] or max(flat) > INT32[1]):
        _check_bounds(header, flat)
    return header, rows


_NEEDED = ("key", "msqid", "perms", "cbytes", "qnum", "lspid", "lrpid", "uid", "cuid",
           "stime", "rtime", "ctime")
_INT32_MAX_TEXT = b"2147483647"


class Table:
    """split_table's reading of /proc/sysvipc/msg: the header, the row count, the
    columns asked for as ints (*ints*), as their tokens (*kept*), and as the rows
    where they are not 0 (*nonzero*); any row's values on demand (row)."""

    def __init__(self, header: List[str], raw: bytes) -> None:
        self.header = header
        self.count = 0
        self.ints: Dict[str, List[int]] = {}
        self.kept: Dict[str, List[bytes]] = {}
        self.nonzero: Dict[str, List[int]] = {}
        self._raw = raw
        self._firsts: List[int] = []  # the first row of each chunk
        self._chunks: List[Tuple[int, int]] = []  # its bytes in raw
        self._lines: Dict[int, List[bytes]] = {}

    def bounded(self) -> bool:
        """The *ints* within int32, as split_table(bounded=True) holds them."""
        return all(not numbers or (min(numbers) >= INT32[0] and max(numbers) <= INT32[1])
                   for numbers in self.ints.values())

    def row(self, row: int) -> List[int]:
        """The values of *row*, as parse_proc_rows gives them."""
        chunk = bisect.bisect_right(self._firsts, row) - 1
        start, stop = self._chunks[chunk]
        first = self._firsts[chunk]
        lines = self._lines.get(chunk)
        if lines is None:
            raw = self._raw
            size = raw.find(b"\n", start) + 1 - start
            count = (self._firsts[chunk + 1] if chunk + 1 < len(self._firsts)
                     else self.count) - first
            # lines of one length (the kernel's, while every value fits its width): the
            # chunk holds exactly count newlines (split_table), and one ends every
            # size bytes, so line n starts at n * size
            if size * count == stop - start and raw[start + size - 1:stop:size].count(
                    b"\n") == count:
                offset = start + (row - first) * size
                return list(map(int, raw[offset:offset + size].split()))
            lines = self._lines[chunk] = raw[start:stop].split(b"\n")
        return list(map(int, lines[row - first].split()))


_CHUNK = 1 << 16  # bytes of /proc/sysvipc/msg split at a time (whole lines)


def split_table(raw: bytes, ints: Sequence[str] = (), kept: Sequence[str] = (),
                nonzero: Sequence[str] = (), bounded: bool = True) -> Optional[Table]:
    """/proc/sysvipc/msg read without converting it all: only the columns named
    are kept (see Table); the text is split a chunk at a time, so that what is not
    kept is freed as it goes (a host with 32,000 queues has 448,000 numbers there).

    Only for the kernel's plain table: every line of the header's width, every
    token a decimal integer that parse_proc_rows would take as it is (within int32,
    so no column needs its bounds checked; unsigned digits but in *ints*, which
    int() reads as parse_proc_rows does, - of a negative key included). On anything
    else None: parse_proc_rows reads it, and names what is wrong. So where this
    answers, it gives exactly what parse_proc_rows gives
    (tests/unit/test_msgqueues_fast.py).

    With *bounded* False the *ints* are not held to int32 here: the caller does it
    (Table.bounded), or compares them with values that are int32 by their C type."""
    end = raw.find(b"\n")
    if end < 0:
        return None
    head = raw[:end]
    if head.translate(None, b"abcdefghijklmnopqrstuvwxyz "):
        return None  # the kernel's header is lowercase names and spaces
    header = head.decode("ascii").split()
    if any(name not in header for name in _NEEDED):
        return None
    if not raw.endswith(b"\n"):
        raw += b"\n"  # a last line without its newline (never the kernel's)
    table = Table(header, raw)  # the rows are read from raw where they are: no copy
    width = len(header)
    step = width + 1
    first_of = {name: header.index(name) for name in header}
    wanted = [(first_of[name], table.ints.setdefault(name, [])) for name in ints]
    keep = [(first_of[name], table.kept.setdefault(name, [])) for name in kept]
    nonzeros = [(first_of[name], table.nonzero.setdefault(name, [])) for name in nonzero]
    checked = [column for column in range(width) if column not in {c for c, _ in wanted}]
    position, size = end + 1, len(raw)
    while position < size:
        stop = raw.rfind(b"\n", position, position + _CHUNK) + 1
        if stop <= position:
            return None  # a line of 64 KiB
        chunk = raw[position:stop]
        if (b";" in chunk or b"\r" in chunk or b"\t" in chunk or b"\x0b" in chunk
                or b"\x0c" in chunk):
            return None  # our row marker; or what splits lines or words but for \n, space
        marked = chunk.replace(b"\n", b" ; ")
        count = (len(marked) - len(chunk)) // 2  # lines: each newline made 2 bytes more
        tokens = marked.split()
        if len(tokens) != count * step or tokens[width::step].count(b";") != count:
            return None  # a line of another width, or a blank one: each line ends in a ;
        first = table.count
        for column, into in wanted:  # int() takes what parse_proc_rows's int() takes
            try:
                numbers = list(map(int, tokens[column::step]))
            except ValueError:
                return None
            if bounded and (min(numbers) < INT32[0] or max(numbers) > INT32[1]):
                return None
            into += numbers
        for column in checked:  # decimal digits alone (the kernel prints them unsigned)
            values = tokens[column::step]
            length = len(values[0])
            if length == 1 and values[0] == b"0" and values.count(b"0") == count:
                continue  # the usual lspid, rtime, ... of a queue never used
            # a column of one width, as the kernel's perms and ctime are: joined by
            # single spaces, the right total and a space every length + 1 bytes prove
            # every token that long (a token holds no space), with no len() per token
            spaced = b" ".join(values)
            if (len(spaced) == (length + 1) * count - 1
                    and spaced[length::length + 1].count(b" ") == count - 1):
                if not spaced.translate(None, b" ").isdigit():
                    return None
                # up to 9 digits always fit int32; 10 do when each starts with 0 or 1
                if length < 10 or (length == 10
                                 and not spaced[::length + 1].translate(None, b"01")):
                    continue
            if not b"".join(values).isdigit():
                return None
            longest = max(map(len, values))
            # up to 9 characters always fit int32; up to 10 do when the 10-digit ones
            # sort at or below 2147483647 as text (a shorter one may sort above it)
            if longest > 10 or (longest == 10 and max(values) > _INT32_MAX_TEXT
                                and max(map(int, values)) > INT32[1]):
                return None
        for column, into_tokens in keep:
            into_tokens += tokens[column::step]
        for column, rows in nonzeros:
            values = tokens[column::step]
            if values.count(b"0") != count:  # "00" is 0 too: by value
                rows += [first + index for index, value in enumerate(values)
                         if value != b"0" and int(value)]
        table._firsts.append(first)
        table._chunks.append((position, stop))
        table.count += count
        position = stop
    return table


def _check_bounds(header: List[str], flat: List[int]) -> None:
    """Past int32 somewhere (rare: times after 2038, huge counts): each column must
    hold what its kernel type can (see model.BOUNDS)."""
    width = len(header)
    for index, name in enumerate(header):
        column = flat[index::width]
        if out_of_bounds(name, min(column), max(column)):
            lo, hi = BOUNDS.get(name, ANY)
            bad = next(v for v in column if not lo <= v <= hi)
            raise ParseError(f"/proc/sysvipc/msg column {name} holds {bad}, outside "
                             f"{lo}..{hi}: not a kernel queue table")


_STAT = struct.Struct("=i68xQQQ")  # key at 0; cbytes, qnum, qbytes at 72 (struct msqid_ds)
_STAT_KEY, _STAT_QBYTES = 0, 88  # the same offsets, for stat_all
_STRIDE = 128  # bytes of stat_all's buffer per slot
_BLOCK = 4096  # slots per pass of stat_all


class _Msgctl:
    """msgctl() through ctypes, where the struct layout is known (64-bit Linux)."""

    def __init__(self) -> None:
        import ctypes  # only when there are queues: ctypes costs start-up time

        self.usable = sys.platform.startswith("linux") and struct.calcsize("P") == 8
        self._buf = ctypes.create_string_buffer(256)
        self._msgctl = ctypes.CDLL(None, use_errno=True).msgctl if self.usable else None

    @property
    def raw(self) -> Callable[[int, int, Any], int]:
        """msgctl itself, for a tight loop: (ident, cmd, self.buffer) -> result."""
        assert self._msgctl is not None
        return self._msgctl  # type: ignore[no-any-return]

    @property
    def buffer(self) -> Any:
        return self._buf

    def call(self, ident: int, cmd: int) -> Tuple[int, Tuple[int, int, int, int]]:
        """(return value, (key, cbytes, qnum, qbytes))."""
        assert self._msgctl is not None
        result = self._msgctl(ident, cmd, self._buf)
        return result, _STAT.unpack_from(self._buf)


def stat_all() -> Optional[Stat]:
    """(msqids, keys, qbytes) of the queue in each of the kernel's slots, by
    MSG_STAT_ANY, in slot order (the order of /proc/sysvipc/msg): what read_limits
    reads, in one pass; None where msgctl cannot be called (see _Msgctl) or MSG_INFO
    fails. The calls are made from C (map), each slot's struct into its own stretch
    of one buffer, which is then read column by column."""
    if not (sys.platform.startswith("linux") and struct.calcsize("P") == 8):
        return None
    from itertools import compress, repeat

    msgctl, array_of, byref = _msgctl_binding()
    info = array_of(256).from_buffer(bytearray(256))
    slots = msgctl(0, MSG_INFO, info) + 1
    if slots <= 0:
        return None
    # struct msqid64_ds is 120 bytes on every 64-bit Linux; were it longer, a call
    # would spill into the next stretch, which the next call writes again, and into
    # the 256 bytes spare at the end. _BLOCK slots at a time: one buffer of 512 KiB
    # touched again and again, not 4 MiB of new pages for 32,000 queues
    block = min(slots, _BLOCK)
    data = bytearray(_STRIDE * block + 256)
    buf = array_of(len(data)).from_buffer(data)
    as_int = memoryview(data).cast("i")[_STAT_KEY // 4:_STRIDE * block // 4:_STRIDE // 4]
    as_long = memoryview(data).cast("Q")[
        _STAT_QBYTES // 8:_STRIDE * block // 8:_STRIDE // 8]
    ids: List[int] = []
    keys: List[int] = []
    qbytes: List[int] = []
    # each stretch's pointer made once, for every pass (not once per slot)
    stretches = list(map(byref, repeat(buf), range(0, _STRIDE * block, _STRIDE)))
    for base in range(0, slots, block):
        size = min(block, slots - base)
        ids += map(msgctl, range(base, base + size), repeat(MSG_STAT_ANY),
                   stretches[:size] if size < block else stretches)
        keys += as_int[:size].tolist()
        qbytes += as_long[:size].tolist()
    if min(ids) < 0:  # free slots (or no MSG_STAT_ANY, before Linux 4.17)
        used = [msqid >= 0 for msqid in ids]
        ids, keys = list(compress(ids, used)), list(compress(keys, used))
        qbytes = list(compress(qbytes, used))
    return ids, keys, qbytes


def _msgctl_binding() -> Tuple[Callable[..., int], Callable[[int], Any], Callable[..., Any]]:
    """(msgctl, a char array type of n bytes, byref) from CPython's _ctypes alone:
    importing ctypes itself (some 30 classes defined) costs a check with 1,000
    queues more than all its queues do. msgctl is bound as PyDLL binds: the GIL kept
    across the call (msgctl never blocks), no errno kept, a tenth less per call."""
    try:
        import _ctypes

        class Int(_ctypes._SimpleCData):  # type: ignore[misc,name-defined]
            _type_ = "i"

        class Char(_ctypes._SimpleCData):  # type: ignore[misc,name-defined]
            _type_ = "c"

        class Function(_ctypes.CFuncPtr):  # type: ignore[misc,name-defined]
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_PYTHONAPI
            _restype_ = Int

        class Libc:
            _handle = _ctypes.dlopen(None, 0)  # type: ignore[arg-type]  # dlopen(NULL)

        def array_of(size: int) -> Any:
            return Char * size

        return Function(("msgctl", Libc)), array_of, _ctypes.byref  # type: ignore[arg-type]
    except (ImportError, AttributeError, TypeError, OSError):  # not CPython's _ctypes
        import ctypes

        return (ctypes.PyDLL(None).msgctl, lambda size: ctypes.c_char * size,  # type: ignore[return-value]
                ctypes.byref)


def read_limits(keys: Dict[int, int], msgctl: Optional[_Msgctl] = None,
                ) -> Dict[int, Tuple[int, str]]:
    """msqid -> (qbytes, source) for the queues in *keys* (msqid -> key) that the
    kernel lets us see.

    Each reading is judged on its own: a key that does not match its msqid (the
    queue was replaced between /proc and msgctl, or the struct layout is not what
    we think) drops that reading only, and that queue tries IPC_STAT. Any queue's
    owner can set its qbytes to anything from 0 to msgmnb (IPC_SET needs no
    privilege), so no value one queue holds may change how the others are read:
    0 is a real limit (the queue is full by definition), not a sign of a bad layout."""
    found: Dict[int, Tuple[int, str]] = {}
    if not keys:
        return found
    msgctl = msgctl or _Msgctl()
    if not msgctl.usable:
        return found
    max_index, _ = msgctl.call(0, MSG_INFO)
    call = msgctl.call
    raw, buf, unpack = msgctl.raw, msgctl.buffer, _STAT.unpack_from
    for index in range(max_index + 1 if max_index >= 0 else 0):
        msqid = raw(index, MSG_STAT_ANY, buf)
        if msqid < 0:
            continue  # a free slot, or no MSG_STAT_ANY (< 4.17): IPC_STAT below
        expected = keys.get(msqid)
        if expected is None:
            continue  # created after we read /proc
        key, _cbytes, _qnum, qbytes = unpack(buf)
        if key & 0xFFFFFFFF == expected & 0xFFFFFFFF and qbytes <= QBYTES_MAX:
            found[msqid] = (qbytes, "MSG_STAT_ANY")
    if len(found) < len(keys):
        for msqid, expected in keys.items():
            if msqid in found:
                continue
            result, (key, _cbytes, _qnum, qbytes) = call(msqid, IPC_STAT)
            if (result == 0 and key & 0xFFFFFFFF == expected & 0xFFFFFFFF
                    and qbytes <= QBYTES_MAX):
                found[msqid] = (qbytes, "IPC_STAT")
    return found


def read_int(path: str) -> Optional[int]:
    """The number in a /proc/sys file, or None when it is absent or not a number. Out
    of file descriptors is said, not taken for "no such limit": the slots would
    silently go missing (and with no queues, every figure with them)."""
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().split()[0])
    except OSError as exc:
        if exc.errno in FD_LIMIT:
            raise ParseError(f"cannot read {path}: {exc.strerror}; {FD_LIMIT_FIX}") from None
        return None
    except (ValueError, IndexError):
        return None


class SysvProcSource:
    """System V queues of a Linux host."""

    kind = "sysv"

    def __init__(self, name_of: NameOf, path: str = PROC_MSG,
                 msgmnb_path: str = "/proc/sys/kernel/msgmnb",
                 msgmni_path: str = "/proc/sys/kernel/msgmni",
                 limits: Optional[Callable[[Dict[int, int]], Dict[int, Tuple[int, str]]]]
                 = None, stat_all: Optional[Callable[[], Optional[Stat]]] = None) -> None:
        self.name_of = name_of
        self.path = path
        self.msgmnb_path = msgmnb_path
        self.msgmni_path = msgmni_path
        self.limits = limits or read_limits
        self.stat_all = stat_all  # tests: what the module's stat_all would read
        self.notes: List[str] = []

    def system_max(self) -> Optional[int]:
        return read_int(self.msgmni_path)

    def _read(self) -> bytes:
        try:
            with open(self.path, "rb") as handle:
                return handle.read()
        except PermissionError:
            raise ParseError(f"cannot read {self.path}: permission denied; run as a user "
                             f"that can read it (it is world-readable on a standard "
                             f"Linux)") from None
        except OSError as exc:
            if exc.errno in FD_LIMIT:
                raise ParseError(f"cannot read {self.path}: {exc.strerror}; "
                                 f"{FD_LIMIT_FIX}") from None
            raise ParseError(f"cannot read {self.path}: {exc.strerror}; is this Linux with "
                             f"System V IPC (CONFIG_SYSVIPC)? else use --type posix") from None

    def _parse(self, raw: bytes) -> Tuple[List[str], List[List[int]]]:
        # the text exactly as open(path, encoding="ascii", errors="replace") reads it
        # (universal newlines included): this is the reference path, for any input
        text = io.TextIOWrapper(io.BytesIO(raw), encoding="ascii", errors="replace").read()
        try:
            return parse_proc_rows(text)
        except ParseError as exc:  # the kernel's table never looks like this
            raise ParseError(f"{exc}; is {self.path} the kernel's queue table? if so, report "
                             f"it to nagios_ipc") from None

    def queues(self) -> List[Queue]:
        """Every queue, built: the reference path (see batch for the fast one)."""
        return self._assemble(*self._parse(self._read()))

    def batch(self) -> Batch:
        """The queues as queues() finds them, with the idle ones (empty, with room)
        left unbuilt: what a host with 32,000 queues costs is then reading /proc and
        one msgctl per queue (the limits are summed in qbytes), not 32,000 Queues.

        Taken only where it gives exactly what queues() would: the kernel's plain
        table (split_table), every limit read by MSG_STAT_ANY for the very queues
        /proc listed, in its order (stat_all). Anything else goes the reference way."""
        raw = self._read()
        # msqid and key not held to int32 there: where the fast path is taken they equal
        # the kernel's (a C int each, see _stat_all); elsewhere table.bounded() below
        table = split_table(raw, ints=("msqid", "key"), kept=("uid",),
                            nonzero=("cbytes", "qnum"), bounded=False)
        if table is None:
            return Batch.of(self.kind, self._assemble(*self._parse(raw)))
        qbytes = self._stat_all(table.ints["msqid"], table.ints["key"])
        if qbytes is not None and self.stat_all is not None and not table.bounded():
            qbytes = None  # a test's readings, not C ints: they bound nothing
        if qbytes is None:
            if not table.bounded():  # the reference parser names the value
                return Batch.of(self.kind, self._assemble(*self._parse(raw)))
            # no MSG_STAT_ANY, a queue made or removed meanwhile, a test file
            return Batch.of(self.kind, self._assemble(
                table.header, [table.row(row) for row in range(table.count)]))
        return _FastTable(_Rows(table.header, self.name_of), table, qbytes).batch(self.kind)

    def _stat_all(self, ids: List[int], keys: List[int]) -> Optional[List[int]]:
        """The qbytes of each row, when read_limits would have read every one of them
        by MSG_STAT_ANY: the kernel's slots hold the queues /proc listed (same msqids,
        same keys, same order) and each limit is a real one."""
        if not ids:
            return None
        if self.stat_all is not None:
            found = self.stat_all()  # a test's (batch holds the table to int32 then)
        elif self.limits is not read_limits:
            return None  # a test's limits: the reference path reads them
        else:
            found = stat_all()
        if found is None:
            return None
        found_ids, found_keys, qbytes = found
        if found_ids != ids or found_keys != keys or max(qbytes) > QBYTES_MAX:
            return None
        return qbytes

    def _assemble(self, header: List[str], rows: List[List[int]]) -> List[Queue]:
        col = {name: header.index(name) for name in header}
        if any(name not in col for name in ("lspid", "lrpid", "stime", "rtime", "ctime")):
            rows = [[*row, 0] for row in rows]  # see _Rows: a 0 column for the missing ones
        i_key, i_id = col["key"], col["msqid"]
        limits = self.limits({row[i_id]: row[i_key] for row in rows})
        default = read_int(self.msgmnb_path)
        fallback = len(rows) - len(limits)
        if fallback:
            self.notes.append(
                f"{fallback} System V queue limit(s) not readable (no MSG_STAT_ANY, no "
                f"read permission): assumed the default msgmnb {default} B")
        unknown = (default, "msgmnb default")
        get_limit = limits.get
        queue = _Rows(header, self.name_of).queue
        return [queue(row, *get_limit(row[i_id], unknown)) for row in rows]


class _Rows:
    """Rows of /proc/sysvipc/msg (lists of ints, in the header's order) into Queues."""

    def __init__(self, header: List[str], name_of: NameOf) -> None:
        col = {name: header.index(name) for name in header}
        missing = len(header)  # a kernel without some of these columns: a 0 column there
        self.i_key, self.i_id, self.i_perms = col["key"], col["msqid"], col["perms"]
        self.i_cbytes, self.i_qnum = col["cbytes"], col["qnum"]
        self.i_uid, self.i_cuid = col["uid"], col["cuid"]
        self.i_lspid, self.i_lrpid, self.i_stime, self.i_rtime, self.i_ctime = (
            col.get(name, missing) for name in ("lspid", "lrpid", "stime", "rtime", "ctime"))
        self.name_of = name_of
        self.names: Dict[int, str] = {}
        self.modes: Dict[int, int] = {}

    def owner(self, uid: int) -> str:
        name = self.names.get(uid)
        if name is None:
            name = self.names[uid] = self.name_of(uid)
        return name

    def queue(self, row: List[int], qbytes: Optional[int], source: str) -> Queue:
        perms = row[self.i_perms]
        mode = self.modes.get(perms)
        if mode is None:
            mode = self.modes[perms] = _octal(perms)
        return Queue(
            "sysv", "0x%08x" % (row[self.i_key] & 0xFFFFFFFF), row[self.i_id],
            self.owner(row[self.i_uid]), self.owner(row[self.i_cuid]), mode,
            row[self.i_qnum], row[self.i_cbytes], qbytes, source, qbytes,
            row[self.i_lspid] or None, row[self.i_lrpid] or None, row[self.i_stime] or None,
            row[self.i_rtime] or None, row[self.i_ctime] or None)


class _FastTable:
    """One reading of /proc/sysvipc/msg (split_table's Table) with each row's limit
    (all by MSG_STAT_ANY): a row becomes a Queue only when it is not idle, or when
    it is shown (model.Idle)."""

    def __init__(self, rows: _Rows, table: Table, qbytes: List[int]) -> None:
        self.rows = rows
        self.table = table
        self.keys = table.ints["key"]
        self.qbytes = qbytes
        self._order: Optional[List[int]] = None

    def build(self, row: int) -> Queue:
        return self.rows.queue(self.table.row(row), self.qbytes[row], "MSG_STAT_ANY")

    def first_by_key(self, rows: Sequence[int], count: int) -> List[int]:
        """The *count* of *rows* that sorted() by the key as written (0x%08x, so
        unsigned) would put first; among equal keys (IPC_PRIVATE ones are all 0) in
        row order, as a stable sort keeps them."""
        import heapq
        from itertools import compress

        order = self._order
        if order is None:
            order = self._order = (self.keys if min(self.keys) >= 0
                                   else [key & 0xFFFFFFFF for key in self.keys])
        if count <= 0 or not rows:
            return []
        # rows is ascending (Idle.rows): as long as order, it is every row
        values = order if len(rows) == len(order) else list(map(order.__getitem__, rows))
        # nsmallest with a key goes back to Python once per row (32,000 on a host that
        # has them). The count-th smallest of a sample is at or above the count-th
        # smallest of all (a subset's k-th smallest never sorts below the whole's), so
        # the rows at or below it (in row order, picked in C) hold the answer, and a
        # stable sort of those few by key picks the rows nsmallest picks, in its order
        step = len(values) // (count * 40)
        if step < 2:  # few rows: no sample to take
            return heapq.nsmallest(count, rows, key=order.__getitem__)
        bound = heapq.nsmallest(count, values[::step])[-1]  # a sample of count * 40 or more
        within = list(compress(rows, map(bound.__ge__, values)))
        return sorted(within, key=order.__getitem__)[:count]

    def batch(self, kind: str) -> Batch:
        table, qbytes, rows = self.table, self.qbytes, self.rows
        count = len(qbytes)
        # a row is idle when it holds nothing and has room: cbytes and qnum 0 (by
        # value: a hand-made "00" is 0 too), qbytes above 0 (issue 18: a queue of
        # qbytes 0 is full by definition, empty as it is)
        busy: Set[int] = set(table.nonzero["cbytes"])
        busy.update(table.nonzero["qnum"])
        if 0 in qbytes:
            busy.update(row for row, limit in enumerate(qbytes) if limit == 0)
        uids = table.kept["uid"]
        owner_of = {uid: rows.owner(int(uid)) for uid in set(uids)}
        members: Dict[str, List[int]]
        if len(set(owner_of.values())) == 1:
            members = {next(iter(owner_of.values())): list(range(count))}
        else:
            members = {}
            for row, uid in enumerate(uids):
                owner = owner_of[uid]
                if owner in members:
                    members[owner].append(row)
                else:
                    members[owner] = [row]
        built_rows = sorted(busy)
        built = [self.build(row) for row in built_rows]
        idle: List[Idle] = []
        for owner, owned in members.items():
            own_idle = [row for row in owned if row not in busy] if busy else owned
            if not own_idle:
                continue
            first = own_idle[0]
            size = sum(qbytes) if len(own_idle) == count else sum(map(qbytes.__getitem__,
                                                                       own_idle))
            idle.append(Idle(kind, owner, own_idle, size, self,
                             at=owned.index(first),  # the rows before it are all busy
                             before=bisect.bisect_left(built_rows, first)))
        idle.sort(key=lambda part: part.rows[0])
        return Batch(kind, built, idle, list(members), count)


def _octal(perms: int) -> int:
    """/proc prints the mode as octal digits (e.g. 666): read them as octal."""
    try:
        return int(str(perms), 8) & 0o7777
    except ValueError:
        return perms & 0o7777
