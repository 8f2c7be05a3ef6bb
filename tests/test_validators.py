"""copier.yml's validators: every rejection, through `copier copy` and through `shared-pool new`.

Each rejection must name the bad value and leave nothing behind. The reserved-word list is
checked against the real server's pg_get_keywords(), and real pgdbm on real PostgreSQL shows
why those words are rejected while the other keywords are fine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import asyncpg
import copier
import pytest
import yaml
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig
from pgdbm_shared_pool import cli, naming, template

ROOT = template.template_root()
pytestmark = pytest.mark.filterwarnings("ignore::copier.errors.DirtyLocalWarning")

# (answers, text the one-line error must contain)
REJECTIONS: dict[str, tuple[dict[str, object], str]] = {
    "empty list": ({"services": []}, "at least one service"),
    "not a list": ({"services": "users"}, "must be a YAML list"),
    "duplicates": ({"services": ["users", "orders", "users"]}, 'repeated: "users"'),
    "upper case": ({"services": ["Users"]}, 'service "Users"'),
    "leading digit": ({"services": ["1abc"]}, 'service "1abc"'),
    "dash": ({"services": ["a-b"]}, 'service "a-b"'),
    "space": ({"services": ["a b"]}, 'service "a b"'),
    "non-ascii": ({"services": ["é"]}, 'service "é"'),
    "trailing newline": ({"services": ["users\n"]}, 'service "users\\n"'),
    "dunder": ({"services": ["__init__"]}, 'service "__init__": a name starting with __'),
    "not a string": ({"services": [1]}, "service 1:"),
    "public": ({"services": ["public"]}, 'service "public": reserved by PostgreSQL'),
    "pg_ prefix": ({"services": ["pg_x"]}, 'service "pg_x": reserved by PostgreSQL'),
    "information_schema": (
        {"services": ["information_schema"]},
        'service "information_schema": reserved by PostgreSQL',
    ),
    "64 bytes": ({"services": ["a" * 64]}, "longer than 63 bytes"),
    "python keyword": ({"services": ["class"]}, 'service "class": a Python keyword'),
    "python keyword lambda": ({"services": ["lambda"]}, 'service "lambda": a Python keyword'),
    "equals package": (
        {"services": ["acme"], "package_name": "acme"},
        'service "acme": must differ from the package name',
    ),
    "equals tenant prefix": (
        {"services": ["tenant"], "use_tenants": True},
        'service "tenant": collides with the tenant schemas',
    ),
    "starts with tenant prefix": (
        {"services": ["tenant_acme"], "use_tenants": True},
        'service "tenant_acme": collides with the tenant schemas',
    ),
    "starts with custom prefix": (
        {"services": ["org_users"], "use_tenants": True, "tenant_schema_prefix": "org_"},
        'service "org_users": collides with the tenant schemas (org_*)',
    ),
    "equals registry schema": (
        {"services": ["tenancy"], "use_tenants": True},
        'service "tenancy": collides',
    ),
    "package leading digit": ({"package_name": "1acme"}, 'package_name "1acme"'),
    "package upper case": ({"package_name": "Acme"}, 'package_name "Acme"'),
    "package dash": ({"package_name": "my-app"}, 'package_name "my-app"'),
    "package newline": ({"package_name": "acme\n"}, 'package_name "acme\\n"'),
    "package keyword": ({"package_name": "import"}, 'package_name "import" is a Python keyword'),
    "package shadows pgdbm": ({"package_name": "pgdbm"}, 'package_name "pgdbm" would shadow'),
    "package shadows asyncio": ({"package_name": "asyncio"}, 'package_name "asyncio"'),
    "pool max below min": (
        {"pool_min_size": 8, "pool_max_size": 4},
        "pool_max_size must be >= pool_min_size (8)",
    ),
    "pool max below 2": ({"pool_max_size": 1}, "pool_max_size must be >= 2"),
    "pool min negative": ({"pool_min_size": -1}, "pool_min_size must be >= 0"),
    "tenant prefix pg_": (
        {"use_tenants": True, "tenant_schema_prefix": "pg_"},
        'tenant_schema_prefix "pg_"',
    ),
    "tenant prefix no underscore": (
        {"use_tenants": True, "tenant_schema_prefix": "tenant"},
        'tenant_schema_prefix "tenant"',
    ),
    "empty project name": ({"project_name": " "}, "project_name must not be empty"),
    "quote in project name": ({"project_name": 'Acme "API"'}, "project_name"),
    "python_version not a choice": ({"python_version": "2.7"}, "2.7"),
}


def with_defaults(data: dict[str, object]) -> dict[str, object]:
    return {"services": ["users"], **data}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's copier.yml and template/ as a plain folder: the same files, without
    the ~0.6 s git clone copier makes of a git checkout with uncommitted changes."""
    folder = tmp_path_factory.mktemp("template")
    shutil.copytree(
        ROOT / "template", folder / "template", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "copier.yml", folder)
    return folder


def copier_copy(
    template: Path, dest: Path, data: dict[str, object], *, pretend: bool = False
) -> None:
    copier.run_copy(
        str(template),
        dest,
        data=data,
        defaults=True,
        quiet=True,
        pretend=pretend,
        settings=copier.Settings(),
    )


def shared_pool_new(capsys: pytest.CaptureFixture[str], dest: Path, data: dict[str, object]):
    """Run `shared-pool new DEST --data k=v ...` in-process: (exit code, stdout, stderr)."""
    argv = ["new", str(dest)]
    for key, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        argv += ["--data", f"{key}={text}"]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", REJECTIONS, ids=list(REJECTIONS))
