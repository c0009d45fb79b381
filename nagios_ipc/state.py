"""State kept between runs of a check (uptime periods, stalled peers, rates).

* Default location (see default_state_dir): ``$NAGIOS_IPC_STATE_DIR``, else
  ``~/.local/state/nagios_ipc/HOST/`` of the user's passwd home (XDG's state directory;
  nagios: /var/lib/nagios, root: /root) when that home is the user's own and no one
  else may write it, else under /var/tmp (kept across reboots, unlike /tmp) in a
  directory of the user's own that no other user can have made first. One file
  per check instance, named after the options that change its meaning, so two
  differently configured instances never share state.
* Concurrency: an exclusive ``flock`` on a side ``.lock`` file, tried without
  blocking until the plugin's deadline; data is written to a temporary file and
  renamed over the old one, so a reader never sees half a file.
* Safety: the directory must be ours and not a symlink; the state file is
  opened with O_NOFOLLOW, so a symlink planted there is refused, not followed.
* A corrupt file is moved aside and reported once as UNKNOWN (StateReset).
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

from .cli import FD_LIMIT, FD_LIMIT_FIX, remaining_time

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Sequence

STATE_DIR_ENV = "NAGIOS_IPC_STATE_DIR"
MAX_STATE_BYTES = 4 * 1024 * 1024


class StateError(nagiosplugin.CheckError):
    """The state file cannot be used; the text names the file and the fix."""


class StateReset(StateError):
    """The state file was corrupt or unusable and is moved aside: this run reports
    UNKNOWN, and a check that can still save this run's state does so first."""


FALLBACK_ROOT = "/var/tmp"


def default_state_dir() -> str:
    """Where state lives unless --state-file says otherwise; no directory is made here.

    A fixed name in a directory every user may write (the former default,
    /var/tmp/nagios_ipc-UID) can be made first by anyone, for anyone: the victim can
    neither use it (it is not its own) nor remove it (sticky bit), and its stateful
    checks stay UNKNOWN. So: the user's own home, which no one else may write, and
    only for users without a usable home (nobody: /nonexistent) /var/tmp, where a
    directory counts only if it is the user's own (another user cannot make one
    for it), its name random when it is first made."""
    from .privilege import privileged

    # under sudo the environment is the caller's: its choice of directory is refused
    # like --state-file's (nagios_ipc.privilege)
    explicit = None if privileged() else os.environ.get(STATE_DIR_ENV)
    if explicit:
        return explicit
    uid = os.getuid()
    return _home_state_dir(uid) or fallback_state_dir(uid, FALLBACK_ROOT)


def _ours(path: str, uid: int) -> bool:
    """A real directory (not a symlink) that *uid* owns."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == uid


VOLATILE = ("/run/", "/tmp/", "/dev/shm/")  # emptied at boot: a reboot would go unseen


def _host() -> str:
    """This host's name as a directory name."""
    name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in os.uname().nodename)
    return name.lstrip(".") or "localhost"


def _home_state_dir(uid: int) -> Optional[str]:
    """~/.local/state/nagios_ipc/HOST of *uid*'s passwd home (not $HOME: sudo and
    NRPE pass on someone else's or none), if that home is the user's own, writable by
    it and by no one else (else another user could make the directory first), and
    kept across reboots (RHEL's nrpe user lives in /run/nrpe). HOST: a home shared
    over NFS by several hosts must not mix their states."""
    try:
        import pwd

        home = pwd.getpwuid(uid).pw_dir
    except (KeyError, ImportError):
        return None
    if not os.path.isabs(home) or (os.path.realpath(home) + "/").startswith(VOLATILE):
        return None
    path = os.path.join(home, ".local", "state", "nagios_ipc", _host())
    if _ours(path, uid):
        return path
    try:
        info = os.stat(home)
    except OSError:
        return None  # no home (nobody's /nonexistent)
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or info.st_mode & 0o022
            or not os.access(home, os.W_OK | os.X_OK)):
        return None  # someone else's, shared, or read-only
    return path


def fallback_state_dir(uid: int, root: str = FALLBACK_ROOT) -> str:
    """A directory of *uid*'s own under *root*: the former fixed name when it is ours
    (state kept across the upgrade), else one named nagios_ipc-UID-RANDOM that an
    earlier run made, else a new such name (made by _ensure_dir). Another user's
    directory or symlink of either name is passed over, never used."""
    legacy = os.path.join(root, f"nagios_ipc-{uid}")
    if _ours(legacy, uid):
        return legacy
    prefix = f"nagios_ipc-{uid}-"
    try:
        with os.scandir(root) as entries:
            names = sorted(entry.name for entry in entries if entry.name.startswith(prefix))
    except OSError:
        names = []
    for name in names:
        if _ours(os.path.join(root, name), uid):
            return os.path.join(root, name)
    # 64 random bits: os.urandom, as the secrets module imports hashlib (start-up time)
    return os.path.join(root, prefix + os.urandom(8).hex())


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
    if code in FD_LIMIT:
        return FD_LIMIT_FIX
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"free space (or quota) on the filesystem of {os.path.dirname(path) or '.'}"
    if code == errno.EROFS:
        return "give --state-file a path on a writable filesystem"
    return (f"give --state-file a path in a directory this user (uid {os.getuid()}) owns "
            f"and can write, or fix the permissions of {os.path.dirname(path) or '.'}")


