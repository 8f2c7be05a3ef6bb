"""The sections of docs/benchmarks.md, one per benchmark, and the Markdown helpers they share.
Each section turns one results file into (Markdown, headline rows); bench/report.py
assembles the page.
"""

from __future__ import annotations

from typing import Any

from _common import BENCH_DIR, median, show_ratio, table
from first_steps import first_steps_section
from plot import DOCS_DIR

PAGE = BENCH_DIR.parent / "docs" / "benchmarks.md"
IMAGES = DOCS_DIR.relative_to(PAGE.parent)  # the quick report links the same paths


def x(value: float | dict[str, float]) -> str:
    """A ratio; a paired ratio (median, min, max) shows its range too."""
    return show_ratio(value) if isinstance(value, dict) else f"{value:.2f}x"


def verdict(met: bool | None) -> str:
    return "—" if met is None else ("**met**" if met else "**not met**")


def image(name: str) -> str:
    return f"![{name}]({IMAGES / name}.png)"


def query_path_section(data: dict[str, Any]) -> tuple[str, list[list[str]]]:
    rows = data["rows"]
    setup, profiles, micro = data["setup"], data["profiles"], data["templating_micro"]
    body = table(
        ["loop", "variant", "ops/s", "wall µs/call", "client CPU µs/call", "+CPU µs vs raw",
         "throughput vs raw", "client CPU vs raw"],
        [[r["loop"], r["variant"], r["ops_per_s"], r["wall_us_per_call"],
          r["client_cpu_us_per_call"], r["extra_client_cpu_us_vs_raw"],
          x(r["throughput_vs_raw"]), x(r["client_cpu_vs_raw"])] for r in rows],
    )  # fmt: skip
    by = {(r["loop"], r["variant"]): r for r in rows}
    plain, service = by[("uvloop", "pgdbm manager")], by[("uvloop", "ServiceDatabase")]
    variants = list(profiles)
    functions = list(profiles[variants[0]])
    profile_rows = [
        [name.removesuffix("_share"), *(f"{profiles[v][name]:.1%}" for v in variants)]
        for name in functions
    ]
    text = f"""## 1. Query path: pgdbm manager vs raw asyncpg

`python bench/query_path.py` — a primary-key lookup (`{setup["sql"]}`) from
{setup["tasks"]} tasks on one pool of {setup["pool_size"]}, created by the generated app's
`create_pool()`; the raw variant runs the expanded SQL text on the same pool
(`pool.fetchrow`). {setup["calls_per_run"]:,} calls per run, {setup["rounds"]} rounds, every
variant on both loops alternating; medians; ratios are medians of per-round ratios.
"client CPU" is the process's CPU time per call, the cost of the wrapper itself; wall
time also includes the server, which shares the cores.

- "pgdbm manager": pgdbm 0.5.0 as it comes, `AsyncDatabaseManager(pool=pool, schema=...)`.
- "ServiceDatabase": the generated app's manager, as its routers call it.

{body}

{image("query_path")}

**Where the time goes** (cProfile of `fetch_one`, asyncio loop; cumulative share of the
profiled time, nested entries overlap):

{table(["function", *variants], profile_rows)}

**Templating**: pgdbm expands `{{{{tables.x}}}}` on every call (`prepare_query`: two
regexes, two replaces), {micro["pgdbm_prepare_query_us"]:.1f} µs per call. **What the
generated app does about it:** `ServiceDatabase.prepare_query` remembers each expansion in
a dict keyed by `(schema, query)` — the expansion depends on nothing else — bounded at
`max_cached_queries = 1024` entries, so SQL built at run time cannot grow it without
limit (past that it expands per call, as pgdbm does). A remembered query costs
{micro["generated_prepare_query_us"]:.2f} µs. Templating was never most of the gap,
though: on uvloop the generated manager still costs
{service["extra_client_cpu_us_vs_raw"]:.1f} µs of client CPU per call more than raw
asyncpg (plain pgdbm, which expands per call but waits for a connection without a bound:
{plain["extra_client_cpu_us_vs_raw"]:.1f} µs). The rest is pgdbm's wrapper (an
`asynccontextmanager` per acquire, `dict(row)`, error wrapping) and the generated
`ServiceDatabase.acquire`, whose `pool.acquire(timeout=...)` adds a coroutine and a timeout
scope around the wait (asyncpg's `wait_for` above) and, because asyncpg reuses that
timeout on release, a second timeout scope around the connection reset.

Bounding only the wait instead (`async with asyncio.timeout(t): conn = await
pool.acquire()`, release without a timeout) was measured against this generated app in
a full run of these benchmarks (commit 96b16e6) and dropped: it saved a few µs of client
CPU per call in some rounds and not in others, and no server CPU per HTTP request, while
it would leave the connection reset on release unbounded.
"""  # fmt: skip
    headline = [
        "Query path (PK lookup, uvloop): generated `ServiceDatabase` vs raw asyncpg",
        f"{x(service['throughput_vs_raw'])} throughput; client CPU per call "
        f"{x(service['client_cpu_vs_raw'])} (+{service['extra_client_cpu_us_vs_raw']:.0f} µs)",
        "—",
    ]
    return text, [headline]