def test_copier_copy_rejects_and_writes_nothing(template: Path, tmp_path: Path, case: str) -> None:
    data, expected = REJECTIONS[case]
    dest = tmp_path / "project"
    with pytest.raises(ValueError) as raised:
        copier_copy(template, dest, with_defaults(data))
    assert expected in str(raised.value)
    assert not dest.exists()


@pytest.mark.parametrize("case", REJECTIONS, ids=list(REJECTIONS))
def test_shared_pool_new_rejects_on_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    data, expected = REJECTIONS[case]
    dest = tmp_path / "project"
    code, out, err = shared_pool_new(capsys, dest, with_defaults(data))
    assert code == 2
    assert out == ""
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and expected in error_lines[0], err
    assert "Traceback" not in err
    assert not dest.exists()


def test_rejection_leaves_an_empty_destination_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "empty"
    dest.mkdir()
    code, _, _ = shared_pool_new(capsys, dest, {"services": ["order"]})
    assert code == 2
    assert list(dest.iterdir()) == []


def test_defaulted_package_name_is_validated_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # copier skips validators for defaults; the folder name makes package_name "1st_app".
    dest = tmp_path / "1st-app"
    code, _, err = shared_pool_new(capsys, dest, {"services": ["users"]})
    assert code == 2
    assert 'package_name "1st_app"' in err
    assert not dest.exists()


def test_63_byte_name_is_accepted(
    template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "s" * 63
    copier_copy(template, tmp_path / "via-copier", {"services": [name]}, pretend=True)
    code, _, err = shared_pool_new(capsys, tmp_path / "via_cli", {"services": [name]})
    assert code == 0, err
    assert (tmp_path / "via_cli" / "src" / "via_cli" / "services" / name).is_dir()


def test_tenancy_is_a_valid_service_without_tenants(template: Path, tmp_path: Path) -> None:
    copier_copy(template, tmp_path / "p", {"services": ["tenancy", "tenant_x"]}, pretend=True)


# --- the reserved words, against the real server ------------------------------------------


async def server_keywords(dsn: str, catcodes: tuple[str, ...]) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT word FROM pg_get_keywords() WHERE catcode = ANY($1::char[]) ORDER BY word",
            list(catcodes),
        )
    finally:
        await connection.close()
    return [row["word"] for row in rows]


def copier_reserved_words() -> set[str]:
    config = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    return set(yaml.safe_load(config["pg_reserved_words"]["default"]))


@pytest.mark.smoke
async def test_copier_yml_lists_every_reserved_word_of_the_server(pg_server) -> None:
    reserved = await server_keywords(pg_server.dsn, ("R", "T"))
    assert len(reserved) > 80  # the query really returned the keyword table
    assert set(reserved) <= copier_reserved_words()


async def test_every_reserved_word_is_rejected_by_copier_and_the_cli(
    template: Path, pg_server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reserved = await server_keywords(pg_server.dsn, ("R", "T"))
    # The validator judges every list item, so one run per path checks every word.
    with pytest.raises(ValueError) as raised:
        copier_copy(template, tmp_path / "via-copier", {"services": reserved})
    code, _, err = shared_pool_new(capsys, tmp_path / "via-cli", {"services": reserved})
    assert code == 2
    for word in reserved:
        reason = f'service "{word}": a reserved PostgreSQL keyword'
        assert reason in str(raised.value), word
        assert reason in err, word
    assert not (tmp_path / "via-copier").exists() and not (tmp_path / "via-cli").exists()


async def test_other_keywords_are_accepted(template: Path, pg_server, tmp_path: Path) -> None:
    unreserved = await server_keywords(pg_server.dsn, ("U", "C"))
    allowed = [w for w in unreserved if w not in naming.PYTHON_KEYWORDS]
    assert {"name", "value"} <= set(allowed)
    copier_copy(template, tmp_path / "p", {"services": allowed}, pretend=True)


async def migrate_one_table(database_url: str, schema: str, migrations: Path) -> int:
    """Create `schema`, migrate it with pgdbm on a shared pool, write and count a row."""
    config = DatabaseConfig(connection_string=database_url, min_connections=1, max_connections=2)
    pool = await AsyncDatabaseManager.create_shared_pool(config)
    try:
        db = AsyncDatabaseManager(pool=pool, schema=schema)
        await db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')  # quoted: always succeeds
        manager = AsyncMigrationManager(db, migrations_path=str(migrations), module_name=schema)
        await manager.apply_pending_migrations()
        await db.execute("INSERT INTO {{tables.items}} (title) VALUES ($1)", "x")
        return int(await db.fetch_value("SELECT count(*) FROM {{tables.items}}"))
    finally:
        await pool.close()


@pytest.fixture
def items_migration(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_items.sql").write_text(
        "CREATE TABLE {{tables.items}} (id serial PRIMARY KEY, title text NOT NULL);\n"
    )
    return folder


@pytest.mark.smoke
@pytest.mark.parametrize("schema", ["order", "user", "group", "select", "current_user"])
async def test_reserved_words_really_break_pgdbm_tracking_sql(
    fresh_database_url: str, items_migration: Path, schema: str
) -> None:
    with pytest.raises(asyncpg.PostgresSyntaxError, match=schema):
        await migrate_one_table(fresh_database_url, schema, items_migration)


@pytest.mark.parametrize("schema", ["name", "value", "between", "int", "action"])
async def test_accepted_keywords_work_with_pgdbm_end_to_end(
    template: Path, fresh_database_url: str, items_migration: Path, tmp_path: Path, schema: str
) -> None:
    copier_copy(template, tmp_path / "p", {"services": [schema]}, pretend=True)
    assert await migrate_one_table(fresh_database_url, schema, items_migration) == 1
