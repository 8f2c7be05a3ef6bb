"""The rule framework: sources, findings, the rule registry, noqa and selection."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import PurePath
from types import ModuleType
from typing import Protocol

from . import _sql
from ._module import ModuleFacts
from ._project import ProjectFacts


class Rule(Protocol):
    """What every `spNNN_*.py` module defines (a module satisfies this protocol)."""

    CODE: str
    NAME: str
    MESSAGE: str
    RATIONALE: str
    FIX: str
    GOOD_EXAMPLES: Sequence[str]
    BAD_EXAMPLES: Sequence[str]

    def check(self, project: Project) -> Iterable[Hit]: ...


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    column: int
    code: str
    message: str
    fix: str

    def as_json(self) -> dict[str, str | int]:
        return {
            "code": self.code,
            "message": self.message,
            "fix": self.fix,
            "path": self.path,
            "line": self.line,
            "column": self.column,
        }


@dataclass(frozen=True)
class Hit:
    """A rule's raw result: where (1-based line and column) and, optionally, a specific message."""

    source: PythonSource | SqlSource
    line: int
    column: int
    message: str | None = None
    noqa_line: int | None = None  # a finding inside a multi-line string is silenced at its end


_TEST_DIRS = frozenset({"tests", "test"})


class PythonSource:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.tree = ast.parse(text, filename=path)
        self.lines = text.splitlines()
        parts = PurePath(path).parts
        name = parts[-1] if parts else path
        self.is_test = bool(_TEST_DIRS.intersection(parts[:-1])) or (
            name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
        )

    def hit(self, node: ast.AST, message: str | None = None) -> Hit:
        line: int = node.lineno  # type: ignore[attr-defined]
        column = self.column(line, node.col_offset) + 1  # type: ignore[attr-defined]
        # No comment fits inside a multi-line string: its noqa goes after the closing quotes.
        is_string = isinstance(node, ast.JoinedStr) or (
            isinstance(node, ast.Constant) and isinstance(node.value, str)
        )
        return Hit(self, line, column, message, node.end_lineno if is_string else None)  # type: ignore[attr-defined]

    def column(self, line: int, byte_offset: int) -> int:
        """AST columns count UTF-8 bytes; findings count characters."""
        text = self.lines[line - 1] if line <= len(self.lines) else ""
        return len(text.encode("utf-8")[:byte_offset].decode("utf-8", "replace"))

    def string_hit(self, node: ast.Constant, offset: int, message: str | None = None) -> Hit:
        """A hit at character `offset` of a string literal's value (its start if unmappable)."""
        start = self.hit(node, message)
        end_line = node.end_lineno or node.lineno
        segment = ast.get_source_segment(self.text, node) or ""
        prefix = re.match(r"[rRuUbBfF]*('''|\"\"\"|'|\")", segment)
        if prefix is None:
            return start
        opening = prefix.end()
        body = segment[opening : len(segment) - len(prefix.group(1))]
        if body != node.value:  # escapes or implicit concatenation: no 1:1 mapping
            return Hit(self, start.line, start.column, message, end_line)
        before = segment[: opening + offset]
        line = node.lineno + before.count("\n")
        column = len(before) - before.rfind("\n") if "\n" in before else start.column + len(before)
        return Hit(self, line, column, message, end_line)

    def noqa(self, line: int) -> frozenset[str] | None:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return _noqa_codes(text, "#")


class SqlSource:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.lines = text.splitlines()

    @cached_property
    def statements(self) -> list[list[_sql.Token]]:
        return list(_sql.statements(_sql.tokenize(self.text)))

    def hit(self, token: _sql.Token, message: str | None = None) -> Hit:
        line = self.text.count("\n", 0, token.offset) + 1
        column = token.offset - (self.text.rfind("\n", 0, token.offset) + 1) + 1
        return Hit(self, line, column, message)

    def noqa(self, line: int) -> frozenset[str] | None:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return _noqa_codes(text, "--")


