"""Shared tools of the robustness tests (issue 8): inputs that break parsers, and the
output contract every check run must keep whatever happened.

* Strategies: arbitrary bytes and text, and real captures from tests/fixtures/**
  cut short or mutated (a stretch replaced, repeated or dropped, lines swapped,
  bytes flipped), so the fuzzers start from the shapes the parsers really see.
* :func:`no_hang`: a hard per-example time limit (SIGALRM). Hypothesis' own
  ``deadline`` only measures an example after it returned; a parser stuck in a
  loop would never return, so the alarm interrupts it and fails the test.
* :func:`assert_plugin_output` / :func:`assert_one_unknown_line`: the guidelines'
  contract for a whole run (exit 0..3, one first line ``NAME STATE: ...``,
  well-formed perfdata, nothing on stderr, no traceback).
* :func:`discover_parsers`, :func:`check_modules`: every ``parse_*`` function and
  every check of the package, found at run time, so that a new parser or check
  is fuzzed without anyone remembering to add it.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import inspect
import pkgutil
import pwd
import re
import signal
import subprocess
import sys
from configparser import ConfigParser
from pathlib import Path
from types import FrameType, ModuleType
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from hypothesis import strategies as st

import nagios_ipc

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
STATE_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
EXAMPLE_SECONDS = 10  # one parser call or in-process run taking longer is a hang

# --- real captures ---------------------------------------------------------------------


def capture(relative: str) -> bytes:
    """A fixture's bytes (a .gz is unpacked)."""
    path = FIXTURES / relative
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def captures(*patterns: str, limit: int = 8192) -> List[bytes]:
    """The fixtures matching *patterns* (globs under tests/fixtures), each cut to
    at most *limit* bytes at a line end: mutations of a 4 MB capture teach no
    more than those of its first screens, and would slow every example."""
    found: List[bytes] = []
    for pattern in patterns:
        for path in sorted(FIXTURES.glob(pattern)):
            if not path.is_file() or path.name == "README.md":
                continue
            data = capture(str(path.relative_to(FIXTURES)))
            if len(data) > limit:
                data = data[:data.rfind(b"\n", 0, limit) + 1]
            found.append(data)
    return found


# --- strategies ------------------------------------------------------------------------

# bytes that matter to line- and column-oriented parsers, weighted in
_SPECIAL = [b"\n", b"\r\n", b"\t", b" ", b":", b"|", b"\x00", b"-", b"0x", b"\xff", b"\xc3",
            b"{", b"}", b"\"", b",", b"9" * 30, b"-1", b"1e999", b"NaN", b"\n\n"]


def arbitrary_bytes(max_size: int = 2000) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=max_size),
        st.lists(st.one_of(st.sampled_from(_SPECIAL), st.binary(max_size=8)),
                 max_size=60).map(b"".join),
        st.text(max_size=max_size).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


# what a field of a table or a JSON value may be replaced with: extremes of the number
# types, signs, other bases, the empty field, non-ASCII, a separator
HOSTILE_TOKENS = [b"99999999999999999999", b"-99999999999999999999", b"-1", b"0", b"2147483648",
                  b"4294967296", b"18446744073709551616", b"0x7fffffff", b"0xffffffffffffffff",
                  b"1e999", b"NaN", b"-0", b"", b"\xff\xfe", b"|", b"null", b"[]", b"{}",
                  b"\"\"", b"1.5", b"0644", b"\xd9\xa3"]
