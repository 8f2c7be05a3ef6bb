"""Just enough SQL lexing to find table positions and CREATE EXTENSION statements.

String literals, dollar-quoted bodies and comments are skipped, so text inside them is
never mistaken for a table. pgdbm placeholders (`{{tables.x}}`, `{{schema}}`) are tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<line_comment>--[^\n]*)
  | (?P<block_comment>/\*)
  | (?P<string>[eE]'(?:[^'\\]|\\.|'')*'|(?:[bBxXnN]|[uU]&)?'(?:[^']|'')*')
  | (?P<dollar>\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$)
  | (?P<template>\{\{[^{}]*\}\})
  | (?P<quoted>(?:[uU]&)?"(?:[^"]|"")*")
  | (?P<param>\$\d+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)
  | (?P<punct>::|.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word, quoted, template, param, number, punct
    text: str
    offset: int

    @property
    def key(self) -> str:
        """Keyword-comparable text: lower-cased words, punctuation as is."""
        return self.text.lower() if self.kind == "word" else self.text


def tokenize(sql: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(sql):
        match = _TOKEN.match(sql, position)
        assert match is not None  # the pattern ends with a catch-all
        kind = match.lastgroup or "punct"
        end = match.end()
        if kind == "block_comment":
            end = _block_comment_end(sql, position)
        elif kind == "dollar":
            closing = sql.find(match.group(), end)
            end = len(sql) if closing < 0 else closing + len(match.group())
        elif kind not in ("space", "line_comment", "string"):
            tokens.append(Token(kind, match.group(), position))
        position = end
    return tokens


def _block_comment_end(sql: str, start: int) -> int:
    depth, position = 0, start  # PostgreSQL block comments nest
    while position < len(sql):
        if sql.startswith("/*", position):
            depth, position = depth + 1, position + 2
        elif sql.startswith("*/", position):
            depth, position = depth - 1, position + 2
            if depth == 0:
                return position
        else:
            position += 1
    return position


def statements(tokens: list[Token]) -> Iterator[list[Token]]:
    current: list[Token] = []
    for token in tokens:
        if token.text == ";":
            if current:
                yield current
            current = []
        else:
            current.append(token)
    if current:
        yield current


# What pgdbm 0.5.0 expands; anything else between braces reaches PostgreSQL as is.
_PGDBM_TEMPLATE = re.compile(r"\{\{(?:schema|tables\.[a-zA-Z0-9_]+(?:\.[a-zA-Z0-9_]+)?)\}\}")


def unexpanded_templates(statement: list[Token]) -> Iterator[Token]:
    """`{{ tables.x }}`, `{{tables.a.b.c}}`, `{{Schema}}`: meant for pgdbm, never expanded."""
    for token in statement:
        meant_for_pgdbm = token.text[2:-2].strip().lower().startswith(("tables", "schema"))
        expanded = _PGDBM_TEMPLATE.fullmatch(token.text)
        if token.kind == "template" and meant_for_pgdbm and not expanded:
            yield token


def create_extensions_without_schema(statement: list[Token]) -> Iterator[Token]:
    """The CREATE token of a CREATE EXTENSION that names no SCHEMA."""
    keys = [token.key for token in statement]
    if keys[:2] == ["create", "extension"] and "schema" not in keys:
        yield statement[0]


def created_extension(statement: list[Token]) -> tuple[str, bool, bool] | None:
    """For CREATE EXTENSION: the extension's name, whether IF NOT EXISTS, whether SCHEMA."""
    keys = [token.key for token in statement]
    if keys[:2] != ["create", "extension"]:
        return None
    if_not_exists = keys[2:5] == ["if", "not", "exists"]
    position = 5 if if_not_exists else 2
    if position >= len(statement):
        return None
    return _name_key(statement[position]), if_not_exists, "schema" in keys


# Functions whose argument syntax uses FROM: EXTRACT(x FROM ts), SUBSTRING(s FROM 2) ...
_FROM_FUNCTIONS = frozenset({"extract", "substring", "trim", "overlay", "position", "normalize"})
# Words that start a clause, so they are never a table (or an alias) where one may stand.
_NOT_A_NAME = frozenset(
    {"select", "values", "with", "where", "set", "on", "using", "default", "returning", "as"}
    | {"group", "order", "limit", "offset", "fetch", "for", "having", "window", "tablesample"}
    | {"join", "inner", "left", "right", "full", "cross", "natural", "lateral", "only", "rows"}
    | {"union", "except", "intersect", "if", "not", "exists", "into", "from", "and", "or"}
    | {"cascade", "restrict"}
)
# TABLE after these names a table (CREATE TEMP TABLE does not: temporary tables need no schema).
_TABLE_VERBS = frozenset({"create", "unlogged", "alter", "drop", "truncate", "lock", "on"})
_VIEW_VERBS = frozenset({"create", "replace", "alter", "drop", "materialized", "recursive"})
_TEMPORARY = frozenset({"temp", "temporary"})
_UPDATE_AFTER = frozenset({None, ")", "explain", "analyze", "verbose"})


