"""The HTTP sections of docs/benchmarks.md: end to end under load (http_e2e.py), and where
the generated app's CPU per request goes (request_costs.py)."""

from __future__ import annotations

from typing import Any

from _common import paired_ratio, table
from report_format import image, verdict, x


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
    before = f"pattern at {setup['compare']}" if setup.get("compare") else None
    before_note = (
        f"`{before}` is the generated app from the template at {setup['compare']} (before this "
        "round of work), rendered and served side by side. "
        if before
        else ""
    )
    text = f"""## 3. HTTP end to end: GET by id

`python bench/http_e2e.py` — the generated app's `GET /users/items/{{id}}` against the same
endpoint written by hand on raw asyncpg ([`bench/handwritten_app.py`](../bench/handwritten_app.py):
same response model, validation and pool sizes), one uvicorn worker each, access log on (the
default), load from `{setup["wrk"]}` on loopback, {setup["rounds"]} rounds alternating
between servers:

{servers}

(a) is what a user writes by hand with `pip install fastapi uvicorn`: without
`uvicorn[standard]` there is no uvloop or httptools. (b) is the generated app's stack with
raw asyncpg in place of the pattern: one route, no dependency, no middleware. (c) is (b)
plus what the generated app does on every request that is not the pattern: its own
middleware (request id, request deadline, body limit) and log format, imported from the
rendered project. So pattern / (b) is everything the generated app adds, pattern / (c)
the cost of the pattern itself (FastAPI dependency and routers, pgdbm's manager, the
bounded acquire), and (c) / (b) that of those features. {before_note}Every server writes
its log, access lines included, to a file (uvicorn's own logging writes access lines to
stdout, the generated app's to stderr; an earlier version of this benchmark sent (b)'s to
`/dev/null`).

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
    if before:
        by = {(r["server"], r["concurrency"]): r for r in rows}
        concurrencies = sorted({r["concurrency"] for r in rows})

        def after_vs_before(key: str) -> str:
            return ", ".join(
                f"{x(paired_ratio(by[('pattern', c)]['samples'], by[(before, c)]['samples'], key))}"
                f" at c={c}"
                for c in concurrencies
            )

        headline_rows.append([
            f"HTTP GET by id: generated app now vs at {setup['compare']} (before)",
            f"req/s {after_vs_before('requests_per_s')}; server CPU per request "
            f"{after_vs_before('server_cpu_us_per_request')}",
            "—",
        ])  # fmt: skip
    return text, headline_rows


def request_costs_section(data: dict[str, Any]) -> tuple[str, list[list[str]]]:
    setup, rows = data["setup"], data["rows"]
    by = {r["variant"]: r for r in rows}

    def saved(variant: str) -> str:
        got = by[variant]["generated_minus_this_us"]
        return f"{got['median']:.0f} µs ({got['min']:.0f} to {got['max']:.0f})"

    def cost(variant: str) -> float:
        return float(by[variant]["generated_minus_this_us"]["median"])

    gap = cost("(c) same stack + middleware")
    parts = sum(cost(v) for v in ("- included routers", "- Annotated dependency",
                                  "- pgdbm's fetch_one"))  # fmt: skip
    body = table(
        ["variant", "CPU µs/request", "generated app minus this, µs (range)"],
        [[r["variant"], r["cpu_us_per_request"],
          "{median:.1f} ({min:.1f} to {max:.1f})".format(**r["generated_minus_this_us"])]
         for r in rows],
    )  # fmt: skip
    text = f"""### 3.1 Where the generated app's time goes

`python bench/request_costs.py` — the same `GET {setup["path"]}` called in-process (no
uvicorn, no load generator, no access log; {setup["tasks"]} tasks, a pool of
{setup["pool_max_size"]}, {setup["requests_per_run"]:,} requests per run, {setup["rounds"]}
rounds alternating), first as generated, then with one part taken out at a time. A part's
cost is the median of the per-round differences (generated app minus the variant), with
their range; CPU is the process's own: the app, FastAPI and asyncpg's client side.

{body}

Taken out one at a time, the pattern's three parts (routers, dependency, pgdbm) add up to
{parts:.0f} µs of the {gap:.0f} µs by which the generated app exceeds (c), which runs the
same middleware; the rest belongs to no single part here (the app's other layers and
routes, each too small to measure apart on this machine, and the spread of the rounds).
The parts, and why the generated code keeps what remains of each:

- **Its middleware** (request id, request deadline, body limit; section 6 and the generated
  README): {saved("- its middleware")}. Each is a plain ASGI class; the deadline no
  longer sets a timer per request (`asyncio.timeout`) but registers the request with one
  timer per event loop that checks every 50 ms, the body limit checks `Content-Length` and
  counts a chunked body as it is read (FastAPI's `max_body_size` wrapped every request and
  every included route in two more layers), and a request id costs no system call.
  What remains is what the features do. (c) in section 3 runs the same middleware.
- **Included routers** (FastAPI): {saved("- included routers")}. FastAPI 0.165 keeps each
  `include_router()` as a nested `_IncludedRouter` that, per request, tries each included
  router's routes with scope bookkeeping around every candidate, and matches the chosen
  router twice (`matches()`, then `_handle_selected()`). The generated app includes the
  services' routers before the probes', so a service request tries no probe route. It
  keeps one `APIRouter` per service: registering the routes on the app instead would need
  FastAPI's private route list and lose `app.dependency_overrides` for them. Upstream:
  fastapi/fastapi#16159 (open) skips an included router whose prefix cannot match (it
  reads the prefix given to `include_router()`, not `APIRouter(prefix=...)`); resolving
  the match once per request would remove the second pass.
- **The Annotated dependency** (FastAPI): {saved("- Annotated dependency")}.
  `solve_dependencies` recomputes each dependency's cache key on every request
  (`_get_cache_key` → `_uses_scopes` → `_is_security_scheme` → `inspect.unwrap`); computing
  it once per `Dependant` upstream would leave the call itself. The generated app keeps
  `Annotated[ServiceDatabase, Depends(...)]`: it is how FastAPI apps are tested and
  overridden, and what the skill teaches.
- **pgdbm's `fetch_one`** with the bounded acquire: {saved("- pgdbm's fetch_one")} over
  `pool.fetchrow` + `dict(row)` on the same pool (section 1 measures it without FastAPI).
  `ServiceDatabase.acquire` bounds its wait with the watchdog that ends requests at their
  budget (one timer per event loop, checking every 50 ms) instead of
  `pool.acquire(timeout=...)`, whose timeout scope, and the second one asyncpg then puts
  around the connection reset, cost more than the rest of the call (most at c=100, where
  most acquires wait); the reset stays bounded by the pool's `command_timeout`. What
  remains is pgdbm's wrapper: an
  `@asynccontextmanager` per call around the acquire, `QueryError` wrapping, `dict(row)`.
  Upstream, pgdbm's query methods could acquire and release directly (as asyncpg's
  `pool.fetchrow` does) and take an acquire timeout of their own.
"""  # fmt: skip
    return text, []
