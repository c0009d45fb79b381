"""Privileged mode: a check that runs with rights its caller does not have.

A check is *privileged* when it runs with another user's rights than the one who
started it: under ``sudo`` (``SUDO_UID`` names a user other than the effective
one; sudo always sets it itself) or set-uid (real uid differs from effective
uid). The caller is then treated as hostile, and the check holds to Postfix's
rule for privileged code: the extra rights are for reading, nothing else.

* **No program runs with the extra rights.** :mod:`nagios_ipc.proc` starts every
  command with the invoking user's uid, gid and groups (dropped in the child,
  before exec) when the check runs as root; a check run as another user through
  ``sudo -u`` runs only programs found in the fixed system directories.
* **No path or program the caller chose.** Options that name a program, a file or
  a directory (each check marks them with :meth:`PluginParser.guard`) are refused,
  one UNKNOWN line naming the option, unless the administrator allowed that
  exact value in :data:`CONFIG`, a root-owned file in a root-owned directory.
  The paths a check finds by itself stay allowed.
* **The environment is not trusted.** PYTHON* and LD_* variables could have
  changed the interpreter before any of our code ran: their presence is refused
  (sudo's ``env_reset`` removes them; the shipped rule insists on it). Children
  get a fixed environment (:mod:`nagios_ipc.proc`), and nothing else of the
  caller's environment is read.
* **The code must be root's.** The interpreter, the script, every directory a
  loaded module came from or imports may come from, and every directory above
  them, must be owned by root (or the effective user) and writable by nobody
  else; else the check refuses to run.

Symlinks below a spool root are never followed, privileged or not: see
:class:`nagios_ipc.mta.spoolscan.Tree`.
"""

from __future__ import annotations

import os
import stat
import sys

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, NamedTuple, Optional, Set, Tuple
else:
    from nagios_ipc.light import NamedTuple

CONFIG = "/etc/nagios_ipc/privileged.conf"
CONFIG_MAX = 256 * 1024  # bytes read of the allow-list at most
UNSAFE_ENV_PREFIXES = ("PYTHON", "LD_")


class Refused(Exception):
    """Privileged mode will not do what was asked; the text says what and the fix."""


class Invoker(NamedTuple):
    """The user who started a privileged check."""

    uid: int
    gid: int
    groups: Tuple[int, ...]
    name: str


_cached: List[Optional[Invoker]] = []


def invoker() -> Optional[Invoker]:
    """The invoking user when this process runs privileged, else None (cached)."""
    if not _cached:
        _cached.append(_find_invoker())
    return _cached[0]


def _find_invoker() -> Optional[Invoker]:
    euid, ruid = os.geteuid(), os.getuid()
    if ruid != euid:
        uid, gid = ruid, os.getgid()
    else:
        sudo_uid = os.environ.get("SUDO_UID", "")
        if not sudo_uid.isdigit() or int(sudo_uid) == euid:
            return None
        uid = int(sudo_uid)
        sudo_gid = os.environ.get("SUDO_GID", "")
        gid = int(sudo_gid) if sudo_gid.isdigit() else -1
    import pwd

    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        name = str(uid)
        if gid < 0:
            gid = uid
        groups: Tuple[int, ...] = (gid,)
    else:
        name = entry.pw_name
        if gid < 0:
            gid = entry.pw_gid
        try:
            groups = tuple(os.getgrouplist(name, gid))
        except OSError:
            groups = (gid,)
    return Invoker(uid, gid, groups, name)


def privileged() -> bool:
    return invoker() is not None


def child_identity() -> Optional[Invoker]:
    """Whom a child process must run as: the invoker when we are root on its
    behalf (so no program runs as root), else None (run as we are)."""
    who = invoker()
    if who is None or os.geteuid() != 0:
        return None
    return who


def check_environment(environ: Optional[Dict[str, str]] = None) -> None:
    env = os.environ if environ is None else environ
    bad = sorted(key for key in env if key.startswith(UNSAFE_ENV_PREFIXES))
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise Refused(f"refusing to run under sudo with {shown} in the environment: keep "
                      f"sudo's env_reset for this check (contrib/sudoers.d/nagios_ipc)")


