"""One naming rule (naming.py), and every consumer agrees with it on a wide set of answers:
copier.yml's Jinja validators (plain `copier copy`), `shared-pool new`, `check` (SP012), the
generated tenants/ids.py and the tenant registry's CHECK constraint on a real server.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import asyncpg
import copier
import pytest
import yaml
from pgdbm_shared_pool import cli, naming, pgdbm_facts, template
from pgdbm_shared_pool.lint import check_paths

ROOT = template.template_root()
PACKAGE = "acme"
NAMES: list[Any] = [
    *("users", "orders", "a", "a1", "s1_x", "name", "value", "between", "int", "action"),
    *("_users", "_", "_1", "__init__", "__pycache__", "__x"),  # leading underscores
    *("1abc", "Users", "uSers", "USERS", "a-b", "a b", "a.b", 'a"b', "a'b", "a;b", "", " "),
    *("users\n", "\nusers", " users", "users ", "users\t", "users\x00", "us\u200bers"),
    *("é", "ñame", "straße", "\u0430cme", "\uff55sers", "\u01c5"),  # unicode
    *("user", "order", "select", "current_user", "analyse", "group", "table", "true", "null"),
    *("class", "lambda", "async", "match", "type", "import"),  # Python (soft) keywords
    *("public", "information_schema", "pg_x", "pg_", "pgx", "pg_catalog"),
    *("s" * 62, "s" * 63, "s" * 64, "é" * 31, "é" * 32, "a" * 61 + "é"),  # 63/64 bytes
    *("tenancy", "tenant", "tenant_", "tenant_x", "tenantx", "org_x", PACKAGE),
    *(1, True, None, ["users"]),  # not strings
]
TENANTS = {"use_tenants": True, "tenant_schema_prefix": "tenant_"}
PLAIN = naming.ProjectNames(
    PACKAGE,
    use_tenants=False,
    tenant_schema_prefix=template.copier_config()["tenant_schema_prefix"]["default"],
    tenant_registry_schema=template.computed_value("tenant_registry_schema"),
)


def shown(name: Any) -> str:
    """How copier.yml's validator and naming.py quote a name in `service <shown>:`."""
    if isinstance(name, str) and name.isprintable():
        return f'"{name}"'
    return json.dumps(name)


def rejected_in(message: str, names: list[Any]) -> set[str]:
    return {repr(n) for n in names if f"service {shown(n)}:" in message}


def expected(answers: dict[str, Any], names: list[Any]) -> set[str]:
    project = naming.ProjectNames(
        PACKAGE,
        bool(answers.get("use_tenants")),
        answers.get("tenant_schema_prefix", "tenant_"),
        template.computed_value("tenant_registry_schema"),
    )
    return {repr(n) for n in names if naming.service_name_problem(n, project) is not None}


@pytest.fixture(scope="module")
def plain_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's template as a plain folder (copier skips its git clone)."""
    folder = tmp_path_factory.mktemp("template")
    shutil.copytree(ROOT / "template", folder / "template")
    shutil.copy(ROOT / "copier.yml", folder)
    return folder


def copier_verdict(template_dir: Path, dest: Path, data: dict[str, Any]) -> str:
    """copier's validation message for these answers ('' when it accepts them)."""
    try:
        copier.run_copy(
            str(template_dir),
            dest,
            data=data,
            defaults=True,
            quiet=True,
            pretend=True,
            settings=copier.Settings(),
        )
    except ValueError as error:
        return str(error)
    return ""


def test_the_word_lists_of_copier_yml_are_the_python_ones() -> None:
    assert set(template.computed_value("pg_reserved_words")) == pgdbm_facts.RESERVED_WORDS
    assert set(template.computed_value("python_keywords")) == naming.PYTHON_KEYWORDS
    assert set(template.computed_value("shadowed_modules")) == naming.SHADOWED_MODULES


