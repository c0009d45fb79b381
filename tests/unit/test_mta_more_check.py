"""The whole check_mta_backlog on queues of sendmail, qmail, OpenSMTPD, nullmailer and the
Messaging Server built in temp dirs (their real on-disk formats) or listed by stubs
replaying documented output; and a hung listing command of each: UNKNOWN within the
timeout, nothing left running."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import test_mta_nullmailer
import test_mta_opensmtpd
import test_mta_qmail
import test_mta_sendmail
from helpers import run_check

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mta"


def test_qmail_spool(tmp_path: Path) -> None:
    queue = test_mta_qmail.Queue(tmp_path / "queue")
    now = time.time()
    queue.add("alice@probe.localdomain", [], ["bob@example.invalid"], 1000, now - 7200)
    queue.add("", [], ["newsletter@lists.example.net"], 2000, now - 60)
    queue.add("root@probe.localdomain", ["ops@probe.localdomain"], [], 500, now - 30)
    queue.add("carol@probe.localdomain", [], ["dave@example.invalid"], 700, now, todo=True)
    outcome = run_check("check_mta_backlog", ["--mta", "qmail", "--spool-dir", str(queue.root),
                                              "--age-warning", "3600"])
    assert outcome.stderr == ""
    assert outcome.code == 1, outcome.stdout
    assert outcome.summary.startswith("MTA_BACKLOG WARNING: oldest qmail remote message")
    perf = outcome.perfdata
    assert (perf["messages"].split(";")[0], perf["deferred"].split(";")[0]) == ("4", "3")
    assert [outcome.value(f"messages_{q}") for q in ("local", "remote", "todo")] == [
        "1", "2", "1"]
    assert outcome.value("bounces") == "1"
    assert outcome.value("bytes") == "4200B"


def test_opensmtpd_spool(tmp_path: Path) -> None:
    root = test_mta_opensmtpd.make_spool(tmp_path / "smtpd")
    outcome = run_check("check_mta_backlog", ["--mta", "opensmtpd", "--method", "spool",
                                              "--spool-dir", str(root), "-w", "5",
                                              "--age-warning", "none",
                                              "--age-critical", "none"])
    assert outcome.code == 0, outcome.stdout
    assert (outcome.value("messages"), outcome.value("deferred"), outcome.value("bounces")) == (
        "3", "2", "1")
    assert outcome.value("messages_offline") == "1"


def test_nullmailer_spool_count_only(tmp_path: Path) -> None:
    root = test_mta_nullmailer.make_spool(tmp_path / "nullmailer")
    outcome = run_check("check_mta_backlog", ["--mta", "nullmailer", "--spool-dir", str(root),
                                              "--count-only", "-w", "1"])
    assert outcome.code == 1, outcome.stdout
    assert (outcome.value("deferred"), outcome.value("messages_failed")) == ("2", "1")


def test_sendmail_spool_detection_needs_the_named_mta(tmp_path: Path) -> None:
    paths = test_mta_sendmail.make_spool(tmp_path)
    outcome = run_check("check_mta_backlog", ["--mta", "sendmail", "--config-dir",
                                              str(paths["config"]), "-w", "10",
                                              "--age-warning", "none",
                                              "--age-critical", "none"])
    assert outcome.code == 0, outcome.stdout
    assert outcome.value("deferred") == "3"  # mqueue 2 + clientmqueue 1
    assert outcome.value("held") == "1"


def test_imsimta_channels(tmp_path: Path) -> None:
    stub = tmp_path / "imsimta"
    stub.write_text(f"""#!/bin/sh
case "$*" in
  "qm directory") cat {FIXTURES}/imsimta/qm-directory_two-channels.txt ;;
  "qm directory -held") cat {FIXTURES}/imsimta/qm-directory-held_two-channels.txt ;;
  *) exit 64 ;;
