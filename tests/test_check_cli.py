"""`shared-pool check` as a command: formats, selection, exit codes, and the trees it must pass."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from generated import COMBINATIONS, Renders
from pgdbm_shared_pool import cli
from pgdbm_shared_pool.lint import Project, all_rules, run_rules
from pgdbm_shared_pool.lint.sources import PythonSource, SqlSource
from skill_blocks import all_blocks

RULES = {rule.CODE: rule for rule in all_rules()}
BAD_PYTHON = """\
from pgdbm import AsyncDatabaseManager


async def f(db: AsyncDatabaseManager):
    db.schema = "orders"
    return await db.fetch_all("SELECT * FROM users")
"""
BAD_SQL = "CREATE EXTENSION citext;\nCREATE TABLE items (id int);\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app" / "migrations").mkdir(parents=True)
    (tmp_path / "app" / "queries.py").write_text(BAD_PYTHON)
    (tmp_path / "app" / "migrations" / "001_init.sql").write_text(BAD_SQL)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_output_and_exit_code_1(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    code, out, _ = run(capsys, str(project))
    assert code == 1
    sql_path, py_path = project / "app/migrations/001_init.sql", project / "app/queries.py"
    assert out.splitlines() == [
        f"{sql_path}:1:1: SP011 {RULES['SP011'].MESSAGE}",
        f"    help: {RULES['SP011'].FIX}",
        f"{sql_path}:2:14: SP005 table items is not written as {{{{tables.items}}}}",
        f"    help: {RULES['SP005'].FIX}",
        f"{py_path}:5:5: SP006 {RULES['SP006'].MESSAGE}",
        f"    help: {RULES['SP006'].FIX}",
        f"{py_path}:6:46: SP005 table users is not written as {{{{tables.users}}}}",
        f"    help: {RULES['SP005'].FIX}",
        "Found 4 findings.",
    ]


def test_json_output(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    code, out, _ = run(capsys, str(project / "app/queries.py"), "--format", "json")
    assert code == 1
    assert json.loads(out) == [
        {
            "code": "SP006",
            "message": RULES["SP006"].MESSAGE,
            "fix": RULES["SP006"].FIX,
            "path": str(project / "app/queries.py"),
            "line": 5,
            "column": 5,
        },
        {
            "code": "SP005",
            "message": "table users is not written as {{tables.users}}",
            "fix": RULES["SP005"].FIX,
            "path": str(project / "app/queries.py"),
            "line": 6,
            "column": 46,
        },
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--select", "SP005"], ["SP005", "SP005"]),
        (["--select", "sp01"], ["SP011"]),
        (["--select", "SP0", "--ignore", "SP005,SP011"], ["SP006"]),
        (["--ignore", "SP"], []),
        (["--select", "ALL", "--ignore", "SP006"], ["SP011", "SP005", "SP005"]),
    ],
)
def test_select_and_ignore(
    capsys: pytest.CaptureFixture[str], project: Path, options: list[str], expected: list[str]
) -> None:
    code, out, _ = run(capsys, str(project), "--format", "json", *options)
    assert [finding["code"] for finding in json.loads(out)] == expected
    assert code == (1 if expected else 0)


@pytest.mark.smoke
def test_clean_tree_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text('SCHEMA = "users"\n')
    code, out, _ = run(capsys, str(tmp_path))
    assert (code, out) == (0, "All checks passed.\n")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["missing-dir"], "no such file or directory"),
        (["README.md"], "not a Python (.py) or SQL (.sql) file"),
        ([".", "--select", "SP999"], "unknown rule code or prefix: 'SP999'"),
        ([".", "--ignore", "E501"], "unknown rule code or prefix: 'E501'"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    error: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("# readme\n")
    code, out, err = run(capsys, *args)
    assert (code, out) == (2, "")
    assert error in err


def test_a_file_that_does_not_parse_is_never_clean(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n")
    (tmp_path / "fine.py").write_text('SCHEMA = "users"\n')
    code, out, err = run(capsys, str(tmp_path))
    assert (code, out) == (1, "No findings in the files read; 1 file could not be parsed.\n")
    assert f"{tmp_path / 'broken.py'}:1:7: not checked, Python cannot parse it" in err


def test_help_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {code}  {rule.MESSAGE}" in out for code, rule in RULES.items())


def test_bad_option_exits_2_through_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--format", "xml"]) == 2
    assert "shared-pool check: error: argument --format" in capsys.readouterr().err


def test_installed_console_script(project: Path) -> None:
    script = Path(sys.executable).parent / "shared-pool"
    result = subprocess.run(
        [str(script), "check", "--select", "SP011", str(project / "app/migrations/001_init.sql")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0].endswith(
        "001_init.sql:1:1: SP011 " + RULES["SP011"].MESSAGE
    )
    assert result.stdout.splitlines()[-1] == "Found 1 finding."


@pytest.mark.slow
@pytest.mark.parametrize("combination", list(COMBINATIONS))
def test_generated_projects_pass(
    capsys: pytest.CaptureFixture[str], rendered: Renders, combination: str
) -> None:
    project = rendered(combination)
    assert sorted(project.rglob("*.sql")) and sorted(project.rglob("*.py"))
    code, out, _ = run(capsys, str(project))
    assert (code, out) == (0, "All checks passed.\n")


# Edits that reintroduce a checklist mistake into a generated project: each must be found, so
# a clean report above means the rules saw the code (cross-module types, factories, closers).
PLAIN, TENANTS = "three-services", "three-services-tenants"
MUTATIONS = [
    (
        PLAIN,
        "services/users/router.py",
        '"INSERT INTO {{tables.items}}',
        '"INSERT INTO items',
        "SP005",
    ),
    (
        PLAIN,
        "main.py",
        "        finally:\n            await close_pool",
        "        except ValueError:\n            raise\n        await close_pool",
        "SP009",
    ),
    (PLAIN, "services/users/schema.py", 'SCHEMA = "users"', 'SCHEMA = "user"', "SP012"),
    (
        PLAIN,
        "services/users/migrations/001_create_items.sql",
        "CREATE TABLE",
        "CREATE EXTENSION citext;\nCREATE TABLE",
        "SP011",
    ),
    (PLAIN, "database.py", "migrations_path=str(migrations_path)", 'migrations_path="m"', "SP010"),
    (PLAIN, "health.py", "pool.get_size()", "pool.get_pool_stats()", "SP008"),
    (
        TENANTS,
        "tenants/registry.py",
        '"SELECT * FROM {{tables.tenants}} ORDER BY',
        '"SELECT * FROM tenants ORDER BY',
        "SP005",
    ),
    (
        TENANTS,
        "tenants/manager.py",  # a manager from self._database(), then its transaction()
        '"DROP SCHEMA IF EXISTS {{schema}} CASCADE"',
        '"DROP TABLE notes"',
        "SP005",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("combination", "relative", "old", "new", "code"),
    MUTATIONS,
    ids=[f"{m[4]}-{Path(m[1]).name}" for m in MUTATIONS],
)
def test_mistakes_put_into_a_generated_project_are_found(
    capsys: pytest.CaptureFixture[str],
    rendered: Renders,
    combination: str,
    relative: str,
    old: str,
    new: str,
    code: str,
) -> None:
    project = rendered(combination)
    [path] = project.glob(f"src/*/{relative}")
    original = path.read_text()
    assert old in original, f"update this mutation: {relative} no longer contains {old!r}"
    path.write_text(original.replace(old, new, 1))
    try:
        status, out, _ = run(capsys, str(project), "--format", "json")
    finally:
        path.write_text(original)
    assert status == 1
    assert [(f["code"], Path(f["path"]).name) for f in json.loads(out)] == [(code, path.name)]


# The skill says its WRONG blocks use `config`, `pool`, `users` and `MIGRATIONS` from the blocks
# above; each block is checked after these stand-ins (findings on their lines are not counted).
SKILL_CONTEXT = """\
from pathlib import Path

