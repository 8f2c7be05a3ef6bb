"""Gathering from disk: the project's migration folders and the settings the app will read.

Nothing is imported from the project: constants are read from its source with `ast`.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from ..pgdbm_facts import MIGRATION_FILE_GLOB, STATEMENT_CACHE_SIZE, migration_checksum
from ..source_tree import walk
from ..template import ANSWERS_FILE, copier_config, load_answers
from .facts import MigrationKind, MigrationSet, ProjectFacts, Setting

ENV_FILES = (".env", ".env.example")
# How far up from --app (a package dir such as src/acme) to look for the project's config files.
PROJECT_ROOT_SEARCH_DEPTH = 3


def read_project(app: Path) -> ProjectFacts:
    """Migration sets under `app` and the settings of the project around it."""
    root = _project_root(app)
    answers = (load_answers(root) if root is not None else None) or {}
    # The template's statement cache default: 0 when generated for PgBouncer, else pgdbm's.
    cache_default = {"pgbouncer": 0, "none": STATEMENT_CACHE_SIZE}.get(str(answers.get("pooler")))
    return ProjectFacts(
        migration_sets=find_migration_sets(app, answers),
        pool_max=_int_setting(root, "POOL_MAX_SIZE", answers.get("pool_max_size")),
        statement_cache_size=_int_setting(root, "STATEMENT_CACHE_SIZE", cache_default),
        lock_timeout_ms=_int_setting(root, "LOCK_TIMEOUT_MS", None),
        statement_timeout_ms=_int_setting(root, "STATEMENT_TIMEOUT_MS", None),
    )


def read_migration_files(folder: Path) -> dict[str, str]:
    """filename -> checksum for the files pgdbm would apply from `folder`, in its order."""
    files = sorted(
        p for p in folder.glob(MIGRATION_FILE_GLOB) if p.is_file() and not p.name.startswith(".")
    )
    # read_text (universal newlines) exactly as pgdbm reads them, so lone CRs hash alike.
    return {p.name: migration_checksum(p.read_text(encoding="utf-8")) for p in files}


def find_migration_sets(
    root: Path, answers: dict[str, object] | None = None
) -> tuple[MigrationSet, ...]:
    """Every migrations folder under `root` of a service package or of the tenants package.

    Tenant schema names come from tenants/__init__.py, else the project's answers, else
    copier.yml's defaults: nothing about them is assumed here.
    """
    config = copier_config()
    answers = answers if answers is not None else {}
    tenants = (
        str(answers.get("tenant_schema_prefix", config["tenant_schema_prefix"]["default"])),
        str(answers.get("tenant_registry_schema", config["tenant_registry_schema"]["default"])),
    )
    generated = bool(answers)
    sets = (_migration_set(folder, tenants) for folder, _ in walk(root) if folder != root)
    return tuple(
        dataclasses.replace(s, module_name_is_schema=generated) for s in sets if s is not None
    )


def _migration_set(folder: Path, tenants: tuple[str, str]) -> MigrationSet | None:
    """The set `folder` holds: a service's or the tenants' migrations/ (this template's
    layout), or a package's migrations/<name>/ (one set per schema, as aweb and beadhub keep
    them; <name> is then the schema it names)."""
    package, init = folder.parent, folder.parent / "__init__.py"
    if folder.name not in ("migrations", "registry_migrations") and package.name != "migrations":
        return None  # read no other folder's files
    files = read_migration_files(folder)
    if package.name == "tenants" and folder.name == "migrations":
        prefix = _string_constant(init, "SCHEMA_PREFIX") or tenants[0]
        return MigrationSet(MigrationKind.TENANTS, folder, files, tenant_prefix=prefix)
    if package.name == "tenants" and folder.name == "registry_migrations":
        schema = _string_constant(init, "REGISTRY_SCHEMA") or tenants[1]
        return MigrationSet(MigrationKind.TENANT_REGISTRY, folder, files, schema)
    if folder.name == "migrations" and init.is_file() and files:
        schema = _string_constant(init, "SCHEMA") or package.name
        return MigrationSet(MigrationKind.SERVICE, folder, files, schema)
    if package.name == "migrations" and (package.parent / "__init__.py").is_file() and files:
        return MigrationSet(MigrationKind.SERVICE, folder, files, folder.name)
    return None


def _string_constant(init_file: Path, name: str) -> str | None:
    """The literal `NAME = "..."` of a package's __init__.py, read without importing it."""
    try:
        tree = ast.parse(init_file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        value = getattr(node, "value", None)
        if (
            any(isinstance(t, ast.Name) and t.id == name for t in targets)
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            return value.value
    return None


def _env_file_value(path: Path, key: str) -> str | None:
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip().removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and name.strip().upper() == key:
            return value.split(" #")[0].strip().strip("'\"") or None
    return None


def _project_root(app: Path) -> Path | None:
    """The nearest directory at or above --app holding the answers file or an env file."""
    start = app if app.is_dir() else app.parent
    for root in [start, *start.parents][: PROJECT_ROOT_SEARCH_DEPTH + 1]:
        if any((root / name).is_file() for name in (ANSWERS_FILE, *ENV_FILES)):
            return root
    return None


def _int_setting(root: Path | None, env_key: str, from_answers: object) -> Setting | None:
    """An integer setting as the app reads it: .env, then .env.example, then the template's
    default for the recorded answers."""
    if root is None:
        return None
    env_files = [root / name for name in ENV_FILES if (root / name).is_file()]
    candidates = [(path, _env_file_value(path, env_key)) for path in env_files]
    for path, value in [*candidates, (root / ANSWERS_FILE, from_answers)]:
        if value is not None and str(value).isdigit():
            return Setting(int(str(value)), str(path))
    return None
