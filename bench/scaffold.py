"""Scaffolding: `shared-pool new` vs `copier copy` of the same template with the same
answers (both CLIs, in subprocesses, alternating), then scaffold-to-green-suite: `shared-pool
new` followed by the generated project's own pytest suite on the Postgres server.

--quick runs one test module of the generated suite (tests/test_health.py), not all of it.

    python bench/scaffold.py [--quick] [--dsn DSN]
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    interleaved,
    machine_facts,
    median,
    paired_ratio,
    parse_args,
    postgres_admin_dsn,
    print_table,
    show_ratio,
    write_results,
)

TEMPLATE = BENCH_DIR.parent  # this checkout: copier.yml and template/
SERVICES = ("users", "orders")
BIN = Path(sys.executable).parent
# An installed copy of the skill: a plain folder (no git) with the template and the generator.
SKILL = TEMPLATE / "skills" / "pgdbm-shared-pool"
SERVICE_FLAGS = [f"--service={s}" for s in SERVICES]
DATA = f"--data=services=[{', '.join(SERVICES)}]"
COPIER_WITHOUT_GIT = "copier copy (installed copy), git not on PATH"
IMPORT_COPIER, IMPORT_QUESTIONARY = "python -c 'import copier'", "python -c 'import questionary'"


def commands(installed: Path) -> dict[str, Callable[[Path], list[str]]]:
    """Each command, by name: from this git checkout, and from an installed (plain) copy."""
    services = SERVICE_FLAGS
    copier = [str(BIN / "copier"), "copy", "--quiet", "--defaults", DATA]
    # The generator run in place from the copy, as its scripts/shared-pool.py does once its
    # environment exists (that launcher's one-off venv set-up is not what is measured here).
    from_copy = ["env", f"PYTHONPATH={installed / 'generator'}", sys.executable, "-m"]
    script = [*from_copy, "pgdbm_shared_pool.cli"]
    return {
        "shared-pool new": lambda dest: [str(BIN / "shared-pool"), "new", str(dest), *services],
        "copier copy": lambda dest: [*copier, "--vcs-ref=HEAD", str(TEMPLATE), str(dest)],
        "shared-pool new (installed copy)": lambda dest: [*script, "new", str(dest), *services],
        "copier copy (installed copy)": lambda dest: [*copier, str(installed), str(dest)],
        # What copier's floor is made of, for the upstream proposals in docs/benchmarks.md:
        # without git on its PATH copier skips its `git config` per rendered file (a plain
        # folder needs no git), and importing it without rendering anything.
        COPIER_WITHOUT_GIT: lambda dest: ["env", f"PATH={BIN}", *copier, str(installed), str(dest)],
        IMPORT_COPIER: lambda dest: [sys.executable, "-c", "import copier"],
        IMPORT_QUESTIONARY: lambda dest: [sys.executable, "-c", "import questionary"],
    }


# Each shared-pool run is compared with copier rendering the same template from the same place.
BASELINES = {
    "shared-pool new": "copier copy",
    "shared-pool new (installed copy)": "copier copy (installed copy)",
    COPIER_WITHOUT_GIT: "copier copy (installed copy)",
}


def install_copy(folder: Path) -> Path:
    """What `npx skills add` copies: the skill folder, symbolic links resolved."""
    shutil.copytree(SKILL, folder, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    return folder


def timed(command: list[str], **kwargs: Any) -> tuple[float, subprocess.CompletedProcess[str]]:
    elapsed, _, result = timed_with_cpu(command, **kwargs)
    return elapsed, result


def timed_with_cpu(
    command: list[str], **kwargs: Any
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds, and CPU seconds (user + system) of the command and its children: on a
    machine other work keeps busy, CPU time moves far less than wall time."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, _children_cpu() - cpu_before, result


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def shown(command: list[str], installed: Path) -> list[str]:
    """The command as a reader would type it (no paths of this machine)."""
    program, *rest = command
    places = {str(TEMPLATE): ".", str(installed): "SKILL_DIR", sys.executable: "python"}
    within = {str(installed): "SKILL_DIR", str(BIN): "VENV/bin"}

    def show(arg: str) -> str:
        if arg in places:
            return places[arg]
        for path, name in within.items():
            arg = arg.replace(path, name)
        return arg

    return [Path(program).name, *map(show, rest)]


def scaffold_to_green(admin_dsn: str, suite: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench_green_") as tmp:
        project = Path(tmp) / "demo-app"
        scaffold_s, _ = timed([str(BIN / "shared-pool"), "new", str(project), *SERVICE_FLAGS])
        env = {**os.environ, "PYTHONPATH": str(project / "src"), "TEST_DATABASE_URL": admin_dsn}
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *suite]
        suite_s, result = timed(pytest, cwd=project, env=env)
    passed = re.search(r"(\d+) passed", result.stdout)
    return {
        "scaffold_s": scaffold_s,
        "suite_s": suite_s,
        "total_s": scaffold_s + suite_s,
        "tests_passed": int(passed.group(1)) if passed else 0,
    }


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rounds, green_runs = (1, 1) if args.quick else (9, 2)
    suite = ["tests/test_health.py"] if args.quick else []
    with (
        postgres_admin_dsn(args.dsn) as admin_dsn,
        tempfile.TemporaryDirectory(prefix="bench_skill_") as skill,
    ):
        facts = machine_facts(admin_dsn)
        installed = install_copy(Path(skill))
        named = commands(installed)

        def scaffold_once(name: str) -> float:
            with tempfile.TemporaryDirectory(prefix="bench_scaffold_") as tmp:
                wall, cpu, _ = timed_with_cpu(named[name](Path(tmp) / "demo-app"))
                return wall, cpu

        both = interleaved(list(named), rounds, scaffold_once)
        runs = {name: [wall for wall, _ in pairs] for name, pairs in both.items()}
        cpu_runs = {name: [cpu for _, cpu in pairs] for name, pairs in both.items()}
        setup_commands = {name: shown(named[name](Path("DEST")), installed) for name in named}
        green = [scaffold_to_green(admin_dsn, suite) for _ in range(green_runs)]

    ratios = {name: paired_ratio(runs[name], runs[base]) for name, base in BASELINES.items()}
    cpu_ratios = {
        name: paired_ratio(cpu_runs[name], cpu_runs[base]) for name, base in BASELINES.items()
    }
    print_table(
        f"Scaffold a 2-service project, median of {rounds} alternating runs",
        ["command", "median s", "min s", "max s", "CPU s", "vs copier copy: wall, CPU"],
        [
            [name, median(times), min(times), max(times), median(cpu_runs[name]),
             f"{show_ratio(ratios[name])}, {show_ratio(cpu_ratios[name])}"
             if name in ratios else "-"]
            for name, times in runs.items()
        ],
    )  # fmt: skip
    green_summary = {key: median([g[key] for g in green]) for key in green[0]}
    print_table(
        f"Scaffold to green suite ({' '.join(suite) or 'the whole suite'}), median of {green_runs}",
        ["step", "seconds"],
        [
            ["shared-pool new", green_summary["scaffold_s"]],
            [f"pytest ({int(green_summary['tests_passed'])} passed)", green_summary["suite_s"]],
            ["total", green_summary["total_s"]],
        ],
    )
    write_results(
        "scaffold",
        args,
        facts,
        {
            "setup": {
                "services": list(SERVICES),
                "rounds": rounds,
                "commands": setup_commands,
                "suite": suite or "whole suite",
            },
            "scaffold_runs_s": runs,
            "scaffold_cpu_s": cpu_runs,
            "cpu_ratios": cpu_ratios,
            "shared_pool_new_vs_copier_copy": ratios["shared-pool new"],
            "installed_copy_new_vs_copier_copy": ratios["shared-pool new (installed copy)"],
            "green_runs": green,
            "green": green_summary,
        },
    )


if __name__ == "__main__":
    main()