def _unsafe(info: os.stat_result) -> Optional[str]:
    """Why a file or directory with this status is not safe code for root, or None."""
    owners = (0, os.geteuid())
    if info.st_uid not in owners:
        return f"owned by uid {info.st_uid}"
    if stat.S_ISLNK(info.st_mode):
        return None  # the link's target is checked on its own; a link's mode means nothing
    if info.st_mode & 0o022:  # sticky or not: others could add a module beside ours
        return "writable by " + ("group and others" if info.st_mode & 0o022 == 0o022 else
                                 "its group" if info.st_mode & 0o020 else "others")
    return None


def _with_parents(paths: Iterable[str]) -> Set[str]:
    out: Set[str] = set()
    for path in paths:
        path = os.path.abspath(path)
        while path not in out:
            out.add(path)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
    return out


def code_paths() -> Set[str]:
    """Every path whose owner decides what code runs here: the interpreter, the
    script, our package's files, the directories of loaded modules and of
    sys.path, and every directory above them (symlinks resolved too)."""
    roots: List[str] = [sys.executable, os.path.realpath(sys.executable)]
    if sys.argv and sys.argv[0]:
        roots += [sys.argv[0], os.path.realpath(sys.argv[0])]
    package = os.path.dirname(os.path.abspath(__file__))
    for directory, _dirs, files in os.walk(package):
        roots.append(directory)
        roots.extend(os.path.join(directory, name) for name in files)
    roots.extend(entry for entry in sys.path if entry and os.path.isdir(entry))
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if isinstance(filename, str):
            roots.append(filename)
    resolved = [os.path.realpath(path) for path in roots]
    return _with_parents(roots + resolved)


def check_code() -> None:
    for path in sorted(code_paths()):
        try:
            info = os.lstat(path)
        except OSError:
            continue  # vanished or unreadable entries cannot be imported from either
        why = _unsafe(info)
        if why:
            raise Refused(f"refusing to run under sudo: {path} is {why} (its owner could "
                          f"change this check's code); make it root's and not group/world-"
                          f"writable")


def read_config(path: str = CONFIG) -> Set[Tuple[str, str, str]]:
    """The allowed (check, option, value) triples of the administrator's file.

    Lines: ``CHECK OPTION VALUE`` (VALUE is the rest of the line), ``#`` comments.
    The file and every directory above it must be root's and not group/world-
    writable, as sudo asks of its own files; a missing file allows nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror}; make it a root-owned "
                      f"regular file (0644)") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{path} is not a regular file; make it a root-owned file (0644)")
        problems = [(path, _unsafe(info) if info.st_uid == 0 else f"owned by uid {info.st_uid}")]
        for directory in sorted(_with_parents([os.path.dirname(path)])):
            try:
                dinfo = os.stat(directory)
            except OSError:
                continue
            problems.append((directory, _unsafe(dinfo) if dinfo.st_uid == 0
                             else f"owned by uid {dinfo.st_uid}"))
        for where, why in problems:
            if why:
                raise Refused(f"ignoring {path}: {where} is {why}; make it root's and not "
                              f"group/world-writable")
        data = os.read(fd, CONFIG_MAX)
    finally:
        os.close(fd)
    allowed: Set[Tuple[str, str, str]] = set()
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) == 3:
            allowed.add((parts[0], parts[1], parts[2].strip()))
    return allowed


def guarded_values(value: object) -> List[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value if item is not None]
    return [str(value)]


def check_options(prog: str, given: List[Tuple[str, str, str]],
                  config: str = CONFIG) -> None:
    """Refuse every (option, value, kind) the caller gave that the administrator
    did not allow for *prog*."""
    if not given:
        return
    allowed = read_config(config)
    for option, value, kind in given:
        if (prog, option, value) in allowed:
            continue
        raise Refused(f"{option} {value} refused under sudo (no "
                      f"{'program' if kind == 'program' else 'path'} from the caller); to allow "
                      f"it, add '{prog} {option} {value}' to {config}")


def enforce(prog: str, given: List[Tuple[str, str, str]]) -> None:
    """All of privileged mode's refusals, in order of cost; no-op when not privileged."""
    if invoker() is None:
        return
    check_environment()
    check_options(prog, given)
    check_code()
