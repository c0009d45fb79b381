"""State kept between runs of a check (uptime periods, stalled peers, rates).

* Default location: ``/var/tmp/nagios_ipc-<uid>/`` (kept across reboots, unlike
  /tmp; writable by any user, e.g. nagios under NRPE), one file per check
  instance, named after the options that change its meaning, so two differently
  configured instances never share state.
* Concurrency: an exclusive ``flock`` on a side ``.lock`` file, tried without
  blocking until the plugin's deadline; data is written to a temporary file and
  renamed over the old one, so a reader never sees half a file.
* Safety: the directory must be ours and not a symlink; the state file is
  opened with O_NOFOLLOW, so a symlink planted there is refused, not followed.
* A corrupt file is reported once (``problem``) and replaced on save.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import tempfile
import time
import zlib

import nagiosplugin

from .cli import remaining_time

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Sequence

STATE_DIR_ENV = "NAGIOS_IPC_STATE_DIR"
MAX_STATE_BYTES = 4 * 1024 * 1024


class StateError(nagiosplugin.CheckError):
    """The state file cannot be used; the text names the file and the fix."""


def default_state_dir() -> str:
    return os.environ.get(STATE_DIR_ENV) or f"/var/tmp/nagios_ipc-{os.getuid()}"


def default_state_path(check: str, key: Sequence[Any] = ()) -> str:
    """A file per check and per set of meaning-changing options."""
    # crc32, not a cryptographic hash: it only keeps instances apart, and hashlib
    # (OpenSSL) costs every run start-up time
    digest = format(zlib.crc32(json.dumps(list(key), sort_keys=True, default=str).encode()),
                    "08x")
    return os.path.join(default_state_dir(), f"{check}-{digest}.json")


def _fix(path: str, exc: Optional[OSError] = None) -> str:
    """The fix for *exc*: most causes are permissions; a few are not (issue 17)."""
    code = exc.errno if exc is not None else None
    if code in (errno.EMFILE, errno.ENFILE):
        return "raise the open files limit (ulimit -n) of this user"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"free space (or quota) on the filesystem of {os.path.dirname(path) or '.'}"
    if code == errno.EROFS:
        return "give --state-file a path on a writable filesystem"
    return (f"give --state-file a path in a directory this user (uid {os.getuid()}) owns "
            f"and can write, or fix the permissions of {os.path.dirname(path) or '.'}")


def _ensure_dir(directory: str, default: bool) -> None:
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        if not default:
            raise StateError(f"state directory {directory} does not exist; create it or "
                             f"give --state-file elsewhere") from None
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create state directory {directory}: {exc.strerror}; "
                             f"{_fix(directory + '/x')}") from None
        info = os.lstat(directory)
    if stat.S_ISLNK(info.st_mode) and default:
        raise StateError(f"state directory {directory} is a symlink; remove it (someone may "
                         f"be redirecting our writes) or give --state-file")
    if default and info.st_uid != os.getuid():
        raise StateError(f"state directory {directory} belongs to uid {info.st_uid}, not "
                         f"us (uid {os.getuid()}); remove it or give --state-file")


class StateFile:
    """``with StateFile(path) as state: old = state.load(); state.save(new)``."""

    def __init__(self, path: Optional[str], check: str, key: Sequence[Any] = ()) -> None:
        self.default = path is None
        self.path = path or default_state_path(check, key)
        self.problem: Optional[str] = None
        self._lock_fd: Optional[int] = None

    def __enter__(self) -> StateFile:
        directory = os.path.dirname(os.path.abspath(self.path))
        _ensure_dir(directory, self.default)
        if os.path.isdir(self.path):
            raise StateError(f"state file {self.path} is a directory; remove it or give "
                             f"another --state-file")
        lock_path = self.path + ".lock"
        try:
            self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
                                    | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StateError(f"lock file {lock_path} is a symlink; remove it") from None
            raise StateError(f"cannot open lock file {lock_path}: {exc.strerror}; "
                             f"{_fix(self.path, exc)}") from None
        deadline = time.monotonic() + max(remaining_time() - 1.0, 0.5)
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.close()
                    raise StateError(f"state file {self.path} stayed locked by another run "
                                     f"of this check; is one hanging?") from None
                time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def load(self) -> Optional[Dict[str, Any]]:
        """The saved dict, or None when there is none or it was unusable
        (then ``problem`` says why, once; the next save replaces it)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StateError(f"state file {self.path} is a symlink; remove it (refusing "
                                 f"to follow it) or give another --state-file") from None
            raise StateError(f"cannot read state file {self.path}: {exc.strerror}; "
                             f"{_fix(self.path, exc)}") from None
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_STATE_BYTES + 1)
        try:
            if len(data) > MAX_STATE_BYTES:
                raise ValueError("too large")
            value = json.loads(data.decode("utf-8"))
            if not isinstance(value, dict):
                raise ValueError("not an object")
            return value
        except (ValueError, UnicodeDecodeError) as exc:
            self.problem = (f"state file {self.path} was corrupt ({exc.__class__.__name__}) "
                            f"and has been replaced")
            return None

    def save(self, value: Dict[str, Any]) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        payload = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        except OSError as exc:
            raise StateError(f"cannot write state in {directory}: {exc.strerror}; "
                             f"{_fix(self.path, exc)}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass  # best effort; the original error is what matters
            raise StateError(f"cannot write state file {self.path}: {exc.strerror}; "
                             f"{_fix(self.path, exc)}") from None
