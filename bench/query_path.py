"""Query path: a primary-key lookup through the generated app's schema-bound pgdbm manager
vs the same SQL on the same raw asyncpg pool, on the default asyncio loop and on uvloop.

Variants (one pool, created as the generated app creates it; 10 tasks, pool of 10):
  raw asyncpg      pool.fetchrow('SELECT * FROM "users".items WHERE id = $1', id)
  pgdbm manager    AsyncDatabaseManager(pool=pool, schema="users").fetch_one(<{{tables.items}} SQL>)
  ServiceDatabase  the generated app's manager, as its routers call it: pgdbm with its
                   {{tables.x}} expansions remembered and a bounded acquire

A cProfile of the plain pgdbm manager and of ServiceDatabase shows which share of the
client's time goes to templating (pgdbm's prepare_query runs on every call; the generated
one expands each query text once) and to the acquire.

    python bench/query_path.py [--quick] [--dsn DSN]
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import time
import timeit
from collections.abc import Awaitable, Callable
from typing import Any

from _common import (
    LOOPS,
    interleaved,
    machine_facts,
    median,
    paired_ratio,
    parse_args,
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

SCHEMA = "users"
TEMPLATED_SQL = "SELECT * FROM {{tables.items}} WHERE id = $1"
RAW_SQL = f'SELECT * FROM "{SCHEMA}".items WHERE id = $1'  # what pgdbm expands the above to
VARIANTS = ("raw asyncpg", "pgdbm manager", "ServiceDatabase")
PROFILED_VARIANTS = ("pgdbm manager", "ServiceDatabase")
BASELINE = "raw asyncpg"
TASKS = 10
ROWS = 1000

PROFILED = ("fetch_one", "prepare_query", "acquire", "wait_for", "fetchrow", "release")

Lookup = Callable[[int], Awaitable[Any]]


def lookups(pool: Any) -> dict[str, Lookup]:
    from bench_app.database import ServiceDatabase
    from pgdbm import AsyncDatabaseManager

    manager = AsyncDatabaseManager(pool=pool, schema=SCHEMA)
    service_db = ServiceDatabase(pool, SCHEMA, acquire_timeout=5.0)
    return {
        "raw asyncpg": lambda item_id: pool.fetchrow(RAW_SQL, item_id),
        "pgdbm manager": lambda item_id: manager.fetch_one(TEMPLATED_SQL, item_id),
        "ServiceDatabase": lambda item_id: service_db.fetch_one(TEMPLATED_SQL, item_id),
    }


async def hammer(lookup: Lookup, ids: list[int], calls_per_task: int) -> None:
    async def worker(offset: int) -> None:
        for i in range(calls_per_task):
            row = await lookup(ids[(offset + i) % len(ids)])
            assert row is not None

    await asyncio.gather(*(worker(task * 97) for task in range(TASKS)))


async def measure(dsn: str, variant: str, ids: list[int], calls_per_task: int) -> dict[str, float]:
    from bench_app.database import close_pool, create_pool

    settings = project_settings(dsn, pool_min_size=TASKS, pool_max_size=TASKS)
    pool = await create_pool(settings)
    try:
        lookup = lookups(pool)[variant]
        await hammer(lookup, ids, 50)  # warm the statement cache of every connection
        wall, cpu = time.perf_counter(), time.process_time()
        await hammer(lookup, ids, calls_per_task)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await close_pool(pool, grace=5.0)
    calls = TASKS * calls_per_task
    return {"ops_per_s": calls / wall, "wall_us": wall / calls * 1e6, "cpu_us": cpu / calls * 1e6}


def profile_variant(
    dsn: str, variant: str, ids: list[int], calls_per_task: int
) -> dict[str, float]:
    """cProfile of one variant's fetch_one on the default loop: each function's share."""
    from bench_app.database import close_pool, create_pool

    profiler = cProfile.Profile()

    async def session() -> None:
        pool = await create_pool(project_settings(dsn, pool_min_size=TASKS, pool_max_size=TASKS))
        try:
            lookup = lookups(pool)[variant]
            await hammer(lookup, ids, 50)
            profiler.enable()
            await hammer(lookup, ids, calls_per_task)
            profiler.disable()
        finally:
            await close_pool(pool, grace=5.0)

    run_in_loop("asyncio", session())
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    by_name: dict[str, float] = {}
    for (_, _, function), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if function in PROFILED:
            by_name[function] = max(by_name.get(function, 0.0), cumulative)
    return {f"{name}_share": by_name.get(name, 0.0) / total for name in PROFILED}


def templating_micro() -> dict[str, float]:
    """prepare_query alone, µs per call: pgdbm's vs the generated ServiceDatabase's (no I/O)."""
    from bench_app.database import ServiceDatabase
    from pgdbm import AsyncDatabaseManager

    no_pool: Any = object()  # prepare_query never touches the pool
    managers = {
        "pgdbm_prepare_query_us": AsyncDatabaseManager(pool=no_pool, schema=SCHEMA),
        "generated_prepare_query_us": ServiceDatabase(no_pool, SCHEMA, acquire_timeout=5.0),
    }
    number = 20_000
    return {
        name: min(
            timeit.repeat(lambda m=manager: m.prepare_query(TEMPLATED_SQL), number=number, repeat=5)
        )
        / number
        * 1e6
        for name, manager in managers.items()
    }


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rounds, calls_per_task = (3, 200) if args.quick else (5, 1000)
    with (
        postgres_admin_dsn(args.dsn) as admin_dsn,
        rendered_project() as _,
        scratch_database(admin_dsn, "bench_query") as dsn,
    ):
        from bench_app.migrate import migrate

        facts = machine_facts(admin_dsn)
        asyncio.run(migrate(project_settings(dsn)))
        ids = asyncio.run(seed_items(dsn, SCHEMA, ROWS))
        keys = [(loop, variant) for loop in LOOPS for variant in VARIANTS]
        runs = interleaved(
            keys, rounds, lambda key: run_in_loop(key[0], measure(dsn, key[1], ids, calls_per_task))
        )
        profiles = {
            variant: profile_variant(dsn, variant, ids, calls_per_task)
            for variant in PROFILED_VARIANTS
        }
        micro = templating_micro()

    rows, table = [], []
    for loop in LOOPS:
        base = runs[(loop, BASELINE)]
        for variant in VARIANTS:
            samples = runs[(loop, variant)]
            row = {
                "loop": loop,
                "variant": variant,
                "ops_per_s": median([s["ops_per_s"] for s in samples]),
                "wall_us_per_call": median([s["wall_us"] for s in samples]),
                "client_cpu_us_per_call": median([s["cpu_us"] for s in samples]),
                "extra_client_cpu_us_vs_raw": median([s["cpu_us"] for s in samples])
                - median([b["cpu_us"] for b in base]),
                # Wall throughput also measures the server and the machine's other load;
                # client CPU per call is the wrapper's own cost.
                "throughput_vs_raw": paired_ratio(samples, base, "ops_per_s"),
                "client_cpu_vs_raw": paired_ratio(samples, base, "cpu_us"),
                "samples": samples,
            }
            rows.append(row)
            table.append(
                [loop, variant, row["ops_per_s"], row["wall_us_per_call"],
                 row["client_cpu_us_per_call"], row["extra_client_cpu_us_vs_raw"],
                 show_ratio(row["throughput_vs_raw"]), show_ratio(row["client_cpu_vs_raw"])]
            )  # fmt: skip
    print_table(
        f"PK lookup, {TASKS} tasks on a pool of {TASKS}, median of {rounds} interleaved rounds",
        ["loop", "variant", "ops/s", "wall µs/call", "client CPU µs/call", "+CPU µs vs raw",
         "throughput vs raw (range)", "client CPU vs raw (range)"],
        table,
    )  # fmt: skip
    print_table(
        "Where fetch_one spends client time (cProfile, asyncio loop, share of profiled time)",
        ["function", *PROFILED_VARIANTS],
        [[name, *(f"{profiles[v][f'{name}_share']:.1%}" for v in PROFILED_VARIANTS)]
         for name in PROFILED],
    )  # fmt: skip
    print_table(
        "Templating alone (no I/O)",
        ["pgdbm prepare_query µs/call", "generated prepare_query µs/call"],
        [[micro["pgdbm_prepare_query_us"], micro["generated_prepare_query_us"]]],
    )
    write_results(
        "query_path",
        args,
        facts,
        {
            "setup": {"tasks": TASKS, "pool_size": TASKS, "rounds": rounds,
                      "calls_per_run": TASKS * calls_per_task, "sql": TEMPLATED_SQL},
            "rows": rows,
            "profiles": profiles,
            "templating_micro": micro,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