ALL_CODES = frozenset({"*"})


def _noqa_codes(line: str, comment: str) -> frozenset[str] | None:
    """None if the line has no noqa; ALL_CODES for a bare noqa; else the listed codes."""
    match = re.search(
        re.escape(comment) + r"\s*noqa\b(?::\s*([A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", line, re.I
    )
    if match is None:
        return None
    if match.group(1) is None:
        return ALL_CODES
    return frozenset(code.upper() for code in re.split(r"[\s,]+", match.group(1)))


class Project:
    """Everything one `check` run looks at; rules that need the whole tree see it here."""

    def __init__(self, python: Sequence[PythonSource], sql: Sequence[SqlSource]) -> None:
        self.python = list(python)
        self.sql = list(sql)

    @cached_property
    def _analysis(self) -> tuple[list[ModuleFacts], ProjectFacts]:
        modules = [ModuleFacts(source) for source in self.python]
        facts = ProjectFacts(modules)
        for module in modules:
            module.project = facts
        return modules, facts

    @property
    def facts(self) -> ProjectFacts:
        return self._analysis[1]

    def modules(self) -> Iterator[ModuleFacts]:
        """The analysed Python modules (each analysed once per run, shared by all rules)."""
        return iter(self._analysis[0])


RULE_MODULE = re.compile(r"^sp\d{3}_\w+$")


@cache
def all_rules() -> tuple[Rule, ...]:
    package = importlib.import_module(__package__ or "pgdbm_shared_pool.checks")
    modules: list[ModuleType] = [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if RULE_MODULE.match(info.name)
    ]
    rules: list[Rule] = modules  # type: ignore[assignment]
    return tuple(sorted(rules, key=lambda rule: rule.CODE))


class UnknownCode(ValueError):
    pass


def select_rules(select: Sequence[str] = (), ignore: Sequence[str] = ()) -> list[Rule]:
    """Rules whose code starts with a selected prefix and with no ignored one (ruff-style)."""
    codes = [rule.CODE for rule in all_rules()]
    for prefix in (*select, *ignore):
        if prefix != "ALL" and not any(code.startswith(prefix) for code in codes):
            raise UnknownCode(f"unknown rule code or prefix: {prefix!r}")

    def matches(code: str, prefixes: Sequence[str]) -> bool:
        return any(prefix == "ALL" or code.startswith(prefix) for prefix in prefixes)

    return [
        rule
        for rule in all_rules()
        if (not select or matches(rule.CODE, select)) and not matches(rule.CODE, ignore)
    ]


# Rules recurse over expressions; anything Python's parser accepted must fit (ast.parse
# gives up at a nesting depth of a few thousand).
_RECURSION_LIMIT = 10_000


def run_rules(project: Project, rules: Iterable[Rule]) -> list[Finding]:
    findings: set[Finding] = set()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _RECURSION_LIMIT))
    try:
        for rule in rules:
            for hit in rule.check(project):
                if _silenced(hit, rule.CODE):
                    continue
                message = hit.message or rule.MESSAGE
                findings.add(
                    Finding(hit.source.path, hit.line, hit.column, rule.CODE, message, rule.FIX)
                )
    finally:
        sys.setrecursionlimit(limit)
    return sorted(findings)


def _silenced(hit: Hit, code: str) -> bool:
    for line in {hit.line, hit.noqa_line or hit.line}:
        codes = hit.source.noqa(line)
        if codes is not None and (codes is ALL_CODES or code in codes):
            return True
    return False


def example_project(snippet: str) -> Project:
    """A one-file project from a rule example: SQL if its first line is `-- <path>.sql`."""
    first_line = snippet.lstrip().split("\n", 1)[0]
    if first_line.startswith("--") and first_line.rstrip().endswith(".sql"):
        return Project([], [SqlSource(first_line[2:].strip(), snippet.lstrip())])
    return Project([PythonSource("example.py", snippet)], [])
