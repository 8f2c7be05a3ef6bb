"""Connection economy: 5 services whose load peaks at different times, served by one shared
pool vs one pool per service. Peak server backends (sampled from pg_stat_activity) and
throughput, side by side.

Each run has 5 phases; in phase k service k is hot (HOT_TASKS workers doing primary-key
lookups back to back) while the other four trickle (one lookup every TRICKLE_PAUSE s).
Every mode uses the generated app's create_pool() and ServiceDatabase (default min size 2),
on uvloop as the generated run command does: the shared pool at the generated default
max 10 and at max 15 (still under 1/3 of 5 x 10), vs 5 pools of max 10. Runs alternate
between modes; every run starts with fresh pools.

Target: shared peak backends <= 1/3 of per-service at >= 0.95x the throughput.

    python bench/connection_economy.py [--quick] [--dsn DSN]
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

from _common import (
    PACKAGE,
    database_of,
    interleaved,
    machine_facts,
    median,
    paired_ratio,
    parse_args,
    percentile,
    postgres_admin_dsn,
    print_table,
    project_settings,
    rendered_project,
    run_in_loop,
    scratch_database,
    seed_items,
    show_ratio,
    write_results,
)

SERVICES = ("billing", "catalog", "orders", "search", "users")
# mode -> (pools, max size of each); the generated default is 10 per pool.
MODES = {
    "shared pool, max 10": (1, 10),
    "shared pool, max 15": (1, 15),
    "pool per service, 5 x max 10": (len(SERVICES), 10),
}
BASELINE = "pool per service, 5 x max 10"
HOT_TASKS = 20
TRICKLE_PAUSE = 0.02
SAMPLE_EVERY = 0.02
ROWS = 200
SQL = "SELECT * FROM {{tables.items}} WHERE id = $1"


async def backend_sampler(dsn: str, database: str, stop: asyncio.Event, samples: list[int]) -> None:
    """Count the app's backends (by application_name) until `stop` is set."""
    import asyncpg

    connection = await asyncpg.connect(dsn, server_settings={"application_name": "bench_sampler"})
    started = time.perf_counter()
    try:
        while not stop.is_set():
            count = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = $1 AND application_name = $2",
                database,
                PACKAGE,
            )
            samples.append((round(time.perf_counter() - started, 3), count))
            await asyncio.sleep(SAMPLE_EVERY)
    finally:
        await connection.close()


