"""add_service / remove_service on committed projects made from a git template.

Projects are rendered from a committed snapshot of this checkout's template, so they record its
commit, which the update renders again (test_update_without_git.py: plain-folder templates,
as an installed skill has, and projects outside git).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from generated import run_suite
from pgdbm_shared_pool import cli, template
from pgdbm_shared_pool.scaffold import ScaffoldError, add_service, new_project, remove_service

pytestmark = pytest.mark.filterwarnings("ignore::copier.errors.DirtyLocalWarning")
USER_LINE = "Our own note: keep me across template updates."


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture(scope="module", autouse=True)
def git_identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Commits work without (and ignore) the user's git configuration."""
    empty_config = tmp_path_factory.mktemp("git") / "config"
    empty_config.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
            patch.setenv(f"{key}_NAME", "Template Test")
            patch.setenv(f"{key}_EMAIL", "template-test@example.invalid")
        patch.setenv("GIT_CONFIG_GLOBAL", str(empty_config))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        yield


def snapshot_template(dest: Path) -> Path:
    """A git repository holding this checkout's template (committed or not) as one commit."""
    root = template.template_root()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache")
    shutil.copytree(root / "template", dest / "template", ignore=ignore)  # symlinks resolved
    shutil.copy(root / "copier.yml", dest)
    git(dest, "init", "-q")
    commit_all(dest, "template snapshot")
    return dest


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return snapshot_template(tmp_path_factory.mktemp("template"))


def committed_project(
    template: Path, dest: Path, services: list[str], *, use_tenants: bool = False
) -> Path:
    new_project(dest, services=services, template=template, use_tenants=use_tenants)
    git(dest, "init", "-q")
    commit_all(dest, "generated")
    return dest


def text_files(project: Path) -> Iterator[Path]:
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(project).parts:
            yield path


def add_billing_then_remove_orders(
    template: Path, project: Path, capsys: pytest.CaptureFixture[str], *, use_tenants: bool
) -> None:
    """The update scenario of issue 2, with its assertions."""
    committed_project(template, project, ["users", "orders"], use_tenants=use_tenants)
    services_dir = project / "src" / project.name / "services"
    main_py = project / "src" / project.name / "main.py"
    for shared in (project / "README.md", main_py):
        shared.write_text(shared.read_text() + f"\n# {USER_LINE}\n")
    commit_all(project, "user edits")

    added = add_service(project, "billing")
    assert added.answers["services"] == ["users", "orders", "billing"]
    assert (services_dir / "billing" / "router.py").is_file()
    assert Path("src", project.name, "services", "billing", "__init__.py") in added.created
    assert Path("src", project.name, "services", "__init__.py") in added.changed
    registry = (services_dir / "__init__.py").read_text()
    assert "billing" in registry
    for shared in (project / "README.md", main_py):
        assert USER_LINE in shared.read_text(), shared
    assert not [p for p in text_files(project) if "<<<<<<<" in p.read_text(errors="replace")]
    commit_all(project, "add billing")

    code = cli.main(["remove-service", str(project), "orders", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    removed = json.loads(out)
    assert removed["answers"]["services"] == ["users", "billing"]
    assert f"src/{project.name}/services/orders/router.py" in removed["removed"]
    assert not (services_dir / "orders").exists()
    assert (services_dir / "billing").is_dir() and (services_dir / "users").is_dir()
    assert "orders" not in (services_dir / "__init__.py").read_text()
    for shared in (project / "README.md", main_py):
        assert USER_LINE in shared.read_text(), shared
    assert not [p for p in text_files(project) if "<<<<<<<" in p.read_text(errors="replace")]
    commit_all(project, "remove orders")


@pytest.mark.parametrize("use_tenants", [False, True], ids=["plain", "tenants"])
def test_add_then_remove_a_service_keeps_user_edits(
    template_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], use_tenants: bool
) -> None:
    add_billing_then_remove_orders(
        template_repo, tmp_path / "shop", capsys, use_tenants=use_tenants
    )
    if use_tenants:
        assert (tmp_path / "shop" / "src" / "shop" / "tenants" / "router.py").is_file()


@pytest.mark.slow
def test_updated_project_passes_its_own_suite(
    template_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_server
) -> None:
    project = tmp_path / "shop"
    add_billing_then_remove_orders(template_repo, project, capsys, use_tenants=False)
    # The fast tier: the slow one is the same code for every service list, run by
    # test_generated_suites.py.
    done = run_suite(project, pg_server.dsn, "-rA", "-m", "not slow")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "PASSED tests/test_service_billing.py" in done.stdout  # the added service's tests
    assert "test_service_orders" not in done.stdout  # the removed service's tests are gone


@pytest.fixture
def project(template_repo: Path, tmp_path: Path) -> Path:
    return committed_project(template_repo, tmp_path / "shop", ["users", "orders"])


def assert_untouched(project: Path) -> None:
    assert git(project, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("order", 'service "order": a reserved PostgreSQL keyword'),
        ("Billing", 'service "Billing"'),
        ("shop", 'service "shop": must differ from the package name'),
        ("users", "service 'users' already exists"),
    ],
)
def test_add_service_rejects_bad_names_and_changes_nothing(
    project: Path, name: str, message: str
) -> None:
    with pytest.raises(ScaffoldError) as raised:
        add_service(project, name)
    assert message in str(raised.value)
    assert_untouched(project)


