"""The skill works from where an agent gets it: a copy in `.claude/skills/pgdbm-shared-pool/`.

The copy is made as `npx skills add` makes it (the whole repository; no `.git`, `__pycache__`,
`__pypackages__`, or files named `metadata.json`), and the shell blocks of SKILL.md are run
verbatim from the project that holds it. pip runs with PIP_NO_INDEX: every pinned requirement
must already be satisfied, so the test never downloads or changes the environment.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from skill_blocks import REPO_ROOT, named_blocks, repository_files

SKILL_NAME = "pgdbm-shared-pool"
EXCLUDED_DIRS = frozenset({".git", "__pycache__", "__pypackages__"})
EXCLUDED_FILES = frozenset({"metadata.json"})

WRONG_MIGRATION_CALL = """\
from pgdbm import AsyncMigrationManager


async def migrate(db, path):
    await AsyncMigrationManager(db, path, "users").apply_pending_migrations()
"""


def install_skill(project: Path) -> Path:
    skill_dir = project / ".claude" / "skills" / SKILL_NAME
    for relative in repository_files():
        if EXCLUDED_DIRS & set(relative.parts[:-1]) or relative.name in EXCLUDED_FILES:
            continue
        target = skill_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, target)
    return skill_dir


def run_shell(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # `python` is the interpreter running the tests, as in an activated virtualenv.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    project = tmp_path_factory.mktemp("agent-project")
    return project, install_skill(project)


def test_the_copy_holds_the_skill_and_what_it_runs(installed: tuple[Path, Path]) -> None:
    _, skill_dir = installed
    for needed in ("SKILL.md", "requirements.txt", "copier.yml", "scripts/shared-pool.py"):
        assert (skill_dir / needed).is_file(), needed
    assert (skill_dir / "template").is_dir() and (skill_dir / "generator").is_dir()
    assert not list(skill_dir.rglob("metadata.json"))


def test_scaffold_and_check_commands_work_from_the_installed_skill(
    installed: tuple[Path, Path],
) -> None:
    project, skill_dir = installed
    commands = named_blocks(skill_dir)["install-commands"].text
    result = run_shell(commands, project)
    assert result.returncode == 0, result.stdout + result.stderr
    created = project / "my-api"
    assert (created / ".copier-answers.yml").is_file()
    assert sorted(p.name for p in (created / "src").glob("*/services/*/migrations")) == [
        "migrations",
        "migrations",
    ]
    # The installed copy's template was used, not the checkout this test runs from.
    assert str(skill_dir) in result.stdout + result.stderr


def test_check_from_the_installed_skill_reports_a_wrong_block(
    installed: tuple[Path, Path],
) -> None:
    project, skill_dir = installed
    commands = named_blocks(skill_dir)["install-commands"].text
    setup, check = commands.splitlines()[0], commands.splitlines()[-1]
    assert " check " in check, check
    target = project / "wrong-app"
    target.mkdir()
    (target / "migrate.py").write_text(WRONG_MIGRATION_CALL)
    result = run_shell(f"{setup}\n{check.replace('my-api', 'wrong-app')}", project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "SP003" in result.stdout


def test_copier_command_works_from_the_installed_skill(installed: tuple[Path, Path]) -> None:
    project, skill_dir = installed
    blocks = named_blocks(skill_dir)
    setup = blocks["install-commands"].text.splitlines()[0]  # SKILL_DIR=...
    result = run_shell(f"{setup}\n{blocks['copier-command'].text}", project)
    assert result.returncode == 0, result.stdout + result.stderr
    services = project / "my-api-copier" / "src"
    assert sorted(p.name for p in services.glob("*/services/*") if p.is_dir()) == [
        "orders",
        "users",
    ]
