"""Process names for pids in detail lines; psutil is imported only when asked."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Dict, Optional

_cache: Dict[int, Optional[str]] = {}


def process_name(pid: int) -> Optional[str]:
    """The process's name, or None when it no longer exists (or is not visible)."""
    if pid in _cache:
        return _cache[pid]
    name: Optional[str]
    if os.path.isdir("/proc/self"):  # Linux: one small read, no 30 ms psutil import
        name = _proc_comm(pid)
        _cache[pid] = name
        return name
    try:
        import psutil

        name = psutil.Process(pid).name()
    except ImportError:
        name = None
    except Exception as exc:  # psutil.NoSuchProcess / AccessDenied / ZombieProcess
        name = "zombie" if type(exc).__name__ == "ZombieProcess" else (
            "?" if type(exc).__name__ == "AccessDenied" else None)
    _cache[pid] = name
    return name


def _proc_comm(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip() or None
    except OSError:
        return None
