"""Render projects from the template and run their own test suites, for our tests.

Every generated project is run in a subprocess of this venv (which holds every
dependency the template pins), with PYTHONPATH pointing at its src/: projects all
share package names, so they must never be imported into our own process.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pgdbm_shared_pool.scaffold import ScaffoldResult, new_project

HYPOTHESIS_STORAGE = Path(tempfile.gettempdir()) / "pgdbm-shared-pool-hypothesis"
# mypy --strict on a render, with one incremental cache per xdist worker: the pinned libraries
# are analysed once, and mypy re-analyses every file whose content or dependencies differ.
MYPY = [
    "mypy",
    "--cache-dir",
    str(
        Path(tempfile.gettempdir())
        / f"pgdbm-shared-pool-mypy-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    ),
]

# The answer combinations every template test covers.
COMBINATIONS = {
    "one-service": {"services": ["users"], "use_tenants": False},
    "three-services": {"services": ["users", "orders", "billing"], "use_tenants": False},
    "one-service-tenants": {"services": ["users"], "use_tenants": True},
    "three-services-tenants": {"services": ["users", "orders", "billing"], "use_tenants": True},
    # 63 bytes: the longest schema name PostgreSQL keeps; generated code must still be clean.
    "longest-name": {"services": ["x" * 63, "users"], "use_tenants": False},
}


# Also rendered, and checked with the others: the PgBouncer profile on other versions (its suite
# needs a bouncer: tests/test_pgbouncer_profile.py runs it).
RENDERED: dict[str, dict[str, Any]] = {
    **COMBINATIONS,
    "pgbouncer-tenants": {
        "services": ["users", "orders"],
        "use_tenants": True,
        "pooler": "pgbouncer",
        "python_version": "3.13",
        "postgres_version": "17",
    },
}


class Renders:
    """One render of each RENDERED combination per test process, made on first use: the modules
    that read one (ruff and mypy, `check`, the project's own suite) share it. A test that edits
    a render puts it back."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, combination: str) -> Path:
        project = self.root / combination / "acme"
        if not project.exists():
            render(project, **RENDERED[combination])
        return project


def render(
    dest: Path, *, services: list[str], use_tenants: bool = False, **extra: object
) -> ScaffoldResult:
    """Render the template (this checkout, uncommitted edits included) into `dest`."""
    return new_project(dest, services=services, use_tenants=use_tenants, extra=extra or None)


def project_env(project: Path, **variables: str) -> dict[str, str]:
    python_path = os.pathsep.join(
        filter(None, [str(project / "src"), os.environ.get("PYTHONPATH")])
    )
    # Our pytest's own variables (xdist worker ids, ...) must not leak into the project's run.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return {
        **inherited,
        "PYTHONPATH": python_path,
        # Hypothesis caches Unicode tables (seconds to compute) under the working directory:
        # one place for every project of the session, not one per project.
        "HYPOTHESIS_STORAGE_DIRECTORY": str(HYPOTHESIS_STORAGE),
        **variables,
    }


def run_in_project(
    project: Path, *args: str, timeout: float = 900, **variables: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m <args>` inside `project` with its src/ importable."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=project,
        env=project_env(project, **variables),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_suite(
    project: Path, database_url: str, *pytest_args: str, **variables: str
) -> subprocess.CompletedProcess[str]:
    """The generated project's own pytest suite against the server at `database_url` (and
    no other, whatever TEST_POSTGRES_PROVIDERS says in our environment)."""
    return run_in_project(
        project,
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *pytest_args,
        **{"TEST_DATABASE_URL": database_url, "TEST_POSTGRES_PROVIDERS": "env", **variables},
    )
