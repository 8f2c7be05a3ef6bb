"""`shared-pool doctor` against real Postgres (and a real PgBouncer), one condition per database.

Projects are written by hand into tmp_path and migrated with pgdbm's own AsyncMigrationManager
on a shared pool, so the tracking tables the doctor reads are genuine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pgbouncer import PGDBM_STARTUP_PARAMETERS, PgBouncer, pgbouncer_binary
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig
from pgdbm.core import SchemaManager
from pgdbm.errors import ConfigurationError
from pgdbm_shared_pool import doctor
from pgdbm_shared_pool.doctor_facts import (
    find_migration_sets,
    migration_checksum,
    read_database,
    read_migration_files,
)

SERVICES = {
    "users": {
        "001_create_items.sql": "CREATE TABLE {{tables.items}} (id serial PRIMARY KEY, name text);"
    },
    "orders": {
        "001_create_items.sql": "CREATE TABLE {{tables.items}} (id serial PRIMARY KEY);\n",
        "002_add_total.sql": "ALTER TABLE {{tables.items}} ADD COLUMN total numeric;\n",
    },
}
TENANT_FILES = {"001_create_notes.sql": "CREATE TABLE {{tables.notes}} (id serial PRIMARY KEY);\n"}
REGISTRY_FILES = {
    "001_create_tenants.sql": "CREATE TABLE {{tables.tenants}} (id text PRIMARY KEY);"
}
POOL_MAX_IN_ANSWERS = 7
QUERY_METHODS = ("execute", "fetch", "fetchrow", "fetchval")


def write_project(root: Path, *, tenants: bool = False, tenant_prefix: str = "tenant_") -> Path:
    """A generated-project-shaped tree: src/acme/services/<name>/{__init__.py,migrations/},
    and with tenants src/acme/tenants/{__init__.py,migrations/,registry_migrations/}."""
    package = root / "src" / "acme"
    for service, files in SERVICES.items():
        service_dir = package / "services" / service
        (service_dir / "migrations").mkdir(parents=True)
        (service_dir / "__init__.py").write_text(f'SCHEMA = "{service}"\n')
        for name, sql in files.items():
            (service_dir / "migrations" / name).write_text(sql)
    if tenants:
        tenants_dir = package / "tenants"
        for folder, files in (
            ("migrations", TENANT_FILES),
            ("registry_migrations", REGISTRY_FILES),
        ):
            (tenants_dir / folder).mkdir(parents=True)
            for name, sql in files.items():
                (tenants_dir / folder / name).write_text(sql)
        (tenants_dir / "__init__.py").write_text(
            f'SCHEMA_PREFIX = "{tenant_prefix}"\nREGISTRY_SCHEMA = "tenancy"\n'
        )
    (root / ".copier-answers.yml").write_text(
        f"package_name: acme\npool_max_size: {POOL_MAX_IN_ANSWERS}\npooler: none\n"
    )
    return root


def service_migrations(project: Path, service: str) -> Path:
    return project / "src" / "acme" / "services" / service / "migrations"


async def apply_migrations(
    dsn: str, folders: dict[str, Path], module_name: str | None = None
) -> None:
    """Migrate each schema from its folder as a shared-pool app does (module_name = schema)."""
    config = DatabaseConfig(connection_string=dsn, min_connections=1, max_connections=2)
    pool = await AsyncDatabaseManager.create_shared_pool(config)
    try:
        for schema, folder in folders.items():
            db = AsyncDatabaseManager(pool=pool, schema=schema)
            await SchemaManager(db).ensure_schema_exists()
            await AsyncMigrationManager(
                db, migrations_path=str(folder), module_name=module_name or schema
            ).apply_pending_migrations()
    finally:
        await pool.close()


def invoke(*argv: str) -> int:
    """Parse as the CLI does (through doctor.register) and run; returns the exit code."""
    parser = argparse.ArgumentParser(prog="shared-pool")
    doctor.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["doctor", *argv])
    return int(args.func(args))


class Doctor:
    """Runs the doctor in a worker thread (it owns its event loop) and captures its output."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    async def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(invoke, *argv)
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    async def json(self, *argv: str) -> tuple[int, dict[str, Any]]:
        code, out, _ = await self.run(*argv, "--json")
        return code, json.loads(out)


@pytest.fixture
def run_doctor(capsys: pytest.CaptureFixture[str]) -> Doctor:
    return Doctor(capsys)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "acme")