def count_changes(samples: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """The samples where the count changed (and the last): the same step plot, far smaller."""
    kept = [s for i, s in enumerate(samples) if i == 0 or s[1] != samples[i - 1][1]]
    return kept if kept[-1] == samples[-1] else [*kept, samples[-1]]


async def run_mode(
    dsn: str, database: str, mode: str, ids: dict[str, list[int]], phase_seconds: float
) -> dict[str, Any]:
    from bench_app.database import ServiceDatabase, close_pool, create_pool

    pool_count, max_size = MODES[mode]
    settings = project_settings(dsn, pool_max_size=max_size)  # min size: the generated default
    async with AsyncExitStack() as opened:
        pools = []
        for _ in range(pool_count):
            pool = await create_pool(settings)
            opened.push_async_callback(close_pool, pool, 5.0)
            pools.append(pool)
        databases = {
            service: ServiceDatabase(
                pools[i % pool_count], service, acquire_timeout=settings.pool_acquire_timeout
            )
            for i, service in enumerate(SERVICES)
        }
        stop_sampling, backends = asyncio.Event(), []
        sampler = asyncio.create_task(backend_sampler(dsn, database, stop_sampling, backends))
        completed = dict.fromkeys(SERVICES, 0)
        trickle_latencies: list[float] = []

        async def worker(service: str, until: float, pause: float | None) -> None:
            db, service_ids, loop = databases[service], ids[service], asyncio.get_running_loop()
            i = 0
            while loop.time() < until:
                started = time.perf_counter()
                await db.fetch_one(SQL, service_ids[i % len(service_ids)])
                completed[service] += 1
                i += 1
                if pause is not None:
                    trickle_latencies.append(time.perf_counter() - started)
                    await asyncio.sleep(pause)

        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            for hot in SERVICES:
                until = loop.time() + phase_seconds
                workers = [worker(hot, until, None) for _ in range(HOT_TASKS)]
                workers += [worker(s, until, TRICKLE_PAUSE) for s in SERVICES if s != hot]
                await asyncio.gather(*workers)
            elapsed = time.perf_counter() - started
        finally:
            stop_sampling.set()
            await sampler
    return {
        "peak_backends": max(count for _, count in backends),
        "ops_per_s": sum(completed.values()) / elapsed,
        "trickle_p99_ms": percentile(trickle_latencies, 0.99) * 1e3,
        "trickle_p50_ms": percentile(trickle_latencies, 0.50) * 1e3,
        "backends_over_time": count_changes(backends),
    }


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rounds, phase_seconds = (2, 0.8) if args.quick else (5, 2.0)
    with (
        postgres_admin_dsn(args.dsn) as admin_dsn,
        rendered_project(SERVICES),
        scratch_database(admin_dsn, "bench_economy") as dsn,
    ):
        from bench_app.migrate import migrate

        facts = machine_facts(admin_dsn)
        database = database_of(dsn)
        settings = project_settings(dsn)
        pool_min_size = settings.pool_min_size
        asyncio.run(migrate(settings))
        ids = {service: asyncio.run(seed_items(dsn, service, ROWS)) for service in SERVICES}
        runs = interleaved(
            MODES,
            rounds,
            lambda mode: run_in_loop("uvloop", run_mode(dsn, database, mode, ids, phase_seconds)),
        )

    summary = {
        mode: {
            metric: median([run[metric] for run in runs[mode]])
            for metric in ("peak_backends", "ops_per_s", "trickle_p50_ms", "trickle_p99_ms")
        }
        for mode in MODES
    }
    ratios = {}
    for mode in MODES:
        backends = summary[mode]["peak_backends"] / summary[BASELINE]["peak_backends"]
        throughput = paired_ratio(runs[mode], runs[BASELINE], "ops_per_s")
        met = backends <= 1 / 3 and throughput["median"] >= 0.95
        ratios[mode] = {"peak_backends": backends, "throughput": throughput, "target_met": met}
    print_table(
        f"5 services, one hot at a time ({phase_seconds} s each), median of {rounds} runs per mode",
        ["mode", "peak backends", "ops/s", "trickle p50 ms", "trickle p99 ms",
         "backends ratio", "throughput ratio", "target"],
        [
            [mode, int(s["peak_backends"]), s["ops_per_s"], s["trickle_p50_ms"],
             s["trickle_p99_ms"], f"{ratios[mode]['peak_backends']:.2f}x",
             show_ratio(ratios[mode]["throughput"]),
             "-" if mode == BASELINE else "met" if ratios[mode]["target_met"] else "NOT met"]
            for mode, s in summary.items()
        ],
    )  # fmt: skip
    print("\ntarget: peak backends <= 0.33x the per-service pools' at >= 0.95x their throughput")
    write_results(
        "connection_economy",
        args,
        facts,
        {
            "setup": {
                "services": list(SERVICES),
                "hot_tasks": HOT_TASKS,
                "trickle_pause_s": TRICKLE_PAUSE,
                "phase_seconds": phase_seconds,
                "rounds": rounds,
                "pool_min_size": pool_min_size,
                "modes": {mode: {"pools": n, "max_size": m} for mode, (n, m) in MODES.items()},
                "loop": "uvloop",
            },
            "summary": summary,
            "runs": runs,
            "ratios_vs_baseline": ratios,
        },
    )


if __name__ == "__main__":
    main()
