"""What every benchmark shares: arguments, the Postgres server and scratch databases, a
rendered project, interleaved runs, tables, machine facts and the JSON results.

Machines are noisy (2 shared cores here), so no script reports an absolute time alone:
each variant runs alternately with its baseline, the order reversed every round (A B C,
C B A, ...), and a ratio is the median of the per-round ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import uvloop
from pgdbm import AsyncDatabaseManager
from pgdbm_shared_pool.scaffold import new_project
from pgdbm_shared_pool.testing import (
    PostgresServer,
    create_database,
    drop_database,
    start_postgres_server,
    unique_database_name,
)

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
PACKAGE = "bench_app"  # the rendered project's package: importable as bench_app.*
PACKAGES_OF_INTEREST = (
    "pgdbm",
    "asyncpg",
    "uvloop",
    "uvicorn",
    "httptools",
    "fastapi",
    "pydantic",
    "copier",
)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def parse_args(description: str, *, compare: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    if compare:
        parser.add_argument(
            "--compare",
            metavar="REF",
            help="also measure the template at git REF, rendered side by side (before/after)",
        )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, under a minute (CI smoke run)"
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL"),
        help="superuser DSN of a local server (default: $BENCH_DATABASE_URL, "
        "$TEST_DATABASE_URL, else a throw-away server as the tests provision one)",
    )
    return parser.parse_args()


@contextlib.contextmanager
def postgres_admin_dsn(dsn: str | None) -> Iterator[str]:
    """The given superuser DSN, or one of a server started (and stopped) for this run."""
    if dsn:
        yield dsn
        return
    server: PostgresServer = start_postgres_server()
    try:
        yield server.dsn
    finally:
        server.stop()


def dsn_for(admin_dsn: str, database: str) -> str:
    parts = urlsplit(admin_dsn)
    return urlunsplit(parts._replace(path="/" + quote(database)))


def database_of(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


@contextlib.contextmanager
def scratch_database(admin_dsn: str, prefix: str = "bench") -> Iterator[str]:
    """A new database for this run, dropped afterwards; yields its DSN."""
    name = unique_database_name(prefix)
    asyncio.run(create_database(admin_dsn, name))
    try:
        yield dsn_for(admin_dsn, name)
    finally:
        asyncio.run(drop_database(admin_dsn, name))


@contextlib.contextmanager
def rendered_project(
    services: Sequence[str] = ("users", "orders"), **answers: Any
) -> Iterator[Path]:
    """The template rendered into a temporary folder, its src/ importable; yields the root."""
    with tempfile.TemporaryDirectory(prefix="bench_project_") as tmp:
        root = Path(tmp) / "bench-app"
        new_project(root, services=list(services), package_name=PACKAGE, extra=answers)
        sys.path.insert(0, str(root / "src"))
        try:
            yield root
        finally:
            sys.path.remove(str(root / "src"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode} before serving {url}:\n"
                + log.read_text()[-3000:]
            )
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s")


LOOPS = ("asyncio", "uvloop")


def run_in_loop(loop: str, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on a fresh event loop of the named kind."""
    if loop not in LOOPS:
        raise ValueError(f"unknown loop {loop!r}")
    factory = uvloop.new_event_loop if loop == "uvloop" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)


def project_settings(dsn: str, **overrides: Any) -> Any:
    """The rendered project's Settings for `dsn`, never read from a .env file."""
    from bench_app.config import Settings  # importable once rendered_project() ran

    return Settings(_env_file=None, database_url=dsn, **overrides)


async def seed_items(dsn: str, schema: str, count: int) -> list[int]:
    """`count` rows in the (migrated) schema's items table; returns their ids."""
    async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
        # Schema-bound, as the generated app's: pgdbm validates the name and quotes it.
        db = AsyncDatabaseManager(pool=pool, schema=schema)
        await db.executemany(
            "INSERT INTO {{tables.items}} (name) VALUES ($1)",
            [(f"item-{i}",) for i in range(count)],
        )
        return [row["id"] for row in await db.fetch_all("SELECT id FROM {{tables.items}}")]


def interleaved(keys: Sequence[K], rounds: int, run: Callable[[K], T]) -> dict[K, list[T]]:
    """Run every key `rounds` times, alternating the order (ABC CBA ABC ...) so slow drift
    of the machine hits every variant alike."""
    results: dict[K, list[T]] = {key: [] for key in keys}
    for round_number in range(rounds):
        order = keys if round_number % 2 == 0 else list(reversed(keys))
        for key in order:
            results[key].append(run(key))
    return results


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def paired_ratio(
    samples: Sequence[Any], baseline: Sequence[Any], key: str | None = None
) -> dict[str, float]:
    """Median, min and max of the per-round ratios samples[i] / baseline[i] (of `key`):
    each pair ran in the same round, back to back, on the same machine state."""
    values = [
        (s if key is None else s[key]) / (b if key is None else b[key])
        for s, b in zip(samples, baseline, strict=True)
    ]
    return {"median": median(values), "min": min(values), "max": max(values)}


def show_ratio(ratio: dict[str, float]) -> str:
    return f"{ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})"


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[format_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:  # the first column names the row: left-aligned; numbers right-aligned
        first, *rest = row
        line = [first.ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)
        ]
        print("  ".join(line))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(format_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def format_cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def machine_facts(admin_dsn: str | None) -> dict[str, Any]:
    """What the numbers depend on, stored next to them (no server: no PostgreSQL version)."""
    versions = {}
    for name in PACKAGES_OF_INTEREST:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "postgres": asyncio.run(_server_version(admin_dsn)) if admin_dsn else None,
        "packages": versions,
        "checkout": _git_describe(),
    }


def _git_describe() -> str | None:
    """The commit, "-dirty" if the code measured (not the results) had uncommitted edits."""
    measured = (":/template", ":/generator", ":/bench", ":(top,exclude)bench/results")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=BENCH_DIR, capture_output=True, text=True, check=True
        ).stdout.strip()

    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        dirty = git("status", "--porcelain", "--", *measured)
        return git("rev-parse", "--short", "HEAD") + ("-dirty" if dirty else "")
    return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


async def _server_version(dsn: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval("SELECT version()"))
    finally:
        await connection.close()


def write_results(
    name: str, args: argparse.Namespace, facts: dict[str, Any], results: dict[str, Any]
) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}{'.quick' if args.quick else ''}.json"
    payload = {
        "benchmark": name,
        "command": f"python bench/{name}.py{' --quick' if args.quick else ''}",
        "mode": "quick" if args.quick else "full",
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {**facts, "load_average_at_end": list(os.getloadavg())},
        **results,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nresults: {path.relative_to(BENCH_DIR.parent)}")
    return path
