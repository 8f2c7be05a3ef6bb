"""`shared-pool doctor` against real Postgres, one condition per fresh database.

Projects are written by hand into tmp_path and migrated with pgdbm's own AsyncMigrationManager
on a shared pool, so the tracking tables the doctor reads are genuine. Without a server:
test_doctor_offline.py; PgBouncer and role defaults: test_doctor_pooler.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
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
from pgdbm_shared_pool.doctor.database import read_database
from pgdbm_shared_pool.doctor.facts import Setting
from pgdbm_shared_pool.doctor.judge import budget_section

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
    assert report["pool_budget"]["pool_max"]["value"] == POOL_MAX_IN_ANSWERS
    assert report["pool_budget"]["pool_max"]["source"].endswith(".copier-answers.yml")

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
    assert budget["pool_max"]["source"] == "--pool-max"
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
    assert report["pool_budget"]["pool_max"]["value"] == 3
    assert report["pool_budget"]["pool_max"]["source"] == str(project / ".env")
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
