"""Judging the migrations: each folder on disk against the tracking rows that applied it.

Where a folder's files were applied is found in the database, not assumed: real projects
choose their schema and module_name at run time (llmring-server's package llmring_server
migrates schema "llmring"; aweb keeps its files in migrations/aweb/ under module_name
"aweb-aweb"). The schema the folder names (its package's SCHEMA, else the package or folder
name) is tried first; pgdbm's own default module_name is the schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from .facts import DatabaseFacts, MigrationSet, TrackingRow, TrackingTable
from .report import (
    AppliedModule,
    Finding,
    MigrationCheck,
    MigrationsSection,
    SchemaState,
    Status,
)


@dataclass(frozen=True)
class AppliedAs:
    """The tracking rows of one (schema, module_name) that applied a folder's files."""

    schema: str
    module_name: str
    rows: tuple[TrackingRow, ...]


def applied_as(
    migration_set: MigrationSet, schema: str, tracking: dict[str, TrackingTable]
) -> AppliedAs:
    """The rows that applied this folder: where the database says (where_applied) unless the
    project applies it under module_name = schema; else, or when no rows match, the named
    schema's rows of module_name `schema` (none: every file is pending)."""
    if not migration_set.module_name_is_schema:
        found = where_applied(migration_set.files, schema, tracking)
        if found is not None:
            return found
    table = tracking.get(schema)
    rows = table.rows or () if table else ()
    return AppliedAs(schema, schema, tuple(r for r in rows if r.module_name in (schema, None)))


def where_applied(
    files: dict[str, str], schema: str, tracking: dict[str, TrackingTable]
) -> AppliedAs | None:
    """The named schema's module that applied the most of these files (pgdbm's default
    module, `schema`, first); else the one (schema, module) of the whole database that applied
    the most of them with the same checksums; None when no rows match."""

    def modules(table: TrackingTable) -> dict[str, list[TrackingRow]]:
        grouped: dict[str, list[TrackingRow]] = {}
        for row in table.rows or ():
            grouped.setdefault(row.module_name or table.schema, []).append(row)
        return grouped

    named = tracking.get(schema)
    in_named = [
        (module == schema, sum(r.filename in files for r in rows), module, rows)
        for module, rows in (modules(named) if named else {}).items()
    ]
    best = max((c for c in in_named if c[1]), default=None, key=lambda c: c[:2])
    if best is not None:
        return AppliedAs(schema, best[2], tuple(best[3]))
    elsewhere = [
        (sum(files.get(r.filename) == r.checksum for r in rows), table.schema, module, rows)
        for table in tracking.values()
        if table.schema != schema
        for module, rows in modules(table).items()
    ]
    found = max((c for c in elsewhere if c[0]), default=None, key=lambda c: c[0])
    if found is None or [c[0] for c in elsewhere].count(found[0]) > 1:  # none, or a tie
        return None
    return AppliedAs(found[1], found[2], tuple(found[3]))


def compare(
    migration_set: MigrationSet, applied: AppliedAs, table: TrackingTable | None
) -> MigrationCheck:
    """Files on disk against the rows that applied them."""
    files = migration_set.files
    done = {r.filename: r.checksum for r in applied.rows}
    others = {r.module_name or applied.schema for r in (table.rows or () if table else ())}
    return MigrationCheck(
        schema=applied.schema,
        module_name=applied.module_name,
        kind=migration_set.kind.value,
        path=str(migration_set.path),
        files=len(files),
        pending=tuple(name for name in files if name not in done),
        drift=tuple(name for name, digest in files.items() if done.get(name, digest) != digest),
        missing_on_disk=tuple(name for name in done if name not in files),
        other_modules=tuple(sorted(others - {applied.module_name})),
    )


def check_findings(check: MigrationCheck, named: str | None) -> list[Finding]:
    schema, out = check.schema, []
    where = []
    if check.module_name != schema:
        where.append(f"module_name {check.module_name}")
    if named is not None and named != schema:
        where.append(f"found in schema {schema}: the folder names {named}")
    notes = (f"{check.path}: {', '.join(where)}",) if where else ()
    if check.pending:
        hint = ""
        if check.other_modules:
            others = ", ".join(check.other_modules)
            hint = f" (rows exist for module_name {others}, expected {check.module_name})"
        pending = ", ".join(check.pending)
        text = f"{len(check.pending)} pending: {pending}{hint}"
        out.append(Finding(Status.FAIL, schema, text, notes))
    if check.drift:
        drift = ", ".join(check.drift)
        text = f"checksum drift (edited once applied): {drift}"
        out.append(Finding(Status.FAIL, schema, text, notes))
    if check.missing_on_disk:
        missing = ", ".join(check.missing_on_disk)
        out.append(Finding(Status.WARN, schema, f"applied, not on disk: {missing}", notes))
    files = f"{check.files} file{'s' if check.files != 1 else ''}"
    return out or [Finding(Status.OK, schema, f"up to date: all {files} applied, no drift", notes)]


def schema_state(table: TrackingTable) -> SchemaState:
    """One schema's tracking table summarised per module_name."""
    modules: dict[str | None, list[TrackingRow]] = {}
    for row in table.rows or ():  # ordered by applied_at: the last row of a module is its latest
        modules.setdefault(row.module_name, []).append(row)
    summary = tuple(
        AppliedModule(
            name,
            tuple(r.filename for r in rows),
            rows[-1].applied_at.isoformat(sep=" ", timespec="seconds"),
        )
        for name, rows in modules.items()
    )
    return SchemaState(table.schema, table.readable, summary)


def migrations_section(
    db: DatabaseFacts, sets: tuple[MigrationSet, ...] | None
) -> MigrationsSection:
    tracking = {table.schema: table for table in db.tracking}
    readable = {schema: table for schema, table in tracking.items() if table.readable}
    schemas = tuple(schema_state(table) for table in db.tracking)
    findings = []
    for state in schemas:
        if not state.readable:
            findings.append(Finding(Status.WARN, state.schema, "tracking table not readable"))
        elif sets is None:  # nothing on disk to compare with: what the server holds
            for module in state.modules:
                text = f"{len(module.applied)} applied, last {module.applied[-1]}"
                when = f"at {module.last_applied_at} (module_name {module.module_name})"
                findings.append(Finding(Status.OK, state.schema, text, (when,)))
    if not tracking:
        findings.append(Finding(Status.OK, "schemas", "no pgdbm tracking table yet"))
    checks = []
    for migration_set in sets or ():
        prefix = migration_set.tenant_prefix
        if prefix is None:
            targets = [migration_set.schema] if migration_set.schema else []
        else:  # the tenants' set applies to every tenant schema
            targets = [schema for schema in tracking if schema.startswith(prefix)]
            if not targets:
                findings.append(Finding(Status.OK, f"{prefix}*", "no tenant schemas yet"))
        for schema in targets:
            if schema in tracking and schema not in readable:
                continue  # reported above
            # A tenant's set is judged in that tenant's schema only.
            scope = readable if prefix is None else {schema: readable[schema]}
            applied = applied_as(migration_set, schema, scope)
            check = compare(migration_set, applied, readable.get(applied.schema))
            checks.append(check)
            findings.extend(check_findings(check, schema))
    if sets == ():
        note = "no migration files in a migrations/ folder of a package"
        findings.append(Finding(Status.WARN, "project", note))
    project_checks = None if sets is None else tuple(checks)
    return MigrationsSection(schemas, project_checks, findings=tuple(findings))