esac
""")
    stub.chmod(0o755)
    outcome = run_check("check_mta_backlog", ["--mta", "imsimta", "--mta-binary", str(stub),
                                              "-w", "1", "-c", "5",
                                              "--age-warning", "none",
                                              "--age-critical", "none"])
    assert outcome.code == 1, outcome.stdout
    assert outcome.value("deferred") == "2"  # tcp_local's two tried messages
    assert outcome.value("held") == "2"


@pytest.mark.parametrize("mta", ["sendmail", "qmail", "opensmtpd", "nullmailer", "imsimta"])
def test_hung_listing_is_unknown_and_killed(tmp_path: Path, mta: str) -> None:
    pids = tmp_path / "pids"
    stub = tmp_path / ("qmail-qread" if mta == "qmail" else "listing")
    stub.write_text(f"#!/bin/sh\necho $$ >> {pids}\nsleep 60 &\necho $! >> {pids}\nwait\n")
    stub.chmod(0o755)
    started = time.monotonic()
    outcome = run_check("check_mta_backlog", ["--mta", mta, "--method", "command",
                                              "--mta-binary", str(stub), "-t", "3"])
    elapsed = time.monotonic() - started
    assert outcome.code == 3, outcome.stdout
    assert outcome.stderr == ""
    assert len(outcome.stdout.splitlines()) == 1
    assert elapsed < 6
    time.sleep(0.2)
    for pid in pids.read_text().split():  # the stub and its child: gone (or zombies)
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split()[2] == "Z"


@pytest.mark.parametrize("name", ["sendmail", "qmail", "opensmtpd", "nullmailer", "imsimta"])
def test_module_interface(name: str, tmp_path: Path) -> None:
    """What the registry and the check rely on, for each of these modules."""
    from nagios_ipc.mta import registry
    from nagios_ipc.mta.model import Settings, Unavailable

    module = registry.load(name)
    assert module.NAME == name
    assert set(module.METHODS) <= {"spool", "command"} and module.METHODS
    assert module.installed(Settings(spool_dir=str(tmp_path))) in (True, False)
    with pytest.raises(ValueError):
        module.open_source(Settings(), "telepathy")
    for method in module.METHODS:
        try:
            source = module.open_source(Settings(spool_dir=str(tmp_path / "none"),
                                                 binary=str(tmp_path / "none")), method)
        except Unavailable as exc:
            assert exc.reason and exc.fix
        else:  # nothing opened yet; it names itself
            assert (source.mta, source.method) == (name, method)


@pytest.mark.parametrize("mta", ["sendmail", "qmail", "opensmtpd", "nullmailer"])
@pytest.mark.parametrize("workers", [2, 3])
def test_partitions_read_each_message_once(tmp_path: Path, mta: str, workers: int) -> None:
    """check --workers: the shares of a spool are disjoint and together the whole."""
    from nagios_ipc.mta import registry
    from nagios_ipc.mta.model import Settings

    if mta == "sendmail":
        settings = Settings(config_dir=str(test_mta_sendmail.make_spool(tmp_path)["config"]))
    elif mta == "qmail":
        queue = test_mta_qmail.Queue(tmp_path / "queue")
        for n in range(12):
            queue.add(f"s{n}@x", [f"l{n}@y"] if n % 3 else [], [f"r{n}@z"], n + 1, 1e9 + n,
                      todo=n == 5)
        settings = Settings(spool_dir=str(queue.root))
    elif mta == "opensmtpd":
        settings = Settings(spool_dir=str(test_mta_opensmtpd.make_spool(tmp_path / "s")))
    else:
        settings = Settings(spool_dir=str(test_mta_nullmailer.make_spool(tmp_path / "n")))
    source = registry.load(mta).open_source(settings, "spool")
    whole = sorted((m.queue, m.queue_id) for m in source.messages())
    shares = [sorted((m.queue, m.queue_id) for m in view.messages())
              for view in source.partitions(workers)]
    assert sorted(key for share in shares for key in share) == whole
    assert len(whole) >= 3