def connection_economy_section(data: dict[str, Any]) -> tuple[str, list[list[str]]]:
    setup, summary, ratios = data["setup"], data["summary"], data["ratios_vs_baseline"]
    body = table(
        ["mode", "peak backends", "ops/s", "trickle p50 ms", "trickle p99 ms",
         "backends vs per-service", "throughput vs per-service", "target"],
        [[mode, int(s["peak_backends"]), s["ops_per_s"], s["trickle_p50_ms"], s["trickle_p99_ms"],
          x(ratios[mode]["peak_backends"]), x(ratios[mode]["throughput"]),
          "—" if mode.startswith("pool per service") else verdict(ratios[mode]["target_met"])]
         for mode, s in summary.items()],
    )  # fmt: skip
    text = f"""## 2. Connection economy: one shared pool vs one pool per service

`python bench/connection_economy.py` — {len(setup["services"])} services; in each of 5
phases of {setup["phase_seconds"]} s one service is hot ({setup["hot_tasks"]} workers doing
PK lookups back to back) while the others trickle (one lookup every
{setup["trickle_pause_s"] * 1000:.0f} ms). Generated `create_pool()` and `ServiceDatabase`,
pool min size {setup["pool_min_size"]}, {setup["loop"]}; {setup["rounds"]} runs per mode,
alternating, each with fresh pools. Backends are sampled from `pg_stat_activity` every
20 ms. Target: peak backends ≤ ⅓ at ≥ 0.95x throughput.

{body}

{image("connection_economy")}

Separate pools each grow to their own maximum when their service peaks and keep those
connections (asyncpg closes idle ones only after 300 s), so their backends add up to the
sum of the peaks; the shared pool never exceeds its one maximum. The cost of sharing shows
in the trickle columns: a quiet service's query queues behind the hot service's workers
for a connection.
"""  # fmt: skip
    default = ratios["shared pool, max 10"]
    headline = [
        "Connection economy (5 services peaking in turn): shared pool (max 10) vs 5 pools",
        f"{x(default['peak_backends'])} peak backends at {x(default['throughput'])} throughput",
        f"≤ 0.33x at ≥ 0.95x: {verdict(default['target_met'])}",
    ]
    return text, [headline]


def http_e2e_section(data: dict[str, Any]) -> tuple[str, list[list[str]]]:
    setup, rows, targets = data["setup"], data["rows"], data["targets"]
    baselines = list(dict.fromkeys(t["baseline"] for t in targets))
    body = table(
        ["server", "connections", "req/s", "p50 ms", "p99 ms", "non-2xx",
         *(f"req/s vs {b}" for b in baselines)],
        [[r["server"], r["concurrency"], r["requests_per_s"], r["p50_ms"], r["p99_ms"],
          r["non_2xx"], *(x(r[f"vs {b}"]) for b in baselines)] for r in rows],
    )  # fmt: skip
    cpu_table = table(
        ["server", "connections", "server CPU µs/request", *(f"vs {b}" for b in baselines)],
        [[r["server"], r["concurrency"], r["server_cpu_us_per_request"],
          *(x(r[f"cpu vs {b}"]) for b in baselines)] for r in rows],
    )  # fmt: skip
    target_table = table(
        ["server", "connections", "vs", "req/s ratio", "target", "verdict"],
        [[t["server"], t["concurrency"], t["baseline"], x(t["ratio"]), f"≥ {t['target']}x",
          verdict(t["met"])] for t in targets],
    )  # fmt: skip
    servers = "\n".join(f"- {name}: `{command}`" for name, command in setup["servers"].items())
    text = f"""## 3. HTTP end to end: GET by id

`python bench/http_e2e.py` — the generated app's `GET /users/items/{{id}}` against the same
endpoint written by hand on raw asyncpg ([`bench/handwritten_app.py`](../bench/handwritten_app.py):
same response model, validation and pool sizes), one uvicorn worker each, access log on (the
default), load from `{setup["wrk"]}` on loopback, {setup["rounds"]} rounds alternating
between servers:

{servers}

(a) is what a user writes by hand with `pip install fastapi uvicorn`: without
`uvicorn[standard]` there is no uvloop or httptools. (b) is the generated app's stack with
raw asyncpg in place of the pattern, so pattern / (b) is the pattern's whole cost.
The generated app's dependencies (`database_for()`, `get_pool`) are `async def`, so
FastAPI runs them on the event loop, not in its threadpool, and its `ServiceDatabase`
remembers its `{{{{tables.x}}}}` expansions (section 1).

{body}

Ratios are medians of per-round ratios, with their range in brackets. Against the targets:

{target_table}

**Server CPU per request** (the uvicorn process's user + system time from `/proc`, divided
by the requests served). Requests/s on this shared 2-core machine depends mostly on how
much CPU the server process is given; CPU per request is the cost of the code itself:

{cpu_table}

{image("http_e2e")}
"""  # fmt: skip
    headline_rows = []
    for baseline in baselines:

        def ratios(server: str, baseline: str = baseline) -> str:
            return ", ".join(
                f"{x(t['ratio'])} at c={t['concurrency']}"
                for t in targets
                if t["server"] == server and t["baseline"] == baseline
            )

        cpu = ", ".join(
            f"{x(r[f'cpu vs {baseline}'])} at c={r['concurrency']}"
            for r in rows
            if r["server"] == "pattern"
        )
        headline_rows.append([
            f"HTTP GET by id: generated app vs {baseline}",
            f"req/s {ratios('pattern')}; server CPU per request {cpu}",
            ", ".join(f"≥ {t['target']}x at c={t['concurrency']}: {verdict(t['met'])}"
                      for t in targets if t["server"] == "pattern" and t["baseline"] == baseline),
        ])  # fmt: skip
    return text, headline_rows


