"""Timeouts under real trouble: the generated app under uvicorn (pool of 10, shipped
defaults) with 24 looping clients, while (a) another session holds the items table locked
for 12 s, and (b) PostgreSQL restarts (fast shutdown, then start).

Reported per scenario: the status-code counts (a client-side error counts under its type),
the longest request, and what the server logged (lines, tracebacks). `--compare REF` also
renders the template at git REF and runs it the same way, side by side: before and after.
The server is always a throw-away cluster of this script's own (it is restarted), so
--dsn is not used.

    python bench/timeouts.py [--quick] [--compare REF]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from _common import (
    PACKAGE,
    free_port,
    machine_facts,
    print_table,
    wait_until_serving,
    write_results,
)
from pgdbm_shared_pool.scaffold import new_project
from pgdbm_shared_pool.testing import PostgresServer, start_postgres_server

POOL_MAX_SIZE = 10
FULL = {"clients": 24, "lock_seconds": 12.0, "before": 2.0, "after": 4.0}
QUICK = {"clients": 8, "lock_seconds": 3.0, "before": 1.0, "after": 2.0}
CLIENT_TIMEOUT = 120.0  # seconds: far beyond any server-side limit; a hang shows as such
ITEMS = "/users/items"


@dataclass
class Outcomes:
    """Every request's outcome while a scenario ran."""

    statuses: Counter[str] = field(default_factory=Counter)
    longest: float = 0.0
    longest_status: str = ""
    stopping: bool = False

    def record(self, status: str, seconds: float) -> None:
        self.statuses[status] += 1
        if seconds > self.longest:
            self.longest, self.longest_status = seconds, status


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--compare", metavar="REF", help="also measure the template at REF")
    parser.add_argument("--dsn", help="ignored: this benchmark restarts a server of its own")
    return parser.parse_args()


async def client_loop(http: httpx.AsyncClient, number: int, outcomes: Outcomes) -> None:
    sent = 0
    while not outcomes.stopping:
        started = time.monotonic()
        try:
            if sent % 2:
                response = await http.post(ITEMS, json={"name": f"c{number}-{sent}-{started}"})
            else:
                response = await http.get(ITEMS, params={"limit": 5})
            status = str(response.status_code)
            if response.status_code == 503 and "retry-after" not in response.headers:
                status += " without Retry-After"
        except httpx.HTTPError as error:
            status = type(error).__name__
        outcomes.record(status, time.monotonic() - started)
        sent += 1
        await asyncio.sleep(0.005)


async def under_load(
    base_url: str, clients: int, trouble: Any, seconds: dict[str, float]
) -> Outcomes:
    """Run `clients` looping clients; `trouble()` runs after seconds["before"], then the
    load goes on for seconds["after"]."""
    outcomes = Outcomes()
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT, limits=limits) as http:
        loops = [asyncio.create_task(client_loop(http, n, outcomes)) for n in range(clients)]
        await asyncio.sleep(seconds["before"])
        await trouble()
        await asyncio.sleep(seconds["after"])
        outcomes.stopping = True
        await asyncio.gather(*loops)
    return outcomes


def table_locked_for(dsn: str, lock_seconds: float) -> Any:
    async def trouble() -> None:
        blocker = await asyncpg.connect(dsn)
        try:
            async with blocker.transaction():
                await blocker.execute('LOCK TABLE "users".items IN ACCESS EXCLUSIVE MODE')
                await asyncio.sleep(lock_seconds)
        finally:
            await blocker.close()

    return trouble


def restarted(server: PostgresServer) -> Any:
    async def trouble() -> None:
        await asyncio.to_thread(server.stop_server)
        await asyncio.to_thread(server.start_server)

    return trouble


@contextlib.contextmanager
def serving(project: Path, dsn: str) -> Iterator[tuple[str, Path]]:
    """The project's app under uvicorn as `make run` starts it; (base URL, stderr log)."""
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "POOL_MAX_SIZE": str(POOL_MAX_SIZE),
        "PYTHONPATH": str(project / "src"),
    }
    migrate = [sys.executable, "-m", f"{PACKAGE}.migrate"]
    subprocess.run(migrate, cwd=project, env=env, check=True, capture_output=True)
    port = free_port()
    log = project / f"server-{port}.log"
    command = [sys.executable, "-m", "uvicorn", f"{PACKAGE}.main:app", "--port", str(port)]
    command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=project, env=env, stdout=stderr, stderr=stderr)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(base_url + ITEMS, process, log)
        yield base_url, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def measure(project: Path, server: PostgresServer, sizes: dict[str, float]) -> dict[str, Any]:
    results = {}
    clients = int(sizes["clients"])
    scenarios = {
        "table locked": table_locked_for(server.dsn, sizes["lock_seconds"]),
        "postgres restart": restarted(server),
    }
    for scenario, trouble in scenarios.items():
        with serving(project, server.dsn) as (base_url, log):
            logged_before = len(log.read_text(errors="replace").splitlines())
            outcomes = asyncio.run(under_load(base_url, clients, trouble, sizes))
            lines = log.read_text(errors="replace").splitlines()[logged_before:]
        results[scenario] = {
            "statuses": dict(sorted(outcomes.statuses.items())),
            "longest_request_s": round(outcomes.longest, 3),
            "longest_request_status": outcomes.longest_status,
            "server_log_lines": len(lines),
            "server_tracebacks": sum("Traceback" in line for line in lines),
        }
        print(f"  {scenario}: {results[scenario]}", flush=True)
    return results


def main() -> None:
    args = parse()
    sizes = QUICK if args.quick else FULL
    variants = {"this checkout": None} | (
        {f"at {args.compare}": args.compare} if args.compare else {}
    )
    server = start_postgres_server(providers=["local", "embedded"])
    results: dict[str, Any] = {}
    try:
        facts = machine_facts(server.dsn)
        for name, ref in variants.items():
            print(f"\n{name}", flush=True)
            with tempfile.TemporaryDirectory(prefix="bench_timeouts_") as tmp:
                project = Path(tmp) / "bench-app"
                new_project(project, services=["users"], package_name=PACKAGE, vcs_ref=ref)
                results[name] = measure(project, server, sizes)
    finally:
        server.stop()
    rows = [
        [f"{name}: {scenario}", ", ".join(f"{k}: {v}" for k, v in got["statuses"].items()),
         got["longest_request_s"], got["longest_request_status"], got["server_tracebacks"]]
        for name, by_scenario in results.items()
        for scenario, got in by_scenario.items()
    ]  # fmt: skip
    clients, lock = sizes["clients"], sizes["lock_seconds"]
    print_table(
        f"{clients} clients, pool of {POOL_MAX_SIZE}, table locked {lock} s",
        ["variant: scenario", "statuses", "longest s", "its status", "tracebacks"],
        rows,
    )
    write_results(
        "timeouts",
        args,
        facts,
        {"sizes": sizes, "pool_max_size": POOL_MAX_SIZE, "variants": results},
    )


if __name__ == "__main__":
    main()
