"""`shared-pool check` rules: every rule's examples, SQL precision, cross-module facts, noqa."""

import re
from pathlib import Path

import pytest
from lint_corpus import rules_document
from pgdbm_shared_pool.lint import Finding, all_rules, check_paths, load, run_rules
from pgdbm_shared_pool.lint.project import example_project
from pgdbm_shared_pool.lint.sql import statements, tokenize, unqualified_tables

RULES = {rule.CODE: rule for rule in all_rules()}

# A bad example marks each line where a finding is expected with `# CODE` (`-- CODE` in SQL).
EXPECTED = re.compile(r"(?:#|--)\s*(SP\d{3})\b")


def expected_findings(example: str) -> list[tuple[int, str]]:
    lines = example.lstrip().splitlines() if example.startswith("--") else example.splitlines()
    return [(n, m.group(1)) for n, line in enumerate(lines, 1) for m in EXPECTED.finditer(line)]


def test_rule_modules_are_the_checklist_codes_with_docs() -> None:
    codes = [rule.CODE for rule in all_rules()]
    assert len(codes) == len(set(codes))
    numbered = [c for c in codes if c < "SP100"]
    assert numbered == [f"SP{n:03d}" for n in range(1, len(numbered) + 1)]
    assert all(re.fullmatch(r"SP1\d\d", c) for c in codes if c >= "SP100")
    for rule in all_rules():
        module_name = rule.__name__.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
        assert module_name.startswith(rule.CODE.lower() + "_"), module_name
        for text in (rule.NAME, rule.MESSAGE, rule.RATIONALE, rule.FIX):
            assert isinstance(text, str) and text.strip(), rule.CODE
        assert "0.5.0" in rule.RATIONALE, f"{rule.CODE}: cite the pgdbm 0.5.0 behaviour"
        assert rule.GOOD_EXAMPLES and rule.BAD_EXAMPLES, rule.CODE
        assert all(expected_findings(example) for example in rule.BAD_EXAMPLES), rule.CODE
        assert not any(expected_findings(example) for example in rule.GOOD_EXAMPLES), rule.CODE


BAD = [
    pytest.param(code, example, id=f"{code}-bad{index}")
    for code, rule in RULES.items()
    for index, example in enumerate(rule.BAD_EXAMPLES)
]
GOOD = [
    pytest.param(example, id=f"{code}-good{index}")
    for code, rule in RULES.items()
    for index, example in enumerate(rule.GOOD_EXAMPLES)
]


@pytest.mark.parametrize(("code", "example"), BAD)
def test_bad_example_reports_its_rule_on_the_marked_lines(code: str, example: str) -> None:
    findings = run_rules(example_project(example), all_rules())
    assert [(finding.line, finding.code) for finding in findings] == expected_findings(example)
    assert {finding.code for finding in findings} == {code}
    assert all(finding.fix == RULES[code].FIX for finding in findings)


@pytest.mark.parametrize("example", GOOD)
def test_good_example_reports_nothing_from_any_rule(example: str) -> None:
    assert run_rules(example_project(example), all_rules()) == []


@pytest.mark.parametrize(
    ("sql", "unqualified"),
    [
        ("SELECT * FROM users", ["users"]),
        ("SELECT * FROM {{tables.users}} u JOIN orders o ON o.user_id = u.id", ["orders"]),
        ("SELECT * FROM {{tables.a}} a, b, {{tables.c}} c", ["b"]),
        ("INSERT INTO items (a) VALUES ($1)", ["items"]),
        ("UPDATE items SET a = 1 FROM other o WHERE o.id = items.id", ["items", "other"]),
        ("DELETE FROM {{tables.x}} USING y WHERE true", ["y"]),
        ("CREATE TABLE IF NOT EXISTS t (id int REFERENCES owners (id))", ["t", "owners"]),
        ("ALTER TABLE IF EXISTS ONLY t ADD COLUMN c int", ["t"]),
        ("DROP TABLE IF EXISTS a, {{tables.b}}, c CASCADE", ["a", "c"]),
        ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t USING btree (c)", ["t"]),
        ("CREATE TRIGGER t BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION f()", ["items"]),
        ('SELECT * FROM "Users"', ['"Users"']),
        ("TRUNCATE a, b", ["a", "b"]),
        ("CREATE OR REPLACE VIEW v AS SELECT 1", ["v"]),
        # Not findings:
        ('SELECT * FROM "users".users, x.y, {{schema}}.z, {{tables.users.users}}', []),
        ("SELECT * FROM pg_catalog.pg_class, information_schema.tables, pg_stat_activity", []),
        ("WITH RECURSIVE r (n) AS (SELECT 1), s AS MATERIALIZED (SELECT 2) SELECT * FROM r, s", []),
        ("SELECT * FROM generate_series(1, 3) AS g(n), unnest($1::int[]) u", []),
        ("SELECT * FROM (SELECT 1) s JOIN LATERAL (SELECT 2) t ON true", []),
        ("SELECT extract(epoch FROM now()), substring(s FROM 2), a IS DISTINCT FROM b", []),
        ("SELECT 'FROM users' -- FROM users\n/* FROM /* nested */ users */ , $$FROM users$$", []),
        ("SELECT $tag$ DELETE FROM users $tag$, E'it\\'s FROM users'", []),
        ("CREATE TEMP TABLE scratch (id int); CREATE TEMPORARY VIEW v AS SELECT 1", []),
        ("INSERT INTO {{tables.x}} (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2", []),
        ("SELECT * FROM {{tables.x}} FOR UPDATE OF x", []),
        ("REVOKE ALL ON {{tables.x}} FROM app_reader", []),
        ("ALTER TABLE {{tables.x}} RENAME TO y", []),
    ],
)
def test_sql_table_positions(sql: str, unqualified: list[str]) -> None:
    found = [token.text for s in statements(tokenize(sql)) for token in unqualified_tables(s)]
    assert found == unqualified


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def codes(findings: list[Finding]) -> list[tuple[str, str, int]]:
    return [(Path(f.path).name, f.code, f.line) for f in findings]