def tenants_section(data: dict[str, Any]) -> tuple[str, list[list[str]]]:
    setup, prov, latency = data["setup"], data["provisioning"], data["latency"]
    ratios, memory = data["latency_ratio_n_vs_1"], data["memory"]
    count = setup["tenants"]
    keys = list(latency["1 tenant"])
    latency_table = table(
        ["database", *(k.removesuffix("_ms").replace("_", " ") + " ms" for k in keys)],
        [[name.replace("N", str(count)), *(latency[name][k] for k in keys)] for name in latency]
        + [[f"{count} / 1", *(x(ratios[k]) for k in keys)]],
    )
    memory_rows = [
        [name.replace("N", str(count)), m["tenants_touched"], m["rss_anon_kb_before"],
         m["rss_anon_kb_after"]]
        for name, m in memory.items()
    ]  # fmt: skip
    growth = data["memory_kb_per_tenant"]
    growth_note = "" if growth is None else f"About {growth:.1f} kB per tenant touched; "
    text = f"""## 4. Tenants: schema per customer

`python bench/tenants.py` — the generated tenant extension (`use_tenants`): its
`TenantManager` on the shared pool.

**Provisioning** {count} tenants one after another (registry row, advisory lock,
`CREATE SCHEMA`, the tenant migrations, one row): {prov["total_s"]:.1f} s,
{prov["tenants_per_s"]:.1f} tenants/s; median {prov["first_tenth_median_ms"]:.1f} ms per
tenant in the first tenth, {prov["last_tenth_median_ms"]:.1f} ms in the last
({x(prov["last_vs_first"])}).

**Request latency** — the database part of `GET /notes/{{id}}` (`TenantManager.get` +
`fetch_one`, as the router does), {setup["tasks"]} tasks, {setup["requests_per_pass"]:,}
requests per pass spread over every tenant, on a fresh pool and manager per run; pass 1
cold (new backends, empty caches, registry look-ups), pass 2 warm; a 1-tenant database
and a {count}-tenant database alternating, {setup["rounds"]} rounds:

{latency_table}

**Memory** of one pooled backend (RssAnon from `/proc/<pid>/status`), before and after it
read one row from every tenant's table:

{table(["database", "tenants touched", "RssAnon before kB", "after kB"], memory_rows)}

{growth_note}a backend keeps what it cached until it exits. Every pooled connection of
every process ends up caching every tenant it serves: bound that with asyncpg's
`max_queries` / `max_inactive_connection_lifetime` or PgBouncer's `server_lifetime` when
tenants number in the thousands.

{image("tenants")}
"""  # fmt: skip
    headline = [
        f"Tenants ({count})",
        f"{prov['tenants_per_s']:.1f} tenants/s provisioned (last tenth {x(prov['last_vs_first'])}"
        f" the first's time); warm p99 at {count} vs 1 tenant {x(ratios['warm_p99_ms'])}"
        + ("" if growth is None else f"; +{growth:.1f} kB backend memory per tenant touched"),
        "—",
    ]
    return text, [headline]


