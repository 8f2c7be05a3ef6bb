"""The skills installed as users install them, then used as an agent uses them.

The real `skills` CLI from npm (npm_tools.py pins it, and a Node 22 when this machine's is older)
installs a git clone of this checkout (installed_skill.git_snapshot) into a throw-away project
and home, per install mode; Claude Code installs it as a plugin. Each installed copy must be what
installed_skill.py models, with every link resolving, and "Start here" is then run literally
from it on this machine's python3, with a fresh home: the script builds its environment from
PyPI (venv + pip, and uv where the test puts uv on PATH).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from installed_skill import (
    broken_links,
    git_snapshot,
    installed_files,
    run_shell,
    skill_names,
    start_here,
)
from npm_tools import claude_code, skills_cli_path
from skill_blocks import MAIN_SKILL, named_blocks

pytestmark = pytest.mark.slow

# mode -> (arguments of `skills add`, where the real copies land: "project" or "home")
MODES = {
    "project": (["-a", "claude-code", "-y"], "project", ".claude/skills"),
    "global": (["-g", "-a", "claude-code", "-y"], "home", ".claude/skills"),
    "full-depth": (["--full-depth", "-a", "claude-code", "-y"], "project", ".claude/skills"),
    # No agent named: the real copy goes to .agents/skills, Claude Code gets a symlink.
    "agents-default": (["-y"], "project", ".agents/skills"),
}
WITH_UV = {"global"}  # the other modes build the environment with venv + pip


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    return git_snapshot(tmp_path_factory.mktemp("pgdbm-shared-pool"))


@pytest.fixture(scope="module")
def pip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One XDG cache for the venv + pip modes: the first builds the environment, the rest reuse
    it, as one user's projects do."""
    return tmp_path_factory.mktemp("xdg-cache")


def agent_env(home: Path, cache: Path, path: str) -> dict[str, str]:
    """A new user's environment: nothing of this test's virtualenv, no git identity."""
    ours = str(Path(sys.executable).parent)
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV"))}
    system_path = os.pathsep.join(p for p in path.split(os.pathsep) if p != ours)
    return {
        **kept,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(cache),
        "PATH": system_path,
        "DISABLE_TELEMETRY": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def uv_on_path(tmp: Path) -> str:
    uv = Path(sys.executable).parent / "uv"
    if not uv.is_file():
        pytest.fail("uv is not in the test environment: pip install -e '.[test]'")
    bin_dir = tmp / "uv-bin"
    bin_dir.mkdir()
    (bin_dir / "uv").symlink_to(uv)
    return str(bin_dir)


def run_start_here(skill_dir: Path, workdir: Path, env: dict[str, str]) -> str:
    commands = start_here(skill_dir, named_blocks(skill_dir.parent)["install-commands"].text)
    result = run_shell(commands, workdir, env, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    answers = yaml.safe_load((workdir / "my-api" / ".copier-answers.yml").read_text())
    # The installed copy's template was used (in the plugin, copier.yml links to the root's).
    assert answers["_src_path"] == str((skill_dir / "copier.yml").resolve().parent)
    assert answers["services"] == ["users", "orders", "billing"]  # add-service worked
    return result.stderr


def assert_is_the_modelled_copy(skills_dir: Path) -> None:
    assert sorted(p.name for p in skills_dir.iterdir()) == skill_names()
    for skill in skill_names():
        folder = skills_dir / skill
        copied = {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}
        assert copied == set(installed_files(skill)), skill
        for page in folder.rglob("*.md"):
            if "template" not in page.relative_to(folder).parts:
                assert not broken_links(page, skills_dir), page


@pytest.mark.parametrize("mode", sorted(MODES))
def test_skills_cli_install_then_start_here(
    mode: str, source: str, pip_cache: Path, tmp_path: Path
) -> None:
    arguments, copies_in, folder = MODES[mode]
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    path = skills_cli_path()
    if mode in WITH_UV:
        path = os.pathsep.join([uv_on_path(tmp_path), path])
    env = agent_env(home, pip_cache if mode not in WITH_UV else tmp_path / "cache", path)

    added = subprocess.run(
        ["skills", "add", source, *arguments, "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    installed = json.loads(added.stdout)
    assert sorted(s["name"] for s in installed if s["status"] == "installed") == skill_names()

    skills_dir = (project if copies_in == "project" else home) / folder
    assert_is_the_modelled_copy(skills_dir)
    if mode == "agents-default":  # Claude Code reads the same copy through a symlink
        assert (project / ".claude" / "skills" / MAIN_SKILL).resolve() == (
            skills_dir / MAIN_SKILL
        ).resolve()

    skill_dir = skills_dir / MAIN_SKILL
    log = run_start_here(skill_dir, project, env)
    if mode in WITH_UV:
        assert "installing requirements.txt" in log
        venvs = list((tmp_path / "cache" / "pgdbm-shared-pool").glob("venv-*/"))
        assert len(venvs) == 1 and not list(venvs[0].glob("lib/python*/site-packages/pip"))


def test_claude_code_plugin_validates_installs_and_starts_here(
    source: str, pip_cache: Path, tmp_path: Path
) -> None:
    claude = str(claude_code())
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    env = {
        **agent_env(home, pip_cache, os.environ.get("PATH", "")),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    checkout = Path(source.removeprefix("file://"))

    def plugin(*arguments: str) -> str:
        done = subprocess.run(
            [claude, "plugin", *arguments],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"claude plugin {arguments}:\n{done.stdout}{done.stderr}"
        return done.stdout

    plugin("validate", "--strict", "--profile", "directory", str(checkout))
    plugin("validate", "--strict", str(checkout / ".claude-plugin" / "plugin.json"))
    plugin("marketplace", "add", str(checkout))
    plugin("install", f"{MAIN_SKILL}@{MAIN_SKILL}")
    details = plugin("details", f"{MAIN_SKILL}@{MAIN_SKILL}")
    assert f"Skills ({len(skill_names())})" in details and all(n in details for n in skill_names())

    [root] = (home / ".claude" / "plugins" / "cache" / MAIN_SKILL / MAIN_SKILL).iterdir()
    skills_dir = root / "skills"
    for page in skills_dir.rglob("*.md"):
        if "template" not in page.relative_to(skills_dir).parts:
            assert not broken_links(page, root), page
    run_start_here(skills_dir / MAIN_SKILL, project, env)
