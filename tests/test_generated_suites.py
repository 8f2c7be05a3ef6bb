"""Generated projects' own suites pass against real PostgreSQL (slow: subprocesses).

The suites run where the generated code differs: one service (its registry is one line), two
services with 63-byte names, and three services with tenants; the slow tier (process boots,
restarts, fuzzing, the tenants command) on the last two, with and without tenants. The other
combinations are the same code for a longer or shorter service list: test_template.py lints and
type-checks them, test_check_cli.py checks them. test_update.py runs a two-service project's fast
tier after add-service and remove-service, test_pgbouncer_profile.py the PgBouncer profile's.
"""

import re

import pytest
from generated import Renders, run_suite
from pgdbm_shared_pool.testing import PostgresServer

# combination -> its tiers run here ("fast": -m "not slow")
SUITES = {"one-service": "fast", "longest-name": "both", "three-services-tenants": "both"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "combination",
    # One combination also runs in CI's self-provisioned pass, proving a fresh machine.
    [pytest.param(c, marks=pytest.mark.smoke) if c == "longest-name" else c for c in SUITES],
)
def test_generated_suite_passes(
    combination: str, pg_server: PostgresServer, rendered: Renders
) -> None:
    tier = ["-m", "not slow"] if SUITES[combination] == "fast" else []
    result = run_suite(rendered(combination), pg_server.dsn, *tier)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary, summary
    assert "skipped" not in summary, summary  # every generated test must really run
    assert ("deselected" in summary) is bool(tier), summary
    # The run names the server it used (run_suite hands it ours as TEST_DATABASE_URL).
    assert f"PostgreSQL: env, the server at TEST_DATABASE_URL: {pg_server.dsn}" in result.stdout