def test_names_cover_both_verdicts() -> None:
    """The corpus really exercises the rule: many accepted, many refused, for each reason."""
    problems = [naming.service_name_problem(n, PLAIN) for n in NAMES]
    assert sum(p is None for p in problems) >= 12
    reasons = {p.split(" ")[0] for p in problems if p is not None}
    assert len(reasons) >= 6, reasons


@pytest.mark.parametrize("answers", [{}, TENANTS], ids=["plain", "tenants"])
def test_copier_validators_refuse_exactly_what_naming_refuses(
    plain_template: Path, tmp_path: Path, answers: dict[str, Any]
) -> None:
    # The validator reports every bad item, so one run judges every (distinct) name.
    names = [n for n in NAMES if not isinstance(n, list)]
    data = {**answers, "package_name": PACKAGE, "services": names}
    message = copier_verdict(plain_template, tmp_path / "p", data)
    assert rejected_in(message, names) == expected(answers, names)


@pytest.mark.parametrize("answers", [{}, TENANTS], ids=["plain", "tenants"])
def test_shared_pool_new_refuses_exactly_what_naming_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], answers: dict[str, Any]
) -> None:
    names = [n for n in NAMES if isinstance(n, str)]
    argv = ["new", str(tmp_path / "p"), "--package-name", PACKAGE]
    argv += ["--data", f"services={json.dumps(names)}"]
    argv += [
        f"--data={key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in answers.items()
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert rejected_in(err, names) == expected(answers, names)
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    "name",
    [n for n in NAMES if naming.service_name_problem(n, PLAIN) is None],
)
def test_every_accepted_name_is_accepted_alone(
    plain_template: Path, tmp_path: Path, name: str
) -> None:
    assert copier_verdict(plain_template, tmp_path / "p", {"services": [name]}) == ""


def test_check_sp012_flags_exactly_the_schema_names_naming_refuses(tmp_path: Path) -> None:
    """SP012 judges schemas, not services: the Python-only rules (keywords, __) and `public`
    are the whole difference, and a name `new` accepts is never flagged."""
    names = [n for n in NAMES if isinstance(n, str)]
    for index, name in enumerate(names):
        (tmp_path / f"m{index}.py").write_text(
            "from pgdbm import AsyncDatabaseManager\n\n"
            f"db = AsyncDatabaseManager(pool=None, schema={name!r})\n"
        )
    flagged = {finding.path for finding in check_paths([tmp_path]) if finding.code == "SP012"}
    for index, name in enumerate(names):
        schema_problem = naming.schema_name_problem(name)
        assert (str(tmp_path / f"m{index}.py") in flagged) == (schema_problem is not None), name
        if naming.service_name_problem(name, PLAIN) is None:
            assert schema_problem is None


@pytest.mark.parametrize(
    ("project_name", "package_name"),
    [("billing-api", "billing_api"), ("Acme API", "acme_api"), ("__Weird__ Name!", "weird_name")],
)
def test_package_name_default_is_copier_ymls(
    plain_template: Path, tmp_path: Path, project_name: str, package_name: str
) -> None:
    assert naming.default_package_name(project_name) == package_name
    worker = copier.run_copy(
        str(plain_template),
        tmp_path / "p",
        data={"services": ["users"], "project_name": project_name},
        defaults=True,
        quiet=True,
        pretend=True,
        settings=copier.Settings(),
    )
    assert worker.answers.combined["package_name"] == package_name


