"""A private Icinga Director for the integration tests (Debian's icingaweb2-module-director).

MariaDB runs with its own datadir and socket, ``--skip-networking``, inside the test
module's private network namespace (:class:`schedulers.Netns`), and is stopped by its
PID. Icinga Web 2 reads its own config directory (``ICINGAWEB_CONFIGDIR``) naming
that database; PHP finds the socket through an ini file of ours (``PHP_INI_SCAN_DIR``:
PDO's "localhost" is the default socket). ``icingacli director ...`` then works on it
like on a real installation: no web server is needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from schedulers import CLEAN_ENV, Netns, make_workdir

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"
MARIADB = "/usr/bin/mariadb"
ICINGACLI = "/usr/bin/icingacli"
MODULES = Path("/usr/share/icingaweb2/modules")
PHP_CONF_D = sorted(Path("/etc/php").glob("*/cli/conf.d"))


def missing() -> Optional[str]:
    """Why a Director cannot run here, or None."""
    if os.getuid() != 0:
        return "needs root (network namespaces, mysqld as the mysql user)"
    for tool in (MARIADBD, INSTALL_DB, MARIADB, ICINGACLI, "/usr/bin/unshare"):
        if not os.access(tool, os.X_OK):
            return f"{tool} is not installed (tests/debian-packages/director.txt)"
    if not (MODULES / "director").is_dir() or not PHP_CONF_D:
        return ("icingaweb2-module-director or php is not installed "
                "(tests/debian-packages/director.txt)")
    return None


class Director:
    """MariaDB + Icinga Web 2 config + Director schema, all under *root*."""

    def __init__(self, netns: Netns, root: Path) -> None:
        self.netns = netns
        self.root = root
        self.data = root / "mysql"
        self.run_dir = root / "run"  # socket and pid: mysql must write there
        self.socket = self.run_dir / "mysqld.sock"
        self.config = root / "icingaweb2"
        self.php_ini = root / "php"
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def env(self) -> Dict[str, str]:
        return {**CLEAN_ENV, "ICINGAWEB_CONFIGDIR": str(self.config),
                "PHP_INI_SCAN_DIR": ":".join([*map(str, PHP_CONF_D), str(self.php_ini)])}

    def start(self) -> None:
        self.start_server()
        self.sql("CREATE DATABASE director CHARACTER SET utf8mb4; "
                 "CREATE USER director@localhost IDENTIFIED BY 'director'; "
                 "GRANT ALL ON director.* TO director@localhost;")
        self.write_config()
        self.cli(["director", "migration", "run"])

    def start_server(self) -> None:
        """MariaDB alone, answering on its socket (tests/integration/
        test_graphite_graphs.py uses it for Icinga's IDO database)."""
        shutil.chown(self.root, "mysql", "mysql")  # mariadbd (as mysql) reaches its files
        self.root.chmod(0o755)
        for directory in (self.data, self.run_dir):
            directory.mkdir()
            shutil.chown(directory, "mysql", "mysql")
        # in the namespace too: its bootstrap server must not reach anything either
        done = self.netns.run([INSTALL_DB, "--user=mysql", f"--datadir={self.data}",
                               "--auth-root-authentication-method=socket",
                               "--skip-test-db"], timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb-install-db: {done.stdout}{done.stderr}")
        self.proc = self.netns.start(
            [MARIADBD, "--no-defaults", "--user=mysql", f"--datadir={self.data}",
             f"--socket={self.socket}", "--skip-networking", f"--pid-file={self.run_dir}/pid",
             f"--log-error={self.root}/mysqld.log", "--innodb-buffer-pool-size=32M",
             "--skip-log-bin"], self.root / "mysqld.out")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.sql("SELECT 1", check=False).returncode == 0:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd ended: " + self.log_tail())
            time.sleep(0.2)
        else:
            raise RuntimeError("mariadbd did not answer in 60 s: " + self.log_tail())

    def log_tail(self) -> str:
        log = self.root / "mysqld.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"

    def write_config(self) -> None:
        (self.config / "enabledModules").mkdir(parents=True)
        for module in ("director", "incubator", "reactbundle"):
            if (MODULES / module).is_dir():
                (self.config / "enabledModules" / module).symlink_to(MODULES / module)
        (self.config / "resources.ini").write_text(
            '[director_db]\ntype = "db"\ndb = "mysql"\nhost = "localhost"\n'
            'dbname = "director"\nusername = "director"\npassword = "director"\n'
            'charset = "utf8mb4"\n')
        (self.config / "modules" / "director").mkdir(parents=True)
        (self.config / "modules" / "director" / "config.ini").write_text(
            '[db]\nresource = "director_db"\n')
        self.php_ini.mkdir()
        (self.php_ini / "99-nagios-ipc-director.ini").write_text(
            f"pdo_mysql.default_socket = {self.socket}\n"
            f"mysqli.default_socket = {self.socket}\n")

    def sql(self, statements: str, check: bool = True,
            database: str = "") -> subprocess.CompletedProcess[str]:
        argv = [MARIADB, "--no-defaults", f"--socket={self.socket}", "-u", "root",
                "--batch", "--skip-column-names", "-e", statements]
        if database:
            argv.append(database)
        done = subprocess.run(argv, capture_output=True, text=True, env=CLEAN_ENV,
                              timeout=60, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise RuntimeError(f"mariadb: {statements[:200]}: {done.stderr}")
        return done

    def cli(self, args: Sequence[str], stdin: str = "",
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """icingacli ARGS in the namespace (it needs only the socket, no network)."""
        done = subprocess.run(self.netns.argv([ICINGACLI, *args]), input=stdin,
                              capture_output=True, text=True, env=self.env, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"icingacli {' '.join(args)}: rc {done.returncode}: "
                               f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return done

    def rows(self, query: str) -> List[List[str]]:
        out = self.sql(query, database="director").stdout
        return [line.split("\t") for line in out.splitlines()]

    def command_json(self, name: str) -> Dict[str, Any]:
        data: Dict[str, Any] = json.loads(self.cli(["director", "command", "show", name,
                                                    "--json"]).stdout)
        return data

    def stop(self) -> None:
        if self.proc is not None:
            from schedulers import stop

            stop(self.proc, timeout=60)


@contextlib.contextmanager
def running_director(netns: Netns) -> Iterator[Director]:
    """A fresh Director with an empty, migrated database; everything removed afterwards."""
    root = make_workdir("nagios-ipc-director-")
    director = Director(netns, root)
    try:
        director.start()
        yield director
    finally:
        director.stop()
        shutil.rmtree(root, ignore_errors=True)
