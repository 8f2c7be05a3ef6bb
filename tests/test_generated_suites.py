"""Each generated project's own suite passes against real PostgreSQL (slow: subprocesses).

Every combination runs its fast tier (everything in-process). The slow tier (process boots,
restarts, fuzzing, the tenants command) is the same code for every service list: it runs on
the combinations that together reach every branch of the template, with and without tenants.
"""

import re

import pytest
from generated import COMBINATIONS, render, run_suite
from pgdbm_shared_pool.testing import PostgresServer

BOTH_TIERS = {"one-service", "longest-name", "three-services-tenants"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "combination",
    # One combination also runs in CI's self-provisioned pass, proving a fresh machine.
    [pytest.param(c, marks=pytest.mark.smoke) if c == "one-service" else c for c in COMBINATIONS],
)
def test_generated_suite_passes(
    combination: str, pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project = tmp_path_factory.mktemp(combination) / "acme"
    render(project, **COMBINATIONS[combination])
    tier = [] if combination in BOTH_TIERS else ["-m", "not slow"]
    result = run_suite(project, pg_server.dsn, *tier)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary, summary
    assert "skipped" not in summary, summary  # every generated test must really run
    assert ("deselected" in summary) is bool(tier), summary
    # The run names the server it used (run_suite hands it ours as TEST_DATABASE_URL).
    assert f"PostgreSQL: env, the server at TEST_DATABASE_URL: {pg_server.dsn}" in result.stdout
