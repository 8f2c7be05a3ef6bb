"""`shared-pool check` on trees nobody prepared, run as the installed command: symbolic link
loops, dangling links, a FIFO and a device named *.py, an unparsable file, an empty folder,
and a reader that closes the pipe early. Never a traceback, never a hang; exit 0 or 1 with
one summary line that says what was not checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_POOL = Path(sys.executable).parent / "shared-pool"
BAD = 'SCHEMA = "user"\n'  # SP012: a reserved word
CLEAN = 'SCHEMA = "users"\n'
# Not a timing assertion: a guard so that a regression (a read from the FIFO) fails the test
# instead of hanging the suite.
HANG_GUARD_S = 120


def check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHARED_POOL), "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Error" not in result.stderr.replace("SyntaxError", ""), result.stderr


@pytest.fixture
def odd_tree(tmp_path: Path) -> Path:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "app.py").write_text(BAD)
    (package / "loop").symlink_to(tmp_path, target_is_directory=True)  # a folder loop
    (package / "self.py").symlink_to("self.py")  # a file link loop
    (package / "ping.py").symlink_to("pong.py")
    (package / "pong.py").symlink_to("ping.py")
    (package / "dangling.py").symlink_to("missing.py")
    os.mkfifo(package / "fifo.py")  # opening it would block until a writer comes
    (package / "device.py").symlink_to(os.devnull)  # a character device, reachable unprivileged
    return tmp_path


SKIPPED = {
    "pkg/self.py": "a symbolic link loop",
    "pkg/ping.py": "a symbolic link loop",
    "pkg/pong.py": "a symbolic link loop",
    "pkg/dangling.py": "a dangling symbolic link (to missing.py)",
    "pkg/fifo.py": "not a regular file (a FIFO)",
    "pkg/device.py": "not a regular file (a device)",
}


def test_odd_files_are_skipped_with_a_note(odd_tree: Path) -> None:
    result = check(".", cwd=odd_tree)
    no_traceback(result)
    assert result.returncode == 1  # the finding in app.py
    notes = sorted(line for line in result.stderr.splitlines() if ": skipped, " in line)
    assert notes == sorted(f"{path}: skipped, {why}" for path, why in SKIPPED.items())
    lines = result.stdout.splitlines()
    assert lines[0].startswith("pkg/app.py:1:10: SP012 ")
    assert lines[-1] == "Found 1 finding; 6 files skipped (not readable regular files)."


def test_odd_files_alone_exit_0_and_say_nothing_was_checked(odd_tree: Path) -> None:
    (odd_tree / "pkg" / "app.py").unlink()
    result = check("pkg", cwd=odd_tree)
    no_traceback(result)
    assert result.returncode == 0
    assert result.stdout == "No files checked; 6 files skipped (not readable regular files).\n"


@pytest.mark.parametrize("name", ["fifo.py", "device.py", "dangling.py", "self.py"])
def test_an_odd_file_named_on_the_command_line(odd_tree: Path, name: str) -> None:
    result = check(f"pkg/{name}", "--format", "json", cwd=odd_tree)
    no_traceback(result)
    assert (result.returncode, json.loads(result.stdout)) == (0, [])
    assert f"pkg/{name}: skipped, {SKIPPED[f'pkg/{name}']}" in result.stderr


def test_an_unparsable_file_is_its_own_kind_of_finding_in_json(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n")
    (tmp_path / "fine.py").write_text(CLEAN)
    result = check("--format", "json", ".", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 1
    [problem] = json.loads(result.stdout)
    assert (problem["code"], problem["path"], problem["line"]) == ("E999", "broken.py", 1)
    assert problem["message"].startswith("not checked, Python cannot parse it")


def test_an_unparsable_file_next_to_findings_is_named_in_the_summary(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n")
    (tmp_path / "bad.py").write_text(BAD)
    result = check(".", cwd=tmp_path)
    assert result.returncode == 1
    assert "broken.py:1:7: not checked, Python cannot parse it" in result.stderr
    assert result.stdout.splitlines()[-1] == "Found 1 finding; 1 file could not be parsed."


@pytest.mark.parametrize("output", ["text", "json"])
def test_an_empty_selection_says_nothing_was_checked(tmp_path: Path, output: str) -> None:
    (tmp_path / "README.md").write_text("# not code\n")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "report.sql").write_text("SELECT 1;\n")  # not below migrations/
    result = check("--format", output, ".", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 0
    assert "nothing to check in .: no *.py files" in result.stderr
    assert result.stdout == ("[]\n" if output == "json" else "No files checked.\n")


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path, output: str) -> None:
    """`shared-pool check | head -3`: 2,000 findings, the reader leaves after three lines."""
    (tmp_path / "schemas.py").write_text("".join(f'SCHEMA = "User{n}"\n' for n in range(2000)))
    checker = subprocess.Popen(
        [str(SHARED_POOL), "check", "--format", output, "schemas.py"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert checker.stdout is not None and checker.stderr is not None
    first = [checker.stdout.readline() for _ in range(3)]
    checker.stdout.close()  # what `head` does once it has its lines
    stderr = checker.stderr.read().decode()
    assert checker.wait(timeout=HANG_GUARD_S) == 1
    assert all(first), first
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
