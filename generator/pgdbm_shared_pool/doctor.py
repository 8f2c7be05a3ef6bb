"""Read-only inspection of a live database for a shared-pool app.

Every query runs inside BEGIN READ ONLY (the startup parameter default_transaction_read_only
would be rejected by PgBouncer), so the doctor cannot write even by mistake. Each section
yields findings (status, label, text): the human report prints them, --json prints them
together with the facts they were judged from.
"""

from __future__ import annotations

from typing import Any

from .doctor_facts import (
    MigrationSet,
    ProjectSettings,
    mask_dsn,
    quote_ident,
    read_database,
    resolve_pool_max,
    role_default,
    schema_state,
)
from .pgdbm_facts import (
    ASYNCPG_STARTUP_PARAMETERS,
    LOCK_TIMEOUT_MS,
    SEARCH_PATH_PIN,
    STARTUP_PARAMETERS,
    STATEMENT_TIMEOUT_MS,
    split_search_path,
)

# Behind a pooler these must come from role defaults: pgdbm's startup parameters are lost.
ROLE_DEFAULTS_BEHIND_POOLER = {
    "search_path": SEARCH_PATH_PIN,
    "statement_timeout": f"{STATEMENT_TIMEOUT_MS // 1000}s",
    "lock_timeout": f"{LOCK_TIMEOUT_MS // 1000}s",
    "jit": STARTUP_PARAMETERS["jit"],
}
# Above this share of the free connections nothing is left for a rolling deploy's overlap,
# a migration run or an admin session.
BUDGET_WARN_RATIO = 0.8
OK, WARN, FAIL = "ok", "warn", "fail"
SECTIONS = {
    "server": "Server",
    "migrations": "Migrations",
    "pool_budget": "Pool budget",
    "pooler": "Pooler",
    "search_path": "search_path pin",
}


def finding(status: str, label: str, text: str) -> dict[str, str]:
    return {"status": status, "label": label, "text": text}


def server_section(db: dict[str, Any]) -> dict[str, Any]:
    server, connections = db["server"], db["connections"]
    in_use = sum(connections.values())
    reserved = server["superuser_reserved"] + server["reserved"]
    by_app = ", ".join(f"{app} {n}" for app, n in connections.items())
    usage = f"{in_use} in use of max_connections {server['max_connections']} ({reserved} reserved)"
    return {
        **server,
        "in_use": in_use,
        "by_application": connections,
        "findings": [
            finding(OK, "version", f"PostgreSQL {server['version']}"),
            finding(OK, "connections", f"{usage}: {by_app}"),
        ],
    }


