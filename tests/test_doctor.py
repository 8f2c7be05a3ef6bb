"""`shared-pool doctor` against real Postgres, one condition per fresh database.

Projects are written by hand into tmp_path and migrated with pgdbm's own AsyncMigrationManager
on a shared pool, so the tracking tables the doctor reads are genuine. PgBouncer and role
defaults: test_doctor_pooler.py.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from doctor_support import (
    POOL_MAX_IN_ANSWERS,
    SERVICES,
    Doctor,
    apply_migrations,
    checks_by_schema,
    dsn_as,
    execute,
    migrate_project,
    service_migrations,
    throwaway_role,
    write_project,
)
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig
from pgdbm_shared_pool.cli.doctor import MAX_OK_LINES_PER_SECTION, render
from pgdbm_shared_pool.doctor.database import read_database
from pgdbm_shared_pool.doctor.facts import (
    DatabaseFacts,
    MigrationKind,
    MigrationSet,
    ProjectFacts,
    Server,
    SessionSetting,
    Setting,
    StartupOutcome,
    StartupProbe,
    TrackingRow,
    TrackingTable,
)
from pgdbm_shared_pool.doctor.judge import budget_section, judge
from pgdbm_shared_pool.doctor.project import find_migration_sets, read_migration_files
from pgdbm_shared_pool.pgdbm_facts import migration_checksum

QUERY_METHODS = ("execute", "fetch", "fetchrow", "fetchval")


@pytest.fixture
def run_doctor(capsys: pytest.CaptureFixture[str]) -> Doctor:
    return Doctor(capsys)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "acme")


@pytest.fixture
async def migrated(fresh_database_url: str, project: Path) -> str:
    return await migrate_project(fresh_database_url, project)


@pytest.fixture
async def role(pg_server: Any, fresh_database_url: str) -> AsyncIterator[str]:
    async with throwaway_role(pg_server.dsn, fresh_database_url) as name:
        yield name


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
        (s.kind.value, s.schema, s.tenant_prefix): sorted(s.files)
        for s in find_migration_sets(project)
    }
    assert found == {
        ("service", "people", None): ["001_create_items.sql"],
        ("service", "orders", None): ["001_create_items.sql", "002_add_total.sql"],
        ("tenant registry", "tenancy", None): ["001_create_tenants.sql"],
        ("tenants", None, "cust_"): ["001_create_notes.sql"],
    }
    package_only = find_migration_sets(project / "src" / "acme" / "services" / "orders")
    assert [(s.kind, s.schema) for s in package_only] == [(MigrationKind.SERVICE, "orders")]


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
    assert schemas["orders"]["modules"][0]["module_name"] == "orders"
    assert schemas["orders"]["modules"][0]["applied"] == list(SERVICES["orders"])
    assert schemas["users"]["modules"][0]["last_applied_at"]
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
    server = report["server"]["server"]
    assert budget["available"] == (
        server["max_connections"] - budget["reserved"] - budget["used_by_others"]
    )
    assert budget["demand"] > budget["available"]
    assert budget["arithmetic"] == "pool max 50 x 4 workers x 3 replicas = 600"
    code, out, _ = await run_doctor.run("--dsn", migrated, *flags)
    assert code == 1
    # a second run: other sessions on a shared server may have changed what is available
    assert re.search(r"✗ connections  needs 600 connections, only \d+ available", out)
    assert "pool max 50 x 4 workers x 3 replicas = 600" in out
    assert "✓ pool max     50 (from --pool-max)" in out


async def test_budget_verdict_thresholds(migrated: str) -> None:
    # One snapshot of the server, judged at several pool sizes: other sessions on a shared
    # test server come and go, so two separate doctor runs would not see the same room.
    facts = await read_database(migrated)
    available = budget_section(facts, Setting(1, "test"), 1, 1).available
    verdicts = {
        size: budget_section(facts, Setting(size, "test"), 1, 1).verdict.value
        for size in (available * 8 // 10, available * 9 // 10, available, available + 1)
    }
    assert list(verdicts.values()) == ["ok", "warn", "warn", "fail"]
    assert budget_section(facts, Setting(2, "test"), 3, 5).demand == 30


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


# --- read-only -----------------------------------------------------------------------------------


async def test_read_only_and_needs_only_select(
    migrated: str, project: Path, role: str, run_doctor: Doctor
) -> None:
    await execute(
        migrated,
        f'GRANT USAGE ON SCHEMA users TO "{role}"',
        f'GRANT SELECT ON users.schema_migrations TO "{role}"',
    )
    dsn = dsn_as(migrated, role)
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
    code, _, err = await run_doctor.run("--dsn", "postgresql://x@127.0.0.1/db", "--workers", "0")
    assert code == 2 and "--workers" in err


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


def test_cli_entry_point_runs_doctor(migrated: str, project: Path) -> None:
    """The real `shared-pool` front end (cli.py), in a fresh interpreter."""
    command = [sys.executable, "-m", "pgdbm_shared_pool.cli", "doctor", "--app", str(project)]
    ok = subprocess.run(
        [*command, "--dsn", migrated], capture_output=True, text=True, timeout=120, check=False
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Verdict: " in ok.stdout and "✗" not in ok.stdout
    refused = subprocess.run(
        [*command, "--dsn", "postgresql://u@127.0.0.1:1/db"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr


def database_facts(tracking: tuple[TrackingTable, ...] = (), in_use: int = 5) -> DatabaseFacts:
    """What read_database would return from a plain PostgreSQL 15 server (no pooler)."""
    server = Server("15.0", 100, 3, 0, "app", "shop", backend_pid=42)
    return DatabaseFacts(
        server=server,
        connections={"app": in_use - 1, "shared-pool-doctor": 1},
        tracking=tracking,
        role_defaults={},
        session_defaults={"search_path": SessionSetting('"$user", public', "default")},
        read_only=True,
        announced_pid=42,
        startup_probe=StartupProbe(StartupOutcome.APPLIED, (), "pg_catalog"),
    )


DISK = {"001_a.sql": migration_checksum("a"), "002_b.sql": migration_checksum("b")}


def applied(schema: str, *files: str) -> TrackingTable:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return TrackingTable(schema, tuple(TrackingRow(n, DISK[n], schema, when) for n in files))


def test_human_report_caps_ok_lines_but_shows_every_problem(tmp_path: Path) -> None:
    tenants = [applied(f"tenant_{i:02}", *DISK) for i in range(40)]
    tenants.insert(30, applied("tenant_x", "001_a.sql"))  # 002_b.sql is pending there
    sets = (MigrationSet(MigrationKind.TENANTS, tmp_path, DISK, tenant_prefix="tenant_"),)
    project = ProjectFacts(sets, pool_max=None, statement_cache_size=None)
    report = judge("postgresql://h/db", database_facts(tuple(tenants)), project, None, 1, 1)
    text = render(report)
    assert any(
        line.split() == ["✗", "tenant_x", "1", "pending:", "002_b.sql"]
        for line in text.splitlines()
    )
    assert text.count("up to date: all 2 files applied") == MAX_OK_LINES_PER_SECTION
    assert f"... and {40 - MAX_OK_LINES_PER_SECTION} more up to date (see --json)" in text
    assert text.endswith("Verdict: ✗ 1 problem, 0 warnings")


def test_human_report_reads_at_a_glance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Budget findings say what is needed and what is free, then how; paths are relative."""
    monkeypatch.chdir(tmp_path)
    env = tmp_path / "my-api" / ".env"
    project = ProjectFacts((), pool_max=Setting(80, str(env)), statement_cache_size=None)
    report = judge("postgresql://h/db", database_facts(in_use=4), project, None, 1, 1)
    text = render(report)
    assert "! connections  needs 80 of 94 available connections (85%)" in text
    assert "pool max 80 x 1 worker x 1 replica = 80" in text
    assert "available = max_connections 100 - 3 reserved - 3 used by other sessions" in text
    assert "✓ pool max     80 (from my-api/.env)" in text
    assert "../" not in text and str(tmp_path) not in text
    assert report.pool_budget.pool_max_source == str(env)  # JSON keeps the exact path
