"""The sections of docs/benchmarks.md, one per benchmark (the HTTP ones in report_http.py).
Each section turns one results file into (Markdown, headline rows); bench/report.py
assembles the page.
"""

from __future__ import annotations

import shlex
from typing import Any

from _common import median, table
from first_steps import first_steps_section
from report_format import image, verdict, x
from report_http import http_e2e_section, request_costs_section
from scaffold import COPIER_WITHOUT_GIT, IMPORT_COPIER, IMPORT_QUESTIONARY


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
`ServiceDatabase.acquire`. That one bounds its wait with the app's watchdog
(`deadline.py`: one timer per event loop, checking every 50 ms, which also ends requests at
their budget), not `pool.acquire(timeout=...)`: a timeout costs a timeout scope around the
wait and, because asyncpg reuses it on release, a second one around the connection reset.
That reset stays bounded by the pool's `command_timeout` (the statement timeout + 1 s).
Where the rest of an HTTP request's time goes: section 3.1.
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
    overhead_one, overhead_many = (
        latency[name]["steady_p50_ms"] - latency[name]["asyncpg_steady_p50_ms"]
        for name in ("1 tenant", "N tenants")
    )
    growth_note = "" if growth is None else f"About {growth:.1f} kB per tenant touched; "
    compared = data.get("provisioning_compared") or {}
    compared_text = "".join(
        f"The template {name} (before this round of work), its blocks alternating with these "
        f"into a database of its own: {got['tenants_per_s']:.1f} tenants/s; per block, this "
        f"checkout provisioned {x(got['this_checkout_vs_it'])} as many tenants per second.\n"
        for name, got in compared.items()
    )
    compared_headline = "".join(
        f"; {name}: {got['tenants_per_s']:.1f}/s" for name, got in compared.items()
    )
    text = f"""## 4. Tenants: schema per customer

`python bench/tenants.py` — the generated tenant extension (`use_tenants`): its
`TenantManager` on the shared pool.

**Provisioning** {count} tenants one after another (registry row, advisory lock,
`CREATE SCHEMA`, the tenant migrations, one row), in {setup["blocks"]} blocks of
{count // setup["blocks"]}, each in a process of its own: {prov["total_s"]:.1f} s in all
(the sum of the tenants' times), {prov["tenants_per_s"]:.1f} tenants/s; median
{prov["first_tenth_median_ms"]:.1f} ms per tenant in the first tenth,
{prov["last_tenth_median_ms"]:.1f} ms in the last ({x(prov["last_vs_first"])}).
{compared_text}The absolute rate moves with the load other work puts on this shared machine (and
on its PostgreSQL) from one run to the next, by as much as a factor of two; the ratio
between the two templates, measured in alternating blocks, is the steadier figure.

Everything a provisioning does under the tenant's advisory lock (the registry reads and
writes, `CREATE SCHEMA`, pgdbm's migration run) goes through the lock's own connection
instead of back to the pool between steps: one connection per provisioning instead of
two, 28 round trips per tenant instead of 33 (3 resets of a pooled connection instead of
8). Most of what remains is pgdbm's migration run
(`AsyncMigrationManager.apply_pending_migrations`): for one new migration file it creates
the schema's `schema_migrations` table and index, then runs `CREATE TABLE IF NOT EXISTS`
and `CREATE INDEX IF NOT EXISTS` three times and reads the applied files three times,
in two transactions, the second of which finds nothing to do: 16 of the 28 round trips.
Upstream, ensuring the table once per run and stopping after the last pending file would
save 9 of them.

**Request latency** — the database part of `GET /notes/{{id}}` (`TenantManager.get` +
`fetch_one`, as the router does), {setup["tasks"]} tasks, {setup["requests_per_pass"]:,}
requests per pass spread over every tenant, on a fresh pool and manager per run; pass 1
cold (new backends, empty caches, registry look-ups), pass 2 warm (the same pool), pass 3
steady: after each pooled connection has served every tenant once, which is where a
long-running process ends up; a 1-tenant database and a {count}-tenant database
alternating, {setup["rounds"]} rounds:

{latency_table}

What grows with tenants is the first use of a tenant on a connection: asyncpg prepares the
tenant's statement (a round trip more; every tenant's SQL names its own schema, so each is
a statement of its own) and the backend loads the tenant's table and index into its
catalog caches. With {setup["tasks"]} connections and {count:,} tenants there are
{setup["tasks"] * count:,} such pairs: after one pass of
{setup["requests_per_pass"]:,} requests spread over them a connection has served about 63%
of the tenants, so the "warm" pass still pays a first use on roughly a quarter of its
requests; the steady pass pays none.

**Where the steady growth is**: the last two columns are a fourth pass on the same pool,
the same statements straight from `pool.acquire()` + `fetchrow` (no `TenantManager`, no
pgdbm). Raw asyncpg's p99 at {count:,} tenants is {x(ratios["asyncpg_steady_p99_ms"])} its
p99 at 1 (p50 {x(ratios["asyncpg_steady_p50_ms"])}), against {x(ratios["steady_p99_ms"])}
(p50 {x(ratios["steady_p50_ms"])}) through the tenant code, which adds
{overhead_one:.2f} ms per request at p50 at 1 tenant and {overhead_many:.2f} ms at {count:,}.
Most of what grows is below the generated code: each request reads another table and index out of
{count:,} instead of one hot pair (buffer look-ups, catalog caches and the CPU's own caches
no longer stay warm), which no app code takes away short of fewer schemas; a ≤ 1.2x p99
target holds only as far as the database's own ratio allows.

Neither the registry (read once per tenant and
process, then cached with its `ServiceDatabase`) nor the manager creation grows per
request. Two limits decide whether a real process stays steady: asyncpg's statement cache
(`STATEMENT_CACHE_SIZE`, 1,000 per connection by default) must hold tenants x the queries
each request path runs (the notes routes have five: 1,000 tenants need 5,000, or most
requests prepare again), and recycling connections (pgdbm's `max_queries`, 50,000 by
default; asyncpg's `max_inactive_connection_lifetime`, 300 s) bounds the catalog memory
below at the price of first uses again: a recycled connection re-warms every tenant it
serves, about tenants / max_queries of its requests (2% at 1,000 tenants). The p99 ratios
spread widely from round to round here (the range in brackets): a p99 is a handful of
requests, and the other work on the machine lands on some of them.

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
        f" the first's time){compared_headline}; p99 at {count} vs 1 tenant: steady "
        f"{x(ratios['steady_p99_ms'])} (raw asyncpg, same statements: "
        f"{x(ratios['asyncpg_steady_p99_ms'])}), second pass {x(ratios['warm_p99_ms'])}"
        + ("" if growth is None else f"; +{growth:.1f} kB backend memory per tenant touched"),
        f"≥ 50/s: {verdict(prov['tenants_per_s'] >= 50)}; steady p99 ≤ 1.2x: "
        f"{verdict(ratios['steady_p99_ms']['median'] <= 1.2)}",
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
    commands = "\n".join(f"- `{shlex.join(cmd)}`" for cmd in setup["commands"].values())
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
The floor is copier's own work: importing it, a git clone of a
checkout template, and one `git` subprocess per rendered file; the target of < 0.5 s for
`new` is therefore not reachable through copier on this machine ({new_s:.2f} s median here).

What that floor is made of, measured in the same rounds: `python -c 'import copier'`
{median(runs[IMPORT_COPIER]):.2f} s ({median(cpu[IMPORT_COPIER]):.2f} s CPU, the
interpreter's start included), of which `import questionary`
{median(runs[IMPORT_QUESTIONARY]):.2f} s: copier imports it (and prompt_toolkit) at start
even when nothing is asked, as with `--defaults` or `new`. Without `git` on its PATH copier
renders the installed copy in {x(cpu_ratios[COPIER_WITHOUT_GIT])} the CPU time: copier 9.19
runs `git config --get core.fileMode` once per rendered file
(`_sync_git_index_executable_bit`), in or out of a git repository. Upstream, importing
questionary at the first question and reading `core.fileMode` once per run, only when the
destination is in a git repository, would remove both; `new` uses copier only through its
public `run_copy`, so it cannot skip either itself.

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
    "request_costs": request_costs_section,
    "tenants": tenants_section,
    "scaffold": scaffold_section,
    "timeouts": timeouts_section,
    "first_steps": first_steps_section,
}
