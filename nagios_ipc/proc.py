"""Running external commands safely: no shell, own timeout, bounded output.

A child runs in its own session (process group); when its timeout passes, or
the plugin's own timeout interrupts us, the whole group is killed, so no
``mailq`` or ``ipcs`` is left behind after an UNKNOWN.
"""

from __future__ import annotations

import os
import signal
import time

import nagiosplugin

from .cli import remaining_time

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    import subprocess
    from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple
else:
    from nagios_ipc.light import NamedTuple

MAX_OUTPUT = 256 * 1024 * 1024  # bytes of stdout kept before the child is stopped
MAX_LINE = 16 * 1024 * 1024  # bytes of one streamed line (a flood without newlines)
MARGIN = 0.5  # seconds kept back from the plugin timeout to report properly
# subprocess and selectors (with locale, which subprocess imports) are imported where a
# command runs: finding a program (find_executable, each MTA's detection) needs none of
# it, and importing them is 3% of an idle run's CPU time (issue 15)


class CommandError(nagiosplugin.CheckError):
    """A command could not run, timed out, or failed; the text says which."""


class Completed(NamedTuple):
    argv: Sequence[str]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def stderr_line(self) -> str:
        lines = self.stderr.decode("utf-8", "replace").strip().splitlines()
        return lines[-1].strip() if lines else ""


# what the on-call can do about a listing that hangs: more time, or find the cause
HUNG_FIX = "raise -t, or run it by hand to see why it hangs"


def exit_text(code: object) -> str:
    """'exit 1', or 'killed by SIGSEGV' (a signal without a name: 'killed by signal
    64') for a negative return code; callers put it in parentheses."""
    if isinstance(code, int) and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def find_executable(name: str, search: Sequence[str] = ("/usr/sbin", "/usr/bin", "/sbin", "/bin",
                                                         "/usr/local/sbin", "/usr/local/bin")
                    ) -> Optional[str]:
    """An absolute path from a fixed list of directories, never from $PATH."""
    if os.path.isabs(name):
        return name if os.access(name, os.X_OK) else None
    for directory in search:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _require_absolute(argv: List[str]) -> None:
    """Programs run by absolute path only (found by find_executable in a fixed list of
    directories): never through $PATH, the current directory, or a name from input."""
    if not argv or not os.path.isabs(argv[0]):
        raise CommandError(f"refusing to run {argv[0] if argv else 'nothing'!r}: not an "
                           f"absolute path")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    import subprocess

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone, or the group is not ours any more
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass  # a zombie we cannot reap in time; the kernel will


def _spawn(argv: List[str], timeout: Optional[float],
           env: Optional[Dict[str, str]]) -> Tuple[subprocess.Popen[bytes], float]:
    """Start *argv* in its own session (so its whole group can be killed), with a
    fixed PATH and the C locale; the seconds it may take: *timeout*, at most what is
    left of the check's own -t."""
    _require_absolute(argv)
    budget = remaining_time() - MARGIN
    limit = max(min(timeout, budget) if timeout is not None else budget, 0.1)
    child_env = {"LC_ALL": "C", "LANG": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if env:
        child_env.update(env)
    import subprocess

    from .privilege import child_identity

    # privileged (root under sudo): the child runs as the user who called sudo, never
    # as root; the uid, gid and groups are set in the child before exec
    who = child_identity()
    drop = {} if who is None else {"user": who.uid, "group": who.gid,
                                   "extra_groups": list(who.groups)}
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                env=child_env, close_fds=True, cwd="/",
                                **drop)  # type: ignore[call-overload]
    except FileNotFoundError as exc:
        raise CommandError(f"{argv[0]} not found") from exc
    except PermissionError as exc:
        raise CommandError(f"{argv[0]} is not executable by this user") from exc
    except OSError as exc:
        raise CommandError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    return proc, limit


def run_command(argv: List[str], timeout: Optional[float] = None,
                env: Optional[Dict[str, str]] = None,
                max_output: int = MAX_OUTPUT) -> Completed:
    """Run *argv* (absolute path first) and return its output.

    The timeout defaults to what is left of the plugin's own, less a margin.
    Raises CommandError when the program is missing, not executable, times out,
    or prints more than *max_output* bytes.
    """
    proc, limit = _spawn(argv, timeout, env)
    try:
        stdout, stderr = _collect(proc, limit, max_output)
    finally:
        if proc.poll() is None:
            _kill_group(proc)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    return Completed(argv, proc.returncode if proc.returncode is not None else -9,
                     stdout, stderr)


