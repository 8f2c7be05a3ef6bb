"""The command line as a whole: one exit-code convention and one usage-error format for every
command (0 ok, 1 findings or failure, 2 usage -- refused answers included), and paths printed
the way a person would type them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pgdbm_shared_pool import cli
from pgdbm_shared_pool.cli._output import shown

pytestmark = pytest.mark.filterwarnings("ignore::copier.errors.DirtyLocalWarning")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def answered(tmp_path: Path) -> Path:
    """A folder that looks generated (answers file) but records no template version."""
    project = tmp_path / "shop"
    project.mkdir()
    (project / ".copier-answers.yml").write_text(
        "project_name: shop\npackage_name: shop\nservices: [users]\nuse_tenants: false\n"
    )
    return project


USAGE = {
    "new without a service": ["new", "{tmp}/p"],
    "new with a refused service": ["new", "{tmp}/p", "--service", "User"],
    "new with a refused package": ["new", "{tmp}/p", "--service", "users", "--package-name", "re"],
    "new with a refused value": [
        "new",
        "{tmp}/p",
        "--service",
        "users",
        "--data",
        "pool_max_size=1",
    ],
    "new with a non-integer": ["new", "{tmp}/p", "--service", "users", "--data", "pool_min_size=x"],
    "new with an unknown question": ["new", "{tmp}/p", "--service", "users", "--data", "x=1"],
    "new with an unknown flag": ["new", "{tmp}/p", "--service", "users", "--no-such-flag"],
    "add-service with a refused name": ["add-service", "{project}", "order"],
    "add-service of an existing service": ["add-service", "{project}", "users"],
    "remove-service of an unknown service": ["remove-service", "{project}", "billing"],
    "check of a missing path": ["check", "{tmp}/missing"],
    "check with an unknown rule": ["check", "--select", "XX9", "{tmp}"],
    "doctor without a database": ["doctor"],
    "doctor with a non-postgres DSN": ["doctor", "--dsn", "mysql://h/db"],
    "no command": [],
}


@pytest.mark.parametrize("case", USAGE, ids=list(USAGE))
def test_usage_errors_exit_2_with_one_error_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    answered: Path,
    case: str,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    argv = [a.format(tmp=tmp_path, project=answered) for a in USAGE[case]]
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert out == "" and "Traceback" not in err
    error_lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(error_lines) == 1 and error_lines[0].startswith("shared-pool"), err
    assert err.rstrip().endswith("--help`.")  # the same hint after every usage error
    assert not (tmp_path / "p").exists()


def test_failures_that_are_not_usage_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, answered: Path
) -> None:
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    for argv in (
        ["new", str(occupied), "--service", "users"],  # the folder is in the way
        ["add-service", str(answered), "billing"],  # a valid name, but no template version
        ["add-service", str(tmp_path), "billing"],  # not a generated project
    ):
        code, out, err = run(capsys, *argv)
        assert code == 1, (argv, err)
        assert out == "" and err.count(": error: ") == 1 and "--help" not in err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["--version"], ["new", "--help"], ["remove-service", "--help"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and out.startswith(("usage: shared-pool", "shared-pool "))


def test_shown_paths_are_normalised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert shown(tmp_path / "repo" / ".." / "my-api") == "my-api"
    assert shown("./a/./b/") == os.path.join("a", "b")
    assert shown(".") == "."
    outside = tmp_path.parent / "elsewhere"
    assert shown(Path("..") / "elsewhere") == str(outside)  # absolute, never ../


def test_new_prints_normalised_paths(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path)
    code, out, err = run(
        capsys, "new", str(tmp_path / "repo" / ".." / "my-api"), "--service", "users"
    )
    assert code == 0, err
    assert "Created my-api with services: users" in out and "  cd my-api\n" in out
    assert ".." not in out + err
    code, out, err = run(capsys, "new", "repo/../other-api", "--service", "users", "--json")
    assert code == 0, err
    assert json.loads(out)["dest"] == str(tmp_path / "other-api")
    assert ".." not in out + err
