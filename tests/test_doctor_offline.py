"""What `shared-pool doctor` concludes without a server: checksums and migration sets read
from disk, the human report judged from hand-made facts, usage and connection errors.
Against a live database: test_doctor.py; PgBouncer and role defaults: test_doctor_pooler.py.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from doctor_support import Doctor, write_project
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig
from pgdbm_shared_pool.cli.doctor import MAX_OK_LINES_PER_SECTION, render
from pgdbm_shared_pool.doctor.facts import (
    DatabaseFacts,
    MigrationKind,
    MigrationSet,
    ProjectFacts,
    Server,
    Setting,
    StartupOutcome,
    StartupProbe,
    TrackingRow,
    TrackingTable,
)
from pgdbm_shared_pool.doctor.judge import judge
from pgdbm_shared_pool.doctor.project import find_migration_sets, read_migration_files
from pgdbm_shared_pool.pgdbm_facts import migration_checksum


@pytest.fixture
def run_doctor(capsys: pytest.CaptureFixture[str]) -> Doctor:
    return Doctor(capsys)


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


# --- the human report, from hand-made facts -------------------------------------------------------


def database_facts(tracking: tuple[TrackingTable, ...] = (), in_use: int = 5) -> DatabaseFacts:
    """What read_database would return from a plain PostgreSQL 15 server (no pooler)."""
    server = Server("15.0", 100, 3, 0, "app", "shop", backend_pid=42)
    return DatabaseFacts(
        server=server,
        connections={"app": in_use - 1, "shared-pool-doctor": 1},
        tracking=tracking,
        role_defaults={},
        session_defaults={"search_path": Setting('"$user", public', "default")},
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
    assert report.pool_budget.pool_max.source == str(env)  # JSON keeps the exact path
