"""`new_project` and `shared-pool new`: output, destinations, exit codes, help."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pgdbm_shared_pool import cli, template
from pgdbm_shared_pool.scaffold import ScaffoldError, new_project

pytestmark = pytest.mark.filterwarnings("ignore::copier.errors.DirtyLocalWarning")
GENERATOR = Path(__file__).resolve().parents[1] / "generator"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`shared-pool ARGV` in-process: (exit code, stdout, stderr); argparse exits count too."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_new_project_returns_the_answers_file_and_every_created_file(tmp_path: Path) -> None:
    dest = tmp_path / "billing-api"
    result = new_project(dest, services=["users", "orders"], extra={"pool_max_size": 20})
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert result.answers == answers
    assert answers["project_name"] == "billing-api"  # defaults to the folder name
    assert answers["package_name"] == "billing_api"
    assert answers["services"] == ["users", "orders"]
    assert answers["pool_max_size"] == 20
    assert answers["_src_path"] == str(template.template_root())  # absolute: updatable later
    assert [str(p) for p in result.created] == files_under(dest)
    for service in ("users", "orders"):
        assert (dest / "src" / "billing_api" / "services" / service / "router.py").is_file()


def test_json_output_lists_dest_answers_and_created_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "shop"
    code, out, err = run_cli(
        capsys, "new", str(dest), "--service", "users", "--tenants", "--package-name", "shopapp",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    payload = json.loads(out)
    assert payload["dest"] == str(dest)
    assert payload["answers"]["services"] == ["users"]
    assert payload["answers"]["use_tenants"] is True
    assert payload["answers"]["package_name"] == "shopapp"
    assert payload["created"] == files_under(dest)
    assert "shared-pool: rendering" in err  # progress goes to stderr, JSON alone to stdout


def test_text_output_prints_next_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "demo"
    code, out, _ = run_cli(capsys, "new", str(dest), "--service", "users")
    assert code == 0
    assert f"cd {dest}" in out and "make install" in out and "make test" in out


def test_non_empty_destination_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "occupied"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine\n")
    code, out, err = run_cli(capsys, "new", str(dest), "--service", "users")
    assert code == 1 and out == ""
    assert "is not empty" in err and "--force" in err
    assert files_under(dest) == ["notes.txt"]
    with pytest.raises(ScaffoldError, match="not empty"):
        new_project(dest, services=["users"])


def test_force_renders_into_a_non_empty_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "occupied"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine\n")
    code, out, err = run_cli(capsys, "new", str(dest), "--service", "users", "--force", "--json")
    assert code == 0, err
    assert (dest / "notes.txt").read_text() == "mine\n"
    assert "notes.txt" not in json.loads(out)["created"]  # created = what the run added
    assert (dest / "src" / "occupied" / "services" / "users").is_dir()


def test_destination_that_is_a_file_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "file"
    dest.write_text("x")
    with pytest.raises(ScaffoldError, match="not a directory"):
        new_project(dest, services=["users"])


def test_failed_render_removes_every_directory_it_created(tmp_path: Path) -> None:
    # A template whose files cannot render: copier fails after it started writing.
    broken = tmp_path / "broken-template"
    shutil.copytree(template.template_root() / "template", broken / "template")
    shutil.copy(template.template_root() / "copier.yml", broken)
    (broken / "template" / "zz_broken.txt.jinja").write_text("{{ no_such_answer }}\n")
    dest = tmp_path / "a" / "b" / "project"
    with pytest.raises(ScaffoldError, match="no_such_answer"):
        new_project(dest, services=["users"], template=broken)
    assert not (tmp_path / "a").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ScaffoldError):
        new_project(empty, services=["users"], template=broken)
    assert list(empty.iterdir()) == []


def test_user_copier_settings_cannot_inject_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "copier-settings.yml"
    settings.write_text("defaults:\n  pool_max_size: 3\n  postgres_version: '18'\n")
    monkeypatch.setenv("COPIER_SETTINGS_PATH", str(settings))
    result = new_project(tmp_path / "p", services=["users"])
    assert result.answers["pool_max_size"] == 10
    assert result.answers["postgres_version"] == "15"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("pool_max=3", "unknown question(s) pool_max"),
        # Computed lists are not answers: overriding them would switch the rules off.
        ("pg_reserved_words=[]", "unknown question(s) pg_reserved_words"),
        ("pool_max_size=abc", "abc"),
    ],
)
def test_bad_data_is_a_one_line_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: str, message: str
) -> None:
    dest = tmp_path / "p"
    code, out, err = run_cli(capsys, "new", str(dest), "--service", "users", "--data", data)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) <= 2 and message in err and "Traceback" not in err
    assert not dest.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["new"],  # DEST missing
        ["new", "{dest}"],  # no service
        ["new", "{dest}", "--service", "users", "--data", "novalue"],
        ["new", "{dest}", "--service", "users", "--data", "services=[orders]"],
        ["new", "{dest}", "--service", "users", "--no-such-flag"],
        ["add-service", "{dest}"],
        ["no-such-command"],
    ],
)
def test_usage_errors_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    dest = tmp_path / "p"
    code, out, err = run_cli(capsys, *(a.format(dest=dest) for a in argv))
    assert code == 2
    assert out == "" and "error" in err
    assert not dest.exists()


def test_services_can_come_from_data_as_a_yaml_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "p"
    code, out, err = run_cli(capsys, "new", str(dest), "--data", "services=[alpha, beta]", "--json")
    assert code == 0, err
    assert json.loads(out)["answers"]["services"] == ["alpha", "beta"]


@pytest.mark.parametrize("command", [[], ["new"], ["add-service"], ["remove-service"]])
def test_help_works_for_each_command(command: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(GENERATOR)}
    done = subprocess.run(
        [sys.executable, "-m", "pgdbm_shared_pool.cli", *command, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: shared-pool")
    if command == ["new"]:
        assert "--service" in done.stdout and "--force" in done.stdout and "--json" in done.stdout


def test_shared_pool_new_as_a_process(tmp_path: Path) -> None:
    dest = tmp_path / "proc"
    env = {**os.environ, "PYTHONPATH": str(GENERATOR)}
    done = subprocess.run(
        [sys.executable, "-m", "pgdbm_shared_pool.cli", "new", str(dest), "--service", "users"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "make test" in done.stdout
    assert (dest / "src" / "proc" / "services" / "users" / "__init__.py").is_file()