def _collect(proc: subprocess.Popen[bytes], limit: float, max_output: int):  # type: ignore[no-untyped-def]
    import selectors
    import subprocess

    deadline = time.monotonic() + limit
    out: List[bytes] = []
    err: List[bytes] = []
    size = 0
    selector = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    selector.register(proc.stdout, selectors.EVENT_READ, out)
    selector.register(proc.stderr, selectors.EVENT_READ, err)
    open_streams = 2
    while open_streams:
        left = deadline - time.monotonic()
        if left <= 0:
            _kill_group(proc)
            raise CommandError(f"'{' '.join(proc.args)}' did not finish within "  # type: ignore[arg-type]
                               f"{limit:.1f}s and was stopped; {HUNG_FIX}")
        for key, _ in selector.select(timeout=min(left, 1.0)):
            chunk = os.read(key.fd, 65536)
            if not chunk:
                selector.unregister(key.fileobj)
                open_streams -= 1
                continue
            key.data.append(chunk)
            if key.data is out:
                size += len(chunk)
                if size > max_output:
                    _kill_group(proc)
                    raise CommandError(f"'{' '.join(proc.args)}' printed more than "  # type: ignore[arg-type]
                                       f"{max_output // (1024 * 1024)} MiB; stopped it")
            elif sum(len(c) for c in err) > 1024 * 1024:
                del err[:-1]  # keep only the tail of a chatty stderr
    selector.close()
    left = max(deadline - time.monotonic(), 0.1)
    try:
        proc.wait(timeout=left)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise CommandError(f"'{' '.join(proc.args)}' closed its output but did not exit "  # type: ignore[arg-type]
                           f"within {limit:.1f}s; stopped it") from None
    return b"".join(out), b"".join(err)


def stream_lines(argv: List[str], timeout: Optional[float] = None,
                 env: Optional[Dict[str, str]] = None,
                 result: Optional[Dict[str, object]] = None,
                 max_line: int = MAX_LINE) -> Iterator[bytes]:
    """Yield the stdout lines of *argv* as they come (memory stays flat).

    The same rules as :func:`run_command`: no shell, own session, a timeout
    below the plugin's; on expiry, or when the consumer stops early (the
    generator is closed), the whole process group is killed. At the end
    *result* (if given) holds ``returncode`` and the tail of ``stderr``.
    Raises CommandError when the program cannot run or times out.
    """
    import selectors
    import subprocess

    proc, limit = _spawn(argv, timeout, env)
    deadline = time.monotonic() + limit
    command = " ".join(argv)
    err = bytearray()
    pending = bytearray()
    selector = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    try:
        selector.register(proc.stdout, selectors.EVENT_READ)
        selector.register(proc.stderr, selectors.EVENT_READ)
        out_fd = proc.stdout.fileno()
        open_streams = 2
        while open_streams:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CommandError(f"'{command}' did not finish within {limit:.1f}s "
                                   f"and was stopped; {HUNG_FIX}")
            for key, _ in selector.select(timeout=min(left, 1.0)):
                chunk = os.read(key.fd, 262144)
                if not chunk:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                if key.fd != out_fd:
                    err += chunk
                    if len(err) > 65536:
                        del err[:-4096]  # keep only the tail of a chatty stderr
                    continue
                if b"\n" not in chunk:  # a long line: grow it in place, not quadratically
                    pending += chunk
                    if len(pending) > max_line:
                        raise CommandError(f"'{command}' printed a line longer than "
                                           f"{max_line // (1024 * 1024)} MiB; stopped it")
                    continue
                lines = (bytes(pending) + chunk).split(b"\n")
                pending = bytearray(lines.pop())
                yield from lines
        if pending:
            yield bytes(pending)
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            raise CommandError(f"'{command}' closed its output but did not exit within "
                               f"{limit:.1f}s; stopped it") from None
        if result is not None:
            result["returncode"] = proc.returncode
            result["stderr"] = bytes(err)
    finally:
        selector.close()
        if proc.poll() is None:
            _kill_group(proc)
        for stream in (proc.stdout, proc.stderr):
            stream.close()
