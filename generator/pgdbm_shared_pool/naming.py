"""The naming rule: which names a project, its services, schemas and tenants may have.

This is its one implementation. `shared-pool new` and `add-service` validate answers with it,
`check` (SP012) and `doctor` judge schema names with it, and copier.yml's Jinja validators
(which plain `copier copy` runs) and the generated tenants/ids.py repeat it where Python is
not available: tests/test_naming.py runs a wide set of names through every one of them and
asserts they agree.

Each function returns why a name is refused, or None when it is fine.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .pgdbm_facts import MAX_IDENTIFIER_BYTES, RESERVED_WORDS

# ASCII only ([a-z] never matches a non-ASCII letter), so one character is one byte.
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# Names this project creates start with a letter (a package, a tenant id, a prefix).
LETTER_FIRST = re.compile(r"[a-z][a-z0-9_]*")
TENANT_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,19}_")
POSTGRES_SCHEMAS = frozenset({"public", "information_schema"})
PYTHON_KEYWORDS = frozenset(word for word in keyword.kwlist if word.islower())
# Top-level modules the generated project imports: a package of the same name (src/ comes
# first on sys.path) would shadow them and break the app. copier.yml: shadowed_modules.
SHADOWED_MODULES = frozenset(
    """
    abc asgi_lifespan ast asyncio asyncpg collections contextlib copy dataclasses datetime
    email enum fastapi functools hashlib http httpx inspect io json logging mypy os pathlib
    pgdbm platform pydantic pydantic_core pydantic_settings pytest pytest_asyncio queue random
    re ruff secrets select shutil signal socket starlette string subprocess sys tempfile test
    tests threading time types typing typing_extensions unittest uuid uvicorn uvloop warnings
    yaml
    """.split()  # noqa: SIM905 (a word list reads best as words)
)


# The copier.yml questions this rule judges, in copier's order (it stops at the first problem).
NAMING_QUESTIONS = (
    "project_name",
    "package_name",
    "use_tenants",
    "tenant_schema_prefix",
    "tenant_registry_schema",
    "services",
)


@dataclass(frozen=True)
class ProjectNames:
    """The answers a service name must not collide with (tenant names: copier.yml's)."""

    package_name: str
    use_tenants: bool
    tenant_schema_prefix: str
    tenant_registry_schema: str


def answers_problem(answers: Mapping[str, object]) -> tuple[str, str] | None:
    """(question, why) for the first refused answer among NAMING_QUESTIONS, or None.

    `answers` holds every one of them, defaults included.
    """
    use_tenants = bool(answers["use_tenants"])
    checks = [
        ("project_name", project_name_problem(answers["project_name"])),
        ("package_name", package_name_problem(answers["package_name"])),
        ("tenant_schema_prefix", tenant_prefix_problem(answers["tenant_schema_prefix"])),
    ]
    for question, problem in checks:
        if problem is not None and (question != "tenant_schema_prefix" or use_tenants):
            return question, problem
    project = ProjectNames(
        str(answers["package_name"]),
        use_tenants,
        str(answers["tenant_schema_prefix"]),
        str(answers["tenant_registry_schema"]),
    )
    problem = services_problem(answers["services"], project)
    return None if problem is None else ("services", problem)


def schema_name_problem(name: object) -> str | None:
    """Why pgdbm or PostgreSQL breaks on `name` as a schema, or None.

    `public` is a fine schema for a manager; it is refused only as a *service* name.
    """
    if not isinstance(name, str):
        return "not a string"
    if not SCHEMA_NAME.fullmatch(name):
        return (
            "use a lower-case ASCII identifier (a-z, 0-9, _): pgdbm's unquoted tracking "
            "SQL folds or rejects anything else"
        )
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        return f"longer than {MAX_IDENTIFIER_BYTES} bytes, PostgreSQL would truncate it"
    if name in RESERVED_WORDS:
        return "a reserved PostgreSQL keyword breaks pgdbm's migration tracking SQL"
    if name == "information_schema" or name.startswith("pg_"):
        return "reserved by PostgreSQL (public, information_schema, pg_*)"
    return None


def service_name_problem(name: object, project: ProjectNames) -> str | None:
    """A service becomes a schema, a Python package and a URL prefix."""
    problem = schema_name_problem(name)
    if problem is not None or not isinstance(name, str):
        return problem
    if name in POSTGRES_SCHEMAS:
        return "reserved by PostgreSQL (public, information_schema, pg_*)"
    if name in PYTHON_KEYWORDS:
        return "a Python keyword cannot be a package name"
    if name.startswith("__"):
        return "a name starting with __ is special to Python (__init__, __pycache__)"
    if name == project.package_name:
        return "must differ from the package name"
    if project.use_tenants and _collides_with_tenants(name, project):
        return (
            f"collides with the tenant schemas ({project.tenant_schema_prefix}*) "
            f"or their registry ({project.tenant_registry_schema})"
        )
    return None


def services_problem(services: object, project: ProjectNames) -> str | None:
    """The whole `services` answer: a non-empty list of distinct, valid names."""
    if isinstance(services, str | bytes | dict) or not isinstance(services, list | tuple):
        return f"services must be a YAML list of names, e.g. [users, orders], not {services!r}"
    if not services:
        return "services must list at least one service, e.g. [users]"
    names = [str(s) for s in services]
    repeated = sorted({n for n in names if names.count(n) > 1}, key=names.index)
    if repeated:
        return "services must be unique; repeated: " + " ".join(f'"{n}"' for n in repeated)
    problems = [(s, service_name_problem(s, project)) for s in services]
    return "; ".join(f"service {_shown(s)}: {p}" for s, p in problems if p is not None) or None


def package_name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not LETTER_FIRST.fullmatch(name):
        return (
            f"package_name {_shown(name)} must be a lower-case Python identifier "
            "(a-z, 0-9, _; starting with a letter)"
        )
    if name in PYTHON_KEYWORDS:
        return f'package_name "{name}" is a Python keyword'
    if name in SHADOWED_MODULES:
        return f'package_name "{name}" would shadow the module of that name the project imports'
    if len(name) > MAX_IDENTIFIER_BYTES:
        return f'package_name "{name}" is longer than {MAX_IDENTIFIER_BYTES} characters'
    return None


def project_name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "project_name must not be empty"
    if not name.isprintable() or '"' in name or "\\" in name:
        return f'project_name {_shown(name)} must be printable text without " or \\'
    return None


def default_package_name(project_name: str) -> str:
    """copier.yml's package_name default: lower case, runs of other characters -> _."""
    return re.sub(r"^_+|_+$", "", re.sub(r"[^a-z0-9]+", "_", project_name.lower()))


def tenant_prefix_problem(prefix: object) -> str | None:
    if not isinstance(prefix, str) or not TENANT_PREFIX.fullmatch(prefix):
        return (
            f"tenant_schema_prefix {_shown(prefix)} must be 2-21 lower-case ASCII letters, "
            "digits or _, start with a letter and end with _"
        )
    if prefix.startswith("pg_"):
        return f'tenant_schema_prefix "{prefix}" must not start with pg_ (reserved by PostgreSQL)'
    return None


def tenant_id_problem(
    tenant_id: object, prefix: str, registry_schema: str, taken: Collection[str] = ()
) -> str | None:
    """Tenant ids come from requests: stricter than schema names, and never normalised."""
    if not isinstance(tenant_id, str) or not LETTER_FIRST.fullmatch(tenant_id):
        return "use lower-case ASCII letters, digits and _, starting with a letter"
    schema = prefix + tenant_id
    if len(schema.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        return f"schema {schema!r} would exceed PostgreSQL's {MAX_IDENTIFIER_BYTES} bytes"
    for name in (tenant_id, schema):
        if name in RESERVED_WORDS:
            return f"{name!r} is a reserved PostgreSQL word"
        if name.startswith("pg_"):
            return f"{name!r}: names starting pg_ belong to PostgreSQL"
        # Never a name that already means something here, so `drop <id>` is unambiguous.
        if name == registry_schema or name in taken:
            return f"{name!r} is already a schema of this app"
    return None


def quote_ident(name: str) -> str:
    """`name` as a quoted SQL identifier (for statements shown to, or run for, the user)."""
    return '"' + name.replace('"', '""') + '"'


def _collides_with_tenants(name: str, project: ProjectNames) -> bool:
    prefix = project.tenant_schema_prefix
    return (
        name == project.tenant_registry_schema
        or name.startswith(prefix)
        or name == prefix.rstrip("_")
    )


def _shown(value: object) -> str:
    """A name as copier.yml's messages quote it: printable text in double quotes, else JSON."""
    if isinstance(value, str) and value.isprintable():
        return f'"{value}"'
    return json.dumps(value, default=str)