def compare(schema: str, files: dict[str, str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Files on disk against one schema's tracking rows (module_name is the schema, as pgdbm)."""
    applied = {r["filename"]: r["checksum"] for r in rows if r["module_name"] in (schema, None)}
    return {
        "schema": schema,
        "pending": [name for name in files if name not in applied],
        "drift": [name for name, digest in files.items() if applied.get(name, digest) != digest],
        "missing_on_disk": [name for name in applied if name not in files],
        "other_modules": sorted({str(r["module_name"]) for r in rows} - {schema, "None"}),
    }


def _check_findings(check: dict[str, Any]) -> list[dict[str, str]]:
    schema, out = check["schema"], []
    pending, drift, missing = (", ".join(check[k]) for k in ("pending", "drift", "missing_on_disk"))
    if pending:
        others = ", ".join(check["other_modules"])
        hint = f" (rows exist for module_name {others}, expected {schema})" if others else ""
        out.append(finding(FAIL, schema, f"{len(check['pending'])} pending: {pending}{hint}"))
    if drift:
        out.append(finding(FAIL, schema, f"checksum drift (edited once applied): {drift}"))
    if missing:
        out.append(finding(WARN, schema, f"applied, not on disk: {missing}"))
    return out or [finding(OK, schema, f"all {check['files']} files on disk applied, no drift")]


def migrations_section(db: dict[str, Any], sets: list[MigrationSet] | None) -> dict[str, Any]:
    tracking = db["tracking"]
    schemas = [schema_state(schema, rows) for schema, rows in tracking.items()]
    findings = []
    for state in schemas:
        if not state["readable"]:
            findings.append(finding(WARN, state["schema"], "schema_migrations not readable"))
        for name, module in state["modules"].items():
            text = f"{len(module['applied'])} applied (module {name}), last {module['applied'][-1]}"
            findings.append(finding(OK, state["schema"], f"{text} at {module['last_applied_at']}"))
    if not tracking:
        findings.append(finding(OK, "schemas", "no pgdbm schema_migrations table yet"))
    checks = []
    for migration_set in sets or []:
        prefix = migration_set.tenant_prefix
        if prefix is None:
            targets = [migration_set.schema] if migration_set.schema else []
        else:  # the tenants' set applies to every tenant schema
            targets = [schema for schema in tracking if schema.startswith(prefix)]
            if not targets:
                findings.append(finding(OK, f"{prefix}*", "no tenant schemas yet"))
        for schema in targets:
            if schema in tracking and tracking[schema] is None:
                continue  # reported above as unreadable
            check = compare(schema, migration_set.files, tracking.get(schema) or [])
            check.update(kind=migration_set.kind, path=str(migration_set.path))
            check["files"] = len(migration_set.files)
            checks.append(check)
            findings.extend(_check_findings(check))
    if sets == []:
        findings.append(finding(WARN, "project", "no migrations/ folder in a service package"))
    return {"schemas": schemas, "project": None if sets is None else checks, "findings": findings}


def budget_section(
    db: dict[str, Any], pool_max: int, source: str, workers: int, replicas: int
) -> dict[str, Any]:
    server = db["server"]
    behind_pooler = db["announced_pid"] != server["backend_pid"]
    others = sum(db["connections"].values()) - 1  # every client backend but the doctor's own
    reserved = server["superuser_reserved"] + server["reserved"]
    available = server["max_connections"] - reserved - others
    demand = pool_max * workers * replicas
    if demand > available:
        status, relation = FAIL, ">"
    elif demand > BUDGET_WARN_RATIO * available:
        status, relation = WARN, f"> {BUDGET_WARN_RATIO:.0%} of"
    else:
        status, relation = OK, "<="
    arithmetic = (
        f"pool max {pool_max} x {workers} workers x {replicas} replicas = {demand} {relation} "
        f"{available} available = max_connections {server['max_connections']} - {reserved} "
        f"reserved - {others} in use by others"
    )
    findings = [finding(status, "budget", arithmetic), finding(OK, "pool max", source)]
    if behind_pooler and status != OK:
        # The app's pools then count against the pooler's max_client_conn; the server only
        # sees the pooler's own server connections (default_pool_size per database and role).
        status = findings[0]["status"] = WARN
        note = "behind a pooler: compare with its max_client_conn, the server sees its pool size"
        findings.append(finding(WARN, "pooler", note))
    return {
        "pool_max": pool_max,
        "pool_max_source": source,
        "workers": workers,
        "replicas": replicas,
        "demand": demand,
        "reserved": reserved,
        "used_by_others": others,
        "available": available,
        "verdict": status,
        "arithmetic": arithmetic,
        "findings": findings,
    }


def _statement_cache_finding(settings: ProjectSettings | None) -> dict[str, str]:
    """The server cannot show the client's cache; the project's settings can."""
    if settings is not None and settings.statement_cache_size == 0:
        return finding(OK, "statement cache", f"off ({settings.statement_cache_source})")
    configured = (
        f"{settings.statement_cache_size} ({settings.statement_cache_source})"
        if settings is not None and settings.statement_cache_size is not None
        else "not visible from the server"
    )
    advice = "use 0 unless PgBouncer >= 1.21 has max_prepared_statements > 0"
    return finding(WARN, "statement cache", f"{configured}: {advice}; migrate over a direct DSN")


def pooler_section(db: dict[str, Any], settings: ProjectSettings | None) -> dict[str, Any]:
    server, probe = db["server"], db["startup_probe"]
    # A pooler answers the connection itself: the pid it announces is not the backend's.
    detected = db["announced_pid"] != server["backend_pid"]
    findings = [
        finding(
            WARN,
            "pooler",
            f"PgBouncer or another pooler in between: backend pid {server['backend_pid']}, "
            f"pid announced at connect {db['announced_pid']}",
        )
        if detected
        else finding(OK, "pooler", "direct connection (the backend announced its own pid)")
    ]
    if probe["status"] == "rejected":
        ignore = ",".join([*ASYNCPG_STARTUP_PARAMETERS, *STARTUP_PARAMETERS])
        text = f"pgdbm's pool cannot connect ({probe['error']}); ignore_startup_parameters = "
        findings.append(finding(FAIL, "startup params", text + ignore))
    elif probe["dropped"]:
        findings.append(
            finding(WARN, "startup params", "silently dropped: " + ", ".join(probe["dropped"]))
        )
    else:
        findings.append(finding(OK, "startup params", "pgdbm's startup parameters take effect"))
    defaults = {name: role_default(db, name) for name in ROLE_DEFAULTS_BEHIND_POOLER}
    if detected or probe["dropped"]:
        role, database = quote_ident(server["role"]), quote_ident(server["database"])
        for name, wanted in ROLE_DEFAULTS_BEHIND_POOLER.items():
            default = defaults[name]
            if default is None:
                fix = f"ALTER ROLE {role} IN DATABASE {database} SET {name} = '{wanted}'"
                findings.append(finding(WARN, name, f"no role default, so it is lost: {fix}"))
            else:
                findings.append(finding(OK, name, f"{default['value']} ({default['level']})"))
        findings.append(_statement_cache_finding(settings))
    return {
        "detected": detected,
        "backend_pid": server["backend_pid"],
        "announced_pid": db["announced_pid"],
        "startup_parameters": probe,
        "role_defaults": defaults,
        "findings": findings,
    }


def search_path_section(db: dict[str, Any]) -> dict[str, Any]:
    probe, fallback = db["startup_probe"], db["session_defaults"]["search_path"]
    default = role_default(db, "search_path")
    # A rejecting pooler stops pgdbm before its check; once it ignores the parameters the
    # check sees the server-side default, which is what the probe reports when it drops them.
    effective = probe.get("search_path", fallback["setting"])
    origin = fallback["source"] if "search_path" in probe["dropped"] else "startup parameter"
    passes = split_search_path(effective) == split_search_path(SEARCH_PATH_PIN)
    shown = f"{default['value']} ({default['level']})" if default else "none"
    verdict = f"{SEARCH_PATH_PIN!r} {'passes' if passes else 'would FAIL'} pgdbm's check"
    if passes:
        fix = ""
    elif default and split_search_path(default["value"]) == split_search_path(SEARCH_PATH_PIN):
        # Role defaults apply when a backend starts; a pooler keeps older backends around.
        fix = "; the role default is right but predates these server connections: RECONNECT"
    else:
        fix = f"; set a role default: ALTER ROLE ... SET search_path = {SEARCH_PATH_PIN}"
    return {
        "pin": SEARCH_PATH_PIN,
        "passes": passes,
        "effective": effective,
        "source": origin,
        "role_default": default,
        "without_startup_parameter": fallback["setting"],
        "findings": [
            finding(OK, "defaults", f"role default {shown}; server default {fallback['setting']}"),
            finding(
                OK if passes else FAIL, "pin", f"{verdict}: {effective!r} (source: {origin}){fix}"
            ),
        ],
    }


async def diagnose(
    dsn: str,
    settings: ProjectSettings | None,
    sets: list[MigrationSet] | None,
    pool_max: int | None,
    workers: int,
    replicas: int,
) -> dict[str, Any]:
    db = await read_database(dsn)
    pool_max_value, source = resolve_pool_max(pool_max, settings)
    report: dict[str, Any] = {
        "dsn": mask_dsn(dsn),
        "read_only": db["read_only"],
        "server": server_section(db),
        "migrations": migrations_section(db, sets),
        "pool_budget": budget_section(db, pool_max_value, source, workers, replicas),
        "pooler": pooler_section(db, settings),
        "search_path": search_path_section(db),
    }
    findings = [(key, f) for key in SECTIONS for f in report[key]["findings"]]
    problems = [
        f"{SECTIONS[key]}: {f['label']}: {f['text']}" for key, f in findings if f["status"] == FAIL
    ]
    warnings = sum(f["status"] == WARN for _, f in findings)
    report["verdict"] = FAIL if problems else WARN if warnings else OK
    report["ok"] = not problems
    report["problems"] = problems
    report["warnings"] = warnings
    return report
