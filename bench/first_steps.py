"""A newcomer's first steps, each against its target: our `make install`, and in a new
2-service project `make install`, `make test` (the fast tier) and `make test-all` (both
tiers) on the Postgres server. Installs go into a fresh venv with a warm package cache (one
untimed run first), each beside the plain `python3 -m venv` + `pip install -e` it replaced;
every step alternates with the others, the order reversed each round.

--quick runs each step once, without the pip baselines.

    python bench/first_steps.py [--quick] [--dsn DSN]
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
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
    table,
    write_results,
)
from scaffold import timed_with_cpu

CHECKOUT = BENCH_DIR.parent
SHARED_POOL = Path(sys.executable).parent / "shared-pool"
# Issue 11's targets, in seconds of wall time.
TARGETS = {"our make install": 30.0, "generated make install": 20.0, "generated make test": 10.0}
PIP_EXTRAS = {"our make install": ".[test]", "generated make install": ".[dev]"}
Sample = dict[str, float]


def install(name: str, checkout: Path, venv: Path, *, baseline: bool) -> Sample:
    """`make install` (or, as the baseline, venv + pip) into a venv that does not exist yet."""
    shutil.rmtree(venv, ignore_errors=True)
    if baseline:
        pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "-e", PIP_EXTRAS[name]]
        commands = [["python3", "-m", "venv", str(venv)], pip]
    else:
        commands = [["make", "install", f"VENV={venv}"]]
    wall = cpu = 0.0
    for command in commands:
        seconds, cpu_seconds, _ = timed_with_cpu(command, cwd=checkout)
        wall, cpu = wall + seconds, cpu + cpu_seconds
    return {"wall_s": wall, "cpu_s": cpu}


def installs(project: Path, rounds: int, baselines: bool) -> dict[str, list[Sample]]:
    checkouts = {"our make install": CHECKOUT, "generated make install": project}
    variants = [(name, False) for name in checkouts]
    variants += [(name, True) for name in checkouts] if baselines else []
    with tempfile.TemporaryDirectory(prefix="bench_venv_") as scratch:

        def run(variant: tuple[str, bool]) -> Sample:
            name, baseline = variant
            return install(name, checkouts[name], Path(scratch) / "venv", baseline=baseline)

        for variant in variants:
            run(variant)  # warm-up: downloads and builds land in the caches
        runs = interleaved(variants, rounds, run)
    return {f"{name}{' (pip)' if pip else ''}": samples for (name, pip), samples in runs.items()}


def tiers(project: Path, admin_dsn: str, rounds: int) -> dict[str, list[Sample]]:
    """`make test` and `make test-all` in the project (its own .venv installed)."""
    env = {**os.environ, "TEST_DATABASE_URL": admin_dsn}

    def run(target: str) -> Sample:
        wall, cpu, result = timed_with_cpu(["make", target], cwd=project, env=env)
        passed = re.search(r"(\d+) passed", result.stdout)
        return {"wall_s": wall, "cpu_s": cpu, "passed": int(passed.group(1)) if passed else 0}

    run("test")  # warm-up: the first run writes the project's caches (.hypothesis, ...)
    runs = interleaved(["test", "test-all"], rounds, run)
    return {f"generated make {target}": samples for target, samples in runs.items()}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rounds = 1 if args.quick else 3
    with postgres_admin_dsn(args.dsn) as admin_dsn, tempfile.TemporaryDirectory() as tmp:
        facts = machine_facts(admin_dsn)
        project = Path(tmp) / "demo-app"
        timed_with_cpu(
            [str(SHARED_POOL), "new", str(project), "--service=users", "--service=orders"]
        )
        steps = installs(project, rounds, baselines=not args.quick)
        timed_with_cpu(["make", "install"], cwd=project)  # its own .venv, for its tests
        steps |= tiers(project, admin_dsn, rounds)
    ratios = {
        name: paired_ratio(steps[name], steps[f"{name} (pip)"], key="wall_s")
        for name in PIP_EXTRAS
        if f"{name} (pip)" in steps
    }
    print_table(
        f"First steps, median of {rounds} alternating runs",
        ["step", "wall s", "min s", "max s", "CPU s", "target s", "vs pip"],
        [row(name, samples, ratios) for name, samples in steps.items()],
    )
    write_results(
        "first_steps",
        args,
        facts,
        {
            "setup": {"services": ["users", "orders"], "rounds": rounds, "targets_s": TARGETS},
            "steps": steps,
            "vs_pip": ratios,
        },
    )


def row(name: str, samples: list[Sample], ratios: dict[str, dict[str, float]]) -> list[object]:
    walls = [s["wall_s"] for s in samples]
    label = f"{name} ({int(samples[0]['passed'])} passed)" if "passed" in samples[0] else name
    return [
        label,
        median(walls),
        min(walls),
        max(walls),
        median([s["cpu_s"] for s in samples]),
        TARGETS.get(name, "—"),
        show_ratio(ratios[name]) if name in ratios else "—",
    ]


def first_steps_section(data: dict[str, Any]) -> tuple[str, list[list[str]]]:
    """The section of docs/benchmarks.md (bench/report.py), and its headline row."""
    steps, ratios = data["steps"], data["vs_pip"]
    rows = [row(name, samples, ratios) for name, samples in steps.items()]
    load = data["machine"]["load_average_at_end"]
    text = f"""## 7. A newcomer's first steps

`python bench/first_steps.py` — our `make install`, then in a new 2-service project
`make install`, `make test` (fast tier) and `make test-all` (both tiers) against the local
server, database set-up included; {data["setup"]["rounds"]} rounds alternating. Installs go
into a fresh venv with a warm cache (uv, bytecode compiled), beside `(pip)`: the plain
`python3 -m venv` + `pip install -e` each replaced. Wall time counts what other work on the
machine takes from these steps (load average {load[0]:.1f} at the end); CPU time far less.

{table(["step", "wall s", "min s", "max s", "CPU s", "target s", "vs pip"], rows)}
"""
    wall = {name: median([s["wall_s"] for s in samples]) for name, samples in steps.items()}
    headline = [
        "A newcomer's first steps",
        f"generated `make install` {wall['generated make install']:.0f} s, `make test` "
        f"{wall['generated make test']:.1f} s; our `make install` {wall['our make install']:.0f} s",
        "≤ 20 s, < 10 s; ≤ 30 s",
    ]
    return text, [headline]


if __name__ == "__main__":
    main()