_TOKEN = re.compile(rb"[^\s,:;=\"'{}\[\]()<>]+")


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """*data* cut short, or with one mutation applied (see the module doc)."""
    size = len(data)
    pos = st.integers(0, size)
    cut = pos.map(lambda n: data[:n])
    splice = st.tuples(pos, st.integers(0, 64), arbitrary_bytes(64)).map(
        lambda t: data[:t[0]] + t[2] + data[t[0] + t[1]:])
    repeat = st.tuples(pos, st.integers(1, 200), st.integers(2, 50)).map(
        lambda t: data[:t[0]] + data[t[0]:t[0] + t[1]] * t[2] + data[t[0]:])
    drop = st.tuples(pos, st.integers(1, 200)).map(lambda t: data[:t[0]] + data[t[0] + t[1]:])
    flip = st.tuples(st.integers(0, max(size - 1, 0)), st.integers(0, 255)).map(
        lambda t: data[:t[0]] + bytes([t[1]]) + data[t[0] + 1:])

    def swap_lines(pair: Tuple[int, int]) -> bytes:
        lines = data.split(b"\n")
        i, j = pair[0] % len(lines), pair[1] % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)

    swapped = st.tuples(st.integers(0, 1000), st.integers(0, 1000)).map(swap_lines)
    spans = [m.span() for m in _TOKEN.finditer(data)]

    def replace_tokens(picks: List[Tuple[int, bytes]]) -> bytes:
        out = data
        for index, token in sorted(set((i % len(spans), t) for i, t in picks), reverse=True):
            start, end = spans[index]
            out = out[:start] + token + out[end:]
        return out

    fields = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(HOSTILE_TOKENS)),
                      min_size=1, max_size=3).map(replace_tokens)
    return st.one_of(cut, splice, repeat, drop, flip, swapped, *([fields] * 3 if spans else []))


def field_mutations(data: bytes, limit: int = 2048) -> Iterator[bytes]:
    """Every field (token) of the first *limit* bytes of *data* replaced, one at a
    time, by every hostile token: exhaustive where random picks would rarely hit
    the one field (a pid, a timestamp) whose extreme value breaks a later step."""
    head = data[:limit]
    for match in _TOKEN.finditer(head):
        start, end = match.span()
        for token in HOSTILE_TOKENS:
            yield head[:start] + token + head[end:]


