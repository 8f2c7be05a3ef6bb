"""HTTP end to end: the generated app's GET /users/items/{id} under uvicorn vs the same
endpoint written by hand on raw asyncpg (bench/handwritten_app.py), loaded by wrk on
loopback at 10 and 100 connections.

Servers (one uvicorn worker each, access log on as uvicorn defaults, pools of max 10):
  pattern        the generated app, as its `make run`: --loop uvloop --http httptools
  (a) by hand    raw asyncpg, --loop asyncio --http h11: what `pip install fastapi uvicorn`
                 runs (uvicorn without [standard] has neither uvloop nor httptools)
  (b) same stack raw asyncpg, --loop uvloop --http httptools: the endpoint alone
  (c) same stack + middleware
                 (b) plus what the generated app does on every request that is not the
                 pattern: its request id, deadline and body limit middleware and its log
                 format (imported from the rendered project). pattern / (c) is the cost of
                 the pattern itself; (c) / (b) the cost of those features.
  pattern at REF with --compare REF: the template at git REF, rendered side by side (before)

Targets: pattern / (a) >= 1.0x, pattern / (b) and pattern / (c) >= 0.95x in requests/s.
Each wrk run is bounded by time (-d) and by a per-request timeout; runs alternate between
servers. The server's CPU time per request (from /proc) is reported too: on a busy machine
it is far steadier than requests/s.
Needs wrk (Debian/Ubuntu: apt-get install wrk).

    python bench/http_e2e.py [--quick] [--dsn DSN] [--compare REF]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    PACKAGE,
    free_port,
    interleaved,
    machine_facts,
    median,
    paired_ratio,
    parse_args,
    postgres_admin_dsn,
    print_table,
    project_settings,
    rendered_project,
    scratch_database,
    seed_items,
    show_ratio,
    wait_until_serving,
    write_results,
)
from pgdbm_shared_pool.scaffold import new_project

FAST_STACK = ("--loop", "uvloop", "--http", "httptools")
PATTERN_APP = f"{PACKAGE}.main:app"
SERVERS = {  # name -> (app, uvicorn options)
    "pattern": (PATTERN_APP, FAST_STACK),
    "(a) by hand": ("handwritten_app:app", ("--loop", "asyncio", "--http", "h11")),
    "(b) same stack": ("handwritten_app:app", FAST_STACK),
    "(c) same stack + middleware": ("handwritten_app:app_with_middleware", FAST_STACK),
}
# baseline -> target for the pattern
BASELINES = {"(a) by hand": 1.0, "(b) same stack": 0.95, "(c) same stack + middleware": 0.95}
CONCURRENCIES = (10, 100)
ROWS = 1000
ITEM_ID = 500
WRK_TIMEOUT = "5s"


@dataclass(frozen=True)
class Server:
    url: str  # of the item every request reads
    pid: int


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def uvicorn_servers(
    specs: dict[str, tuple[str, Sequence[str], Path]], dsn: str
) -> Iterator[dict[str, Server]]:
    """Start every server (name -> app, uvicorn options, the rendered project it imports)
    on its own port; yields name -> Server."""
    processes, servers = [], {}
    try:
        for name, (app, options, project) in specs.items():
            port = free_port()
            command = [sys.executable, "-m", "uvicorn", app, "--port", str(port), *options]
            env = {
                **os.environ,
                "DATABASE_URL": dsn,
                "PYTHONPATH": os.pathsep.join([str(project / "src"), str(BENCH_DIR)]),
            }
            # Both streams to one file: uvicorn's own logging writes the access log to stdout,
            # the generated app's to stderr, and each line costs the same write either way.
            log = project / f"server-{port}.log"
            with log.open("wb") as output:  # the child keeps its own copy of the descriptor
                process = subprocess.Popen(
                    command, cwd=project, env=env, stdout=output, stderr=subprocess.STDOUT
                )
            processes.append(process)
            servers[name] = Server(f"http://127.0.0.1:{port}/users/items/{ITEM_ID}", process.pid)
            wait_until_serving(servers[name].url, process, log)
        yield servers
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, connections: int, seconds: float) -> dict[str, float]:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"--timeout={WRK_TIMEOUT}",
        "--latency", url,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, flags=re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, flags=re.MULTILINE)
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def load(server: Server, connections: int, seconds: float) -> dict[str, Any]:
    """One wrk run, plus the server's own CPU time per request: unlike requests/s, that
    barely depends on what else the machine is doing."""
    cpu = cpu_seconds(server.pid)
    result = wrk(server.url, connections, seconds)
    cpu = cpu_seconds(server.pid) - cpu
    return {**result, "server_cpu_us_per_request": cpu / max(1, result["requests"]) * 1e6}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], compare=True)
    if shutil.which("wrk") is None:
        sys.exit("http_e2e needs wrk on PATH (Debian/Ubuntu: apt-get install wrk)")
    rounds, seconds = (1, 2) if args.quick else (5, 5)
    with (
        postgres_admin_dsn(args.dsn) as admin_dsn,
        rendered_project() as project,
        tempfile.TemporaryDirectory(prefix="bench_http_before_") as before,
        scratch_database(admin_dsn, "bench_http") as dsn,
    ):
        from bench_app.migrate import migrate

        facts = machine_facts(admin_dsn)
        asyncio.run(migrate(project_settings(dsn)))
        asyncio.run(seed_items(dsn, "users", ROWS))
        specs = {name: (app, options, project) for name, (app, options) in SERVERS.items()}
        if args.compare:  # the same app from the template at REF: before and after
            old = Path(before) / "bench-app"
            new_project(
                old, services=["users", "orders"], package_name=PACKAGE, vcs_ref=args.compare
            )
            specs[f"pattern at {args.compare}"] = (PATTERN_APP, FAST_STACK, old)
        with uvicorn_servers(specs, dsn) as servers:
            for server in servers.values():
                wrk(server.url, max(CONCURRENCIES), 1)  # warm-up: every pool at full size
            keys = [(c, name) for c in CONCURRENCIES for name in specs]
            runs = interleaved(keys, rounds, lambda key: load(servers[key[1]], key[0], seconds))

    rows: list[dict[str, Any]] = []
    for concurrency in CONCURRENCIES:
        for name in specs:
            samples = runs[(concurrency, name)]
            row = {
                "concurrency": concurrency,
                "server": name,
                "requests_per_s": median([s["requests_per_s"] for s in samples]),
                "p50_ms": median([s["p50_ms"] for s in samples]),
                "p99_ms": median([s["p99_ms"] for s in samples]),
                "server_cpu_us_per_request": median(
                    [s["server_cpu_us_per_request"] for s in samples]
                ),
                "non_2xx": sum(s["non_2xx"] for s in samples),
                "samples": samples,
            }
            for baseline in BASELINES:
                row[f"vs {baseline}"] = paired_ratio(
                    samples, runs[(concurrency, baseline)], "requests_per_s"
                )
                row[f"cpu vs {baseline}"] = paired_ratio(
                    samples, runs[(concurrency, baseline)], "server_cpu_us_per_request"
                )
            rows.append(row)
    targets = [
        {
            "concurrency": row["concurrency"],
            "server": row["server"],
            "baseline": baseline,
            "ratio": row[f"vs {baseline}"],
            "target": target,
            "met": row[f"vs {baseline}"]["median"] >= target,
        }
        for row in rows
        if row["server"].startswith("pattern")
        for baseline, target in BASELINES.items()
    ]
    print_table(
        f"GET /users/items/{{id}}, wrk -t1, {seconds} s per run, median of {rounds} rounds",
        ["server", "connections", "req/s", "p50 ms", "p99 ms", "non-2xx",
         "server CPU µs/req", *(f"req/s vs {b}" for b in BASELINES),
         *(f"CPU/req vs {b}" for b in BASELINES)],
        [
            [r["server"], r["concurrency"], r["requests_per_s"], r["p50_ms"], r["p99_ms"],
             r["non_2xx"], r["server_cpu_us_per_request"],
             *(show_ratio(r[f"vs {b}"]) for b in BASELINES),
             *(show_ratio(r[f"cpu vs {b}"]) for b in BASELINES)]
            for r in rows
        ],
    )  # fmt: skip
    print_table(
        "Targets (requests/s ratio)",
        ["server", "connections", "vs", "ratio", "target", "met"],
        [
            [t["server"], t["concurrency"], t["baseline"], show_ratio(t["ratio"]),
             f">= {t['target']}x", "met" if t["met"] else "NOT met"]
            for t in targets
        ],
    )  # fmt: skip
    write_results(
        "http_e2e",
        args,
        facts,
        {
            "setup": {
                "servers": {
                    name: " ".join(["uvicorn", app, *options])
                    for name, (app, options, _) in specs.items()
                },
                "compare": args.compare,
                "wrk": f"wrk -t1 -c<connections> -d{seconds}s --timeout={WRK_TIMEOUT} --latency",
                "rounds": rounds,
                "pool_max_size": 10,
            },
            "rows": rows,
            "targets": targets,
        },
    )


if __name__ == "__main__":
    main()