def test_removing_the_last_service_is_rejected(template_repo: Path, tmp_path: Path) -> None:
    project = committed_project(template_repo, tmp_path / "solo", ["users"])
    with pytest.raises(ScaffoldError, match="at least one service"):
        remove_service(project, "users")
    with pytest.raises(ScaffoldError, match="not one of"):
        remove_service(project, "billing")
    assert_untouched(project)
    assert (project / "src" / "solo" / "services" / "users").is_dir()


def test_a_dirty_tree_is_merged_not_refused(project: Path) -> None:
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "work in progress\n")  # not committed
    add_service(project, "billing")
    assert "work in progress" in readme.read_text()
    assert (project / "src" / "shop" / "services" / "billing" / "router.py").is_file()


def test_a_project_rendered_from_uncommitted_template_edits_updates_while_they_stay(
    tmp_path: Path,
) -> None:
    template = snapshot_template(tmp_path / "template")
    notes = template / "template" / "NOTES.md"
    notes.write_text("uncommitted\n")
    project = committed_project(template, tmp_path / "shop", ["users"])
    add_service(project, "billing")  # copier's throw-away commit is gone; the content matches
    commit_all(project, "billing")
    notes.write_text("edited again\n")
    with pytest.raises(ScaffoldError, match="the template differs now"):
        add_service(project, "audit")
    assert_untouched(project)


def test_a_project_is_updated_at_its_template_commit_after_the_template_moved_on(
    tmp_path: Path,
) -> None:
    template = snapshot_template(tmp_path / "template")
    project = committed_project(template, tmp_path / "shop", ["users"])
    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nA later template line.\n")
    commit_all(template, "a later template")
    add_service(project, "billing")
    assert (project / "src" / "shop" / "services" / "billing" / "router.py").is_file()
    assert "A later template line." not in (project / "README.md").read_text()


def test_add_service_refuses_a_folder_that_is_not_a_generated_project(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="not a generated project"):
        add_service(tmp_path, "billing")


def test_conflicting_user_edit_changes_nothing_and_names_the_file(project: Path) -> None:
    registry = project / "src" / "shop" / "services" / "__init__.py"
    edited = registry.read_text().replace("    orders.SERVICE,", "    orders.SERVICE,  # ours")
    assert edited != registry.read_text()
    registry.write_text(edited)
    commit_all(project, "edit the line the update changes")

    with pytest.raises(ScaffoldError, match=r"nothing changed: .*src/shop/services/__init__\.py"):
        add_service(project, "billing")
    assert_untouched(project)
    assert registry.read_text() == edited
