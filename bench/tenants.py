"""Tenants: the generated tenant extension (use_tenants) at N tenants, one schema each.

1. Provisioning rate: TenantManager.provision() for tenants 1..N, one after another (registry
   row, advisory lock, CREATE SCHEMA, the tenant migrations), plus one note per tenant;
   the last tenths' median time vs the first tenths'.
2. Request latency at 1 vs N tenants: the database part of GET /notes/{id} (TenantManager.get
   + fetch_one, as the notes router does) from 10 tasks on a fresh pool (generated defaults)
   and a fresh TenantManager, against a database holding 1 tenant vs one holding N, the
   requests spread over every tenant. Pass 1 is cold (new backends, empty caches), pass 2
   warm (same pool). Runs alternate between the two databases.
3. Memory: RssAnon (from /proc/<pid>/status; the server must run on this machine) of one
   pooled backend before and after it has read every tenant's table, vs the same on the
   1-tenant database.

    python bench/tenants.py [--quick] [--dsn DSN]
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

from _common import (
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
    show_ratio,
    write_results,
)

SQL = "SELECT * FROM {{tables.notes}} WHERE id = $1"
TASKS = 10
DATABASES = ("1 tenant", "N tenants")


def tenant_ids(count: int) -> list[str]:
    return [f"t{i:05d}" for i in range(1, count + 1)]


def tenant_manager(pool: Any, settings: Any) -> Any:
    from bench_app.services import SERVICES
    from bench_app.tenants.manager import TenantManager

    return TenantManager(pool, settings, {service.schema for service in SERVICES})


async def provision(dsn: str, count: int) -> list[float]:
    """Provision `count` tenants one after another; seconds each (note insert included)."""
    from bench_app.database import close_pool, create_pool

    settings = project_settings(dsn)
    pool = await create_pool(settings)
    try:
        tenants, durations = tenant_manager(pool, settings), []
        for tenant_id in tenant_ids(count):
            started = time.perf_counter()
            await tenants.provision(tenant_id)
            db = await tenants.get(tenant_id)
            await db.execute("INSERT INTO {{tables.notes}} (title) VALUES ($1)", tenant_id)
            durations.append(time.perf_counter() - started)
        return durations
    finally:
        await close_pool(pool, grace=5.0)


async def request_latencies(dsn: str, ids: list[str], requests: int) -> dict[str, float]:
    """p50/p99 ms of cold then warm passes of `requests` lookups spread over `ids`."""
    from bench_app.database import close_pool, create_pool

    settings = project_settings(dsn)
    pool = await create_pool(settings)
    tenants, chooser = tenant_manager(pool, settings), random.Random(7)
    try:
        result = {}
        for phase in ("cold", "warm"):
            latencies: list[float] = []

            async def worker(count: int, samples: list[float] = latencies) -> None:
                for _ in range(count):
                    started = time.perf_counter()
                    db = await tenants.get(chooser.choice(ids))
                    assert await db.fetch_one(SQL, 1) is not None
                    samples.append(time.perf_counter() - started)

            await asyncio.gather(*(worker(requests // TASKS) for _ in range(TASKS)))
            result[f"{phase}_p50_ms"] = percentile(latencies, 0.50) * 1e3
            result[f"{phase}_p99_ms"] = percentile(latencies, 0.99) * 1e3
        return result
    finally:
        await close_pool(pool, grace=5.0)


def rss_anon_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:  # the server runs elsewhere (or as a user we cannot read)
        return None
    return None


async def backend_memory(dsn: str, ids: list[str]) -> dict[str, Any]:
    """RssAnon of the one backend of a 1-connection pool, before and after reading all `ids`."""
    from bench_app.database import close_pool, create_pool

    settings = project_settings(dsn, pool_min_size=1, pool_max_size=2)
    pool = await create_pool(settings)
    try:
        async with pool.acquire() as connection:
            pid = await connection.fetchval("SELECT pg_backend_pid()")
            before = rss_anon_kb(pid)
            tenants = tenant_manager(pool, settings)
            for tenant_id in ids:  # each lookup acquires; hand the same connection back
                db = await tenants.get(tenant_id)
                await connection.fetchrow(db.prepare_query(SQL), 1)
            after = rss_anon_kb(pid)
        return {
            "tenants_touched": len(ids),
            "rss_anon_kb_before": before,
            "rss_anon_kb_after": after,
        }
    finally:
        await close_pool(pool, grace=5.0)


def memory_per_tenant(memory: dict[str, Any]) -> float | None:
    """RssAnon growth per tenant touched; None if /proc could not be read."""
    before, after = memory["rss_anon_kb_before"], memory["rss_anon_kb_after"]
    if before is None or after is None:
        return None
    return float(after - before) / memory["tenants_touched"]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    count, rounds, requests = (50, 2, 2000) if args.quick else (1000, 5, 10_000)
    with (
        postgres_admin_dsn(args.dsn) as admin_dsn,
        rendered_project(("users",), use_tenants=True),
        scratch_database(admin_dsn, "bench_one_tenant") as one_dsn,
        scratch_database(admin_dsn, "bench_many_tenants") as many_dsn,
    ):
        from bench_app.migrate import migrate

        facts = machine_facts(admin_dsn)
        for dsn in (one_dsn, many_dsn):
            asyncio.run(migrate(project_settings(dsn)))
        asyncio.run(provision(one_dsn, 1))
        started = time.perf_counter()
        durations = run_in_loop("uvloop", provision(many_dsn, count))
        provisioning_s = time.perf_counter() - started
        targets = {"1 tenant": (one_dsn, tenant_ids(1)), "N tenants": (many_dsn, tenant_ids(count))}
        runs = interleaved(
            DATABASES,
            rounds,
            lambda name: run_in_loop("uvloop", request_latencies(*targets[name], requests)),
        )
        memory = {name: run_in_loop("uvloop", backend_memory(*targets[name])) for name in DATABASES}

    tenth = max(1, count // 10)
    first, last = median(durations[:tenth]) * 1e3, median(durations[-tenth:]) * 1e3
    provisioning = {
        "tenants": count,
        "total_s": provisioning_s,
        "tenants_per_s": count / provisioning_s,
        "first_tenth_median_ms": first,
        "last_tenth_median_ms": last,
        "last_vs_first": last / first,
    }
    print_table(
        f"Provisioning {count} tenants one after another (schema + migrations + 1 row)",
        ["tenants", "total s", "tenants/s", "first 10% median ms", "last 10% median ms",
         "last / first"],
        [[count, provisioning_s, count / provisioning_s, first, last, f"{last / first:.2f}x"]],
    )  # fmt: skip
    latency = {
        name: {key: median([run[key] for run in runs[name]]) for key in runs[name][0]}
        for name in DATABASES
    }
    ratios = {
        key: paired_ratio(runs["N tenants"], runs["1 tenant"], key) for key in latency["1 tenant"]
    }
    print_table(
        f"Tenant lookup + PK read, {TASKS} tasks, {requests} requests per pass, median of {rounds}",
        ["database", "cold p50 ms", "cold p99 ms", "warm p50 ms", "warm p99 ms"],
        [[name.replace("N", str(count)), *latency[name].values()] for name in DATABASES]
        + [["ratio N / 1", *(show_ratio(ratios[key]) for key in latency["1 tenant"])]],
    )
    print_table(
        "Memory of one pooled backend (RssAnon, kB)",
        ["database", "tenants touched", "before", "after"],
        [
            [name.replace("N", str(count)), m["tenants_touched"], str(m["rss_anon_kb_before"]),
             str(m["rss_anon_kb_after"])]
            for name, m in memory.items()
        ],
    )  # fmt: skip
    write_results(
        "tenants",
        args,
        facts,
        {
            "setup": {"tenants": count, "rounds": rounds, "requests_per_pass": requests,
                      "tasks": TASKS, "loop": "uvloop"},
            "provisioning": provisioning,
            "provisioning_ms": [d * 1e3 for d in durations],
            "latency": latency,
            "latency_ratio_n_vs_1": ratios,
            "latency_runs": runs,
            "memory": memory,
            "memory_kb_per_tenant": memory_per_tenant(memory["N tenants"]),
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