POOL_FACTORY = """\
from pgdbm import AsyncDatabaseManager


async def create_pool(config):
    return await AsyncDatabaseManager.create_shared_pool(config)
"""


def test_create_shared_pool_in_two_modules_is_one_finding(tmp_path: Path) -> None:
    write(tmp_path, "app/database.py", POOL_FACTORY)
    write(tmp_path, "app/worker.py", POOL_FACTORY.replace("create_pool", "worker_pool"))
    # Tests create pools per test or per simulated process on purpose.
    write(tmp_path, "tests/conftest.py", POOL_FACTORY.replace("create_pool", "test_pool"))
    findings = check_paths([tmp_path])
    assert codes(findings) == [("worker.py", "SP001", 5)]
    assert "database.py:5" in findings[0].message


def test_facts_cross_modules(tmp_path: Path) -> None:
    """A manager subclass, a pool factory and an Annotated alias defined in other modules."""
    write(
        tmp_path,
        "app/database.py",
        POOL_FACTORY + "\n\nclass ServiceDatabase(AsyncDatabaseManager):\n    pass\n",
    )
    write(
        tmp_path,
        "app/routes.py",
        """\
from typing import Annotated

from fastapi import Depends

from .database import ServiceDatabase, create_pool

Database = Annotated[ServiceDatabase, Depends(lambda: None)]


async def count(db: Database) -> int:
    return await db.fetch_value("SELECT count(*) FROM items")


async def lifespan(app, config):
    pool = await create_pool(config)
    yield
    await pool.close()
""",
    )
    assert codes(check_paths([tmp_path])) == [
        ("routes.py", "SP005", 11),
        ("routes.py", "SP009", 15),
    ]


def test_managers_through_app_state_containers_and_transactions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "app.py",
        """\
from fastapi import FastAPI, Request
from pgdbm import AsyncDatabaseManager as Manager

app = FastAPI()


async def setup(pool):
    app.state.dbs = {name: Manager(pool=pool, schema=name) for name in ("users", "orders")}


@app.get("/x")
async def x(request: Request):
    db = request.app.state.dbs["users"]
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO users (email) VALUES ($1)", "a")
    return await request.app.state.dbs["orders"].fetch_all("SELECT * FROM orders")
""",
    )
    assert [(f.code, f.line, f.column) for f in check_paths([path])] == [
        ("SP005", 15, 39),
        ("SP005", 16, 75),
    ]


@pytest.mark.parametrize(
    ("comment", "silenced"),
    [
        ("# noqa: SP005", True),
        ("# noqa:SP007,SP005", True),
        ("# NOQA", True),
        ("# noqa: SP007", False),
        ("# no qa", False),
    ],
)
def test_noqa_in_python(tmp_path: Path, comment: str, silenced: bool) -> None:
    path = write(
        tmp_path,
        "app.py",
        "from pgdbm import AsyncDatabaseManager\n\n\n"
        "async def f(db: AsyncDatabaseManager):\n"
        f'    return await db.fetch_all("SELECT * FROM users")  {comment}\n',
    )
    assert [f.code for f in check_paths([path])] == ([] if silenced else ["SP005"])


def test_noqa_for_a_multi_line_string_goes_after_it(tmp_path: Path) -> None:
    source = (
        "from pgdbm import AsyncDatabaseManager\n\n\n"
        "async def f(db: AsyncDatabaseManager):\n"
        '    return await db.fetch_all("""\n'
        "        SELECT * FROM users\n"
        '    """)  {comment}\n'
    )
    path = write(tmp_path, "app.py", source.format(comment=""))
    assert [(f.code, f.line, f.column) for f in check_paths([path])] == [("SP005", 6, 23)]
    write(tmp_path, "app.py", source.format(comment="# noqa: SP005"))
    assert check_paths([path]) == []


