"""The pooler=pgbouncer profile: the generated project's PgBouncer tests through a real one.

A PgBouncer in transaction mode (Debian's package: `.ci/run` installs it; without it the
suite-through-PgBouncer test skips, and fails under TEST_NO_SKIP=1) runs on loopback in front
of the test server with the pool_mode and ignore_startup_parameters of the generated
pgbouncer.ini. The app's role is a throwaway one with data rights only and the generated
roles.sql applied, as in production; the generated suite migrates over the direct (admin) DSN.
The profile's code is linted and type-checked with the other renders (test_template.py).
"""

import configparser
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import yaml
from generated import Renders, render, run_suite
from pgbouncer import PgBouncer

pytestmark = pytest.mark.slow

SERVICES = ["users", "orders"]


def dsn_as(dsn: str, user: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}"))


def bouncer_ini(project: Path) -> configparser.ConfigParser:
    ini = configparser.ConfigParser(comment_prefixes=(";",), interpolation=None)
    ini.read(project / "deploy" / "pgbouncer" / "pgbouncer.ini", encoding="utf-8")
    return ini


@pytest.fixture(scope="module", params=[False, True], ids=["services", "tenants"])
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("pgbouncer") / "project"
    render(dest, services=SERVICES, use_tenants=request.param, pooler="pgbouncer")
    return dest


@pytest.fixture
async def app_role(pg_server: Any, project: Path) -> AsyncIterator[str]:
    """A LOGIN role with data rights only, its defaults set by the generated roles.sql."""
    role = f"app_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_server.dsn)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'GRANT pg_read_all_data, pg_write_all_data TO "{role}"')
        as_role = await asyncpg.connect(dsn_as(pg_server.dsn, role))
        try:  # roles.sql is meant to be run as the app's role
            await as_role.execute((project / "deploy" / "pgbouncer" / "roles.sql").read_text())
        finally:
            await as_role.close()
        yield role
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


@pytest.fixture
def bouncer(
    pgbouncer_installed: None, pg_server: Any, project: Path, app_role: str
) -> Iterator[PgBouncer]:
    settings = bouncer_ini(project)["pgbouncer"]
    with PgBouncer.in_front_of(
        pg_server.dsn,
        pool_mode=settings["pool_mode"],
        ignore_startup_parameters=settings["ignore_startup_parameters"].split(","),
        users=(app_role,),
        default_pool_size=5,  # fewer server connections than the app's pool: they are shared
    ) as running:
        yield running


# With tenants only: the services-only profile is the same code less the tenant extension.
@pytest.mark.parametrize("project", [True], ids=["tenants"], indirect=True)
def test_generated_fast_tier_passes(project: Path, pg_server: Any) -> None:
    """The profile's app (no statement cache, ...) directly on the server; its slow tier is the
    code test_generated_suites.py runs, but for test_pgbouncer.py, run below."""
    result = run_suite(project, pg_server.dsn, "-m", "not slow")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout) and "skipped" not in result.stdout


def test_generated_suite_passes_through_pgbouncer(
    project: Path, pg_server: Any, bouncer: PgBouncer, app_role: str
) -> None:
    result = run_suite(
        project,
        pg_server.dsn,
        "-rA",
        "tests/test_pgbouncer.py",
        TEST_PGBOUNCER_URL=bouncer.dsn_for("postgres", user=app_role),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:] + bouncer.log[-3000:]
    bouncer_tests = set(
        re.findall(
            r"^async def (test_\w+)", (project / "tests" / "test_pgbouncer.py").read_text(), re.M
        )
    )
    passed = set(re.findall(r"^PASSED tests/test_pgbouncer\.py::(test_\w+)", output, re.M))
    assert bouncer_tests and passed == bouncer_tests, output[-4000:]  # none skipped
    for figure in re.findall(
        r"^(peak requests in flight.*|asyncpg default statement.*)$", output, re.M
    ):
        print(figure)


def test_deploy_files_agree_with_compose(project: Path) -> None:
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    services = compose["services"]
    ini = bouncer_ini(project)
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    ignored = set(ini["pgbouncer"]["ignore_startup_parameters"].split(","))
    roles_sql = (project / "deploy" / "pgbouncer" / "roles.sql").read_text()
    set_by_role = set(re.findall(r"^ALTER ROLE CURRENT_USER SET (\w+)", roles_sql, re.M))
    assert set_by_role == ignored - {"extra_float_digits"}  # every dropped setting restored

    app_env = services["app"]["environment"]
    through = urlsplit(app_env["DATABASE_URL"])
    direct = urlsplit(app_env["MIGRATION_DATABASE_URL"])
    assert (through.hostname, through.port) == ("pgbouncer", int(ini["pgbouncer"]["listen_port"]))
    assert direct.hostname == "db"
    assert urlsplit(services["migrate"]["environment"]["DATABASE_URL"]).hostname == "db"
    package_database = through.path.lstrip("/")
    assert ini["databases"][package_database].split()[0] == "host=db"
    mounts = services["pgbouncer"]["volumes"] + services["db"]["volumes"]
    assert "./deploy/pgbouncer/pgbouncer.ini:/etc/pgbouncer/pgbouncer.ini:ro" in mounts
    assert "./deploy/pgbouncer/roles.sql:/docker-entrypoint-initdb.d/roles.sql:ro" in mounts
    assert "pgbouncer" in services["app"]["depends_on"]


def test_no_pooler_generates_no_bouncer(rendered: Renders) -> None:
    project = rendered("three-services")
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert set(compose["services"]) == {"db", "migrate", "app"}
    assert not (project / "deploy").exists()
    assert not (project / "tests" / "test_pgbouncer.py").exists()