def _ensure_dir(directory: str, default: bool) -> None:
    try:
        info = os.lstat(directory)
    except NotADirectoryError:
        raise StateError(f"state directory {directory}: a part of the path is not a "
                         f"directory; {_fix(directory + '/x')}") from None
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


def _not_a_file(path: str, mode: int) -> StateError:
    if stat.S_ISDIR(mode):
        return StateError(f"state file {path} is a directory; remove it or give another "
                          f"--state-file")
    if stat.S_ISLNK(mode):
        return StateError(f"state file {path} is a symlink; remove it (refusing to follow "
                          f"it) or give another --state-file")
    from .filekind import kind

    # not "remove it": a device or FIFO given by mistake (/dev/null) is not ours to remove
    return StateError(f"state file {path} is {kind(mode)}, not a regular file; give "
                      f"--state-file the path of a file (made on the first run)")


class StateFile:
    """``with StateFile(path) as state: old = state.load(); state.save(new)``."""

    def __init__(self, path: Optional[str], check: str, key: Sequence[Any] = ()) -> None:
        self.default = path is None
        self.path = path or default_state_path(check, key)
        self._lock_fd: Optional[int] = None
        self._held: Optional[StateReset] = None  # raised by save(), after it wrote

    def __enter__(self) -> StateFile:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            _ensure_dir(directory, self.default)
        except StateError:
            if (not self.default or os.environ.get(STATE_DIR_ENV)
                    or os.path.dirname(directory) == FALLBACK_ROOT):
                raise
            # the home looked usable but is not (read-only, a foreign .local/state):
            # the /var/tmp fallback, which no other user can have made for us
            directory = fallback_state_dir(os.getuid(), FALLBACK_ROOT)
            self.path = os.path.join(directory, os.path.basename(self.path))
            _ensure_dir(directory, True)
        try:
            mode: Optional[int] = os.lstat(self.path).st_mode
        except OSError:  # none yet (made on the first save), or what load() will say
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            # never opened, locked beside or replaced: a FIFO would hang the read, and
            # the save would put a file in place of a device (--state-file /dev/null)
            raise _not_a_file(self.path, mode)
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
                                     f"of this check; is one hanging? (fuser {lock_path} "
                                     f"names it)") from None
                time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def load(self, until_saved: bool = False) -> Optional[Dict[str, Any]]:
        """The saved dict, or None when there is none; StateError when it cannot be
        used (see set_aside). With *until_saved*, a corrupt file's StateReset is held
        (None returned) and raised by save() once this run's state is written: the
        next run then measures from this one."""
        try:
            return self._load()
        except StateReset as reset:
            if not until_saved:
                raise
            self.hold(reset)
            return None

    def hold(self, reset: StateReset) -> None:
        """Raise *reset* from save(), after writing (a check that finds the saved state
        unusable only once it has read it, as check_host_uptime)."""
        self._held = reset

    def _load(self) -> Optional[Dict[str, Any]]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _not_a_file(self.path, stat.S_IFLNK) from None
            raise StateError(f"cannot read state file {self.path}: {exc.strerror}; "
                             f"{_fix(self.path, exc)}") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped since __enter__ looked
            os.close(fd)
            raise _not_a_file(self.path, mode)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_STATE_BYTES + 1)
        if len(data) > MAX_STATE_BYTES:
            raise self.set_aside(f"larger than {MAX_STATE_BYTES >> 20} MiB")
        try:
            value = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise self.set_aside("not UTF-8 text") from None
        except ValueError:
            raise self.set_aside("not valid JSON") from None
        if not isinstance(value, dict):
            raise self.set_aside("not a JSON object")
        return value

    def set_aside(self, what: str) -> StateReset:
        """The error for a state file that is *what* (corrupt, or unusable to the
        check), moved aside to PATH.corrupt first: this run cannot compare with the
        previous one, so it says UNKNOWN (starting afresh with an OK could hide what
        the lost state would have shown, a reboot or a stalled peer); the next runs
        measure afresh (from this run's state where the check could save it)."""
        aside = self.path + ".corrupt"
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            return StateReset(f"state file {self.path} was {what} and cannot be moved aside "
                              f"({exc.strerror}); remove it, the next runs measure afresh")
        return StateReset(f"state file {self.path} was {what}: moved aside to {aside}; the "
                          f"next runs measure afresh")

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
        if self._held is not None:
            held, self._held = self._held, None
            raise held