class _Statement:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.keys = [token.key for token in tokens]
        self.cte_names = self._cte_names()

    def key(self, index: int) -> str | None:
        return self.keys[index] if 0 <= index < len(self.keys) else None

    def skip_group(self, index: int) -> int:
        """Index after the parenthesised group that starts at `index`."""
        depth = 0
        for position in range(index, len(self.keys)):
            if self.keys[position] == "(":
                depth += 1
            elif self.keys[position] == ")":
                depth -= 1
                if depth == 0:
                    return position + 1
        return len(self.keys)

    def _cte_names(self) -> set[str]:
        names: set[str] = set()
        for index, key in enumerate(self.keys):
            if key != "with":
                continue
            position = index + 2 if self.key(index + 1) == "recursive" else index + 1
            while position < len(self.tokens) and self.tokens[position].kind in ("word", "quoted"):
                name = self.tokens[position]
                position += 1
                if self.key(position) == "(":
                    position = self.skip_group(position)
                if self.key(position) != "as":
                    break
                position += 1
                while self.key(position) in ("not", "materialized"):
                    position += 1
                if self.key(position) != "(":
                    break
                names.add(_name_key(name))
                position = self.skip_group(position)
                if self.key(position) != ",":
                    break
                position += 1
        return names

    def table_item(self, index: int, *, functions: bool) -> tuple[Token | None, int]:
        """Parse one table position at `index`: (the unqualified table token or None, next index).

        With `functions`, `name(...)` is a set-returning function (FROM, JOIN); otherwise
        the parentheses hold a column list (INSERT INTO t (a), REFERENCES t (id)).
        """
        while self.key(index) in ("only", "lateral", "if", "not", "exists"):
            index += 1
        if index >= len(self.tokens):
            return None, index
        token = self.tokens[index]
        if token.text == "(":
            return None, self.skip_group(index)
        if token.kind not in ("word", "quoted", "template") or token.key in _NOT_A_NAME:
            return None, index
        end = index + 1
        qualified = False
        while self.key(end) == "." and end + 1 < len(self.tokens):
            qualified, end = True, end + 2
        if functions and self.key(end) == "(":  # FROM unnest($1) ...
            return None, self.skip_group(end)
        if qualified or token.kind == "template" or _name_key(token) in self.cte_names:
            return None, end
        if token.kind == "word" and token.key.startswith("pg_"):
            return None, end  # system catalogs resolve under the pg_catalog search_path pin
        return token, end

    def table_list(self, index: int, *, functions: bool = False) -> Iterator[Token]:
        """Comma-separated table positions: FROM a x, b y / DROP TABLE a, b."""
        while True:
            found, index = self.table_item(index, functions=functions)
            if found is not None:
                yield found
            if self.key(index) == "as":
                index += 1
            if (
                index < len(self.tokens)
                and self.tokens[index].kind in ("word", "quoted")
                and self.keys[index] not in _NOT_A_NAME
            ):
                index += 1  # alias
            if self.key(index) == "(":
                index = self.skip_group(index)  # column aliases
            if self.key(index) != ",":
                return
            index += 1

    def unqualified_tables(self) -> Iterator[Token]:
        first = self.key(0)
        if first in ("revoke", "fetch", "move"):  # FROM names a role or a cursor
            return
        if first == "copy":
            yield from self.table_list(1)
            return
        index_statement = first == "create" and (
            "index" in self.keys[1:4] or "trigger" in self.keys[1:5] or self.key(1) == "policy"
        )
        owners: list[str | None] = []
        for index, key in enumerate(self.keys):
            previous = self.key(index - 1) if index else None
            if key == "(":
                owners.append(previous)
            elif key == ")" and owners:
                owners.pop()
            elif key == "from":
                if previous == "distinct" or (owners and owners[-1] in _FROM_FUNCTIONS):
                    continue
                yield from self.table_list(index + 1, functions=True)
            elif key in ("join", "into", "references"):
                found, _ = self.table_item(index + 1, functions=key == "join")
                if found is not None:
                    yield found
            elif (
                (key == "update" and previous in _UPDATE_AFTER)
                or (key == "table" and (previous in _TABLE_VERBS or index == 0))
                or (key == "view" and previous in _VIEW_VERBS and not _TEMPORARY & set(self.keys))
            ):
                yield from self.table_list(index + 1)
            elif key in ("truncate", "lock") and index == 0 and self.key(1) != "table":
                yield from self.table_list(1)
            elif key == "using" and first in ("delete", "merge") and not owners:
                yield from self.table_list(index + 1)
            elif key == "on" and index_statement and not owners:
                index_statement = False  # only the first ON names the table
                yield from self.table_list(index + 1)


def _name_key(token: Token) -> str:
    return token.text[1:-1].replace('""', '"') if token.kind == "quoted" else token.text.lower()


def unqualified_tables(statement: list[Token]) -> Iterator[Token]:
    """Tables named in `statement` without a schema, a {{tables.x}} placeholder or a CTE."""
    yield from _Statement(statement).unqualified_tables()
