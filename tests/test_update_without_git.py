"""add_service / remove_service where no git is involved: the template is a plain folder (as in an
installed copy of the skill) and the project is not a repository.

The template version is the fingerprint the project records; the same folder, or any folder with
the same content, renders the project's base again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from pgdbm_shared_pool import scaffold, template
from pgdbm_shared_pool.scaffold import ScaffoldError, add_service, new_project, remove_service

USER_LINE = "# Our own note: keep me across updates."


def copy_template(dest: Path) -> Path:
    """The template as a plain folder, as `npx skills add` copies it (symlinks resolved)."""
    root = template.template_root()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache")
    shutil.copytree(root / "template", dest / "template", ignore=ignore)
    shutil.copy(root / "copier.yml", dest)
    return dest


@pytest.fixture(scope="module")
def folder_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_template(tmp_path_factory.mktemp("installed") / "pgdbm-shared-pool")


def snapshot(project: Path) -> dict[Path, bytes]:
    return {p.relative_to(project): p.read_bytes() for p in project.rglob("*") if p.is_file()}


@pytest.fixture
def project(folder_template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "shop"
    new_project(dest, services=["users", "orders"], template=folder_template)
    return dest


def services_dir(project: Path) -> Path:
    return project / "src" / "shop" / "services"


def test_the_project_records_the_template_version(project: Path, folder_template: Path) -> None:
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_template_fingerprint"] == template.fingerprint(folder_template)
    assert answers["_template_fingerprint"] == template.fingerprint()  # the same content
    assert "_commit" not in answers and answers["_src_path"] == str(folder_template)


def test_add_then_remove_keeps_user_edits_outside_git(project: Path) -> None:
    main_py = project / "src" / "shop" / "main.py"
    for shared in (project / "README.md", main_py):
        shared.write_text(shared.read_text() + f"\n{USER_LINE}\n")
    own_file = project / "src" / "shop" / "notes.py"
    own_file.write_text("NOTE = 1\n")

    added = add_service(project, "billing")
    assert added.answers["services"] == ["users", "orders", "billing"]
    # An untouched base: only what the new service needs changes (the base renders faithfully).
    assert added.changed == sorted(
        Path(p) for p in (".copier-answers.yml", "README.md", "src/shop/services/__init__.py")
    )
    assert Path("src/shop/services/billing/router.py") in added.created
    assert "billing.SERVICE" in (services_dir(project) / "__init__.py").read_text()

    (services_dir(project) / "orders" / "__pycache__").mkdir()  # as after running the tests
    (services_dir(project) / "orders" / "__pycache__" / "router.cpython-311.pyc").write_bytes(b"")
    removed = remove_service(project, "orders")
    assert removed.answers["services"] == ["users", "billing"]
    assert Path("src/shop/services/orders/router.py") in removed.removed
    assert not (services_dir(project) / "orders").exists()
    assert not (project / "tests" / "test_service_orders.py").exists()
    for shared in (project / "README.md", main_py):
        assert USER_LINE in shared.read_text(), shared
    assert own_file.read_text() == "NOTE = 1\n"
    assert not [p for p in project.rglob("*") if p.is_file() and b"<<<<<<<" in p.read_bytes()]


def test_a_changed_template_is_refused_with_what_to_do(
    project: Path, folder_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The skill was updated in place (`npx skills update`): the recorded folder, and the one
    the script runs from, hold a later template."""
    updated = copy_template(tmp_path / "updated-skill")
    (updated / "template" / "NOTES.md").write_text("a later version\n")
    answers_path = project / ".copier-answers.yml"
    answers_path.write_text(answers_path.read_text().replace(str(folder_template), str(updated)))
    monkeypatch.setattr(scaffold, "template_root", lambda: updated)
    before = snapshot(project)
    with pytest.raises(ScaffoldError) as refused:
        add_service(project, "billing")
    message = str(refused.value)
    assert "generated from template" in message and "differs now" in message
    assert "pgdbm-shared-pool 0.1.0" in message and "by hand" in message
    assert snapshot(project) == before


def test_a_moved_skill_is_found_by_its_content(project: Path, folder_template: Path) -> None:
    """The recorded folder is gone (the skill was reinstalled elsewhere); the template this
    package ships has the same fingerprint, so it renders the base."""
    answers_path = project / ".copier-answers.yml"
    text = answers_path.read_text().replace(str(folder_template), "/nowhere/pgdbm-shared-pool")
    answers_path.write_text(text)
    assert (services_dir(project) / "__init__.py").is_file()
    add_service(project, "billing")
    assert (services_dir(project) / "billing" / "router.py").is_file()


def test_a_project_without_a_recorded_version_is_refused(project: Path) -> None:
    answers_path = project / ".copier-answers.yml"
    lines = answers_path.read_text().splitlines(keepends=True)
    answers_path.write_text("".join(line for line in lines if not line.startswith("_template")))
    before = snapshot(project)
    with pytest.raises(ScaffoldError, match="records no template version"):
        add_service(project, "billing")
    assert snapshot(project) == before


@pytest.mark.parametrize("name", ["order", "Billing", "shop", "users", "x" * 64])
def test_bad_names_change_nothing(project: Path, name: str) -> None:
    before = snapshot(project)
    with pytest.raises(ScaffoldError):
        add_service(project, name)
    assert snapshot(project) == before


def test_removing_a_service_you_changed_deletes_nothing(project: Path) -> None:
    router = services_dir(project) / "orders" / "router.py"
    router.write_text(router.read_text() + f"\n{USER_LINE}\n")
    before = snapshot(project)
    with pytest.raises(ScaffoldError, match=r"services/orders/router\.py: it would be deleted"):
        remove_service(project, "orders")
    assert snapshot(project) == before


def test_a_failure_while_writing_puts_everything_back(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = project / "README.md"
    readme.write_text(readme.read_text() + f"\n{USER_LINE}\n")
    before = snapshot(project)
    real_replace, calls = os.replace, []

    def failing_replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        calls.append(target)
        if len(calls) == 3:  # after two files were swapped in
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(ScaffoldError, match=r"nothing changed .*No space left"):
        add_service(project, "billing")
    assert len(calls) == 3
    assert snapshot(project) == before
    assert not (services_dir(project) / "billing").exists()
    assert not list(project.rglob("*.shared-pool-new"))
