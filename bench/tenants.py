"""Tenants: the generated tenant extension (use_tenants) at N tenants, one schema each.

1. Provisioning rate: TenantManager.provision() for tenants 1..N, one after another (registry
   row, advisory lock, CREATE SCHEMA, the tenant migrations), plus one note per tenant, in
   blocks of N/10, each in a process of its own; the last tenths' median time vs the first
   tenths'. With --compare REF the template at git REF provisions N tenants into a database
   of its own the same way, its blocks alternating with this checkout's: before and after.
2. Request latency at 1 vs N tenants: the database part of GET /notes/{id} (TenantManager.get
   + fetch_one, as the notes router does) from 10 tasks on a fresh pool (generated defaults)
   and a fresh TenantManager, against a database holding 1 tenant vs one holding N, the
   requests spread over every tenant. Pass 1 is cold (new backends, empty caches), pass 2
   warm (same pool), pass 3 steady: after every pooled connection has served every tenant
   once, as in a long-running process (at N tenants pass 2 is not that: a connection then
   has served only about 63% of them). Runs alternate between the two databases.
3. Memory: RssAnon (from /proc/<pid>/status; the server must run on this machine) of one
   pooled backend before and after it has read every tenant's table, vs the same on the
   1-tenant database.

    python bench/tenants.py [--quick] [--dsn DSN] [--compare REF]
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    PACKAGE,
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
from pgdbm_shared_pool.scaffold import new_project

SQL = "SELECT * FROM {{tables.notes}} WHERE id = $1"
TASKS = 10
DATABASES = ("1 tenant", "N tenants")
BLOCKS = 10  # provisioning runs in this many blocks, alternating with --compare's


def tenant_ids(count: int) -> list[str]:
    return [f"t{i:05d}" for i in range(1, count + 1)]


def tenant_manager(pool: Any, settings: Any) -> Any:
    from bench_app.services import SERVICES
    from bench_app.tenants.manager import TenantManager

    return TenantManager(pool, settings, {service.schema for service in SERVICES})


async def provision(dsn: str, count: int, start: int = 0) -> list[float]:
    """Provision tenants start+1..start+count one after another; seconds each (note insert
    included)."""
    from bench_app.database import close_pool, create_pool

    settings = project_settings(dsn)
    pool = await create_pool(settings)
    try:
        tenants, durations = tenant_manager(pool, settings), []
        for tenant_id in tenant_ids(start + count)[start:]:
            started = time.perf_counter()
            await tenants.provision(tenant_id)
            db = await tenants.get(tenant_id)
            await db.execute("INSERT INTO {{tables.notes}} (title) VALUES ($1)", tenant_id)
            durations.append(time.perf_counter() - started)
        return durations
    finally:
        await close_pool(pool, grace=5.0)


def provision_block(project: Path, dsn: str, start: int, count: int) -> list[float]:
    """provision() in a process importing `project` (this checkout's or the one at REF)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project / "src"), str(BENCH_DIR)])}
    command = [sys.executable, __file__, "--block", dsn, str(start), str(count)]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return list(json.loads(output.splitlines()[-1]))


def run_block(dsn: str, start: int, count: int) -> None:
    """The child of provision_block(): migrates a new database first (not timed)."""
    from bench_app.migrate import migrate

    if start == 0:
        asyncio.run(migrate(project_settings(dsn)))
    print(json.dumps(run_in_loop("uvloop", provision(dsn, count, start))))


def provisioning_summary(durations: list[float]) -> dict[str, Any]:
    tenth = max(1, len(durations) // 10)
    first, last = median(durations[:tenth]) * 1e3, median(durations[-tenth:]) * 1e3
    return {
        "tenants": len(durations),
        "total_s": sum(durations),
        "tenants_per_s": len(durations) / sum(durations),
        "first_tenth_median_ms": first,
        "last_tenth_median_ms": last,
        "last_vs_first": last / first,
    }


async def serve_every_tenant_on_every_connection(pool: Any, tenants: Any, ids: list[str]) -> None:
    """What a long-running process reaches: each pooled connection has prepared each tenant's
    statement, and its backend has loaded each tenant's table."""
    connections = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        for tenant_id in ids:
            query = (await tenants.get(tenant_id)).prepare_query(SQL)
            for connection in connections:
                await connection.fetchrow(query, 1)
    finally:
        for connection in connections:
            await pool.release(connection)


async def request_latencies(dsn: str, ids: list[str], requests: int) -> dict[str, float]:
    """p50/p99 ms of cold, warm and steady passes of `requests` lookups spread over `ids`, and
    of a steady pass of the same statements on raw asyncpg (what the database itself adds)."""
    from bench_app.database import close_pool, create_pool

    settings = project_settings(dsn)
    pool = await create_pool(settings)
    tenants, chooser = tenant_manager(pool, settings), random.Random(7)
    try:
        queries: dict[str, str] = {}  # each tenant's SQL as pgdbm sends it, after the steady pass

        async def through_the_app(tenant_id: str) -> Any:
            return await (await tenants.get(tenant_id)).fetch_one(SQL, 1)

        async def raw_asyncpg(tenant_id: str) -> Any:
            async with pool.acquire() as connection:
                return await connection.fetchrow(queries[tenant_id], 1)

        result = {}
        phases = {"cold": through_the_app, "warm": through_the_app, "steady": through_the_app,
                  "asyncpg_steady": raw_asyncpg}  # fmt: skip
        for phase, call in phases.items():
            if phase == "steady":
                await serve_every_tenant_on_every_connection(pool, tenants, ids)
                for tenant_id in ids:
                    queries[tenant_id] = (await tenants.get(tenant_id)).prepare_query(SQL)
            latencies: list[float] = []

            async def worker(count: int, samples: list[float] = latencies, run: Any = call) -> None:
                for _ in range(count):
                    started = time.perf_counter()
                    assert await run(chooser.choice(ids)) is not None
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
    if sys.argv[1:2] == ["--block"]:  # a child of provision_block()
        run_block(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    args = parse_args(__doc__.splitlines()[0], compare=True)
    count, rounds, requests = (50, 2, 2000) if args.quick else (1000, 5, 10_000)
    with (
        postgres_admin_dsn(args.dsn) as admin_dsn,
        rendered_project(("users",), use_tenants=True) as project,
        tempfile.TemporaryDirectory(prefix="bench_tenants_before_") as before,
        scratch_database(admin_dsn, "bench_one_tenant") as one_dsn,
        scratch_database(admin_dsn, "bench_many_tenants") as many_dsn,
        scratch_database(admin_dsn, "bench_many_tenants_before") as before_dsn,
    ):
        facts = machine_facts(admin_dsn)
        projects = {"this checkout": (project, many_dsn)}
        if args.compare:
            old = Path(before) / "bench-app"
            new_project(old, services=["users"], package_name=PACKAGE, use_tenants=True,
                        vcs_ref=args.compare)  # fmt: skip
            projects[f"at {args.compare}"] = (old, before_dsn)
        provision_block(project, one_dsn, 0, 1)
        size = count // BLOCKS
        blocks: dict[str, list[list[float]]] = {name: [] for name in projects}
        for block in range(BLOCKS):  # alternating, the order reversed every block
            for name in list(projects) if block % 2 == 0 else list(reversed(projects)):
                folder, dsn = projects[name]
                blocks[name].append(provision_block(folder, dsn, block * size, size))
        targets = {"1 tenant": (one_dsn, tenant_ids(1)), "N tenants": (many_dsn, tenant_ids(count))}
        runs = interleaved(
            DATABASES,
            rounds,
            lambda name: run_in_loop("uvloop", request_latencies(*targets[name], requests)),
        )
        memory = {name: run_in_loop("uvloop", backend_memory(*targets[name])) for name in DATABASES}

    durations = [d for block in blocks["this checkout"] for d in block]
    provisioning = provisioning_summary(durations)
    first, last = provisioning["first_tenth_median_ms"], provisioning["last_tenth_median_ms"]
    provisioning_s = provisioning["total_s"]
    rates = {name: [size / sum(block) for block in got] for name, got in blocks.items()}
    compared = {
        name: {
            **provisioning_summary([d for block in got for d in block]),
            "this_checkout_vs_it": paired_ratio(rates["this checkout"], rates[name]),
        }
        for name, got in blocks.items()
        if name != "this checkout"
    }
    print_table(
        f"Provisioning {count} tenants one after another (schema + migrations + 1 row)",
        ["tenants", "total s", "tenants/s", "first 10% median ms", "last 10% median ms",
         "last / first"],
        [[count, provisioning_s, count / provisioning_s, first, last, f"{last / first:.2f}x"]],
    )  # fmt: skip
    if compared:
        print_table(
            f"Provisioning, blocks of {size} alternating",
            ["template", "tenants/s", "this checkout's per-block rate vs it"],
            [[name, got["tenants_per_s"], show_ratio(got["this_checkout_vs_it"])]
             for name, got in compared.items()],
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
        ["database", *(key.removesuffix("_ms").replace("_", " ") + " ms" for key in ratios)],
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
                      "tasks": TASKS, "loop": "uvloop", "blocks": BLOCKS,
                      "compare": args.compare},
            "provisioning": provisioning,
            "provisioning_compared": compared,
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
