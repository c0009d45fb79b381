"""Where the boot comes from: uptime, boot identity and boot time, and the wall clock.

Two seams, so that tests can replay reboots and clock steps:

* a *clock* (``wall()``, seconds since the epoch). Wall-clock times are the only
  times comparable across boots (monotonic clocks restart at each boot), so the
  state keeps them; within one boot the uptime itself measures elapsed time,
  which no clock step can disturb.
* a *boot source* (``observe(clock) -> Observation``):

  - :class:`ProcBootSource` (Linux): ``/proc/uptime`` (1/100 s, counts from the
    boot and keeps counting during suspend) and ``/proc/sys/kernel/random/boot_id``
    (a random id the kernel draws at each boot: a changed id is a reboot, whatever
    the clock did);
  - :class:`PsutilBootSource` (BSD, macOS, Solaris, AIX, ...): ``psutil.boot_time()``;
    no boot id there, so the boot time is the identity (see period.py for how a
    clock step is told apart from a reboot). psutil reports whole seconds on some
    platforms; where a platform rounds to the minute, ``resolution`` says so.
"""

from __future__ import annotations

import os
import time

import nagiosplugin

from ..cli import FD_LIMIT, FD_LIMIT_FIX

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Dict, NamedTuple, Optional
else:
    from nagios_ipc.light import NamedTuple


# Plausibility bounds: anything outside cannot be a real boot, and would reach
# time.gmtime() (OverflowError) or int() (NaN) in the output.
MAX_WALL = 253402300799.0  # 9999-12-31 23:59:59 UTC
MAX_UPTIME = 100 * 366 * 86400.0  # a century up
MAX_RESOLUTION = 86400.0


class ParseError(nagiosplugin.CheckError):
    """A boot source gave text we do not understand; the message names the file."""


class Clock:
    """The real wall clock."""

    def wall(self) -> float:
        return time.time()


class Observation(NamedTuple):
    """One look at the host: when (wall clock), how long up, which boot."""

    wall: float  # seconds since the epoch, when observed
    uptime: float  # seconds since boot
    boot_id: Optional[str]  # None where the OS has no boot id: boot_time is the identity
    resolution: float  # seconds: how exact uptime and boot_time are
    source: str  # where uptime came from, for the long output

    @property
    def boot_time(self) -> float:
        """Wall-clock boot time as the clock sees it now (moves when the clock is stepped)."""
        return self.wall - self.uptime

    def to_state(self) -> Dict[str, Any]:
        return {"wall": self.wall, "uptime": self.uptime, "boot_id": self.boot_id,
                "resolution": self.resolution, "source": self.source}

    @classmethod
    def from_state(cls, data: Dict[str, Any]) -> Observation:
        """Raises ValueError when *data* is not what :meth:`to_state` wrote."""
        try:
            wall, uptime, resolution = data["wall"], data["uptime"], data["resolution"]
            boot_id, source = data["boot_id"], data["source"]
        except KeyError as exc:
            raise ValueError(f"no {exc.args[0]!r}") from None
        for name, value, most in (("wall", wall, MAX_WALL), ("uptime", uptime, MAX_UPTIME),
                                  ("resolution", resolution, MAX_RESOLUTION)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name!r} is not a non-negative number")
            if not value <= most:  # also NaN
                raise ValueError(f"{name!r} is out of range")
        if boot_id is not None and not isinstance(boot_id, str):
            raise ValueError("'boot_id' is not a string")
        if not isinstance(source, str):
            raise ValueError("'source' is not a string")
        return cls(float(wall), float(uptime), boot_id, float(resolution), source)


def parse_proc_uptime(text: str) -> float:
    """``/proc/uptime``: '472.35 872.74' (seconds up, idle seconds of all CPUs)."""
    fields = text.split()
    try:
        value = float(fields[0])
    except (IndexError, ValueError):
        raise ParseError(f"cannot parse /proc/uptime: {text[:40]!r}") from None
    if not 0 <= value <= MAX_UPTIME:  # also NaN and inf
        raise ParseError(f"cannot parse /proc/uptime: {text[:40]!r} is not a plausible "
                         f"uptime")
    return value


def parse_boot_id(text: str) -> str:
    """``/proc/sys/kernel/random/boot_id``: a UUID, one line."""
    value = text.strip()
    if len(value) != 36 or value.count("-") != 4:
        raise ParseError(f"cannot parse the boot id: {value[:40]!r} is not a UUID")
    return value


class ProcBootSource:
    """Linux: /proc/uptime and the kernel's boot id, under *root* (tests use a copy)."""

    def __init__(self, root: str = "/proc") -> None:
        self.root = root

    def available(self) -> bool:
        return os.path.exists(os.path.join(self.root, "uptime"))

    def _read(self, relative: str) -> str:
        path = os.path.join(self.root, relative)
        try:
            with open(path, encoding="ascii", errors="replace") as handle:
                return handle.read(4096)
        except OSError as exc:
            if exc.errno in FD_LIMIT:
                fix = FD_LIMIT_FIX
            else:  # no /proc (a chroot, another OS): psutil knows other ways
                fix = "use --boot-source psutil"
            raise ParseError(f"cannot read {path}: {exc.strerror}; {fix}") from None

    def observe(self, clock: Clock) -> Observation:
        # uptime and wall clock read back to back: boot_time = wall - uptime
        uptime = parse_proc_uptime(self._read("uptime"))
        wall = clock.wall()
        boot_id = parse_boot_id(self._read("sys/kernel/random/boot_id"))
        return Observation(wall, uptime, boot_id, 0.01, f"{self.root}/uptime")


class PsutilBootSource:
    """Everything else psutil knows: the boot time in wall-clock seconds."""

    def __init__(self, resolution: Optional[float] = None) -> None:
        self.resolution = resolution

    def observe(self, clock: Clock) -> Observation:
        try:
            import psutil  # lazily: ~45 ms, and Linux runs do not need it
        except ImportError:
            raise ParseError("psutil is not installed: install python3-psutil (or "
                             "'pip install psutil')") from None
        try:
            boot_time = float(psutil.boot_time())
        except Exception as exc:  # psutil raises its own types per platform
            raise ParseError(f"psutil.boot_time() failed: {exc}") from None
        wall = clock.wall()
        if not wall - boot_time <= MAX_UPTIME or not 0 <= boot_time <= MAX_WALL:
            raise ParseError(f"psutil.boot_time() gave {boot_time!r}, not a plausible boot "
                             f"time (the wall clock says {wall:.0f})")
        resolution = self.resolution
        if resolution is None:
            # Some platforms keep the boot time only to the minute: say so rather
            # than pretend (a boot at hh:mm:00.000 exactly is that, or minute-rounded).
            resolution = 60.0 if boot_time % 60 == 0 else 1.0
        return Observation(wall, max(wall - boot_time, 0.0), None, resolution,
                           "psutil.boot_time()")


def default_source(choice: str = "auto", proc_root: str = "/proc") -> Any:
    """The boot source for ``--boot-source``: Linux /proc where it exists, else psutil."""
    if choice == "psutil":
        return PsutilBootSource()
    proc = ProcBootSource(proc_root)
    if choice == "proc" or proc.available():
        return proc
    return PsutilBootSource()
