"""Where state lives by default, and what another user can make first (issue 18 item 6).

The attack itself, with real users and the real check, is in
tests/integration/test_hostile_state.py; these cases pin each rule of the choice.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

from nagios_ipc import state

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown to others")
OTHER = 65534  # nobody: the attacker


@pytest.fixture
def home_root() -> Iterator[Path]:
    """A place for made-up homes that a reboot keeps (/var/tmp): pytest's tmp_path is
    under /tmp, which the checks pass over (a reboot empties it)."""
    path = Path(tempfile.mkdtemp(prefix="nagios_ipc-home-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def with_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    real: Callable[[int], pwd.struct_passwd] = pwd.getpwuid

    def fake(uid: int) -> pwd.struct_passwd:
        entry = list(real(uid))
        entry[5] = str(home)
        return pwd.struct_passwd(entry)

    monkeypatch.setattr(pwd, "getpwuid", fake)
    monkeypatch.delenv(state.STATE_DIR_ENV, raising=False)


def test_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path / "x"))
    assert state.default_state_dir() == str(tmp_path / "x")


def test_own_private_home(monkeypatch: pytest.MonkeyPatch, home_root: Path) -> None:
    home_root.chmod(0o755)
    with_home(monkeypatch, home_root)
    assert state.default_state_dir() == f"{home_root}/.local/state/nagios_ipc/{os.uname()[1]}"


def test_home_a_reboot_empties_is_passed_over(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    # /tmp here; RHEL's nrpe user has /run/nrpe: the state must outlive a reboot
    tmp_path.chmod(0o755)
    with_home(monkeypatch, tmp_path)
    assert state.default_state_dir().startswith(f"/var/tmp/nagios_ipc-{os.getuid()}")


@pytest.mark.parametrize("why", ["group-writable", "world-writable", "missing"])
def test_home_others_can_write_or_missing_is_passed_over(
        why: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home_root: Path) -> None:
    home = home_root / "home"
    if why != "missing":
        home.mkdir(mode=0o775 if why == "group-writable" else 0o777)
        home.chmod(0o775 if why == "group-writable" else 0o1777)
    with_home(monkeypatch, home)
    monkeypatch.setattr(state, "FALLBACK_ROOT", str(tmp_path))
    chosen = state.default_state_dir()
    assert chosen.startswith(f"{tmp_path}/nagios_ipc-{os.getuid()}-"), chosen


@ROOT_ONLY
def test_fallback_passes_over_what_others_made(tmp_path: Path) -> None:
    uid = os.getuid()
    legacy = tmp_path / f"nagios_ipc-{uid}"
    legacy.mkdir()
    os.chown(legacy, OTHER, OTHER)
    foreign = tmp_path / f"nagios_ipc-{uid}-0000000000000000"
    foreign.mkdir()
    os.chown(foreign, OTHER, OTHER)
    (tmp_path / f"nagios_ipc-{uid}-00").symlink_to(tmp_path)
    fresh = state.fallback_state_dir(uid, str(tmp_path))
    name = os.path.basename(fresh)
    assert name.startswith(f"nagios_ipc-{uid}-") and len(name.rsplit("-", 1)[1]) == 16
    assert not os.path.exists(fresh)  # made by the first run that needs it, 0700
    os.mkdir(fresh, 0o700)
    assert state.fallback_state_dir(uid, str(tmp_path)) == fresh  # and found again


def test_fallback_keeps_the_former_directory_when_ours(tmp_path: Path) -> None:
    legacy = tmp_path / f"nagios_ipc-{os.getuid()}"
    legacy.mkdir()
    assert state.fallback_state_dir(os.getuid(), str(tmp_path)) == str(legacy)


@ROOT_ONLY
def test_foreign_state_dir_in_a_usable_home_falls_back(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path, home_root: Path) -> None:
    home = home_root / "home"
    squatted = home / ".local" / "state" / "nagios_ipc" / os.uname()[1]
    squatted.mkdir(parents=True)
    os.chown(squatted, OTHER, OTHER)  # e.g. left by an admin's copy, or an old bug
    home.chmod(0o755)
    with_home(monkeypatch, home)
    var_tmp = tmp_path / "var-tmp"
    var_tmp.mkdir()
    monkeypatch.setattr(state, "FALLBACK_ROOT", str(var_tmp))
    with state.StateFile(None, "check_x") as kept:
        kept.save({"a": 1})
    assert kept.path.startswith(f"{var_tmp}/nagios_ipc-{os.getuid()}-")
    assert (os.stat(os.path.dirname(kept.path)).st_mode & 0o777) == 0o700
    assert (os.stat(kept.path).st_mode & 0o777) == 0o600
    assert not any(squatted.iterdir())


# --- a state path that is not a regular file (found in review: --state-file /dev/null
# as root replaced the host's /dev/null with a file; a FIFO hung the run) --------------


def _node(path: Path, what: str) -> None:
    if what == "fifo":
        os.mkfifo(path)
    else:
        import socket

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()


@pytest.mark.parametrize("what, said", [("fifo", "is a FIFO"), ("socket", "is a socket")])
def test_a_state_path_that_is_not_a_file_is_refused_untouched(tmp_path: Path, what: str,
                                                              said: str) -> None:
    path = tmp_path / "state.json"
    _node(path, what)
    before = os.lstat(path)
    with pytest.raises(state.StateError) as refused:
        with state.StateFile(str(path), "check_test"):
            pass
    assert str(refused.value) == (f"state file {path} {said}, not a regular file; give "
                                  f"--state-file the path of a file (made on the first run)")
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert sorted(os.listdir(tmp_path)) == ["state.json"]  # no lock file beside it


def test_load_refuses_a_fifo_swapped_in_after_the_look(tmp_path: Path) -> None:
    """load() opens without blocking and looks at what it opened: a FIFO put in place
    between __enter__ and load() is refused at once (it used to wait for a writer)."""
    path = tmp_path / "state.json"
    path.write_text("{}")
    with state.StateFile(str(path), "check_test") as saved:
        path.unlink()
        os.mkfifo(path)
        with pytest.raises(state.StateError, match="is a FIFO, not a regular file"):
            saved.load()
