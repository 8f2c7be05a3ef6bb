"""scripts/shared-pool.py builds its environment once, reuses it, never uses a half-built one.

A copy of the script runs from a throw-away skill folder whose requirements.txt holds only `pip`
(already in every new venv), with PIP_NO_INDEX: nothing is downloaded. The real requirements,
from PyPI, with uv and with pip, are installed by test_skill_install_npm.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from skill_blocks import MAIN_SKILL, SKILLS_DIR

pytestmark = pytest.mark.slow  # each test builds virtual environments

SCRIPT = SKILLS_DIR / MAIN_SKILL / "scripts" / "shared-pool.py"
INSTALLING = "installing requirements.txt"
MARKER = ".pgdbm-shared-pool-requirements"
PRINT_PREFIX = "import sys; print(sys.prefix)"


@pytest.fixture
def skill(tmp_path: Path) -> Path:
    folder = tmp_path / "skill"
    (folder / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, folder / "scripts")
    (folder / "requirements.txt").write_text("pip\n")
    return folder


def run(skill: Path, cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    ours = str(Path(sys.executable).parent)  # holds uv: these runs take the venv + pip path
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != ours)
    environment = {
        **{k: v for k, v in os.environ.items() if k != "PGDBM_SHARED_POOL_VENV"},
        "PATH": path,
        "XDG_CACHE_HOME": str(cache),
        "PIP_NO_INDEX": "1",
        **env,
    }
    command = [sys.executable, str(skill / "scripts" / "shared-pool.py"), *args]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)


def venvs(cache: Path) -> list[Path]:
    return sorted((cache / "pgdbm-shared-pool").glob("venv-*/"))


def test_first_run_builds_the_environment_and_later_runs_reuse_it(
    skill: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = run(skill, cache, "exec", "python", "-c", PRINT_PREFIX)
    assert first.returncode == 0, first.stderr
    [venv] = venvs(cache)
    assert first.stdout == f"{venv}\n"  # installer output went to stderr, not stdout
    assert INSTALLING in first.stderr and (venv / MARKER).read_text() == "pip\n"
    again = run(skill, cache, "exec", "python", "-c", "print('again')")
    assert again.returncode == 0 and again.stdout == "again\n", again.stderr
    assert INSTALLING not in again.stderr


def test_changed_requirements_get_a_new_environment(skill: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert run(skill, cache, "exec", "python", "-V").returncode == 0
    (skill / "requirements.txt").write_text("pip\n# a new pin would go here\n")
    result = run(skill, cache, "exec", "python", "-V")
    assert result.returncode == 0 and INSTALLING in result.stderr, result.stderr
    assert len(venvs(cache)) == 2


def test_a_failed_install_leaves_nothing_and_says_what_to_do(skill: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (skill / "requirements.txt").write_text("no-such-distribution-anywhere==1.0\n")
    failed = run(skill, cache, "exec", "python", "-V")
    assert failed.returncode == 1
    assert "could not create the environment" in failed.stderr and "uv" in failed.stderr
    assert venvs(cache) == []  # nothing half-built is left for the next run to trust
    (skill / "requirements.txt").write_text("pip\n")
    assert run(skill, cache, "exec", "python", "-V").returncode == 0


def test_an_interrupted_install_is_redone(skill: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert run(skill, cache, "exec", "python", "-V").returncode == 0
    [venv] = venvs(cache)
    (venv / MARKER).unlink()  # as if the first run had been killed before it finished
    result = run(skill, cache, "exec", "python", "-V")
    assert result.returncode == 0 and INSTALLING in result.stderr, result.stderr
    assert (venv / MARKER).is_file()


def test_concurrent_first_runs_install_once(skill: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: run(skill, cache, "exec", "python", "-V"), range(3)))
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert sum(INSTALLING in r.stderr for r in results) == 1
    assert len(venvs(cache)) == 1


def test_an_environment_named_by_the_user_is_used_and_never_deleted(
    skill: Path, tmp_path: Path
) -> None:
    chosen = tmp_path / "my-venv"
    subprocess.run([sys.executable, "-m", "venv", str(chosen)], check=True)
    (skill / "requirements.txt").write_text("no-such-distribution-anywhere==1.0\n")
    named = {"PGDBM_SHARED_POOL_VENV": str(chosen)}
    failed = run(skill, tmp_path / "cache", "exec", "python", "-V", **named)
    assert failed.returncode == 1 and (chosen / "pyvenv.cfg").is_file()
    (skill / "requirements.txt").write_text("pip\n")
    used = run(skill, tmp_path / "cache", "exec", "python", "-c", PRINT_PREFIX, **named)
    assert used.returncode == 0 and used.stdout == f"{chosen}\n", used.stderr


def test_exec_without_a_program_is_a_clear_error(skill: Path, tmp_path: Path) -> None:
    result = run(skill, tmp_path / "cache", "exec")
    assert result.returncode == 1 and "exec needs a program" in result.stderr
    assert venvs(tmp_path / "cache") == []  # said before installing anything
