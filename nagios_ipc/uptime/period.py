"""What happened between the previous run and this one: a pure function of two observations.

What can and cannot be known (the help and README say the same):

* Same boot (same boot id; without one, the same boot time within the tolerance):
  the period is the growth of the uptime, exact to 1/100 s on Linux whatever the
  wall clock did; a difference between that and the wall clock's elapsed time is
  a clock step, reported in the long output, never a reboot.
* Another boot: at least one reboot. Several reboots between two runs look the
  same as one (nothing survives an unseen boot to count it): ``reboots`` is 1.
  The host was last *seen* up at the previous run and is up since the new boot
  time; when it went down in between is not known. So ``downtime`` is an upper
  bound (previous run .. new boot) and the period's uptime a lower bound
  (the current uptime). The period itself spans two boots and can only be
  measured on the wall clock: when that clock puts the previous run after the
  new boot (stepped back across the reboot), the downtime is unknown.
* Without a boot id the boot time is the identity, and it moves with clock steps
  on every OS. A move counts as a reboot only when it exceeds the tolerance and
  the new boot lies after the previous run (a reboot cannot precede the run that
  saw the old boot up), or when the uptime shrank. A forward clock step larger
  than the uptime at the previous run still looks like a reboot there.
"""

from __future__ import annotations

from .source import Observation

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import NamedTuple, Optional
else:
    from nagios_ipc.light import NamedTuple

CLOCK_STEP_NOTE = 2.0  # seconds of wall-clock disagreement worth mentioning
MIN_TOLERANCE = 10.0  # seconds a boot time may move (NTP steps) and still be the same boot


class WholeSeconds(NamedTuple):
    """A period's figures in whole seconds that agree with each other: the uptime
    rounded down (never 'up 7m 53s' at 472.6 s), up + down = length."""

    uptime: int
    length: Optional[int] = None
    up: Optional[int] = None
    down: Optional[int] = None


class Period(NamedTuple):
    """The measures of one run; None fields were not measurable this run."""

    now: Observation
    previous: Optional[Observation]
    reboots: Optional[int] = None
    length: Optional[float] = None  # seconds from the previous run to now
    up: Optional[float] = None  # seconds up during the period (lower bound after a reboot)
    down: Optional[float] = None  # seconds down (upper bound), None when not estimable
    clock_step: float = 0.0  # wall-clock change not explained by elapsed time (same boot)
    note: Optional[str] = None  # why the period measures restart, when they do

    @property
    def first(self) -> bool:
        """No usable previous run: only the uptime is measured."""
        return self.previous is None

    @property
    def whole(self) -> WholeSeconds:
        uptime = int(self.now.uptime)
        if self.first:
            return WholeSeconds(uptime)
        length = None if self.length is None else round(self.length)
        # after a reboot the known-up time is the current boot's; else the whole period
        up = uptime if self.reboots or length is None else length
        if length is None:
            return WholeSeconds(uptime, None, up, None)
        up = min(up, length)
        return WholeSeconds(uptime, length, up, None if self.down is None else length - up)

    @property
    def availability(self) -> Optional[float]:
        if self.length is None or self.down is None or self.up is None:
            return None
        if self.length <= 0 or self.down == 0:
            return 100.0  # exactly: never 99.99999999999999 from float division
        return max(0.0, min(100.0, 100.0 * self.up / self.length))


def tolerance(previous: Observation, now: Observation) -> float:
    return max(MIN_TOLERANCE, 2 * max(previous.resolution, now.resolution))


def same_boot(previous: Observation, now: Observation) -> bool:
    if previous.boot_id is not None and now.boot_id is not None:
        return previous.boot_id == now.boot_id
    tol = tolerance(previous, now)
    if now.uptime + tol < previous.uptime:
        return False  # the uptime shrank: a new boot whatever the clocks say
    moved = abs(now.boot_time - previous.boot_time) > tol
    return not (moved and now.boot_time >= previous.wall - tol)


def measure(previous: Optional[Observation], now: Observation) -> Period:
    if previous is None:
        return Period(now, None)
    if (previous.boot_id is None) != (now.boot_id is None):
        return Period(now, None, note="the previous run used another boot source; "
                                      "period measures start with the next run")
    if same_boot(previous, now):
        elapsed = now.uptime - previous.uptime
        if elapsed < -tolerance(previous, now):
            return Period(now, None, note=f"the state says this boot was up "
                                          f"{previous.uptime:.0f}s at the previous run, more "
                                          f"than now: state from another host? period "
                                          f"measures start with the next run")
        elapsed = max(elapsed, 0.0)
        step = (now.wall - previous.wall) - elapsed
        return Period(now, previous, reboots=0, length=elapsed, up=elapsed, down=0.0,
                      clock_step=step if abs(step) >= CLOCK_STEP_NOTE else 0.0)
    wall_elapsed = now.wall - previous.wall
    if wall_elapsed + tolerance(previous, now) < now.uptime:
        # The clock puts the previous run after this boot: it was stepped back
        # across the reboot, and the period cannot be measured.
        return Period(now, previous, reboots=1, up=now.uptime, length=None, down=None,
                      clock_step=wall_elapsed - now.uptime)
    length = max(wall_elapsed, now.uptime)
    return Period(now, previous, reboots=1, length=length, up=now.uptime,
                  down=length - now.uptime)
