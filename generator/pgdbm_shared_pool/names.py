"""Naming rules for schemas and services, read from the template's copier.yml.

copier.yml is the single source of truth: its validators use the same lists,
so `shared-pool new`, the `check` linter and `copier copy` can never disagree.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1; PostgreSQL truncates longer names silently


def template_root() -> Path:
    """The directory holding copier.yml: the repo checkout, or the copy bundled in the wheel."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir.parents[1], package_dir / "_template"):
        if (candidate / "copier.yml").is_file():
            return candidate
    raise FileNotFoundError("copier.yml not found next to the pgdbm_shared_pool package")


@cache
def _computed_list(key: str) -> frozenset[str]:
    config = yaml.safe_load((template_root() / "copier.yml").read_text(encoding="utf-8"))
    return frozenset(yaml.safe_load(config[key]["default"]))


def reserved_words() -> frozenset[str]:
    """PostgreSQL keywords that cannot be an unquoted schema name."""
    return _computed_list("pg_reserved_words")


def python_keywords() -> frozenset[str]:
    return _computed_list("python_keywords")


def schema_name_problem(name: str) -> str | None:
    """Why `name` breaks pgdbm as a schema name, or None if it is safe."""
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        return f"{name!r} is longer than {MAX_IDENTIFIER_BYTES} bytes; PostgreSQL truncates it"
    if not IDENTIFIER.fullmatch(name):
        return f"{name!r} is not a lower-case identifier; pgdbm's unquoted SQL folds or rejects it"
    if name in reserved_words():
        return f"{name!r} is a reserved PostgreSQL keyword; pgdbm's tracking-table SQL fails"
    if name in ("public", "information_schema") or name.startswith("pg_"):
        return f"{name!r} is reserved by PostgreSQL"
    return None
