"""Invariants of the period logic over arbitrary runs, reboots and clock steps."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from nagios_ipc.uptime.period import MIN_TOLERANCE, measure
from nagios_ipc.uptime.source import Observation

WALL = 1.8e9
uptimes = st.floats(min_value=0, max_value=10 * 365 * 86400, allow_nan=False)
spans = st.floats(min_value=0, max_value=30 * 86400, allow_nan=False)
steps = st.floats(min_value=-365 * 86400, max_value=365 * 86400, allow_nan=False)


def obs(wall: float, uptime: float, boot_id: object = "a") -> Observation:
    return Observation(wall, uptime, boot_id, 0.01, "test")  # type: ignore[arg-type]


@given(uptimes, spans, steps)
@example(613840.0, 1483312.5000000002, 0.0)  # failed under Debian's hypothesis 6.67
def test_same_boot_id_is_never_a_reboot_whatever_the_clock(up: float, elapsed: float,
                                                           step: float) -> None:
    period = measure(obs(WALL, up), obs(WALL + elapsed + step, up + elapsed))
    whole = period.whole
    assert (period.reboots, whole.down) == (0, 0)
    assert whole.length is not None and whole.up == whole.length
    # whole seconds of the period the uptimes measure; (up + elapsed) - up is not always
    # exactly elapsed in floating point (613840.0 + 1483312.5000000002 loses the tail, and
    # 1483312.5 rounds to even), so allow the half second plus that rounding
    assert abs(whole.length - elapsed) <= 0.5 + 1e-6
    assert period.availability == 100.0


@given(uptimes, spans, spans, steps)
def test_reboot_figures_add_up_and_stay_in_bounds(up: float, down: float, new_up: float,
                                                  step: float) -> None:
    period = measure(obs(WALL, up), obs(WALL + down + new_up + step, new_up, "b"))
    whole = period.whole
    assert period.reboots == 1
    assert whole.up is not None and 0 <= whole.up <= whole.uptime
    if whole.length is not None:
        assert whole.down is not None and whole.down >= 0
        assert whole.up + whole.down == whole.length
        assert period.availability is not None and 0 <= period.availability <= 100
    else:  # only when the clock went back across the reboot
        assert step < 0 and period.availability is None


@given(uptimes, spans, st.floats(min_value=-5, max_value=5))
def test_no_boot_id_ntp_steps_are_not_reboots(up: float, elapsed: float, step: float) -> None:
    # where the OS moves its boot time with the clock (BSD, macOS, Linux btime)
    period = measure(obs(WALL, up, None), obs(WALL + elapsed + step, up + elapsed, None))
    assert period.reboots == 0


@given(uptimes, spans, spans)
def test_no_boot_id_reboots_are_seen_when_boot_time_moves_past_tolerance(
        up: float, down: float, new_up: float) -> None:
    period = measure(obs(WALL, up, None), obs(WALL + down + new_up, new_up, None))
    assert period.reboots == (1 if up + down > MIN_TOLERANCE or new_up + MIN_TOLERANCE < up
                              else 0)
