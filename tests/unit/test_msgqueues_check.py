"""check_msgqueues evaluation and wording, with queues given through the source seam."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pytest

from nagios_ipc import cli
from nagios_ipc.msgqueues import check
from nagios_ipc.msgqueues.model import ParseError, Queue

NOW = 1795460000.0
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "msgqueues"


def sysv(key: int, owner: str = "root", messages: int = 0, size: int = 0, limit: int = 16384,
         lrpid: Optional[int] = None, rtime: Optional[float] = None,
         ctime: float = NOW - 3600) -> Queue:
    return Queue(kind="sysv", key=f"0x{key:08x}", id=key, owner=owner, creator=owner,
                 perms=0o600, messages=messages, bytes=size, limit_bytes=limit,
                 limit_source="MSG_STAT_ANY", max_messages=limit, lspid=100, lrpid=lrpid,
                 stime=NOW - 60 if messages else None, rtime=rtime, ctime=ctime)


class Source:
    def __init__(self, queues: List[Queue], kind: str = "sysv", maximum: int = 32000,
                 reason: Optional[str] = None, error: Optional[str] = None) -> None:
        self.kind = kind
        self._queues = queues
        self.maximum = maximum
        self.reason = reason
        self.error = error
        self.notes: List[str] = []

    def unavailable_reason(self) -> Optional[str]:
        return self.reason

    def system_max(self) -> int:
        return self.maximum

    def queues(self) -> List[Queue]:
        if self.error:
            raise ParseError(self.error)
        return self._queues


def run(sources: Sequence[Source], *argv: str, strict: Sequence[str] = (),
        alive: Tuple[int, ...] = ()) -> Tuple[int, str]:
    def build(args: argparse.Namespace):  # type: ignore[no-untyped-def]
        return check.build(args, make_sources=lambda a: (list(sources), list(strict)),
                           now=lambda: NOW, alive=lambda pid: pid in alive)

    return cli.execute(check.parser(), build, list(argv))


def first(text: str) -> str:
    return text.splitlines()[0]


CASES = [
    # id, queues, argv, exit code, first line (why each case exists: in the id)
    ("empty-system-ok", [], [], 0,
     "MSGQUEUES OK: no message queues (checked: sysv) | sysv_slots=0%;80;95;0;100"),
    # queues there, every one excluded: not "no message queues" (it said so before)
    ("all-excluded-says-so", [sysv(1, "app", 3, 30), sysv(2, "web", 0, 0)],
     ["--exclude-owner", "app", "--exclude-key", "id:2"], 0,
     "MSGQUEUES OK: all 2 message queues left out by --exclude-owner/--exclude-key "
     "(checked: sysv) | sysv_slots=0.01%;80;95;0;100"),
    # perfdata order: slots, then owners by size (issue 20: what a transport cuts is last)
    ("two-owners-ok-per-owner-perfdata",
     [sysv(2, "root"), sysv(1, "app", 3, 300)], [], 0,
     "MSGQUEUES OK: 2 sysv queues of 2 owners, 3 messages, 300 B queued, fullest 1.8% "
     "(sysv key 0x00000001 id 1 of app) | sysv_slots=0.01%;80;95;0;100 queues_app=1;;;0 "
     "messages_app=3;;;0 "
     "bytes_app=300B;;;0;16384 qbytes_app=16384B;;;0 full_app=0;;0;0;1 "
     "fill_app=1.83%;80;;0;100 unread_age_app=3600s;;;0 orphaned_app=0;0;;0;1 "
     "queues_root=1;;;0 messages_root=0;;;0 bytes_root=0B;;;0;16384 qbytes_root=16384B;;;0 "
     "full_root=0;;0;0;1 fill_root=0%;80;;0;100 unread_age_root=0s;;;0 "
     "orphaned_root=0;0;;0;1"),
    ("full-queue-critical-names-owner-and-key",
     [sysv(0x162E, "app", 1, 512, limit=512), sysv(2, "root")], ["--details", "never"], 2,
     "MSGQUEUES CRITICAL: 1 full queue of owner app: sysv key 0x0000162e id 5678 "
     "(1 message, 512 of 512 B, 100%)"),
    ("full-by-message-count",
     [sysv(7, "app", 16, 16, limit=16)], [], 2,
     "MSGQUEUES CRITICAL: 1 full queue of owner app: sysv key 0x00000007 id 7 "
     "(16 of 16 messages, 16 of 16 B, 100%)"),
    ("fill-warning-default-80",
     [sysv(3, "app", 9, 900, limit=1000)], [], 1,
     "MSGQUEUES WARNING: fullest queue of owner app at 90%: sysv key 0x00000003 id 3 "
     "(9 messages, 900 of 1000 B, 90%)"),
    ("orphaned-reader-warns",
     [sysv(4, "app", 2, 20, lrpid=4242, rtime=NOW - 120)], [], 1,
     "MSGQUEUES WARNING: 1 queue of owner app with no reader: sysv key 0x00000004 id 4 reader "
     "pid 4242 gone, 2 messages waiting"),
    ("live-reader-not-orphaned",
     [sysv(4, "app", 2, 20, lrpid=4242, rtime=NOW - 120)], ["--details", "never"], 0, None),
    ("unread-age-threshold-with-units",
     [sysv(5, "app", 2, 20, rtime=NOW - 7200)], ["--unread-age-critical", "1h"], 2,
     "MSGQUEUES CRITICAL: a non-empty queue of owner app unread for 2h (sysv key 0x00000005 "
     "id 5 (2 messages, 20 of 16384 B, 0.1%))"),
    ("messages-threshold-total-only",
     [sysv(1, "a", 600, 600), sysv(2, "b", 600, 600)],
     ["--report-by", "total", "--messages-critical", "1000"], 2,
     "MSGQUEUES CRITICAL: all owners: 1200 messages"),
    ("bytes-threshold-size-units",
     [sysv(1, "a", 10, 2048)], ["--bytes-warning", "1KB"], 1,
     "MSGQUEUES WARNING: owner a: 2.0 KiB queued"),
    ("slots-near-system-limit",
     [sysv(i, "a") for i in range(1, 20)], [], 2, None),
    ("owner-filter", [sysv(1, "app", 1, 512, limit=512), sysv(2, "root")],
     ["--owner", "root"], 0, None),
    ("key-filter-hex-and-decimal", [sysv(0x10, "app", 1, 512, limit=512), sysv(2, "root")],
     ["--exclude-key", "16"], 0, None),
]


@pytest.mark.parametrize("case,queues,argv,code,line", CASES, ids=[c[0] for c in CASES])
def test_cases(case: str, queues: List[Queue], argv: List[str], code: int,
               line: Optional[str]) -> None:
    maximum = 19 if case == "slots-near-system-limit" else 32000
    alive = (4242,) if case == "live-reader-not-orphaned" else ()
    got_code, text = run([Source(queues, maximum=maximum)], *argv, alive=alive)
    assert got_code == code, text
    if line is not None:
        assert first(text) == line if "|" in line else first(text).split(" | ")[0] == line


def test_slots_hint() -> None:
    code, text = run([Source([sysv(i, "a") for i in range(1, 20)], maximum=20)])
    assert code == 1  # 95% is the edge of the default critical range ~:95, so WARNING
    assert first(text).startswith(
        "MSGQUEUES WARNING: 19 of 20 sysv queues allowed by the system in use (95%)")


def test_report_by_both_has_total_only_measures() -> None:
    _, text = run([Source([sysv(1, "app", 3, 300)])], "--report-by", "both")
    assert "nonempty_total=1;;;0;1" in text
    assert "nonempty_app" not in text


def test_owner_named_total_does_not_clash() -> None:
    _, text = run([Source([sysv(1, "total", 3, 300)])], "--report-by", "both")
    assert "queues_owner_total=1;;;0" in text and "queues_total=1;;;0" in text


def test_source_error_is_unknown_one_line() -> None:
    error = ("cannot read /proc/sysvipc/msg: permission denied; run as a user that can read it "
             "(it is world-readable on a standard Linux)")  # as SysvProcSource says it
    code, text = run([Source([], error=error)])
    assert (code, text) == (3, f"MSGQUEUES UNKNOWN: {error}\n")


def test_unmounted_posix_is_a_note_unless_asked_for() -> None:
    reason = ("no mqueue filesystem is mounted on /dev/mqueue; "
              "mount it: mount -t mqueue none /dev/mqueue")
    posix = Source([], kind="posix", reason=reason)
    code, text = run([Source([sysv(1)]), posix], "--details", "always")
    assert code == 0
    assert f"note: POSIX queues not checked: {reason}" in text
    code, text = run([posix], strict=["posix"])
    assert code == 3 and first(text) == f"MSGQUEUES UNKNOWN: POSIX queues asked for but {reason}"


def test_detail_lines_name_everything() -> None:
    queue = sysv(9, "app", 2, 20, lrpid=999999, rtime=NOW - 10)
    _, text = run([Source([queue])], "--details", "always")
    detail = text.splitlines()[1]
    assert detail.startswith("sysv key 0x00000009 id 9 owner app creator app perms 0600: "
                             "2 messages, 20 B of 16384 B (MSG_STAT_ANY), fill 0.1%; last sent ")
    assert "by pid 999999 (gone)" in detail


def test_first_line_fits_nrpe_v2_with_50_owners() -> None:
    queues = [sysv(i, f"user{i:02d}", 1, 10) for i in range(50)]
    _, text = run([Source(queues)], "--details", "never", "--max-owners", "50")
    assert len(first(text).encode()) <= 1023
    assert "orphaned_user49=0;0;;0;1" in text  # moved after the first line, not lost


def test_owners_past_max_owners_are_summed_not_lost() -> None:
    # equal owners: by name; the 30 past the default 20 in *_other_owners, no thresholds
    queues = [sysv(i, f"user{i:02d}", 1, 10) for i in range(50)]
    _, text = run([Source(queues)], "--details", "always")
    assert "orphaned_user19=0;0;;0;1" in text and "user20" not in text.split("\n", 1)[0]
    assert "queues_user20" not in text
    assert text.splitlines()[-1].endswith(
        "queues_other_owners=30;;;0 messages_other_owners=30;;;0 "
        "bytes_other_owners=300B;;;0;491520 qbytes_other_owners=491520B;;;0 "
        "full_other_owners=0;;;0;30 fill_other_owners=0.06%;;;0;100 "
        "unread_age_other_owners=3600s;;;0 orphaned_other_owners=0;;;0;30 other_owners=30;;;0")
    assert ("perfdata: 20 of 50 owners on their own (problems first, then the largest); "
            "the other 30 summed in *_other_owners (raise --max-owners)") in text


def test_owner_with_a_problem_keeps_its_perfdata_first() -> None:
    # user49 is last by name and by size but full: judged, named, and its items first
    queues = [sysv(i, f"user{i:02d}", 2, 20) for i in range(49)]
    queues.append(sysv(49, "user49", 0, 0, limit=0))
    code, text = run([Source(queues)], "--details", "never", "--max-owners", "3",
                     "--report-by", "both")
    assert code == 2
    line = first(text)
    assert line.startswith("MSGQUEUES CRITICAL: 1 full queue of owner user49: sysv key "
                           "0x00000031 id 49 (limit 0 B: full by definition, no message "
                           "fits) | queues_total=50;;;0 ")
    perf = line.split(" | ")[1].split()
    labels = [item.split("=")[0] for item in perf]
    assert labels.index("nonempty_total") < labels.index("sysv_slots") < labels.index(
        "queues_user49") < labels.index("queues_user00") < labels.index("queues_user01")
    assert "queues_user02" not in text and "queues_other_owners=47;;;0" in text


def test_owner_past_max_owners_is_still_judged() -> None:
    queues = [sysv(i, f"user{i:02d}", 5, 500) for i in range(10)]
    queues.append(sysv(99, "zz", 3, 30))
    code, text = run([Source(queues)], "--details", "never", "--max-owners", "0",
                     "--messages-critical", "4")
    assert code == 2
    assert first(text).startswith("MSGQUEUES CRITICAL: owner user00: 5 messages / owner "
                                  "user01: 5 messages / owner user02: 5 messages / and 7 more")
    assert "queues_other_owners=11;;;0" in text and "messages_user" not in text


def test_ipcs_source_through_a_stub_command(tmp_path: Path) -> None:
    stub = tmp_path / "ipcs"
    stub.write_text(f"#!/bin/sh\ncat {FIXTURES / 'ipcs-qa_hpux-11.31.txt'}\n")
    stub.chmod(0o755)
    code, text = cli.execute(check.parser(), check.build,
                             ["--source", "ipcs", "--ipcs", str(stub), "--type", "sysv"])
    assert code == 2
    assert first(text).startswith("MSGQUEUES CRITICAL: 1 full queue of owner oracle: sysv key "
                                  "0x5a1b2c3d id 1026 (64 messages, 16384 of 16384 B, 100%)")


def test_ipcs_missing_binary_is_unknown(tmp_path: Path) -> None:
    code, text = cli.execute(check.parser(), check.build,
                             ["--source", "ipcs", "--ipcs", str(tmp_path / "nope"),
                              "--type", "sysv"])
    assert code == 3 and first(text).startswith("MSGQUEUES UNKNOWN: ") and "not found" in text


def test_ipcs_hung_command_times_out(tmp_path: Path) -> None:
    stub = tmp_path / "ipcs"
    stub.write_text("#!/bin/sh\nsleep 30\n")
    stub.chmod(0o755)
    code, text = cli.execute(check.parser(), check.build,
                             ["--source", "ipcs", "--ipcs", str(stub), "--type", "sysv",
                              "-t", "1"])
    assert code == 3
    assert "did not finish" in text or "timed out" in text


def test_unreadable_proc_file(tmp_path: Path) -> None:
    code, text = cli.execute(check.parser(), check.build,
                             ["--proc-file", str(tmp_path / "none"), "--type", "sysv"])
    assert code == 3
    assert first(text).startswith(f"MSGQUEUES UNKNOWN: cannot read {tmp_path / 'none'}")


def test_malformed_proc_file(tmp_path: Path) -> None:
    bad = tmp_path / "msg"
    bad.write_text((FIXTURES / "proc-sysvipc-msg_linux-6.18_mixed.txt").read_text() + "1 2\n")
    code, text = cli.execute(check.parser(), check.build,
                             ["--proc-file", str(bad), "--type", "sysv"])
    assert code == 3 and "line 5 has 2 fields" in text and text.count("\n") == 1


def test_owner_labels_are_bounded_and_never_clash() -> None:
    # an owner named like the aggregate is renamed; a long name (ipcs owners are free
    # text) is cut to 40 characters, and two cut alike stay apart
    long_a, long_b = "a" * 60 + "x", "a" * 60 + "y"
    queues = [sysv(1, "other_owners", 1, 10), sysv(2, long_a, 2, 20), sysv(3, long_b, 3, 30),
              sysv(4, "zz", 1, 1)]
    _, text = run([Source(queues)], "--max-owners", "3")
    perf = dict(item.split("=", 1) for item in text.split(" | ")[1].split())
    assert perf["queues_owner_other_owners"] == "1;;;0"
    # the first by name keeps the cut label: the same label every run
    assert perf["messages_" + "a" * 40] == "2;;;0" and perf["messages_" + "a" * 40 + "_"] == \
        "3;;;0"
    assert perf["other_owners"] == "1;;;0" and perf["queues_other_owners"] == "1;;;0"


def test_zero_limit_queue_is_full_by_definition() -> None:
    queues = [sysv(1, "app", 0, 0, limit=0), sysv(2, "app", 1, 100, limit=1000)]
    code, text = run([Source(queues)], "--details", "always")
    assert (code, text.split(" | ")[0]) == (2, (
        "MSGQUEUES CRITICAL: 1 full queue of owner app: sysv key 0x00000001 id 1 (limit 0 B: "
        "full by definition, no message fits)"))
    assert ("sysv key 0x00000001 id 1 owner app creator app perms 0600: 0 messages, 0 B of "
            "0 B (MSG_STAT_ANY), fill 100%, FULL (a limit of 0 B: no message fits); ") in text
    assert "full_app=1;;0;0;2" in text and "fill_app=100%;80;;0;100" in text


# --- growth between runs (issue 14) ---------------------------------------------------

BOOT_ID = "0f0e0d0c-0b0a-4908-8706-050403020100"


def run_at(boot: float, sources: Sequence[Source], *argv: str,
           boot_id: str = BOOT_ID) -> Tuple[int, str]:
    """One run at *boot* seconds after boot (the trend's clock)."""
    from nagios_ipc.trend import Moment

    def build(args: argparse.Namespace):  # type: ignore[no-untyped-def]
        return check.build(args, make_sources=lambda a: (list(sources), []),
                           now=lambda: NOW + boot, alive=lambda pid: True,
                           moment=lambda: Moment(boot_id, boot, NOW + boot))

    return cli.execute(check.parser(), build, list(argv))


def filling(values: Sequence[Tuple[int, int]], *argv: str, key: int = 1,
            limit: int = 16384, step: float = 60.0) -> List[Tuple[int, str]]:
    """Runs every *step* seconds with queue *key* of owner app at (messages, bytes)."""
    return [run_at(1000.0 + step * index, [Source([sysv(key, "app", m, b, limit=limit,
                                                         lrpid=7, rtime=NOW)])], *argv)
            for index, (m, b) in enumerate(values)]


def test_first_run_has_no_growth_and_says_so() -> None:
    code, text = filling([(40, 4000)], "--details", "always")[0]
    assert code == 0 and "growth" not in first(text) and "time_to_full" not in text
    assert "; growth: first sample" in text.splitlines()[1]
    assert "growth: first sample in " in text and "from the next run" in text


def test_consistent_growth_warns_with_time_to_full() -> None:
    """+300 B/min for 2 minutes, 11784 B of room: full in 2357 s, within the hour."""
    runs = filling([(40, 4000), (43, 4300), (46, 4600)], "--details", "never")
    code, text = runs[1]
    assert code == 0 and "messages_growth_app=3 bytes_growth_app=300B\n" in text
    assert "time_to_full" not in text
    code, text = runs[2]
    assert code == 1, text
    assert first(text) == (
        "MSGQUEUES WARNING: sysv key 0x00000001 id 1 of app: 28% full, +5 B/s for 2m, "
        "full in ~39m | sysv_slots=0%;80;95;0;100 queues_app=1;;;0 messages_app=46;;;0 "
        "bytes_app=4600B;;;0;16384 qbytes_app=16384B;;;0 full_app=0;;0;0;1 "
        "fill_app=28.08%;80;;0;100 unread_age_app=1120s;;;0 orphaned_app=0;0;;0;1 "
        "messages_growth_app=3 bytes_growth_app=300B time_to_full_app=2356s;3600:;600:;0")


def test_fast_growth_is_critical_and_the_detail_line_says_why() -> None:
    runs = filling([(10, 1000), (20, 4000), (30, 7000)], "--details", "always")
    code, text = runs[2]
    assert code == 2, text
    assert first(text).startswith("MSGQUEUES CRITICAL: sysv key 0x00000001 id 1 of app: 43% "
                                  "full, +50 B/s for 2m, full in ~3m | ")
    assert "time_to_full_app=187s;3600:;600:;0" in text
    assert text.splitlines()[1].endswith(
        "; growth +50 B/s, +10 messages/min over 2m (3 samples), growing for 2m, "
        "full in ~3m")


def test_drain_and_burst_never_alert() -> None:
    for values in ([(90, 15000), (60, 10000), (30, 5000), (10, 1000)],
                   [(1, 10), (1, 10), (1, 10), (1, 10), (1, 10), (80, 12000)]):
        code, text = filling(values, "--details", "never")[-1]
        assert code == 0 and "time_to_full" not in text, (values, text)
        if values[-1][1] != 12000:
            assert "messages_growth_app=-" in text


def test_recreated_queue_starts_afresh() -> None:
    sources = [[Source([sysv(1, "app", 10, 1000)])], [Source([sysv(1, "app", 20, 2000)])],
               # removed and re-created (its ctime after the previous run): a new msqid
               [Source([sysv(32769, "app", 30, 3000, ctime=NOW + 200)])],
               [Source([sysv(32769, "app", 40, 4000, ctime=NOW + 200)])]]
    results = [run_at(100.0 + 60 * i, s, "--details", "always") for i, s in enumerate(sources)]
    code, text = results[3]
    assert code == 0 and "time_to_full" not in text, text
    assert text.splitlines()[1].endswith(
        "; growth +16 B/s, +10 messages/min over 60s (2 samples), growing for 60s")


def test_growth_thresholds_and_bare_time_to_full() -> None:
    runs = filling([(10, 100), (40, 400), (70, 700)], "--growth-warning", "20",
                   "--details", "never", "--report-by", "total")
    code, text = runs[2]
    assert code == 1
    assert first(text).startswith("MSGQUEUES WARNING: all owners: +30 messages/min for 2m / "
                                  "sysv key 0x00000001 id 1 of app: 4% full, +5 B/s for 2m, "
                                  "full in ~52m | ")
    assert "messages_growth_total=30;~:20 " in text
    code, text = filling([(10, 100), (40, 400), (70, 700)], "--time-to-full-warning", "10h",
                         "--time-to-full-critical", "none:", "--details", "never")[2]
    assert code == 3 and "usage error" in text  # 'none:' is no duration
    code, text = filling([(10, 100), (40, 400), (70, 700)], "--time-to-full-warning", "10h",
                         "--time-to-full-critical", "1m", "--details", "never")[2]
    assert code == 1 and "time_to_full_app=3136s;36000:;60:;0" in text


def test_reboot_restarts_the_growth() -> None:
    filling([(10, 1000), (20, 4000)])
    code, text = run_at(30.0, [Source([sysv(1, "app", 30, 7000)])], "--details", "always",
                        boot_id="11111111-2222-4333-8444-555555555555")
    assert code == 0 and "growth" not in first(text) and "messages_growth" not in text
    assert "note: trend history is from before a reboot" in text


def test_trend_window_0_keeps_no_state(private_state_dir: Path) -> None:
    code, text = filling([(10, 1000), (20, 4000)], "--trend-window", "0")[1]
    assert code == 0 and "growth" not in text
    assert not list(private_state_dir.iterdir())
    code, text = run_at(0.0, [Source([])], "--trend-window", "30s")
    assert code == 3 and "neither 0 (off) nor between 1m and 1d" in first(text)


def test_state_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = run_at(0.0, [Source([sysv(1)])], "--state-file", str(tmp_path / "no" / "s"))
    assert code == 3 and first(text).startswith(
        f"MSGQUEUES UNKNOWN: state directory {tmp_path / 'no'} does not exist")
    # the default place unusable: the snapshot is still judged, growth is off, a note says so
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("NAGIOS_IPC_STATE_DIR", str(blocked / "sub"))
    code, text = run_at(0.0, [Source([sysv(1)])], "--details", "always")
    assert code == 0 and "note: growth not measured: state directory " in text
    (tmp_path / "bad.json").write_text("{not json")
    code, text = run_at(0.0, [Source([sysv(1)])], "--details", "always", "--state-file",
                        str(tmp_path / "bad.json"))
    bad = tmp_path / "bad.json"
    assert (code, first(text)) == (3, f"MSGQUEUES UNKNOWN: state file {bad} was not valid "
                                      f"JSON: moved aside to {bad}.corrupt; the next runs "
                                      f"measure afresh")
    assert Path(f"{bad}.corrupt").read_text() == "{not json"
    code, text = run_at(60.0, [Source([sysv(1)])], "--state-file", str(bad))
    assert code == 0 and bad.exists()


def test_a_bare_growth_threshold_never_alerts_on_a_drain() -> None:
    """The guidelines' range '0' alerts on any negative value: a bare growth threshold
    N means ~:N here, so a drain stays OK; a full range keeps its meaning."""
    drain = [(70, 700), (40, 400), (10, 100)]
    code, text = filling(drain, "--growth-warning", "0", "--bytes-growth-critical", "1KB")[2]
    assert code == 0 and "messages_growth_app=-30;~:0 bytes_growth_app=-300B;;~:1024" in text
    code, text = filling(drain, "--growth-warning=-10:10", "--details", "never")[2]
    assert code == 1 and first(text).startswith(
        "MSGQUEUES WARNING: owner app: -30 messages/min | ")


def test_a_queue_empty_at_the_previous_run_grows_from_that_zero() -> None:
    """Empty queues keep no history (32,000 of them cost nothing), yet one that existed
    empty at the previous run (its ctime says so) starts from that zero: three runs
    give three samples of growth, and a time to full."""
    code, text = filling([(0, 0), (10, 4000), (20, 8000)], "--details", "never")[2]
    assert code == 2 and "time_to_full_app=125s;3600:;600:;0" in text, text