def scaffold_section(data: dict[str, Any]) -> tuple[str, list[list[str]]]:
    runs, green, setup = data["scaffold_runs_s"], data["green"], data["setup"]
    cpu, cpu_ratios = data["scaffold_cpu_s"], data["cpu_ratios"]
    installed, checkout = (
        data["installed_copy_new_vs_copier_copy"],
        data["shared_pool_new_vs_copier_copy"],
    )
    body = table(
        ["command", "median s", "min s", "max s", "median CPU s"],
        [[name, median(t), min(t), max(t), median(cpu[name])] for name, t in runs.items()],
    )
    commands = "\n".join(f"- `{' '.join(cmd)}`" for cmd in setup["commands"].values())
    new_s = median(runs["shared-pool new (installed copy)"])
    installed_cpu = cpu_ratios["shared-pool new (installed copy)"]
    text = f"""## 5. Scaffolding

`python bench/scaffold.py` — a 2-service project ({", ".join(setup["services"])}), both
CLIs in subprocesses, {setup["rounds"]} rounds alternating:

{commands}

{body}

`shared-pool new` / `copier copy`, the same template from the same place (target: never
slower). From this git checkout: wall {x(checkout)}, CPU {x(cpu_ratios["shared-pool new"])};
from an installed (plain-folder) copy of the skill: wall {x(installed)}, CPU
{x(cpu_ratios["shared-pool new (installed copy)"])}. CPU time (user + system of the command
and its children) moves far less than wall time when other work shares the machine.

Both run copier once: `new` checks the names with naming.py, then copier renders (before,
a dry run of copier validated the answers, then a second run rendered: 1.3x the time).
The floor is copier's own work: importing it (about 0.3 s on an idle core), a git clone of a
checkout template, and one `git` subprocess per rendered file; the target of < 0.5 s for
`new` is therefore not reachable through copier on this machine ({new_s:.2f} s median here).

**Scaffold to green suite**: `shared-pool new`, then the generated project's own pytest
suite on the local server: {green["scaffold_s"]:.1f} s + {green["suite_s"]:.1f} s
({int(green["tests_passed"])} tests passed) = **{green["total_s"]:.1f} s** (median of
{len(data["green_runs"])}).

{image("scaffold")}
"""  # fmt: skip
    headline = [
        "Scaffolding: `shared-pool new` vs `copier copy`, same source",
        f"CPU {x(cpu_ratios['shared-pool new (installed copy)'])} from an installed copy, "
        f"{x(cpu_ratios['shared-pool new'])} from the checkout ({new_s:.2f} s wall); "
        f"scaffold to green suite {green['total_s']:.0f} s",
        f"≤ 1.0x: **{'met' if installed_cpu['median'] <= 1.0 else 'not met'}**, "
        f"< 0.5 s: **{'met' if new_s < 0.5 else 'not met'}**",
    ]
    return text, [headline]


def timeouts_section(data: dict[str, Any]) -> tuple[str, list[list[str]]]:
    sizes, variants = data["sizes"], data["variants"]
    rows = [
        [variant, scenario, ", ".join(f"{code}: {n}" for code, n in got["statuses"].items()),
         got["longest_request_s"], got["longest_request_status"], got["server_tracebacks"]]
        for variant, scenarios in variants.items()
        for scenario, got in scenarios.items()
    ]  # fmt: skip
    body = table(
        ["template", "trouble", "statuses", "longest request s", "its status", "tracebacks"], rows
    )
    ours = variants["this checkout"]
    sound = all(
        set(got["statuses"]) <= {"200", "201", "503"} for got in ours.values()
    )  # no 500, no client error, every 503 with Retry-After
    text = f"""## 6. Timeouts under trouble

`python bench/timeouts.py [--compare REF]` — the generated app under uvicorn (pool of
{data["pool_max_size"]}, shipped defaults), {sizes["clients"]} clients looping on GET and POST,
while another session holds the items table locked for {sizes["lock_seconds"]:.0f} s, and while
PostgreSQL restarts (fast shutdown, then start). `--compare REF` runs the template at a git
ref the same way (d4c1c34: before the request deadline, pgdbm's 5 s lock timeout and a 5 s
acquire timeout).

{body}
"""
    locked = ours["table locked"]
    headline = [
        f"Table locked {sizes['lock_seconds']:.0f} s under {sizes['clients']} clients "
        f"(pool of {data['pool_max_size']}), and a restart",
        f"locked: {', '.join(f'{c}: {n}' for c, n in locked['statuses'].items())}, longest "
        f"{locked['longest_request_s']:.1f} s; restart: longest "
        f"{ours['postgres restart']['longest_request_s']:.1f} s",
        f"no 500, 503 with Retry-After: {verdict(sound)}",
    ]
    return text, [headline]


SECTIONS = {
    "query_path": query_path_section,
    "connection_economy": connection_economy_section,
    "http_e2e": http_e2e_section,
    "tenants": tenants_section,
    "scaffold": scaffold_section,
    "timeouts": timeouts_section,
    "first_steps": first_steps_section,
}
