"""`shared-pool doctor` on role defaults and through a real PgBouncer (transaction mode).

PgBouncer is Debian's package (.ci/run installs it); without it these tests skip, naming the
install command, and fail under TEST_NO_SKIP=1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from doctor_support import (
    Doctor,
    database_of,
    dsn_as,
    execute,
    migrate_project,
    throwaway_role,
    write_project,
)
from pgbouncer import PgBouncer
from pgdbm import AsyncDatabaseManager, DatabaseConfig
from pgdbm.errors import ConfigurationError
from pgdbm_shared_pool.doctor.judge import ROLE_DEFAULTS_BEHIND_POOLER
from pgdbm_shared_pool.pgdbm_facts import ASYNCPG_STARTUP_PARAMETERS, STARTUP_PARAMETERS


@dataclass(frozen=True)
class Scene:
    migrated: str  # a fresh database, the project's migrations applied by pgdbm
    project: Path
    role: str  # a throwaway LOGIN role without privileges
    doctor: Doctor


@pytest.fixture
async def scene(
    pg_server: Any, fresh_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Scene]:
    project = write_project(tmp_path / "acme")
    await migrate_project(fresh_database_url, project)
    async with throwaway_role(pg_server.dsn, fresh_database_url) as role:
        yield Scene(fresh_database_url, project, role, Doctor(capsys))


async def test_role_search_path_default_reported(scene: Scene) -> None:
    migrated, throwaway_role, run_doctor = scene.migrated, scene.role, scene.doctor
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


@pytest.fixture
def bouncer_factory(pg_server: Any, pgbouncer_installed: None) -> Iterator[Any]:
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


async def test_pgbouncer_rejecting_pgdbm_parameters(scene: Scene, bouncer_factory: Any) -> None:
    migrated, project, run_doctor = scene.migrated, scene.project, scene.doctor
    bouncer = bouncer_factory()  # PgBouncer's default: only extra_float_digits ignored
    dsn = bouncer.dsn_for(database_of(migrated))
    code, report = await run_doctor.json("--dsn", dsn, "--app", str(project))
    assert report["pooler"]["detected"] is True
    assert report["pooler"]["startup_parameters"]["outcome"] == "rejected"
    assert "unsupported startup parameter" in report["pooler"]["startup_parameters"]["error"]
    assert code == 1
    # The doctor's own facts still came through the bouncer.
    assert {c["schema"]: c["pending"] for c in report["migrations"]["project"]} == {
        "users": [],
        "orders": [],
    }
    # Generated with `pooler: none`: the template's statement cache (1000) breaks here.
    cache = pooler_finding(report, "statement cache")
    assert cache["status"] == "warn" and cache["text"].startswith("size 1000:")
    assert cache["source"].endswith(".copier-answers.yml")

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
async def test_pgbouncer_pin_needs_a_role_default(scene: Scene, bouncer_factory: Any) -> None:
    migrated, throwaway_role, run_doctor = scene.migrated, scene.role, scene.doctor
    bouncer = bouncer_factory(
        users=("postgres", throwaway_role),
        ignore_startup_parameters=(*ASYNCPG_STARTUP_PARAMETERS, *STARTUP_PARAMETERS),
    )
    dsn = bouncer.dsn_for(database_of(migrated), user=throwaway_role)
    config = DatabaseConfig(connection_string=dsn, min_connections=1, max_connections=1)
    config.statement_cache_size = 0
    config.retry_attempts = 1

    code, report = await run_doctor.json("--dsn", dsn)
    assert report["pooler"]["detected"] is True
    assert report["pooler"]["startup_parameters"]["outcome"] == "dropped"
    assert report["search_path"]["passes"] is False
    assert code == 1
    with pytest.raises(ConfigurationError):  # pgdbm agrees: its pin check refuses the pool
        await AsyncDatabaseManager.create_shared_pool(config.model_copy(deep=True))

    database = database_of(migrated)
    await execute(
        migrated,
        *(
            f'ALTER ROLE "{throwaway_role}" IN DATABASE "{database}" SET {name} = \'{value}\''
            for name, value in ROLE_DEFAULTS_BEHIND_POOLER.items()
        ),
    )
    # Role defaults apply at backend start: the bouncer's existing server connections keep
    # the old search_path, and the doctor says so.
    code, report = await run_doctor.json("--dsn", dsn)
    assert report["search_path"]["passes"] is False and code == 1
    assert any("RECONNECT" in problem for problem in report["problems"])

    fresh = bouncer_factory(
        users=("postgres", throwaway_role),
        ignore_startup_parameters=(*ASYNCPG_STARTUP_PARAMETERS, *STARTUP_PARAMETERS),
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
