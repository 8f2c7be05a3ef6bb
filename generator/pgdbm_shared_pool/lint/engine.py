"""The rule engine: the rule registry, selection, and a run from a Project to sorted Findings."""

from __future__ import annotations

import gc
import importlib
import pkgutil
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Protocol

from . import rules as rules_package
from .project import Project
from .sources import ALL_CODES, Hit


class Rule(Protocol):
    """What every `rules/spNNN_*.py` module defines (a module satisfies this protocol)."""

    CODE: str
    NAME: str
    MESSAGE: str
    RATIONALE: str
    FIX: str
    GOOD_EXAMPLES: Sequence[str]
    BAD_EXAMPLES: Sequence[str]
    # Tests do this on purpose (pytest.raises cases, fixtures owning a pool): not reported there.
    EXEMPT_TESTS: bool

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


RULE_MODULE = re.compile(r"^sp\d{3}_\w+$")


@cache
def all_rules() -> tuple[Rule, ...]:
    modules: list[ModuleType] = [
        importlib.import_module(f"{rules_package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(rules_package.__path__)
        if RULE_MODULE.match(info.name)
    ]
    found: list[Rule] = modules  # type: ignore[assignment]
    return tuple(sorted(found, key=lambda rule: rule.CODE))


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


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for a run: syntax trees are millions of objects without
    cycles, and re-scanning them on every collection doubled the time of a 200k-line tree.
    What a run leaves in cycles (scopes) is collected once, when it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Rules recurse over expressions; anything Python's parser accepted must fit (ast.parse
# gives up at a nesting depth of a few thousand).
_RECURSION_LIMIT = 10_000


def run_rules(
    project: Project, rules: Iterable[Rule], *, include_tests: bool = False
) -> list[Finding]:
    """Sorted findings of `rules`; test code only for rules that do not exempt it (or all)."""
    findings: set[Finding] = set()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _RECURSION_LIMIT))
    try:
        for rule in rules:
            exempt = rule.EXEMPT_TESTS and not include_tests
            for hit in rule.check(project):
                if (exempt and hit.source.is_test) or _silenced(hit, rule.CODE):
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
