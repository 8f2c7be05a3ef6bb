"""The skill works from where an agent gets it: copies in `.claude/skills/`, made as the skills CLI
makes them (installed_skill.py), with the shell blocks run verbatim from the project holding them.

The script's own environment is this test's interpreter (PGDBM_SHARED_POOL_VENV), so nothing is
downloaded; test_skill_bootstrap.py covers how the script builds its environment, and
test_skill_install_npm.py the whole path with the real CLI and a fresh environment.
"""

import os
import sys
from pathlib import Path

import pytest
import yaml
from installed_skill import install, run_shell, skill_names, start_here
from skill_blocks import MAIN_SKILL, named_blocks

NEEDED = ("SKILL.md", "requirements.txt", "copier.yml", "scripts/shared-pool.py")
# What the main skill's folder may hold: what the agent reads and what the scripts run.
ALLOWED_TOP_LEVEL = {*NEEDED[:3], "scripts", "references", "template", "generator"}
# All four skills were 497 KB when measured (the whole repository, 1,028 KB, before they moved
# into skills/); the margin is for growth, not for benchmark results or images.
MAX_INSTALLED_KB = 700

WRONG_MIGRATION_CALL = """\
from pgdbm import AsyncMigrationManager


async def migrate(db, path):
    await AsyncMigrationManager(db, path, "users").apply_pending_migrations()
"""


def agent_env() -> dict[str, str]:
    return {
        **os.environ,
        # `python3` is this venv's interpreter, which holds requirements.txt already.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PGDBM_SHARED_POOL_VENV": sys.prefix,
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def block(skill_dir: Path, name: str) -> str:
    """A shell block of the installed copy, as Claude Code hands it to the agent."""
    return start_here(skill_dir, named_blocks(skill_dir.parent)[name].text)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    project = tmp_path_factory.mktemp("agent-project")
    skills = install(project / ".claude" / "skills")
    return project, skills / MAIN_SKILL


def test_every_skill_is_installed_with_what_it_runs_and_nothing_else(
    installed: tuple[Path, Path],
) -> None:
    project, skill_dir = installed
    skills = project / ".claude" / "skills"
    assert sorted(p.name for p in skills.iterdir()) == skill_names()
    for needed in NEEDED:
        assert (skill_dir / needed).is_file(), needed
    assert (skill_dir / "template").is_dir() and (skill_dir / "generator").is_dir()
    for skill in skill_names():
        allowed = ALLOWED_TOP_LEVEL if skill == MAIN_SKILL else {"SKILL.md", "references"}
        assert {p.name for p in (skills / skill).iterdir()} <= allowed, skill
    assert not [p for p in skills.rglob("*") if p.suffix in (".png", ".pyc", ".json")]
    size_kb = sum(p.stat().st_size for p in skills.rglob("*") if p.is_file()) / 1024
    assert size_kb <= MAX_INSTALLED_KB, f"the four skills copy {size_kb:.0f} KB into a project"


def test_start_here_works_from_the_installed_skill(installed: tuple[Path, Path]) -> None:
    """new, check and add-service, as SKILL.md shows them; the project is not a git repository."""
    project, skill_dir = installed
    result = run_shell(block(skill_dir, "install-commands"), project, agent_env())
    assert result.returncode == 0, result.stdout + result.stderr
    created = project / "my-api"
    answers = yaml.safe_load((created / ".copier-answers.yml").read_text())
    # The installed copy's template was used, not the checkout this test runs from.
    assert answers["_src_path"] == str(skill_dir) and "_template_fingerprint" in answers
    assert answers["services"] == ["users", "orders", "billing"]
    assert sorted(p.name for p in (created / "src").glob("*/services/*/migrations")) == [
        "migrations",
        "migrations",
        "migrations",
    ]
    assert not (created / ".git").exists()


def test_remove_service_from_the_installed_skill_keeps_user_edits(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, skill_dir = installed
    steps = (block(skill_dir, "install-commands"), block(skill_dir, "remove-service-command"))
    new_and_add = run_shell(steps[0], tmp_path, agent_env())
    assert new_and_add.returncode == 0, new_and_add.stderr
    readme = tmp_path / "my-api" / "README.md"
    readme.write_text(readme.read_text() + "\nOur own note.\n")
    removed = run_shell(steps[1], tmp_path, agent_env())
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not (tmp_path / "my-api" / "src" / "my_api" / "services" / "billing").exists()
    assert "Our own note." in readme.read_text()


def test_the_generated_readme_update_instructions_work_from_the_installed_skill(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, skill_dir = installed
    assert run_shell(block(skill_dir, "install-commands"), tmp_path, agent_env()).returncode == 0
    project = tmp_path / "my-api"
    readme = (project / "README.md").read_text()
    section = readme.split("## Adding a service", 1)[1]
    commands = section.split("```bash\n", 1)[1].split("```", 1)[0]
    assert "add-service . billing" in commands and "remove-service . billing" in commands
    # billing exists already: the README's remove, then its add, as a user would run them.
    add, remove = commands.replace("<the skill's folder>", str(skill_dir)).splitlines()
    for command in (remove, add):
        result = run_shell(command, project, agent_env())
        assert result.returncode == 0, command + result.stdout + result.stderr
    assert (project / "src" / "my_api" / "services" / "billing" / "router.py").is_file()


def test_check_from_the_installed_skill_reports_a_wrong_block(
    installed: tuple[Path, Path],
) -> None:
    project, skill_dir = installed
    lines = block(skill_dir, "install-commands").splitlines()
    [check] = [line for line in lines if " check " in line]
    target = project / "wrong-app"
    target.mkdir()
    (target / "migrate.py").write_text(WRONG_MIGRATION_CALL)
    result = run_shell(check.replace("my-api", "wrong-app"), project, agent_env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "SP003" in result.stdout


def test_copier_command_works_from_the_installed_skill(installed: tuple[Path, Path]) -> None:
    project, skill_dir = installed
    result = run_shell(block(skill_dir, "copier-command"), project, agent_env())
    assert result.returncode == 0, result.stdout + result.stderr
    services = project / "my-api-copier" / "src"
    assert sorted(p.name for p in services.glob("*/services/*") if p.is_dir()) == [
        "orders",
        "users",
    ]
