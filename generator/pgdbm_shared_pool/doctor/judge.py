"""Judging: the facts (facts.py) against what pgdbm 0.5.0 needs (pgdbm_facts.py), one section
at a time. Pure functions: no I/O, no gathering."""

from __future__ import annotations

from ..naming import quote_ident
from ..pgdbm_facts import (
    ASYNCPG_STARTUP_PARAMETERS,
    MAX_CONNECTIONS,
    SEARCH_PATH_PIN,
    STARTUP_PARAMETERS,
    split_search_path,
)
from .facts import (
    DatabaseFacts,
    ProjectFacts,
    RoleDefault,
    Setting,
    StartupOutcome,
)
from .migrations import migrations_section
from .report import (
    BudgetSection,
    Finding,
    PoolerSection,
    Report,
    SearchPathSection,
    ServerSection,
    Status,
)


def as_duration(milliseconds: int) -> str:
    """A timeout as a person would type it: 2000 -> 2s, 1500 -> 1500ms."""
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


# Behind a pooler these must come from role defaults: pgdbm's startup parameters are lost.
ROLE_DEFAULTS_BEHIND_POOLER = {
    name: as_duration(int(value)) if name.endswith("_timeout") else value
    for name, value in STARTUP_PARAMETERS.items()
}


def role_defaults_wanted(project: ProjectFacts | None) -> dict[str, str]:
    """ROLE_DEFAULTS_BEHIND_POOLER, with the project's own timeouts where its files set them
    (a generated app sends LOCK_TIMEOUT_MS and STATEMENT_TIMEOUT_MS, not pgdbm's defaults)."""
    wanted = dict(ROLE_DEFAULTS_BEHIND_POOLER)
    if project is not None:
        own = {
            "lock_timeout": project.lock_timeout_ms,
            "statement_timeout": project.statement_timeout_ms,
        }
        wanted |= {name: as_duration(s.value) for name, s in own.items() if s is not None}
    return wanted


# Above this share of the free connections nothing is left for a rolling deploy's overlap,
# a migration run or an admin session.
BUDGET_WARN_RATIO = 0.8


def judge(
    dsn: str,
    db: DatabaseFacts,
    project: ProjectFacts | None,
    pool_max: int | None,
    workers: int,
    replicas: int,
) -> Report:
    """The whole report; `pool_max` None: the project's setting, else pgdbm's default."""
    sets = None if project is None else project.migration_sets
    server = server_section(db)
    migrations = migrations_section(db, sets)
    budget = budget_section(db, resolve_pool_max(pool_max, project), workers, replicas)
    pooler = pooler_section(db, project)
    search_path = search_path_section(db)
    sections = (server, migrations, budget, pooler, search_path)
    findings = [f for section in sections for f in section.findings]
    problems = tuple(_problem(f) for f in findings if f.status is Status.FAIL)
    warnings = sum(f.status is Status.WARN for f in findings)
    verdict = Status.FAIL if problems else Status.WARN if warnings else Status.OK
    return Report(
        dsn, db.read_only, server, migrations, budget, pooler, search_path,
        verdict=verdict, problems=problems, warnings=warnings,
    )  # fmt: skip


def _problem(finding: Finding) -> str:
    """A failed finding on one line, with how to fix it."""
    notes = f" ({'; '.join(finding.notes)})" if finding.notes else ""
    return f"{finding.label}: {finding.text}{notes}"


def server_section(db: DatabaseFacts) -> ServerSection:
    server = db.server
    in_use = sum(db.connections.values())
    reserved = server.superuser_reserved + server.reserved
    by_app = ", ".join(f"{app} {n}" for app, n in db.connections.items())
    return ServerSection(
        server,
        in_use,
        db.connections,
        findings=(
            Finding(Status.OK, "version", f"PostgreSQL {server.version}"),
            Finding(
                Status.OK,
                "connections",
                f"{in_use} of {server.max_connections} in use ({reserved} reserved)",
                (f"by application: {by_app}",),
            ),
        ),
    )


def resolve_pool_max(flag: int | None, project: ProjectFacts | None) -> Setting[int]:
    """The per-process pool max and where it came from: flag, project config, pgdbm default."""
    if flag is not None:
        return Setting(flag, "--pool-max")
    if project is not None and project.pool_max is not None:
        return project.pool_max
    return Setting(MAX_CONNECTIONS, "pgdbm's default (no --pool-max, no project setting)")


def budget_section(
    db: DatabaseFacts, pool_max: Setting[int], workers: int, replicas: int
) -> BudgetSection:
    server = db.server
    others = sum(db.connections.values()) - 1  # every client backend but the doctor's own
    reserved = server.superuser_reserved + server.reserved
    available = server.max_connections - reserved - others
    demand = pool_max.value * workers * replicas
    share = f"{demand / available:.0%}" if available > 0 else "all"
    if demand > available:
        status = Status.FAIL
        text = f"needs {demand} connections, only {available} available"
    elif demand > BUDGET_WARN_RATIO * available:
        status = Status.WARN
        spare = f"{1 - BUDGET_WARN_RATIO:.0%}"
        text = (
            f"needs {demand} of {available} available connections ({share}): "
            f"keep {spare} free for deploys, migrations and admin sessions"
        )
    else:
        status = Status.OK
        text = f"needs {demand} of {available} available connections ({share})"
    arithmetic = (
        f"pool max {pool_max.value} x {_plural(workers, 'worker')} x "
        f"{_plural(replicas, 'replica')} = {demand}"
    )
    room = (
        f"available = max_connections {server.max_connections} - {reserved} reserved "
        f"- {others} used by other sessions"
    )
    findings = [Finding(status, "connections", text, (arithmetic, room))]
    findings.append(Finding(Status.OK, "pool max", str(pool_max.value), source=pool_max.source))
    if db.behind_pooler and status is not Status.OK:
        # The app's pools then count against the pooler's max_client_conn; the server only
        # sees the pooler's own server connections (default_pool_size per database and role).
        status = Status.WARN
        findings[0] = Finding(status, "connections", text, findings[0].notes)
        note = "behind a pooler: compare with its max_client_conn, the server sees its pool size"
        findings.append(Finding(Status.WARN, "pooler", note))
    return BudgetSection(
        pool_max=pool_max,
        workers=workers,
        replicas=replicas,
        demand=demand,
        reserved=reserved,
        used_by_others=others,
        available=available,
        verdict=status,
        arithmetic=arithmetic,
        findings=tuple(findings),
    )


