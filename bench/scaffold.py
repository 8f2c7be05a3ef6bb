"""Scaffolding: `shared-pool new` vs `copier copy` of the same template with the same
answers (both CLIs, in subprocesses, alternating); then a newcomer's first steps, each
against its target: our `make install`, and in a new project `make install` (both with a
warm package cache, each beside the plain `venv` + `pip install` it replaced), `make test`
(the fast tier) and `make test-all` (both tiers) on the Postgres server.

--quick runs each step once, without the pip baselines.

    python bench/scaffold.py [--quick] [--dsn DSN]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
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
COMMANDS = {
    "shared-pool new": lambda dest: [
        str(BIN / "shared-pool"), "new", str(dest), *(f"--service={s}" for s in SERVICES),
    ],
    "copier copy": lambda dest: [
        str(BIN / "copier"), "copy", "--quiet", "--defaults", "--vcs-ref=HEAD",
        f"--data=services=[{', '.join(SERVICES)}]", str(TEMPLATE), str(dest),
    ],
}  # fmt: skip
BASELINE = "copier copy"


def timed(command: list[str], **kwargs: Any) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, result


def shown(command: list[str]) -> list[str]:
    """The command as a reader would type it from the checkout (no paths of this machine)."""
    program, *rest = command
    return [Path(program).name, *("." if arg == str(TEMPLATE) else arg for arg in rest)]


def scaffold_once(name: str) -> float:
    with tempfile.TemporaryDirectory(prefix="bench_scaffold_") as tmp:
        return timed(COMMANDS[name](Path(tmp) / "demo-app"))[0]


# The targets of issue 11, in seconds (docs/benchmarks.md shows each beside its figure).
TARGETS = {
    "our make install": 30.0,
    "generated make install": 20.0,
    "generated make test": 10.0,
}
PIP_INSTALL = {"our make install": ".[test]", "generated make install": ".[dev]"}


def install(name: str, checkout: Path, venv: Path, *, baseline: bool) -> float:
    """`make install` (or, as the baseline, venv + pip) into a venv that does not exist yet."""
    shutil.rmtree(venv, ignore_errors=True)
    if baseline:
        commands = [
            ["python3", "-m", "venv", str(venv)],
            [str(venv / "bin/python"), "-m", "pip", "install", "-q", "-e", PIP_INSTALL[name]],
        ]
    else:
        commands = [["make", "install", f"VENV={venv}"]]
    return sum(timed(command, cwd=checkout)[0] for command in commands)


def installs(project: Path, rounds: int, with_baselines: bool) -> dict[str, list[float]]:
    """Each install `rounds` times, alternating; one untimed run first warms the caches."""
    checkouts = {"our make install": TEMPLATE, "generated make install": project}
    variants = [(name, False) for name in checkouts]
    if with_baselines:
        variants += [(name, True) for name in checkouts]

    def run(variant: tuple[str, bool]) -> float:
        name, baseline = variant
        return install(name, checkouts[name], scratch / "venv", baseline=baseline)

    with tempfile.TemporaryDirectory(prefix="bench_venv_") as tmp:
        scratch = Path(tmp)
        for variant in variants:
            run(variant)  # warm-up: downloads and builds land in the caches
        runs = interleaved(variants, rounds, run)
    return {
        f"{name}{' (pip)' if baseline else ''}": times for (name, baseline), times in runs.items()
    }


def tiers(project: Path, admin_dsn: str, rounds: int) -> dict[str, list[dict[str, float]]]:
    """`make test` and `make test-all` in the project (its .venv installed), alternating."""
    env = {**os.environ, "TEST_DATABASE_URL": admin_dsn}

    def run(target: str) -> dict[str, float]:
        seconds, result = timed(["make", target], cwd=project, env=env)
        passed = re.search(r"(\d+) passed", result.stdout)
        return {"seconds": seconds, "passed": int(passed.group(1)) if passed else 0}

    runs = interleaved(["test", "test-all"], rounds, run)
    return {f"generated make {target}": samples for target, samples in runs.items()}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rounds, step_rounds = (1, 1) if args.quick else (5, 3)
    with postgres_admin_dsn(args.dsn) as admin_dsn, tempfile.TemporaryDirectory() as tmp:
        facts = machine_facts(admin_dsn)
        runs = interleaved(list(COMMANDS), rounds, scaffold_once)
        project = Path(tmp) / "demo-app"
        timed(COMMANDS["shared-pool new"](project))
        install_runs = installs(project, step_rounds, with_baselines=not args.quick)
        timed(["make", "install"], cwd=project)  # the project's own .venv, for its tests
        tier_runs = tiers(project, admin_dsn, step_rounds)

    ratios = {name: paired_ratio(times, runs[BASELINE]) for name, times in runs.items()}
    print_table(
        f"Scaffold a 2-service project, median of {rounds} alternating runs",
        ["command", "median s", "min s", "max s", "vs copier copy (range)"],
        [
            [name, median(times), min(times), max(times), show_ratio(ratios[name])]
            for name, times in runs.items()
        ],
    )  # fmt: skip
    steps = {
        **install_runs,
        **{name: [r["seconds"] for r in samples] for name, samples in tier_runs.items()},
    }
    print_table(
        f"First steps, median of {step_rounds} alternating runs",
        ["step", "median s", "min s", "max s", "target s"],
        [
            [name, median(t), min(t), max(t), TARGETS.get(name, "-")]
            for name, t in steps.items()
        ],
    )  # fmt: skip
    write_results(
        "scaffold",
        args,
        facts,
        {
            "setup": {
                "services": list(SERVICES),
                "rounds": rounds,
                "step_rounds": step_rounds,
                "commands": {name: shown(COMMANDS[name](Path("DEST"))) for name in COMMANDS},
                "targets_s": TARGETS,
            },
            "scaffold_runs_s": runs,
            "shared_pool_new_vs_copier_copy": ratios["shared-pool new"],
            "steps_s": steps,
            "tests_passed": {name: samples[0]["passed"] for name, samples in tier_runs.items()},
        },
    )


if __name__ == "__main__":
    main()