@pytest.fixture
async def migrated(fresh_database_url: str, project: Path) -> str:
    await apply_migrations(
        fresh_database_url, {s: service_migrations(project, s) for s in SERVICES}
    )
    return fresh_database_url


def dsn_as(dsn: str, user: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def database_of(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


@pytest.fixture
async def throwaway_role(pg_server: Any, fresh_database_url: str) -> AsyncIterator[str]:
    """A LOGIN role with no privileges of its own; dropped with everything granted to it."""
    role = f"doctor_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_server.dsn)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        yield role
    finally:
        in_db = await asyncpg.connect(fresh_database_url)
        try:
            await in_db.execute(f'DROP OWNED BY "{role}"')  # revokes its grants in this database
        finally:
            await in_db.close()
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


async def execute(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def checks_by_schema(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["schema"]: check for check in report["migrations"]["project"]}


# --- the checksum: ours must equal pgdbm's, byte for byte ----------------------------------------


def test_checksum_equals_pgdbm_on_awkward_files(tmp_path: Path) -> None:
    contents = {
        "001_lf.sql": "CREATE TABLE {{tables.a}} (id int);\n",
        "002_crlf.sql": "CREATE TABLE {{tables.b}} (id int);\r\n-- two lines\r\n",
        "003_padding.sql": "\n\n   SELECT 1;   \n\n\t",
        "004_unicode.sql": "COMMENT ON TABLE {{tables.a}} IS 'café ✓ 日本';\n",
        "005_lone_cr.sql": "SELECT 1;\rSELECT 2;\r",
        "006_bom.sql": "\ufeffSELECT 1;\n",
    }
    for name, text in contents.items():
        (tmp_path / name).write_bytes(text.encode("utf-8"))
    manager = AsyncMigrationManager(
        AsyncDatabaseManager(DatabaseConfig(connection_string="postgresql://u@h/d")),
        migrations_path=str(tmp_path),
    )
    pgdbm_checksums = {m.filename: m.checksum for m in asyncio.run(manager.find_migration_files())}
    ours = read_migration_files(tmp_path)
    assert ours == pgdbm_checksums
    assert len(set(ours.values())) == len(contents)  # no two files collapsed to one digest
    assert migration_checksum("SELECT 1;\r\n") == migration_checksum("  SELECT 1;\n\n")
    assert migration_checksum("SELECT 1;") != migration_checksum("SELECT 2;")


def test_migration_sets_found_under_project_and_package(tmp_path: Path) -> None:
    project = write_project(tmp_path / "acme", tenants=True, tenant_prefix="cust_")
    (project / "src" / "acme" / "services" / "users" / "__init__.py").write_text(
        'SCHEMA: str = "people"\n'
    )
    ignored = project / ".venv" / "lib" / "thing" / "migrations"  # inside a hidden dir
    ignored.mkdir(parents=True)
    (ignored.parent / "__init__.py").write_text("")
    (ignored / "001_x.sql").write_text("SELECT 1;")
    (project / "scripts" / "migrations").mkdir(parents=True)  # parent is not a package
    found = {
        (s.kind, s.schema, s.tenant_prefix): sorted(s.files) for s in find_migration_sets(project)
    }
    assert found == {
        ("service", "people", None): ["001_create_items.sql"],
        ("service", "orders", None): ["001_create_items.sql", "002_add_total.sql"],
        ("tenant registry", "tenancy", None): ["001_create_tenants.sql"],
        ("tenants", None, "cust_"): ["001_create_notes.sql"],
    }
    package_only = find_migration_sets(project / "src" / "acme" / "services" / "orders")
    assert [(s.kind, s.schema) for s in package_only] == [("service", "orders")]


# --- migrations against a live database ----------------------------------------------------------


@pytest.mark.smoke
async def test_clean_project_is_ok(migrated: str, project: Path, run_doctor: Doctor) -> None:
    code, report = await run_doctor.json("--dsn", migrated, "--app", str(project))
    assert code == 0, report["problems"]
    assert report["ok"] is True
    checks = checks_by_schema(report)
    assert set(checks) == {"users", "orders"}
    assert all(not c["pending"] and not c["drift"] for c in checks.values())
    schemas = {s["schema"]: s for s in report["migrations"]["schemas"]}
    assert schemas["orders"]["modules"]["orders"]["applied"] == list(SERVICES["orders"])
    assert schemas["users"]["modules"]["users"]["last_applied_at"]
    assert report["pooler"]["detected"] is False
    assert report["search_path"]["passes"] is True
    assert report["pool_budget"]["pool_max"] == POOL_MAX_IN_ANSWERS
    assert report["pool_budget"]["pool_max_source"].endswith(".copier-answers.yml")

    code, out, err = await run_doctor.run("--dsn", migrated, "--app", str(project))
    assert code == 0 and err == ""
    assert "✓ users" in out and "✓ orders" in out and "Verdict: " in out
    assert "✗" not in out


@pytest.mark.smoke
async def test_pending_migration_fails(migrated: str, project: Path, run_doctor: Doctor) -> None:
    added = service_migrations(project, "users") / "002_add_email.sql"
    added.write_text("ALTER TABLE {{tables.items}} ADD COLUMN email text;\n")
    code, report = await run_doctor.json("--dsn", migrated, "--app", str(project))
    assert code == 1
    assert checks_by_schema(report)["users"]["pending"] == ["002_add_email.sql"]
    assert checks_by_schema(report)["orders"]["pending"] == []
    assert any("002_add_email.sql" in problem for problem in report["problems"])

    code, out, _ = await run_doctor.run("--dsn", migrated, "--app", str(project))
    assert code == 1
    assert "✗ users" in out and "1 pending" in out and "Verdict: ✗" in out


async def test_unmigrated_schema_is_all_pending(
    fresh_database_url: str, project: Path, run_doctor: Doctor
) -> None:
    await apply_migrations(fresh_database_url, {"users": service_migrations(project, "users")})
    code, report = await run_doctor.json("--dsn", fresh_database_url, "--app", str(project))
    assert code == 1
    assert checks_by_schema(report)["orders"]["pending"] == list(SERVICES["orders"])
    assert [s["schema"] for s in report["migrations"]["schemas"]] == ["users"]


async def test_other_module_name_is_named_in_the_pending_finding(
    fresh_database_url: str, project: Path, run_doctor: Doctor
) -> None:
    folders = {"users": service_migrations(project, "users")}
    await apply_migrations(fresh_database_url, folders, module_name="accounts")
    code, report = await run_doctor.json("--dsn", fresh_database_url, "--app", str(project))
    assert code == 1
    assert checks_by_schema(report)["users"]["other_modules"] == ["accounts"]
    assert any("module_name accounts, expected users" in p for p in report["problems"])


async def test_checksum_drift_reported(migrated: str, project: Path, run_doctor: Doctor) -> None:
    edited = service_migrations(project, "orders") / "002_add_total.sql"
    # Line endings and surrounding whitespace are not drift for pgdbm, so not for us either.
    edited.write_bytes(
        b"\n" + SERVICES["orders"]["002_add_total.sql"].encode().replace(b"\n", b"\r\n") + b"  \n"
    )
    code, report = await run_doctor.json("--dsn", migrated, "--app", str(project))
    assert code == 0, report["problems"]

    edited.write_text("ALTER TABLE {{tables.items}} ADD COLUMN total bigint;\n")
    code, report = await run_doctor.json("--dsn", migrated, "--app", str(project))
    assert code == 1
    assert checks_by_schema(report)["orders"]["drift"] == ["002_add_total.sql"]
    assert checks_by_schema(report)["users"]["drift"] == []


async def test_deleted_applied_file_is_a_warning(
    migrated: str, project: Path, run_doctor: Doctor
) -> None:
    (service_migrations(project, "orders") / "002_add_total.sql").unlink()
    code, report = await run_doctor.json("--dsn", migrated, "--app", str(project))
    assert code == 0
    assert checks_by_schema(report)["orders"]["missing_on_disk"] == ["002_add_total.sql"]
    assert report["verdict"] == "warn"


async def test_tenant_schemas_compared_one_by_one(
    fresh_database_url: str, tmp_path: Path, run_doctor: Doctor
) -> None:
    project = write_project(tmp_path / "acme", tenants=True)
    tenant_folder = project / "src" / "acme" / "tenants" / "migrations"
    await apply_migrations(fresh_database_url, {"tenant_globex": tenant_folder})
    (tenant_folder / "002_add_body.sql").write_text("ALTER TABLE {{tables.notes}} ADD body text;")
    registry_folder = tenant_folder.parent / "registry_migrations"
    services = {s: service_migrations(project, s) for s in SERVICES}
    await apply_migrations(
        fresh_database_url,
        {"tenant_acme": tenant_folder, "tenancy": registry_folder, **services},
    )
    code, report = await run_doctor.json("--dsn", fresh_database_url, "--app", str(project))
    assert code == 1
    checks = checks_by_schema(report)
    assert checks["tenant_acme"]["pending"] == [] and checks["tenant_acme"]["kind"] == "tenants"
    assert checks["tenant_globex"]["pending"] == ["002_add_body.sql"]
    assert checks["tenancy"]["kind"] == "tenant registry" and checks["tenancy"]["pending"] == []


# --- pool budget ---------------------------------------------------------------------------------


async def test_budget_exceeded_fails(migrated: str, project: Path, run_doctor: Doctor) -> None:
    flags = ("--pool-max", "50", "--workers", "4", "--replicas", "3")
    code, report = await run_doctor.json("--dsn", migrated, "--app", str(project), *flags)
    budget = report["pool_budget"]
    assert code == 1
    assert budget["verdict"] == "fail" and budget["demand"] == 600
    assert budget["pool_max_source"] == "--pool-max"
    server = report["server"]
    assert budget["available"] == (
        server["max_connections"] - budget["reserved"] - budget["used_by_others"]
    )
    assert budget["demand"] > budget["available"]
    assert "50 x 4 workers x 3 replicas = 600 >" in budget["arithmetic"]
    code, out, _ = await run_doctor.run("--dsn", migrated, *flags)
    assert code == 1 and "✗ budget" in out


async def test_budget_verdict_thresholds(migrated: str) -> None:
    # One snapshot of the server, judged at several pool sizes: other sessions on a shared
    # test server come and go, so two separate doctor runs would not see the same room.
    facts = await read_database(migrated)
    available = doctor.budget_section(facts, 1, "test", 1, 1)["available"]
    verdicts = {
        size: doctor.budget_section(facts, size, "test", 1, 1)["verdict"]
        for size in (available * 8 // 10, available * 9 // 10, available, available + 1)
    }
    assert list(verdicts.values()) == ["ok", "warn", "warn", "fail"]
    assert doctor.budget_section(facts, 2, "test", 3, 5)["demand"] == 30


async def test_pool_max_read_from_env_file(
    migrated: str, project: Path, run_doctor: Doctor
) -> None:
    (project / ".env.example").write_text("POOL_MAX_SIZE=9\n")
    (project / ".env").write_text("# local\nexport POOL_MAX_SIZE='3'  # small\n")
    package = project / "src" / "acme"
    code, report = await run_doctor.json("--dsn", migrated, "--app", str(package))
    assert code == 0, report["problems"]
    assert report["pool_budget"]["pool_max"] == 3
    assert report["pool_budget"]["pool_max_source"] == str(project / ".env")
    assert report["pool_budget"]["verdict"] == "ok"


# --- role defaults and the search_path pin -------------------------------------------------------


async def test_role_search_path_default_reported(
    migrated: str, throwaway_role: str, run_doctor: Doctor
) -> None:
    database = database_of(migrated)
    await execute(
        migrated,
        f'ALTER ROLE "{throwaway_role}" IN DATABASE "{database}" SET search_path = public',
        f"ALTER ROLE \"{throwaway_role}\" SET lock_timeout = '2s'",
    )
    code, report = await run_doctor.json("--dsn", dsn_as(migrated, throwaway_role))
    pin = report["search_path"]
    assert pin["role_default"] == {"value": "public", "level": "role in database"}
    assert pin["without_startup_parameter"] == "public"
    # Directly connected, pgdbm's startup parameter outranks the role default: the pin holds.
    assert pin["passes"] is True and pin["source"] == "startup parameter"
    assert report["pooler"]["role_defaults"]["lock_timeout"] == {"value": "2s", "level": "role"}
    assert code == 0


# --- read-only -----------------------------------------------------------------------------------


async def test_read_only_and_needs_only_select(
    migrated: str, project: Path, throwaway_role: str, run_doctor: Doctor
) -> None:
    await execute(
        migrated,
        f'GRANT USAGE ON SCHEMA users TO "{throwaway_role}"',
        f'GRANT SELECT ON users.schema_migrations TO "{throwaway_role}"',
    )
    dsn = dsn_as(migrated, throwaway_role)
    code, report = await run_doctor.json("--dsn", dsn, "--app", str(project))
    assert report["read_only"] is True  # read inside the very transaction the queries ran in
    schemas = {s["schema"]: s for s in report["migrations"]["schemas"]}
    assert schemas["users"]["readable"] is True
    assert schemas["orders"]["readable"] is False
    assert set(checks_by_schema(report)) == {"users"}  # orders cannot be judged, only warned
    assert code == 0 and report["verdict"] == "warn"


async def test_every_query_runs_in_a_read_only_transaction(
    migrated: str, project: Path, run_doctor: Doctor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test hook: before each statement the doctor sends, ask the server on the same connection
    whether the transaction is read-only (transaction control itself excepted)."""
    original = {name: getattr(asyncpg.Connection, name) for name in QUERY_METHODS}
    seen: list[tuple[str, str]] = []

    def observed(name: str) -> Any:
        async def method(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
            if not query.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
                read_only = await original["fetchval"](self, "SHOW transaction_read_only")
                seen.append((" ".join(query.split()), read_only))
            return await original[name](self, query, *args, **kwargs)

        return method

    for name in QUERY_METHODS:
        monkeypatch.setattr(asyncpg.Connection, name, observed(name))
    code, report = await run_doctor.json("--dsn", migrated, "--app", str(project))
    monkeypatch.undo()
    assert code == 0, report["problems"]
    assert len(seen) >= 8  # server, connections, tracking tables x2, settings..., the probe
    assert [query for query, read_only in seen if read_only != "on"] == []
    assert any("schema_migrations" in query for query, _ in seen)


# --- PgBouncer in between ------------------------------------------------------------------------


@pytest.fixture
def bouncer_factory(pg_server: Any) -> Iterator[Any]:
    if pgbouncer_binary() is None:
        pytest.skip(
            "!!! PgBouncer NOT TESTED: no `pgbouncer` binary (apt-get install pgbouncer) !!!"
        )
    started: list[PgBouncer] = []

    def start(**options: Any) -> PgBouncer:
        bouncer = PgBouncer.in_front_of(pg_server.dsn, **options)
        started.append(bouncer.start())
        return bouncer

    yield start
    for bouncer in started:
        bouncer.stop()


def pooler_finding(report: dict[str, Any], label: str) -> dict[str, str]:
    return next(f for f in report["pooler"]["findings"] if f["label"] == label)


async def test_pgbouncer_rejecting_pgdbm_parameters(
    migrated: str, project: Path, bouncer_factory: Any, run_doctor: Doctor
) -> None:
    bouncer = bouncer_factory()  # PgBouncer's default: only extra_float_digits ignored
    dsn = bouncer.dsn_for(database_of(migrated))
    code, report = await run_doctor.json("--dsn", dsn, "--app", str(project))
    assert report["pooler"]["detected"] is True
    assert report["pooler"]["startup_parameters"]["status"] == "rejected"
    assert "unsupported startup parameter" in report["pooler"]["startup_parameters"]["error"]
    assert code == 1
    # The doctor's own facts still came through the bouncer.
    assert {c["schema"]: c["pending"] for c in report["migrations"]["project"]} == {
        "users": [],
        "orders": [],
    }
    # Generated with `pooler: none`: the template's statement cache (1000) breaks here.
    cache = pooler_finding(report, "statement cache")
    assert cache["status"] == "warn" and cache["text"].startswith("1000 (")

    (project / ".env").write_text("STATEMENT_CACHE_SIZE=0\n")
    code, report = await run_doctor.json("--dsn", dsn, "--app", str(project))
    assert pooler_finding(report, "statement cache")["status"] == "ok"

    code, out, _ = await run_doctor.run("--dsn", dsn)
    assert code == 1 and "! pooler" in out and "✗ startup params" in out

    # Behind a pooler the app's pools do not reach max_connections: a warning, not a failure.
    code, report = await run_doctor.json("--dsn", dsn, "--pool-max", "50", "--workers", "20")
    assert report["pool_budget"]["demand"] > report["pool_budget"]["available"]
    assert report["pool_budget"]["verdict"] == "warn"
    assert not any(p.startswith("Pool budget") for p in report["problems"])


@pytest.mark.smoke
async def test_pgbouncer_pin_needs_a_role_default(
    migrated: str, throwaway_role: str, bouncer_factory: Any, run_doctor: Doctor
) -> None:
    bouncer = bouncer_factory(
        users=("postgres", throwaway_role),
        ignore_startup_parameters=("extra_float_digits", *PGDBM_STARTUP_PARAMETERS),
    )
    dsn = bouncer.dsn_for(database_of(migrated), user=throwaway_role)
    config = DatabaseConfig(connection_string=dsn, min_connections=1, max_connections=1)
    config.statement_cache_size = 0
    config.retry_attempts = 1

    code, report = await run_doctor.json("--dsn", dsn)
    assert report["pooler"]["detected"] is True
    assert report["pooler"]["startup_parameters"]["status"] == "dropped"
    assert report["search_path"]["passes"] is False
    assert code == 1
    with pytest.raises(ConfigurationError):  # pgdbm agrees: its pin check refuses the pool
        await AsyncDatabaseManager.create_shared_pool(config.model_copy(deep=True))

    database = database_of(migrated)
    await execute(
        migrated,
        *(
            f'ALTER ROLE "{throwaway_role}" IN DATABASE "{database}" SET {name} = \'{value}\''
            for name, value in doctor.ROLE_DEFAULTS_BEHIND_POOLER.items()
        ),
    )
    # Role defaults apply at backend start: the bouncer's existing server connections keep
    # the old search_path, and the doctor says so.
    code, report = await run_doctor.json("--dsn", dsn)
    assert report["search_path"]["passes"] is False and code == 1
    assert any("RECONNECT" in problem for problem in report["problems"])

    fresh = bouncer_factory(
        users=("postgres", throwaway_role),
        ignore_startup_parameters=("extra_float_digits", *PGDBM_STARTUP_PARAMETERS),
    )
    dsn = fresh.dsn_for(database, user=throwaway_role)
    code, report = await run_doctor.json("--dsn", dsn)
    assert report["search_path"]["passes"] is True
    assert report["search_path"]["source"] == "database user"  # pg_settings.source
    assert all(report["pooler"]["role_defaults"].values())
    assert code == 0 and report["verdict"] == "warn"  # statement-cache advice stays a warning
    config = config.model_copy(update={"connection_string": dsn})
    pool = await AsyncDatabaseManager.create_shared_pool(config)
    await pool.close()  # and pgdbm accepts the pool now


# --- usage and connection errors -----------------------------------------------------------------


async def test_usage_errors_exit_2(
    run_doctor: Doctor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, out, err = await run_doctor.run()
    assert code == 2 and "DATABASE_URL" in err and out == ""
    code, _, err = await run_doctor.run("--dsn", "mysql://x@127.0.0.1/db")
    assert code == 2 and "postgresql://" in err
    code, _, err = await run_doctor.run(
        "--dsn", "postgresql://x@127.0.0.1/db", "--app", str(tmp_path / "missing")
    )
    assert code == 2 and "missing" in err
    with pytest.raises(SystemExit) as exit_info:
        invoke("--dsn", "postgresql://x@127.0.0.1/db", "--workers", "0")
    assert exit_info.value.code == 2


async def test_connection_failure_is_one_line(
    run_doctor: Doctor, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:secret@127.0.0.1:{port}/db")
    code, out, err = await run_doctor.run()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "cannot inspect" in err
    assert "Traceback" not in err and "secret" not in err
    code, report = await run_doctor.json()
    assert code == 1 and report["ok"] is False and "cannot inspect" in report["error"]


def test_human_report_caps_ok_lines_but_shows_every_problem() -> None:
    many = [doctor.finding("ok", f"tenant_{i}", "up to date") for i in range(40)]
    problem = doctor.finding("fail", "tenant_x", "1 pending: 002_b.sql")
    sections = {key: {"findings": [doctor.finding("ok", "x", "fine")]} for key in doctor.SECTIONS}
    sections["migrations"] = {"findings": [*many[:30], problem, *many[30:]]}
    report = {"dsn": "postgresql://h/db", "problems": ["p"], "warnings": 0, **sections}
    text = doctor.render(report)
    assert "✗ tenant_x  " in text and "1 pending: 002_b.sql" in text
    assert text.count("up to date") == doctor.MAX_OK_LINES_PER_SECTION
    assert f"... {40 - doctor.MAX_OK_LINES_PER_SECTION} more ok" in text
    assert text.endswith("Verdict: ✗ 1 problem(s), 0 warning(s)")
