"""Start and stop a throw-away PgBouncer in front of a test Postgres server.

Used by tests that must prove behaviour through a real transaction-mode pooler
(doctor's pooler detection, the generated app behind PgBouncer). The Debian
`pgbouncer` package is enough; no system service is touched: each instance has its
own config directory, a free loopback port, and runs as the `postgres` OS user (or the
owner of a unix-socket server's socket directory) when we are root: PgBouncer refuses root.

    with PgBouncer.in_front_of(server_dsn) as bouncer:   # or PgBouncer(host, port)
        dsn = bouncer.dsn_for("mydb")
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

START_TIMEOUT_SECONDS = 15.0


def pgbouncer_binary() -> str | None:
    """The pgbouncer on PATH (only PATH: CI hides it that way to prove the suite runs without)."""
    return shutil.which("pgbouncer")


def pgbouncer_missing() -> str:
    return (
        "no `pgbouncer` on PATH: apt-get install pgbouncer (macOS: brew install pgbouncer); "
        "Debian puts it in /usr/sbin, which a non-root PATH may lack"
    )


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _default_os_user(server_host: str) -> str:
    """Whoever owns a unix-socket server's socket directory can reach it; else `postgres`."""
    if server_host.startswith("/") and os.path.isdir(server_host):
        owner = os.stat(server_host).st_uid
        if owner != 0:
            return pwd.getpwuid(owner).pw_name
    return "postgres"


class PgBouncer:
    """One PgBouncer process; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        server_host: str,
        server_port: int,
        *,
        pool_mode: str = "transaction",
        users: Iterable[str] = ("postgres",),
        ignore_startup_parameters: Iterable[str] = ("extra_float_digits",),
        default_pool_size: int = 5,
        os_user: str | None = None,
    ) -> None:
        binary = pgbouncer_binary()
        if binary is None:
            raise FileNotFoundError(pgbouncer_missing())
        self.binary = binary
        self.server_host = server_host
        self.server_port = server_port
        self.pool_mode = pool_mode
        self.users = tuple(users)
        self.ignore_startup_parameters = tuple(ignore_startup_parameters)
        self.default_pool_size = default_pool_size
        self.os_user = (os_user or _default_os_user(server_host)) if os.geteuid() == 0 else None
        self.port = 0
        self.directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def in_front_of(cls, server_dsn: str, **options: Any) -> PgBouncer:
        """A PgBouncer for the server of a libpq URL, TCP or unix socket (?host=/socket/dir)."""
        parts = urlsplit(server_dsn)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        host = query.get("host") or parts.hostname or "127.0.0.1"
        port = int(query.get("port") or parts.port or 5432)
        return cls(host, port, **options)

    def dsn_for(self, database: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    @property
    def log(self) -> str:
        if self.directory is None or not (self.directory / "pgbouncer.log").exists():
            return ""
        return (self.directory / "pgbouncer.log").read_text(encoding="utf-8", errors="replace")

    def _write_config(self, directory: Path) -> Path:
        userlist = "".join(f'"{user}" ""\n' for user in self.users)
        (directory / "userlist.txt").write_text(userlist, encoding="utf-8")
        config = directory / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={self.server_host} port={self.server_port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {directory / 'userlist.txt'}\n"
            f"pool_mode = {self.pool_mode}\n"
            f"default_pool_size = {self.default_pool_size}\n"
            f"ignore_startup_parameters = {','.join(self.ignore_startup_parameters)}\n"
            f"logfile = {directory / 'pgbouncer.log'}\n"
            f"pidfile = {directory / 'pgbouncer.pid'}\n",
            encoding="utf-8",
        )
        return config

    def start(self) -> PgBouncer:
        # Not pytest's tmp_path: its parents are 0700 root, unreadable for the postgres user.
        self.directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.port = _free_loopback_port()
        config = self._write_config(self.directory)
        popen_user: dict[str, object] = {}
        if self.os_user is not None:
            account = pwd.getpwnam(self.os_user)
            for path in (self.directory, *self.directory.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
            # Popen's user= (not runuser) so that our pid is pgbouncer's own, for signals.
            popen_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        self._process = subprocess.Popen(
            [self.binary, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **popen_user,  # type: ignore[arg-type]
        )
        self._wait_until_listening()
        return self

    def _wait_until_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                stderr = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"pgbouncer exited at start-up: {stderr}{self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"pgbouncer did not listen within {START_TIMEOUT_SECONDS}s: {self.log}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # immediate shutdown
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None and process.stderr is not None:
            process.stderr.close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