import asyncpg
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig
from pgdbm.core import SchemaManager

config = DatabaseConfig()
pool: asyncpg.Pool
users = AsyncDatabaseManager(pool=pool, schema="users")
orders = AsyncDatabaseManager(pool=pool, schema="orders")
await pool.execute("CREATE SCHEMA IF NOT EXISTS users")  # the skill's start-up block
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""
CHECKED_BLOCKS = [block for block in all_blocks() if block.language in ("python", "sql")]


@pytest.mark.parametrize(
    "block", CHECKED_BLOCKS, ids=[f"{b.path.name}:{b.name or b.line}" for b in CHECKED_BLOCKS]
)
def test_skill_blocks(block) -> None:  # type: ignore[no-untyped-def]
    """Correct blocks report nothing; a WRONG block reports a rule its prose names."""
    if block.language == "sql":
        project, offset = Project([], [SqlSource("migrations/block.sql", block.text)]), 0
    else:
        # A method shown on its own (indented) is checked inside a class.
        context = SKILL_CONTEXT + ("class Excerpt:\n" if block.text[:1].isspace() else "")
        text = context + block.text
        project, offset = Project([PythonSource("block.py", text)], []), context.count("\n")
    found = {f.code for f in run_rules(project, all_rules()) if f.line > offset}
    named = set(re.findall(r"\bSP\d{3}\b", block.lead))
    if "WRONG" in block.text and named:
        assert found & named, f"expected one of {sorted(named)}"
    elif "WRONG" not in block.text:
        assert found == set()
