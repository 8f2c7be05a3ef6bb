"""The template renders clean projects for every answer combination (fast: no database)."""

import compileall
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from generated import COMBINATIONS, MYPY, render

REPO = Path(__file__).resolve().parents[1]
SERVICE_TEMPLATE = next((REPO / "template/src/{{ package_name }}/services").glob("{% yield*"))
# pgdbm's own templating may (and must) survive rendering; Jinja must not.
PGDBM_TEMPLATING = re.compile(r"\{\{(tables\.[a-z_.]+|schema)\}\}")
# A Jinja expression, tag or comment opener (a closing "}}" is fine: nested dict literals).
JINJA_LEFTOVER = re.compile(r"\{\{|\{%|%\}|\{#")
TEXT_SUFFIXES = {".py", ".toml", ".md", ".yaml", ".yml", ".ini", ".txt", ".sql", ".example", ""}


# The PgBouncer profile's suite needs a bouncer (tests/test_pgbouncer_profile.py runs it);
# its rendering is checked here with the others.
RENDERED = {
    **COMBINATIONS,
    "pgbouncer-tenants": {
        "services": ["users", "orders"],
        "use_tenants": True,
        "pooler": "pgbouncer",
    },
}


@pytest.fixture(scope="module", params=sorted(RENDERED))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    answers = RENDERED[request.param]
    dest = tmp_path_factory.mktemp(request.param) / "acme"
    render(dest, **answers)
    return dest, answers


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
