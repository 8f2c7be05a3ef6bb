"""The template renders clean projects for every answer combination (fast: no database)."""

import compileall
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from generated import MYPY, RENDERED, Renders

REPO = Path(__file__).resolve().parents[1]
SERVICE_TEMPLATE = next((REPO / "template/src/{{ package_name }}/services").glob("{% yield*"))
# pgdbm's own templating may (and must) survive rendering; Jinja must not.
PGDBM_TEMPLATING = re.compile(r"\{\{(tables\.[a-z_.]+|schema)\}\}")
# A Jinja expression, tag or comment opener (a closing "}}" is fine: nested dict literals).
JINJA_LEFTOVER = re.compile(r"\{\{|\{%|%\}|\{#")
TEXT_SUFFIXES = {".py", ".toml", ".md", ".yaml", ".yml", ".ini", ".txt", ".sql", ".example", ""}


@pytest.fixture(scope="module", params=sorted(RENDERED))
def project(request: pytest.FixtureRequest, rendered: Renders) -> tuple[Path, dict[str, Any]]:
    return rendered(request.param), RENDERED[request.param]


def text_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES]


def test_one_package_schema_and_migrations_folder_per_service(project) -> None:
    dest, answers = project
    services_dir = dest / "src/acme/services"
    assert sorted(p.name for p in services_dir.iterdir() if p.is_dir()) == sorted(
        answers["services"]
    )
    for service in answers["services"]:
        package = services_dir / service
        assert f'SCHEMA = "{service}"' in (package / "schema.py").read_text()
        assert (package / "router.py").is_file()
        assert (dest / f"tests/test_service_{service}.py").is_file()
        for sql in (SERVICE_TEMPLATE / "migrations").glob("*.sql"):
            # Copied verbatim: pgdbm's {{tables.x}} must reach pgdbm untouched.
            assert (package / "migrations" / sql.name).read_bytes() == sql.read_bytes()
    assert (dest / "src/acme/tenants").is_dir() is answers["use_tenants"]


def test_answers_file_records_the_answers(project) -> None:
    dest, answers = project
    recorded = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert recorded["services"] == answers["services"]
    assert recorded["use_tenants"] is answers["use_tenants"]
    assert recorded["pooler"] == answers.get("pooler", "none")
    assert recorded["package_name"] == "acme"
    assert Path(recorded["_src_path"]).is_absolute()  # `copier update` needs it
    assert "pg_reserved_words" not in recorded  # computed values are not answers


def test_no_jinja_left(project) -> None:
    dest, _ = project
    for path in text_files(dest):
        if path.name == ".copier-answers.yml":
            continue
        text = PGDBM_TEMPLATING.sub("", path.read_text())
        assert not JINJA_LEFTOVER.search(text), f"{path.relative_to(dest)}: unrendered Jinja"


def test_compiles_and_is_ruff_clean(project) -> None:
    dest, _ = project
    assert compileall.compile_dir(dest, quiet=1, force=True)
    for command in (["check", "."], ["format", "--check", "."]):
        ruff = subprocess.run(
            [sys.executable, "-m", "ruff", *command], cwd=dest, capture_output=True, text=True
        )
        assert ruff.returncode == 0, ruff.stdout + ruff.stderr


@pytest.mark.slow
def test_mypy_strict_clean(project) -> None:
    dest, _ = project
    mypy = subprocess.run([sys.executable, "-m", *MYPY], cwd=dest, capture_output=True, text=True)
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr


def make_targets(project: Path) -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (project / "Makefile").read_text(), re.M))


def test_ci_workflow_runs_both_tiers_on_the_answered_versions(project) -> None:
    dest, answers = project
    workflow = yaml.safe_load((dest / ".github/workflows/ci.yml").read_text())
    assert set(workflow.get("on", workflow.get(True))) == {"push", "pull_request"}  # YAML 1.1
    [job] = workflow["jobs"].values()
    postgres_version = answers.get("postgres_version", "15")
    assert job["services"]["postgres"]["image"] == f"postgres:{postgres_version}"
    assert job["env"]["TEST_NO_SKIP"] == "1"
    assert job["env"]["TEST_DATABASE_URL"].startswith("postgresql://postgres:postgres@")
    setup_python = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-"))
    assert setup_python["with"]["python-version"] == answers.get("python_version", "3.11")

    scripts = [step["run"] for step in job["steps"] if "run" in step]
    for script in scripts:
        syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr
    made = [line.split()[1] for s in scripts for line in s.splitlines() if line.startswith("make")]
    assert made == ["install", "lint", "test-all"]
    assert set(made) <= make_targets(dest)

    pgbouncer = answers.get("pooler") == "pgbouncer"
    assert ("TEST_PGBOUNCER_URL" in job["env"]) is pgbouncer
    assert any("apt-get install" in s and "pgbouncer" in s for s in scripts) is pgbouncer
    for path in re.findall(r"deploy/[\w/.-]+", "\n".join(scripts)):
        assert (dest / path).is_file(), path