def test_noqa_for_a_multi_line_f_string_goes_after_it(tmp_path: Path) -> None:
    source = 'async def drop(connection, table):\n    await connection.execute(f"""\n'
    source += '        DROP TABLE {table}\n    """)  COMMENT\n'
    path = write(tmp_path, "app.py", source.replace("COMMENT", ""))
    assert [(f.code, f.line) for f in check_paths([path])] == [("SP007", 2)]
    write(tmp_path, "app.py", source.replace("COMMENT", "# noqa: SP007"))
    assert check_paths([path]) == []


def test_noqa_in_sql(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "migrations/001_init.sql",
        "CREATE EXTENSION citext;  -- noqa: SP011\n"
        "CREATE EXTENSION hstore;  -- noqa: SP005\n"
        "CREATE TABLE legacy (id int);  -- noqa\n",
    )
    assert [(f.code, f.line) for f in check_paths([path])] == [("SP011", 2)]


def test_columns_count_characters_not_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "app.py", 'ÄÖÜ = "é"; SCHEMA = "User"\n')
    [finding] = check_paths([path])
    assert (finding.code, finding.line, finding.column) == ("SP012", 1, 21)


def test_walk_skips_tool_folders_and_sql_outside_migrations(tmp_path: Path) -> None:
    bad_python = 'SCHEMA = "order"\n'
    bad_sql = "CREATE EXTENSION citext;\n"
    write(tmp_path, "src/app/schema.py", bad_python)
    write(tmp_path, "src/app/migrations/001_init.sql", bad_sql)
    write(tmp_path, "scripts/report.sql", bad_sql)  # not a migration: never walked into
    for skipped in (".venv", "__pycache__", ".git", "node_modules", "build", "dist"):
        write(tmp_path, f"{skipped}/lib/schema.py", bad_python)
        write(tmp_path, f"{skipped}/lib/migrations/001.sql", bad_sql)
    found = sorted(str(Path(f.path).relative_to(tmp_path)) for f in check_paths([tmp_path]))
    assert found == ["src/app/migrations/001_init.sql", "src/app/schema.py"]
    # Named explicitly, any .sql file is checked.
    assert [f.code for f in check_paths([tmp_path / "scripts/report.sql"])] == ["SP011"]


def test_check_reads_a_large_tree(tmp_path: Path) -> None:
    """A generated tree of >= 10k lines: one seeded finding per module, nothing else."""
    body = "\n".join(
        f"async def query_{n}(db: AsyncDatabaseManager, id_: int):\n"
        f'    return await db.fetch_one("SELECT * FROM {{{{tables.items}}}} WHERE id = $1", id_)\n'
        for n in range(40)
    )
    module = (
        "from pgdbm import AsyncDatabaseManager\n\n\n"
        f"{body}\n\n"
        "async def seeded(db: AsyncDatabaseManager):\n"
        '    return await db.fetch_all("SELECT * FROM items")\n'
    )
    for package in range(10):
        for index in range(12):
            write(tmp_path, f"pkg{package}/module_{index}.py", module)
    total = sum(p.read_text().count("\n") for p in tmp_path.rglob("*.py"))
    assert total >= 10_000
    findings = check_paths([tmp_path])
    assert len(findings) == 120
    assert {f.code for f in findings} == {"SP005"}


def test_rule_reference_is_rendered_from_the_rules() -> None:
    committed = (Path(__file__).resolve().parents[1] / "docs" / "rules.md").read_text()
    assert committed == rules_document(), (
        "docs/rules.md is stale: python tests/lint_corpus.py > docs/rules.md"
    )


def test_deep_nesting_is_checked_or_reported_unparsable(tmp_path: Path) -> None:
    def concatenation(terms: int) -> str:
        query = " + ".join(['"SELECT "', *["x"] * terms])
        return f"async def f(db, x):\n    await db.execute({query})\n"

    deep = write(tmp_path, "deep.py", concatenation(2000))
    assert [f.code for f in check_paths([deep])] == ["SP007"]
    too_deep = write(tmp_path, "too_deep.py", concatenation(20_000))
    selection = load([too_deep])
    assert selection.project.python == []
    [problem] = selection.unparsable
    assert (problem.path, problem.line, problem.code) == (str(too_deep), 1, "E999")
    assert problem.message.endswith("nested too deeply for Python's parser")


def test_pools_in_a_list_closed_in_a_loop(tmp_path: Path) -> None:
    """Several pools on purpose (a benchmark): SP001 says so, SP009 sees them closed."""
    path = write(
        tmp_path,
        "bench.py",
        """\
from pgdbm import AsyncDatabaseManager


async def compare(configs, measure) -> None:
    pools = [await AsyncDatabaseManager.create_shared_pool(config) for config in configs]
    managers = [AsyncDatabaseManager(pool=pool, schema="bench") for pool in pools]
    try:
        await measure(managers)
    finally:
        for pool in pools:
            await pool.close()
""",
    )
    assert [(f.code, f.line) for f in check_paths([path])] == [("SP001", 5)]
