"""The trend module (nagios_ipc/trend.py): least-squares growth, growing_for, time to
full, and the bounded history across runs, reboots, clock steps and damaged state.

The maths is tested by properties (hypothesis): a series with a known rate gives that
rate whatever the sampling, monotone series never give the opposite sign, a drain
never gives a time to full. The history is driven through a fake boot clock.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nagios_ipc import trend
from nagios_ipc.trend import History, Moment, Trend, pack_keys, slope, unpack_keys

BOOT = "0f0e0d0c-0b0a-4908-8706-050403020100"
OTHER_BOOT = "11111111-2222-4333-8444-555555555555"


def run(state: object, boot: float, values: dict, *, boot_id: str | None = BOOT,
        wall: float | None = None, window: float = 1800.0, name: str = "m"
        ) -> tuple[dict, dict, History]:
    """One check run at boot-relative time *boot*; returns (trends, new state, history)."""
    moment = Moment(boot_id, boot, 1.8e9 + boot if wall is None else wall)
    history = History(state, moment, window=window)
    trends = history.observe(name, values)
    # through JSON, as the state file stores it
    return trends, json.loads(json.dumps(history.dump())), history


# --- the slope --------------------------------------------------------------------

times_st = st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=30)


@given(times_st, st.floats(-1e6, 1e6, allow_nan=False), st.floats(-1e12, 1e12,
                                                                  allow_nan=False))
@example([0.0, 0.0, 60.0], 2.0, 0.0)  # duplicate timestamps
@example([5.0, 300.0, 310.0, 3000.0], -3.5, 2.0**62)  # irregular intervals, a huge counter
def test_slope_of_a_line_is_its_rate(times: list[float], rate: float, start: float) -> None:
    points = [(t, start + rate * t) for t in times]
    result = slope(points)
    if max(times) - min(times) < 1e-3:
        return  # times that do not spread: no rate can be told (checked below)
    assert result is not None
    scale = abs(rate) + (abs(start) + abs(rate) * 1e6) * 1e-12 / max(max(times) - min(times),
                                                                     1e-3)
    assert math.isclose(result, rate, rel_tol=1e-6, abs_tol=scale * 1e-3 + 1e-9)


@given(st.floats(0, 1e6, allow_nan=False), st.integers(1, 20), st.floats(-1e9, 1e9))
def test_one_time_no_slope(time: float, count: int, value: float) -> None:
    assert slope([(time, value)] * count) is None
    assert slope([]) is None


@given(st.lists(st.tuples(st.floats(0.5, 600), st.integers(0, 10**6)), min_size=1,
                max_size=30), st.integers(0, 2**62))
def test_monotone_series_keep_their_sign(steps: list[tuple[float, int]], base: int) -> None:
    """Rising (non-decreasing) series: slope >= 0; falling: <= 0; exact integers."""
    t, up, down = 0.0, base, base
    rising, falling = [(t, float(up))], [(t, float(down))]
    for gap, change in steps:
        t += gap
        up += change
        down -= change
        rising.append((t, float(up)))
        falling.append((t, float(down)))
    tolerance = 1e-9 * (abs(base) + 1)  # the float representation of 2**62-sized counts
    assert (slope(rising) or 0.0) >= -tolerance
    assert (slope(falling) or 0.0) <= tolerance


@given(st.permutations(list(range(8))))
def test_slope_ignores_sample_order(order: list[int]) -> None:
    points = [(i * 60.0, float(i * i)) for i in range(8)]
    shuffled = [points[i] for i in order]
    assert math.isclose(slope(points) or 0, slope(shuffled) or 0, rel_tol=1e-9)


# --- Trend --------------------------------------------------------------------------


def test_time_to_full_only_while_consistently_growing() -> None:
    growing = Trend(600.0, 4, 900.0, 2.0, 900.0, 4)
    assert growing.time_to(1000.0) == 200.0
    assert growing.time_to(None) is None  # no limit: no time to full
    assert growing.time_to(600.0) is None  # there already: 'full' says that, not a 0
    assert growing.per_minute == 120.0
    assert Trend(600.0, 4, 900.0, 2.0, 300.0, 2).time_to(1000.0) is None  # 2 samples only
    assert Trend(600.0, 4, 900.0, 2.0, 300.0, 2).time_to(1000.0, samples=2) == 200.0
    assert Trend(600.0, 4, 900.0, -2.0).time_to(1000.0) is None  # draining
    assert Trend(600.0, 1, 0.0, None).time_to(1000.0) is None  # first run


# --- History across runs ----------------------------------------------------------------


def test_first_run_says_so_and_knows_no_rate() -> None:
    trends, state, history = run(None, 100.0, {"q1": 5})
    assert history.first and not history.notes
    assert trends["q1"] == Trend(5.0, 1, 0.0, None)
    assert state["t"] == [100.0] and state["boot_id"] == BOOT


@given(st.lists(st.integers(2000, 60000).map(lambda x: x / 100), min_size=1, max_size=40),
       st.integers(1, 5000), st.floats(0.01, 100))
def test_steady_growth_is_measured_whatever_the_intervals(gaps: list[float], start: int,
                                                          rate: float) -> None:
    """Irregular intervals (retries every minute, checks every five): the slope is the
    rate, every sample counts as growth, the state stays within the caps."""
    state: object = None
    t = 1000.0
    trends, state, _ = run(state, t, {"q": start})
    for gap in gaps:
        t += gap
        trends, state, _ = run(state, t, {"q": start + rate * (t - 1000.0)})
    result = trends["q"]
    assert result.slope is not None and math.isclose(result.slope, rate, rel_tol=1e-4)
    assert result.growing_samples == len(gaps) + 1  # since the first sample
    assert math.isclose(result.growing_for, t - 1000.0, abs_tol=0.02)
    assert result.growing(2)
    assert len(state["t"]) <= trend.MAX_SAMPLES
    assert state["t"][0] >= t - 1800.0 and state["t"][-1] == round(t, 2)
    assert result.samples == len(state["t"])


@given(st.lists(st.tuples(st.floats(20, 600), st.integers(0, 1000)), min_size=1,
                max_size=30), st.integers(1000, 10**6))
def test_a_drain_is_never_growth(steps: list[tuple[float, int]], start: int) -> None:
    state: object = None
    t, value = 50.0, start
    trends, state, _ = run(state, t, {"q": value})
    for gap, fall in steps:
        t += gap
        value = max(value - fall, 0)
        trends, state, _ = run(state, t, {"q": value})
        assert not trends["q"].growing(2)
        assert trends["q"].time_to(10**7, samples=2) is None
        assert (trends["q"].slope or 0) <= 1e-9


def test_a_fall_ends_the_growth_and_a_burst_is_not_a_trend() -> None:
    state: object = None
    for step, value in enumerate([0, 10, 20, 30]):
        trends, state, _ = run(state, 60.0 * (step + 1), {"q": value})
    assert trends["q"].growing_samples == 4 and trends["q"].growing_for == 180.0
    trends, state, _ = run(state, 300.0, {"q": 5})  # drained
    assert trends["q"].growing_samples == 0 and trends["q"].growing_for == 0.0
    # one burst after a flat stretch: last-minus-previous would say +600/min
    state = None
    for step, value in enumerate([0, 0, 0, 0, 0, 0, 0, 0, 0, 600]):
        trends, state, _ = run(state, 60.0 * (step + 1), {"q": value})
    assert trends["q"].per_minute is not None and trends["q"].per_minute < 600 / 5
    assert not trends["q"].growing()  # one rise: two samples of growth, not three


def test_a_plateau_over_the_whole_window_is_no_longer_growth() -> None:
    state: object = None
    t = 0.0
    for value in (1, 2, 3):
        t += 60
        trends, state, _ = run(state, t, {"q": value})
    assert trends["q"].growing()
    for _ in range(40):  # flat for 40 minutes, window 30
        t += 60
        trends, state, _ = run(state, t, {"q": 3})
    assert trends["q"].slope == 0 and trends["q"].growing_samples == 0


def test_reboot_drops_the_history() -> None:
    _, state, _ = run(None, 100.0, {"q": 1})
    _, state, _ = run(state, 160.0, {"q": 2})
    trends, state, history = run(state, 20.0, {"q": 3}, boot_id=OTHER_BOOT)
    assert history.first and trends["q"].slope is None
    assert history.notes == ["trend history is from before a reboot (or a clock step on a "
                             "system without a boot id): growth is measured again from this "
                             "run"]


def test_wall_clock_steps_change_nothing_with_a_boot_id() -> None:
    _, state, _ = run(None, 100.0, {"q": 100}, wall=1.8e9)
    _, state, _ = run(state, 160.0, {"q": 160}, wall=1.8e9 - 86400)  # stepped back a day
    trends, state, history = run(state, 220.0, {"q": 220}, wall=1.8e9 + 7200)  # and forward
    assert not history.notes and trends["q"].slope == 1.0


def test_without_a_boot_id_the_boot_epoch_is_the_identity() -> None:
    _, state, _ = run(None, 100.0, {"q": 1}, boot_id=None, wall=1e9 + 100)
    trends, state, history = run(state, 160.0, {"q": 2}, boot_id=None, wall=1e9 + 163)
    assert not history.notes and trends["q"].samples == 2  # 3 s of drift: the same boot
    trends, state, history = run(state, 220.0, {"q": 3}, boot_id=None, wall=1e9 + 3600)
    assert history.first and history.notes  # moved by an hour: a reboot or a step


def test_boot_clock_behind_the_history_is_not_ours() -> None:
    _, state, _ = run(None, 1000.0, {"q": 1})
    _, _, history = run(state, 500.0, {"q": 2})
    assert history.first
    assert history.notes == ["trend history was damaged (ValueError) and has been restarted"]


def test_runs_within_a_second_share_one_sample() -> None:
    """Concurrent runs (serialised by the state lock) or a scheduler's immediate retry:
    the later replaces the earlier, no duplicate time, no spurious rate."""
    _, state, _ = run(None, 100.0, {"q": 1})
    _, state, _ = run(state, 160.0, {"q": 2})
    trends, state, _ = run(state, 160.3, {"q": 9})
    assert state["t"] == [100.0, 160.3] and trends["q"].samples == 2
    assert math.isclose(trends["q"].slope or 0, 8 / 60.3)


def test_an_item_that_goes_is_forgotten_and_a_new_one_starts_afresh() -> None:
    """A queue removed and re-created gets a new msqid: a new item, no false growth."""
    _, state, _ = run(None, 100.0, {"s1": 500})
    _, state, _ = run(state, 160.0, {"s1": 600})
    trends, state, _ = run(state, 220.0, {"s2": 700})
    assert trends["s2"].samples == 1 and trends["s2"].slope is None
    assert "s1" not in json.dumps(state)


def test_an_older_or_damaged_state_is_dropped_with_a_note() -> None:
    trends, _, history = run({"v": 0, "queues": {}}, 100.0, {"q": 1})
    assert history.first and history.notes == [
        "trend history of format 0 (not 1) dropped: growth is measured again from this run"]
    for damaged in ([], {"v": 1, "boot_id": BOOT, "t": "x", "s": {}},
                    {"v": 1, "boot_id": BOOT, "t": [5, 3], "s": {}},
                    {"v": 1, "boot_id": BOOT, "t": [5, float("nan")], "s": {}},
                    {"v": 1, "boot_id": BOOT, "t": [5], "s": []}):
        trends, _, history = run(damaged, 100.0, {"q": 1})
        assert history.first and trends["q"].slope is None
        assert history.notes[0].startswith("trend history was damaged"), damaged


json_st = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=4),
    max_leaves=20)


@given(json_st, st.dictionaries(st.sampled_from(["q", "s1", "s2", "/a"]), json_st))
@example(None, {"q": [-math.inf, True, False]})  # found by Debian's hypothesis: growing_for inf
def test_any_stored_shape_gives_a_result_never_an_exception(junk: object,
                                                            series: dict) -> None:
    """Forged or damaged files: whatever the JSON, the run goes on (figures restart)."""
    state = {"v": 1, "boot_id": BOOT, "epoch": 0, "t": [10.0, 70.0], "s": {"m": series}}
    for data in (junk, state, {**state, "s": {"m": {"i": series, "z": junk}}},
                 {**state, "s": {"m": {"i": {"q": [None, 0, junk, 1]}, "z": {"1": junk}}}}):
        trends, dumped, _ = run(data, 130.0, {"q": 3, "s1": 0, "/a": 1})
        assert set(trends) == {"q", "s1", "/a"}
        for result in trends.values():
            assert result.slope is None or math.isfinite(result.slope)
            assert math.isfinite(result.growing_for) and result.growing_for >= 0
        json.dumps(dumped, allow_nan=False)


# --- the stored form, and its size ---------------------------------------------------


@given(st.sets(st.integers(0, 10**6)), st.sets(st.text(max_size=6)))
def test_packed_keys_round_trip(numbers: set[int], names: set[str]) -> None:
    keys = {f"s{n}" for n in numbers} | names
    assert sorted(unpack_keys(json.loads(json.dumps(pack_keys(keys))), 10**7)) == sorted(keys)


def test_forged_key_range_is_refused() -> None:
    with pytest.raises(ValueError):
        unpack_keys({"r": {"s": [0, 10**9]}}, trend.MAX_KEYS)


def test_32000_empty_queues_cost_a_few_bytes_and_a_full_window_stays_bounded() -> None:
    keys = [f"s{n}" for n in range(32000)]
    state: object = None
    for step in range(30):  # retries every minute for half an hour
        _, state, _ = run(state, 60.0 * step, dict.fromkeys(keys, 0))
    assert len(json.dumps(state)) < 400
    # all 32,000 busy, every value changing every minute: the bound of the worst case
    for step in range(30, 60):
        _, state, _ = run(state, 60.0 * step, {k: step * 37 + n for n, k in enumerate(keys)})
    size = len(json.dumps(state, separators=(",", ":")))
    assert len(state["t"]) == trend.MAX_SAMPLES
    assert len(state["s"]["m"]["i"]) == trend.MAX_ITEMS  # the 10,000 largest
    assert "s31999" in state["s"]["m"]["i"] and "s0" not in state["s"]["m"]["i"]
    assert size < 800_000, size


def test_rate_text() -> None:
    assert trend.rate_text(2150.4, "B") == "+2.1 KiB/s"
    assert trend.rate_text(68 / 60) == "+1.1/s"
    assert trend.rate_text(0.5) == "+30/min"
    assert trend.rate_text(-0.05) == "-3/min"
    assert trend.rate_text(0.01, "B") == "+0 B/min"


@given(st.lists(st.tuples(st.integers(102, 16000).map(lambda x: x / 100),
                          st.integers(-10**6, 10**6)), min_size=1, max_size=11),
       st.integers(0, 2**62))
def test_history_slope_is_the_least_squares_slope_of_its_samples(
        steps: list[tuple[float, int]], base: int) -> None:
    """Within the window and the sample cap, the history's growth is slope() of
    exactly the samples it holds, for any values (huge counters included)."""
    state: object = None
    t, fed = 0.0, []
    for gap, change in steps:
        t = round(t + gap, 2)
        value = max(base + change, 0)
        trends, state, _ = run(state, t, {"q": value})
        fed.append((t, float(value)))
    expected = slope(fed)
    got = trends["q"].slope
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-6)
