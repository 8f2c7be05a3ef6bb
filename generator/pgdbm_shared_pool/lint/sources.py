"""The files a run looks at (Python and SQL text) and a rule's raw result, a Hit.

Positions are mapped through precomputed line offsets: one finding costs the length of its
line, never the length of its file.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePath

from . import sql

_TEST_DIRS = frozenset({"tests", "test", "testing", "fixtures"})
# Test support inside a package (pgdbm.testing, a pytest plugin) builds pools per test too.
_TEST_MODULES = frozenset({"conftest.py", "testing.py", "fixtures.py", "pytest_plugin.py"})
ALL_CODES = frozenset({"*"})
_STRING_PREFIX = re.compile(r"[rRuUbBfF]*('''|\"\"\"|'|\")")


@dataclass(frozen=True)
class Hit:
    """Where a rule found something (1-based line and column), and optionally what."""

    source: PythonSource | SqlSource
    line: int
    column: int
    message: str | None = None
    noqa_line: int | None = None  # a finding inside a multi-line string is silenced at its end


def is_test_path(path: str) -> bool:
    """tests/, test_*.py, conftest.py, testing.py: code that does the wrong thing on purpose."""
    parts = PurePath(path).parts
    name = parts[-1] if parts else path
    return bool(_TEST_DIRS.intersection(parts[:-1])) or (
        name.startswith("test_") or name.endswith("_test.py") or name in _TEST_MODULES
    )


class _Text:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.is_test = is_test_path(path)

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @cached_property
    def _line_starts(self) -> list[int]:
        starts = [0]
        find = self.text.find
        position = find("\n")
        while position >= 0:
            starts.append(position + 1)
            position = find("\n", position + 1)
        return starts

    def line_of(self, offset: int) -> int:
        """1-based line of a character offset."""
        return bisect_right(self._line_starts, offset)

    def offset_of(self, line: int, column: int) -> int:
        """Character offset of a 1-based line and 0-based character column."""
        return self._line_starts[line - 1] + column

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def noqa(self, line: int) -> frozenset[str] | None:
        return _noqa_codes(self.line_text(line), self.COMMENT)

    COMMENT = "#"


class PythonSource(_Text):
    def __init__(self, path: str, text: str) -> None:
        super().__init__(path, text)
        self.tree = ast.parse(text, filename=path)
        self._segments: dict[ast.AST, tuple[int, str]] = {}
        self._bodies: dict[ast.AST, int | None] = {}

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
        text = self.line_text(line)
        if text.isascii():
            return byte_offset
        return len(text.encode("utf-8")[:byte_offset].decode("utf-8", "replace"))

    def segment(self, node: ast.AST) -> tuple[int, str]:
        """The character offset where `node` starts, and its source text (once per node:
        a long string with many findings is not copied per finding)."""
        known = self._segments.get(node)
        if known is None:
            line: int = node.lineno  # type: ignore[attr-defined]
            end_line: int = node.end_lineno or line  # type: ignore[attr-defined]
            begin = self.offset_of(line, self.column(line, node.col_offset))  # type: ignore[attr-defined]
            end = self.offset_of(end_line, self.column(end_line, node.end_col_offset or 0))  # type: ignore[attr-defined]
            known = self._segments[node] = (begin, self.text[begin:end])
        return known

    def pattern_hit(self, node: ast.AST, pattern: re.Pattern[str], message: str) -> Hit:
        """A hit where `pattern` first matches in `node`'s source text (its start if nowhere)."""
        begin, segment = self.segment(node)
        match = pattern.search(segment)
        start = self.hit(node, message)
        if match is None:
            return start
        target = begin + match.start()
        line = self.line_of(target)
        column = target - self._line_starts[line - 1] + 1
        return Hit(self, line, column, message, start.noqa_line)

    def string_hit(self, node: ast.Constant, offset: int, message: str | None = None) -> Hit:
        """A hit at character `offset` of a string literal's value (its start if unmappable)."""
        start = self.hit(node, message)
        end_line = node.end_lineno or node.lineno
        body_start = self._string_body_start(node)
        if body_start is None:  # escapes or implicit concatenation: no 1:1 mapping
            return Hit(self, start.line, start.column, message, end_line)
        target = body_start + offset
        line = self.line_of(target)
        return Hit(self, line, target - self._line_starts[line - 1] + 1, message, end_line)

    def _string_body_start(self, node: ast.Constant) -> int | None:
        """Offset of the first character of a literal's value in the file, if the source text
        between the quotes is the value itself (computed once per literal)."""
        if node not in self._bodies:
            begin, segment = self.segment(node)
            prefix = _STRING_PREFIX.match(segment)
            body_start = None
            if prefix is not None:
                opening = prefix.end()
                body = segment[opening : len(segment) - len(prefix.group(1))]
                body_start = begin + opening if body == node.value else None
            self._bodies[node] = body_start
        return self._bodies[node]


class SqlSource(_Text):
    COMMENT = "--"

    @cached_property
    def statements(self) -> list[list[sql.Token]]:
        return list(sql.statements(sql.tokenize(self.text)))

    def hit(self, token: sql.Token, message: str | None = None) -> Hit:
        line = self.line_of(token.offset)
        return Hit(self, line, token.offset - self._line_starts[line - 1] + 1, message)


def _noqa_codes(line: str, comment: str) -> frozenset[str] | None:
    """None if the line has no noqa; ALL_CODES for a bare noqa; else the listed codes."""
    if "noqa" not in line.lower():
        return None
    match = re.search(
        re.escape(comment) + r"\s*noqa\b(?::\s*([A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", line, re.I
    )
    if match is None:
        return None
    if match.group(1) is None:
        return ALL_CODES
    return frozenset(code.upper() for code in re.split(r"[\s,]+", match.group(1)))