def fuzz_bytes(real: Sequence[bytes] = ()) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, and (when there are captures) the captures whole and mutated."""
    if not real:
        return arbitrary_bytes()
    originals = st.sampled_from(list(real))
    return st.one_of(arbitrary_bytes(), originals, originals.flatmap(mutated),
                     originals.flatmap(mutated).flatmap(mutated))


def fuzz_text(real: Sequence[bytes] = ()) -> st.SearchStrategy[str]:
    """As :func:`fuzz_bytes`, decoded the way sources read files (undecodable bytes
    replaced), plus arbitrary Unicode text."""
    return st.one_of(st.text(max_size=500),
                     fuzz_bytes(real).map(lambda b: b.decode("utf-8", "replace")))


# --- hangs -----------------------------------------------------------------------------


class Hang(AssertionError):
    pass


@contextlib.contextmanager
def no_hang(seconds: float = EXAMPLE_SECONDS, what: str = "example") -> Iterator[None]:
    """Fail (not wait forever) when the block runs longer than *seconds*."""
    def alarm(signum: int, frame: Optional[FrameType]) -> None:
        raise Hang(f"{what} still running after {seconds}s: a hang")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- the output contract ---------------------------------------------------------------

_PERF_ITEM = re.compile(r"('[^'=]+'|[^'= ]+)=(-?[0-9.]+)([a-zA-Z%]*)"
                        r"(;[-0-9.:~@]*){0,4}")
_PERF_TOKEN = re.compile(r"'[^']*'=\S*|\S+")


def perfdata_items(text: str) -> List[str]:
    """Every perfdata item of a plugin output (first line after '|', and the lines
    after a '|' in the long output)."""
    lines = text.splitlines()
    chunks: List[str] = []
    if lines and "|" in lines[0]:
        chunks.append(lines[0].split("|", 1)[1])
    for index, line in enumerate(lines[1:], start=1):
        if "|" in line:
            chunks.append(line.split("|", 1)[1])
            chunks.extend(lines[index + 1:])
            break
    return [item for chunk in chunks for item in _PERF_TOKEN.findall(chunk)]


def text_lines(text: str) -> List[str]:
    """The first line and the long output, without the perfdata lines after it."""
    lines = text.splitlines()
    out = lines[:1]
    for line in lines[1:]:
        if "|" in line:  # 'LONG TEXT | perf' or a line of perfdata alone ('| perf')
            if line.split("|", 1)[0].strip():
                out.append(line)
            break
        out.append(line)
    return out


def assert_plugin_output(name: str, code: int, stdout: str, stderr: str = "") -> None:
    """Exit 0..3, ``NAME STATE`` first, at most two '|' (first line and one in the
    long output), perfdata well formed, nothing on stderr, no traceback."""
    assert code in (0, 1, 2, 3), f"exit {code} outside 0..3: {stdout!r} {stderr!r}"
    assert stderr == "", f"stderr not empty: {stderr[:500]!r}"
    assert stdout.endswith("\n") and stdout.strip(), f"no output line: {stdout!r}"
    first = stdout.split("\n", 1)[0]
    assert first.startswith(f"{name} {STATE_NAMES[code]}"), \
        f"first line does not say {name} {STATE_NAMES[code]}: {first[:300]!r}"
    assert "Traceback" not in stdout, stdout[:2000]
    assert stdout.count("|") <= 2, f"forged perfdata sections: {stdout[:2000]!r}"
    if "|" in first:
        assert " | " in first, first
    for item in perfdata_items(stdout):
        assert _PERF_ITEM.fullmatch(item), f"malformed perfdata item {item!r} in {stdout!r}"


def assert_one_unknown_line(name: str, code: int, stdout: str, stderr: str = "",
                            mentions: Sequence[str] = ()) -> None:
    """The failure contract: exit 3, one line ``NAME UNKNOWN: <cause and fix>``."""
    assert_plugin_output(name, code, stdout, stderr)
    assert code == 3, f"exit {code}, expected 3 (UNKNOWN): {stdout!r}"
    assert stdout.count("\n") == 1, f"more than one line: {stdout!r}"
    assert stdout.startswith(f"{name} UNKNOWN: ") and len(stdout.strip()) > len(name) + 15, \
        stdout
    assert "internal error" not in stdout, f"a bug, not a clear UNKNOWN: {stdout!r}"
    for word in mentions:
        assert word.lower() in stdout.lower(), f"{word!r} not named in {stdout!r}"


# --- what there is to cover --------------------------------------------------------------


def package_modules() -> List[ModuleType]:
    """Every module of nagios_ipc that imports here (an optional dependency missing
    on this Python leaves its module out, as it does for the checks)."""
    modules = [nagios_ipc]
    for info in pkgutil.walk_packages(nagios_ipc.__path__, "nagios_ipc."):
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError:
            continue
    return modules


def discover_parsers() -> Dict[str, Callable[..., object]]:
    """``module.parse_x`` -> function, for every parse_* function of the package."""
    found: Dict[str, Callable[..., object]] = {}
    for module in package_modules():
        for name, obj in vars(module).items():
            if (name.startswith("parse_") and inspect.isfunction(obj)
                    and obj.__module__ == module.__name__):
                found[f"{module.__name__}.{name}"] = obj
    return found


def check_modules() -> Dict[str, str]:
    """console script name -> module (from setup.cfg), one per check."""
    config = ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = config.get("options.entry_points", "console_scripts", fallback="")
    found: Dict[str, str] = {}
    for line in scripts.strip().splitlines():
        name, _, target = line.partition("=")
        if name.strip().startswith("check_"):
            found[name.strip()] = target.strip().split(":")[0]
    return found


# --- a small application holding a loopback TCP connection (what check_zmq_hwm watches)

APP = """\
import socket, sys
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
client = socket.create_connection(server.getsockname()); peer, _ = server.accept()
print(server.getsockname()[1], flush=True)
sys.stdin.read()  # until the test closes stdin
"""


def nagios_user() -> Optional[pwd.struct_passwd]:
    try:
        return pwd.getpwnam("nagios")
    except KeyError:
        return None


def start_app(user: Optional[str] = None) -> subprocess.Popen:  # type: ignore[type-arg]
    argv = [sys.executable, "-c", APP]
    if user is not None:  # setpriv keeps the pid: the application is the process we start
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *argv]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc


def stop_app(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
