"""`shared-pool check` as a library: the skill's checklist as lint rules.

Static analysis only (Python AST and SQL text, no database). Facts flow one way: sources ->
per-module syntax -> project facts -> per-module facts -> rules (`rules/spNNN_*.py`) -> findings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .engine import (
    Finding,
    Rule,
    UnknownCode,
    all_rules,
    collector_paused,
    run_rules,
    select_rules,
)
from .files import Selection, UsageError, load
from .project import Project

__all__ = [
    "Finding",
    "Project",
    "Rule",
    "Selection",
    "UnknownCode",
    "UsageError",
    "all_rules",
    "check_paths",
    "collector_paused",
    "load",
    "run_rules",
    "select_rules",
]


def check_paths(
    paths: Sequence[str | os.PathLike[str]], rules: Sequence[Rule] | None = None
) -> list[Finding]:
    """Findings for these files and directories (all rules unless `rules` is given)."""
    with collector_paused():
        return run_rules(load(paths).project, all_rules() if rules is None else rules)
