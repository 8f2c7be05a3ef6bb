"""The corpus's true positives, run on PostgreSQL with pgdbm 0.5.0: each TP label names the
test that shows it failing ([verified: <id>] in tests/corpus/labels.txt).

SP005, SP011 and SP013 labels are checked here one by one, on the flagged text itself (the
query or the migration statement from the corpus file). The other rules are shown on the
structure the labels describe, once per structure, in test_lint_failures.py.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import AsyncIterator
from functools import cache

import asyncpg
import pytest
import test_lint_failures as failures
from lint_corpus import PROJECTS, Label, all_labels, fetch
from lint_runtime import shared_pool
from pgdbm import AsyncDatabaseManager
from pgdbm_shared_pool.lint import sql
from pgdbm_shared_pool.lint.syntax import ASYNCPG_QUERY_METHODS, QUERY_METHODS, query_argument

VERIFIED = re.compile(r"\[verified: ([a-z0-9-]+)\]")
TEMPLATE = re.compile(r"\{\{tables\.([a-z0-9_]+)(?:\.([a-z0-9_]+))?\}\}")


@pytest.fixture
async def pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with shared_pool(fresh_database_url) as opened:
        yield opened


def true_positives(verification: str) -> list[Label]:
    return [
        label
        for label in all_labels()
        if label.verdict == "TP" and VERIFIED.search(label.note)
        and VERIFIED.search(label.note).group(1) == verification  # type: ignore[union-attr]
    ]  # fmt: skip


def label_id(label: Label) -> str:
    return f"{label.project}:{label.path}:{label.line}"


@cache
def corpus_file(project: str, path: str) -> str:
    [wanted] = [p for p in PROJECTS if p.name == project]
    return (fetch(wanted) / path).read_text(encoding="utf-8")


def test_every_true_positive_names_a_verification_that_exists() -> None:
    tests = {name for name in (*globals(), *vars(failures)) if name.startswith("test_")}
    for label in all_labels():
        if label.verdict != "TP":
            continue
        found = VERIFIED.search(label.note)
        assert found, f"{label_id(label)}: say how it was verified ([verified: <id>])"
        assert f"test_{found.group(1).replace('-', '_')}" in tests, found.group(1)


# --- the flagged text itself -------------------------------------------------------------
def flagged_query(label: Label) -> str:
    """The literal SQL of the pgdbm/asyncpg call whose string spans the label's line."""
    tree = ast.parse(corpus_file(label.project, label.path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            query = query_argument(node, {**QUERY_METHODS, **ASYNCPG_QUERY_METHODS})
            if (
                isinstance(query, ast.Constant)
                and isinstance(query.value, str)
                and query.lineno <= label.line <= (query.end_lineno or query.lineno)
            ):
                return query.value
    raise AssertionError(f"{label_id(label)}: no literal query on that line")


@pytest.mark.parametrize("label", true_positives("pin-unqualified"), ids=label_id)
async def test_pin_unqualified(pool: asyncpg.Pool, label: Label) -> None:
    """The query as written, on a manager of the shared pool, with every table it names
    present in the manager's schema: the unqualified one is still not found."""
    query = flagged_query(label)
    db = AsyncDatabaseManager(pool=pool, schema="svc")
    await pool.execute("CREATE SCHEMA svc")
    unqualified = {
        token.text.strip('"')
        for statement in sql.statements(sql.tokenize(query))
        for token in sql.unqualified_tables(statement)
    }
    for schema, table in {("svc", t) for t in unqualified} | _templated_tables(query):
        await pool.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await pool.execute(f'CREATE TABLE IF NOT EXISTS "{schema}"."{table}" ()')
    async with pool.acquire() as connection:
        with pytest.raises(asyncpg.UndefinedTableError) as failure:
            await connection.prepare(db.prepare_query(query))
    assert any(f'relation "{table}" does not exist' in str(failure.value) for table in unqualified)


def _templated_tables(query: str) -> set[tuple[str, str]]:
    return {
        (first, second) if second else ("svc", first) for first, second in TEMPLATE.findall(query)
    }


def flagged_template(label: Label) -> str:
    """The text an f-string (or .format()) on the label's line sends, its values replaced."""
    tree = ast.parse(corpus_file(label.project, label.path))
    for node in ast.walk(tree):
        spans = getattr(node, "lineno", 0) <= label.line <= (getattr(node, "end_lineno", 0) or 0)
        if isinstance(node, ast.JoinedStr) and spans:
            return "".join(
                part.value if isinstance(part, ast.Constant) else "1" for part in node.values
            )
        if (
            spans
            and isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant)
        ):
            template = str(node.func.value.value)
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
            return template.format(*["1"] * len(fields))
    raise AssertionError(f"{label_id(label)}: no f-string or .format() on that line")


@pytest.mark.parametrize("label", true_positives("collapsed-braces"), ids=label_id)
async def test_collapsed_braces(pool: asyncpg.Pool, label: Label) -> None:
    sent = flagged_template(label)
    db = AsyncDatabaseManager(pool=pool, schema="svc")
    expanded = db.prepare_query(sent)
    assert "{tables." in expanded  # pgdbm left the single-brace template alone
    async with pool.acquire() as connection:
        with pytest.raises(asyncpg.PostgresSyntaxError) as failure:
            await connection.prepare(expanded)
    position = int(failure.value.position)  # type: ignore[attr-defined]
    assert expanded[position - 1] == "{", failure.value


def flagged_statement(label: Label) -> str:
    text = corpus_file(label.project, label.path)
    offset = sum(len(line) + 1 for line in text.split("\n")[: label.line - 1])
    for statement in sql.statements(sql.tokenize(text)):
        if statement[0].offset <= offset + len(text.split("\n")[label.line - 1]):
            last = statement[-1]
            if last.offset + len(last.text) >= offset:
                return text[statement[0].offset : last.offset + len(last.text)]
    raise AssertionError(f"{label_id(label)}: no statement on that line")


@pytest.mark.parametrize("label", true_positives("extension-pg-catalog"), ids=label_id)
async def test_extension_pg_catalog(pool: asyncpg.Pool, label: Label) -> None:
    """The migration's CREATE EXTENSION on a manager of the shared pool: it fails, or the
    extension lands in pg_catalog and a later `... SCHEMA public` + qualified call breaks."""
    statement = flagged_statement(label)
    extension = statement.split()[-1].strip('";')
    db = AsyncDatabaseManager(pool=pool, schema="public")
    try:
        await db.execute(statement)
    except Exception as error:  # pgcrypto: gen_random_uuid() is already in pg_catalog
        assert "already exists" in str(error)
        return
    installed_in = (
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = $1"
    )
    assert await pool.fetchval(installed_in, extension) == "pg_catalog"
    await pool.execute(f'CREATE EXTENSION IF NOT EXISTS "{extension}" SCHEMA public')  # skipped
    assert await pool.fetchval(installed_in, extension) == "pg_catalog"
    if extension == "uuid-ossp":  # so public.uuid_generate_v4() does not exist
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await pool.fetchval("SELECT public.uuid_generate_v4()")