@pytest.mark.parametrize("folder", ["billing-api", "my_shop", "."])
def test_copier_copy_and_new_name_a_project_after_its_folder(
    plain_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    """Plain `copier copy` and `shared-pool new` give the same names for the same folder."""
    from pgdbm_shared_pool.scaffold import new_project

    names = {}
    for tool in ("copier", "new"):
        parent = tmp_path / tool / "parent-dir"
        parent.mkdir(parents=True)
        monkeypatch.chdir(parent)  # "." is the folder the command runs in
        dest = Path(folder)
        if tool == "copier":
            copier.run_copy(
                str(plain_template),
                dest,
                data={"services": ["users"]},
                defaults=True,
                quiet=True,
                settings=copier.Settings(),
            )
        else:
            new_project(dest, services=["users"], template=plain_template, overwrite=True)
        answers = yaml.safe_load((dest / template.ANSWERS_FILE).read_text())
        names[tool] = (answers["project_name"], answers["package_name"])
    expected_name = "parent-dir" if folder == "." else folder
    assert (
        names["copier"]
        == names["new"]
        == (expected_name, naming.default_package_name(expected_name))
    )


@pytest.mark.parametrize(
    "prefix",
    [
        "tenant_",
        "org_",
        "t_",
        "a" * 20 + "_",
        "a" * 21 + "_",
        "pg_",
        "Tenant_",
        "tenant",
        "_t_",
        "t-_",
    ],
)
def test_tenant_prefix_rule_agrees_with_copier(
    plain_template: Path, tmp_path: Path, prefix: str
) -> None:
    message = copier_verdict(
        plain_template,
        tmp_path / "p",
        {"services": ["users"], **TENANTS, "tenant_schema_prefix": prefix},
    )
    assert (message != "") == (naming.tenant_prefix_problem(prefix) is not None), message


PREFIX = "org_"  # the probe project's tenant_schema_prefix: 4 bytes, so ids of 59 fit in 63
TENANT_IDS = [n for n in NAMES if isinstance(n, str)] + ["acme", "acme_2", "x" * 59, "x" * 60]
TENANT_IDS += ["org", "org_x", "pg_x", "user", "tenancy"]


@pytest.fixture(scope="module")
def generated_tenant_ids(plain_template: Path, tmp_path_factory: pytest.TempPathFactory):
    """The generated project's tenants/ids.py, imported from a real render."""
    from pgdbm_shared_pool.scaffold import new_project

    dest = tmp_path_factory.mktemp("tenant-project") / "naming-probe"
    new_project(
        dest,
        services=["users"],
        use_tenants=True,
        extra={"tenant_schema_prefix": "org_"},
        template=plain_template,
    )
    src = str(dest / "src")
    sys.path.insert(0, src)
    try:
        ids = importlib.import_module("naming_probe.tenants.ids")
        sql = next((dest / "src").rglob("registry_migrations/*.sql")).read_text()
        yield ids, sql
    finally:
        sys.path.remove(src)


def test_generated_tenant_ids_agree_with_naming(generated_tenant_ids) -> None:
    ids, _ = generated_tenant_ids
    tenants = importlib.import_module("naming_probe.tenants")
    assert tenants.SCHEMA_PREFIX == PREFIX
    taken = {"users"}
    for tenant_id in TENANT_IDS:
        try:
            ids.tenant_schema(tenant_id, taken)
            refused = False
        except ids.InvalidTenantId:
            refused = True
        problem = naming.tenant_id_problem(tenant_id, PREFIX, tenants.REGISTRY_SCHEMA, taken)
        assert refused == (problem is not None), (tenant_id, problem)


async def test_registry_check_constraint_agrees_with_naming(
    pg_server, generated_tenant_ids
) -> None:
    """The registry's CHECK on tenant_id, evaluated by PostgreSQL itself."""
    _, sql = generated_tenant_ids
    pattern = re.search(r"tenant_id ~ '([^']+)'", sql).group(1)
    candidates = [t for t in TENANT_IDS if "\x00" not in t]  # text cannot hold NUL
    conn = await asyncpg.connect(pg_server.dsn)
    try:
        rows = await conn.fetch(
            "SELECT t, t ~ $2 AS ok FROM unnest($1::text[]) AS t", candidates, pattern
        )
    finally:
        await conn.close()
    for row in rows:
        # The CHECK is the character rule only; length and reserved words are ids.py's.
        assert row["ok"] == (naming.LETTER_FIRST.fullmatch(row["t"]) is not None), row["t"]


def test_answers_file_is_copier_ymls() -> None:
    assert template.copier_config()["_answers_file"] == template.ANSWERS_FILE