def _statement_cache_finding(project: ProjectFacts | None) -> Finding:
    """The server cannot show the client's cache; the project's settings can."""
    cache = project.statement_cache_size if project is not None else None
    if cache is not None and cache.value == 0:
        return Finding(Status.OK, "statement cache", "off", source=cache.source)
    configured = f"size {cache.value}" if cache is not None else "not visible from the server"
    advice = "use 0 unless PgBouncer >= 1.21 has max_prepared_statements > 0"
    return Finding(
        Status.WARN,
        "statement cache",
        f"{configured}: {advice}",
        ("migrate over a direct DSN",),
        source=cache.source if cache is not None else None,
    )


def pooler_section(db: DatabaseFacts, project: ProjectFacts | None) -> PoolerSection:
    server, probe = db.server, db.startup_probe
    if db.behind_pooler:
        pids = f"backend pid {server.backend_pid}, pid announced at connect {db.announced_pid}"
        findings = [Finding(Status.WARN, "pooler", "PgBouncer or another pooler", (pids,))]
    else:
        findings = [Finding(Status.OK, "pooler", "none: a direct connection")]
    if probe.outcome is StartupOutcome.REJECTED:
        ignore = ",".join([*ASYNCPG_STARTUP_PARAMETERS, *STARTUP_PARAMETERS])
        fix = f"in pgbouncer.ini: ignore_startup_parameters = {ignore}"
        text = f"pgdbm's pool cannot connect: {probe.error}"
        findings.append(Finding(Status.FAIL, "startup params", text, (fix,)))
    elif probe.dropped:
        text = "silently dropped: " + ", ".join(probe.dropped)
        findings.append(Finding(Status.WARN, "startup params", text))
    else:
        findings.append(Finding(Status.OK, "startup params", "pgdbm's startup parameters apply"))
    defaults = {name: db.role_defaults.get(name) for name in ROLE_DEFAULTS_BEHIND_POOLER}
    if db.behind_pooler or probe.dropped:
        role, database = quote_ident(server.role), quote_ident(server.database)
        for name, wanted in role_defaults_wanted(project).items():
            default = defaults[name]
            if default is None:
                fix = f"ALTER ROLE {role} IN DATABASE {database} SET {name} = '{wanted}'"
                findings.append(
                    Finding(Status.WARN, name, "no role default, so it is lost", (fix,))
                )
            else:
                findings.append(Finding(Status.OK, name, _shown_default(default)))
        findings.append(_statement_cache_finding(project))
    return PoolerSection(
        db.behind_pooler,
        server.backend_pid,
        db.announced_pid,
        probe,
        defaults,
        findings=tuple(findings),
    )


def search_path_section(db: DatabaseFacts) -> SearchPathSection:
    probe, fallback = db.startup_probe, db.session_defaults["search_path"]
    default = db.role_defaults.get("search_path")
    # A rejecting pooler stops pgdbm before its check; once it ignores the parameters the
    # check sees the server-side default, which is what the probe reports when it drops them.
    effective = probe.search_path if probe.search_path is not None else fallback.value
    origin = fallback.source if "search_path" in probe.dropped else "startup parameter"
    passes = split_search_path(effective) == split_search_path(SEARCH_PATH_PIN)
    shown = _shown_default(default) if default else "none"
    notes: tuple[str, ...] = ()
    if passes:
        text = f"{effective} (from {origin}): pgdbm's pin check passes"
    else:
        text = (
            f"{effective} (from {origin}): pgdbm refuses to open its pool (wants {SEARCH_PATH_PIN})"
        )
        if default and split_search_path(default.value) == split_search_path(SEARCH_PATH_PIN):
            # Role defaults apply when a backend starts; a pooler keeps older backends around.
            notes = (
                "the role default is right but predates these server connections: "
                "run RECONNECT on PgBouncer's admin console",
            )
        else:
            notes = (f"set a role default: ALTER ROLE ... SET search_path = {SEARCH_PATH_PIN}",)
    return SearchPathSection(
        pin=SEARCH_PATH_PIN,
        passes=passes,
        effective=effective,
        source=origin,
        role_default=default,
        without_startup_parameter=fallback.value,
        findings=(
            Finding(
                Status.OK, "defaults", f"role default: {shown}; server default: {fallback.value}"
            ),
            Finding(Status.OK if passes else Status.FAIL, "pin", text, notes),
        ),
    )


def _shown_default(default: RoleDefault) -> str:
    return f"{default.value} (set for the {default.level.value})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"
