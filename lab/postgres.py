"""A PostgreSQL server on loopback for Pulumi state: the shared backend a team would use
(``postgres://`` in the CLI), started by the lab when a test asks for it and removed by ``down``.

Set up as a team's server would be: its own cluster owned by the ``postgres`` account, password
(SCRAM) authentication for TCP, a database for the state. Not TLS: it listens on 127.0.0.1 only.
The password never reaches a command line: initdb reads it from a file, clients from the URL,
which the stack's environment carries (``PULUMI_BACKEND_URL``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

ACCOUNT = "postgres"  # Debian's package creates it
ADDRESS = "127.0.0.1"
# Off 5432 (a server of the machine's own keeps its port) and below Linux's ephemeral range
# (32768-60999): 55432 once failed to bind because a client connection held it as its local port.
PORT = 15432
ROLE = "kafka_tls"
DATABASE = "pulumi_state"
BIN = Path("/usr/lib/postgresql/15/bin")


class StateServerError(RuntimeError):
    pass


class StateServer:
    """The lab's PostgreSQL: ``start()`` is idempotent, ``url`` is the backend URL."""

    def __init__(self, lab_dir: Path):
        self.lab_dir = lab_dir
        self.dir = lab_dir / "postgres"
        self.data = self.dir / "data"
        self.password_file = self.dir / "password"  # root's copy, 0600

    @property
    def url(self) -> str:
        password = quote(self.password_file.read_text().strip(), safe="")
        return f"postgres://{ROLE}:{password}@{ADDRESS}:{PORT}/{DATABASE}?sslmode=disable"

    def _as_account(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        # KAFKA_TLS_LAB_DIR marks the server as the lab's: `down` kills what is left of it.
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "KAFKA_TLS_LAB_DIR": str(self.lab_dir), "LC_ALL": "C.UTF-8"}
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return subprocess.run([runuser, "-u", ACCOUNT, "--", *args], env=env, cwd="/", capture_output=True,
                              text=True, **kwargs)

    def running(self) -> bool:
        return self.data.exists() and self._as_account(str(BIN / "pg_ctl"), "-D", str(self.data), "status").returncode == 0

    def start(self) -> StateServer:
        if not (BIN / "pg_ctl").exists():
            raise StateServerError(f"PostgreSQL 15 is not installed ({BIN}): apt-get install postgresql")
        if self.running():
            return self
        if not self.data.exists():
            self._init()
        started = self._as_account(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w",
                                   "-o", f"-c listen_addresses={ADDRESS} -p {PORT} -k {self.dir}", "start")
        if started.returncode != 0:
            log = (self.dir / "server.log").read_text(errors="replace")[-2000:] if (self.dir / "server.log").exists() else ""
            raise StateServerError(f"PostgreSQL did not start: {started.stdout}{started.stderr}{log}")
        self._create_database()
        return self

    def _init(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.dir, ACCOUNT, ACCOUNT)
        self.dir.chmod(0o700)
        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        # initdb reads the superuser's password from a file of its account, removed right after.
        handed = self.dir / "initdb-password"
        handed.write_text(password + "\n")
        shutil.chown(handed, ACCOUNT, ACCOUNT)
        handed.chmod(0o600)
        try:
            done = self._as_account(str(BIN / "initdb"), "-D", str(self.data), "-U", ROLE, "--auth=scram-sha-256",
                                    f"--pwfile={handed}", "-E", "UTF8")
        finally:
            handed.unlink(missing_ok=True)
        if done.returncode != 0:
            raise StateServerError(f"initdb failed: {done.stdout}{done.stderr}")

    def _psql(self, database: str, sql: str, check: bool = True) -> subprocess.CompletedProcess:
        # The password through the environment: never on a command line.
        env = {**os.environ, "PGPASSWORD": self.password_file.read_text().strip()}
        return subprocess.run(["psql", "-h", ADDRESS, "-p", str(PORT), "-U", ROLE, "-d", database, "-Atc", sql],
                              env=env, capture_output=True, text=True, check=check)

    def _create_database(self) -> None:
        for _ in range(20):
            found = self._psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'", check=False)
            if found.returncode == 0:
                break
            time.sleep(0.5)
        else:
            raise StateServerError(f"PostgreSQL does not answer on {ADDRESS}:{PORT}: {found.stderr}")
        if found.stdout.strip() != "1":
            self._psql("postgres", f"CREATE DATABASE {DATABASE}")

    def query(self, sql: str) -> str:
        """One SQL statement in the state database, as psql's unaligned output."""
        return self._psql(DATABASE, sql).stdout

    def forget_state(self) -> None:
        """Drop every stack's state (the backend makes its table again when next used)."""
        if self.running():
            self.query("DROP TABLE IF EXISTS pulumi_state")

    def stop(self) -> None:
        if self.running():
            self._as_account(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
