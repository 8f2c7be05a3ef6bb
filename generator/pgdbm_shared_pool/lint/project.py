"""Everything one run looks at: the sources, and the facts drawn from them (each once)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from .module_facts import ModuleFacts
from .module_syntax import ModuleSyntax
from .project_facts import ProjectFacts
from .sources import PythonSource, SqlSource


class Project:
    """The sources of one run; rules that need the whole tree see it here."""

    def __init__(self, python: Sequence[PythonSource], sql: Sequence[SqlSource]) -> None:
        self.python = list(python)
        self.sql = list(sql)

    @cached_property
    def facts(self) -> ProjectFacts:
        return ProjectFacts(self._syntax)

    @cached_property
    def _syntax(self) -> list[ModuleSyntax]:
        return [ModuleSyntax(source) for source in self.python]

    @cached_property
    def _modules(self) -> list[ModuleFacts]:
        return [ModuleFacts(syntax, self.facts) for syntax in self._syntax]

    def modules(self) -> list[ModuleFacts]:
        """The analysed Python modules (each analysed once per run, shared by all rules)."""
        return self._modules


def example_project(snippet: str) -> Project:
    """A one-file project from a rule example: SQL if its first line is `-- <path>.sql`."""
    first_line = snippet.lstrip().split("\n", 1)[0]
    if first_line.startswith("--") and first_line.rstrip().endswith(".sql"):
        return Project([], [SqlSource(first_line[2:].strip(), snippet.lstrip())])
    return Project([PythonSource("example.py", snippet)], [])
