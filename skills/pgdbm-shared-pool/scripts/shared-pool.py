"""Run the `shared-pool` command from this skill folder, wherever the folder was installed.

    python3 <skill-dir>/scripts/shared-pool.py COMMAND ...        (new, add-service, check, ...)
    python3 <skill-dir>/scripts/shared-pool.py exec PROGRAM ...   (e.g. exec copier copy ...)

Nothing has to be installed or activated first. The first run creates a virtual environment
holding requirements.txt -- with uv when it is on PATH, else venv + pip -- and later runs reuse
it: $PGDBM_SHARED_POOL_VENV, by default ~/.cache/pgdbm-shared-pool/venv-<python>-<hash of
requirements.txt>. The environment is written under a lock and marked complete last, so an
interrupted first run is redone, never half used. Installer output goes to stderr, keeping
stdout for the command (`--json`).

Only the standard library is used until the script runs inside that environment.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SKILL_DIR = Path(__file__).resolve().parents[1]
REQUIREMENTS = SKILL_DIR / "requirements.txt"
COMPLETE_MARKER = ".pgdbm-shared-pool-requirements"  # written last, holds requirements.txt
MIN_PYTHON = (3, 11)


def main(argv: list[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        return fail(
            f"needs Python {'.'.join(map(str, MIN_PYTHON))}+, this is {sys.version.split()[0]} "
            f"({sys.executable}): run the script with a newer python3"
        )
    if argv == ["exec"]:  # before a first run's install, which takes a minute
        return fail("exec needs a program, e.g. `exec copier --version`")
    venv = venv_dir()
    if not running_in(venv):
        python = ensure_venv(venv)
        if python is None:
            return 1
        os.environ["PGDBM_SHARED_POOL_VENV"] = str(venv)  # the child must not pick another
        return run([str(python), str(Path(__file__).resolve()), *argv])
    if argv[:1] == ["exec"]:
        return run([str(executable(venv, argv[1])), *argv[2:]])
    # The package and the template next to it are used in place, so an installed copy of the
    # skill scaffolds from its own template.
    sys.path.insert(0, str(SKILL_DIR / "generator"))
    from pgdbm_shared_pool.cli import main as cli_main

    return cli_main(argv)


def venv_dir() -> Path:
    chosen = os.environ.get("PGDBM_SHARED_POOL_VENV")
    if chosen:
        return Path(chosen).expanduser().absolute()
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    version = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return cache.absolute() / "pgdbm-shared-pool" / f"venv-{version}-{digest}"


def running_in(venv: Path) -> bool:
    return venv.exists() and Path(sys.prefix).resolve() == venv.resolve()


def executable(venv: Path, name: str) -> Path:
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    return scripts / (f"{name}.exe" if os.name == "nt" else name)


def ensure_venv(venv: Path) -> Path | None:
    """The environment's python, creating the environment first if needed; None on failure."""
    python = executable(venv, "python")
    wanted = REQUIREMENTS.read_text(encoding="utf-8")
    if is_complete(venv, wanted):
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with locked(venv.parent / f"{venv.name}.lock"):
        if is_complete(venv, wanted):  # another process finished it while we waited
            return python
        ours = not venv.exists()  # never delete an environment someone else pointed us at
        log(f"installing {REQUIREMENTS.name} into {venv} (first run only; takes a minute)")
        started = time.monotonic()
        try:
            install(venv, python)
        except (OSError, subprocess.CalledProcessError) as error:
            if ours:
                shutil.rmtree(venv, ignore_errors=True)
            fail(
                f"could not create the environment ({error}). Install uv "
                "(https://docs.astral.sh/uv/) or Python's venv module "
                "(Debian/Ubuntu: apt-get install python3-venv), then run this again"
            )
            return None
        (venv / COMPLETE_MARKER).write_text(wanted, encoding="utf-8")
        log(f"installed in {time.monotonic() - started:.0f} s")
    return python


def is_complete(venv: Path, wanted: str) -> bool:
    marker = venv / COMPLETE_MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8") == wanted


def install(venv: Path, python: Path) -> None:
    quiet = {"stdout": sys.stderr}  # progress stays visible; stdout belongs to the command
    uv = shutil.which("uv")
    if uv:
        if not python.exists():
            command = [uv, "venv", "--quiet", "--python", sys.executable, str(venv)]
            subprocess.run(command, check=True, **quiet)
        pip = [uv, "pip", "install", "--quiet", "--python", str(python)]
    else:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, **quiet)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True, **quiet)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`. Without fcntl (Windows) two first runs at once may both
    install, which costs time, not correctness."""
    with open(path, "a") as handle:
        try:
            import fcntl
        except ImportError:
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def run(command: list[str]) -> int:
    try:
        return subprocess.call(command)
    except FileNotFoundError:
        return fail(f"{command[0]} not found")
    except KeyboardInterrupt:
        return 130


def log(message: str) -> None:
    print(f"shared-pool: {message}", file=sys.stderr, flush=True)


def fail(message: str) -> int:
    log(f"error: {message}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
