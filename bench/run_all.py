"""Run every benchmark, one after another, against one Postgres server, then draw the plots
and write the report (docs/benchmarks.md; quick mode: bench/results/plots-quick/).

    python bench/run_all.py --quick    # CI smoke run: every script in quick mode, no thresholds
    python bench/run_all.py            # the full run behind docs/benchmarks.md

Exits non-zero if any script fails; the numbers themselves are never judged here.
"""

from __future__ import annotations

import subprocess
import sys
import time

from _common import BENCH_DIR, parse_args, postgres_admin_dsn

SCRIPTS = (
    "query_path",
    "connection_economy",
    "http_e2e",
    "request_costs",
    "scaffold",
    "tenants",
    "timeouts",
    "lint_speed",
    "first_steps",
)


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    mode = ["--quick"] if args.quick else []
    failed = []
    with postgres_admin_dsn(args.dsn) as admin_dsn:
        for name in SCRIPTS:
            print(f"\n=== {name} {' '.join(mode)}", flush=True)
            started = time.perf_counter()
            command = [sys.executable, str(BENCH_DIR / f"{name}.py"), *mode, "--dsn", admin_dsn]
            returncode = subprocess.run(command).returncode
            print(f"=== {name}: exit {returncode} after {time.perf_counter() - started:.1f} s")
            if returncode != 0:
                failed.append(name)
    for name in ("plot", "report"):  # only once every script has written its results
        if failed:
            break
        if subprocess.run([sys.executable, str(BENCH_DIR / f"{name}.py"), *mode]).returncode:
            failed.append(name)
    total = len(SCRIPTS) + 2
    print(f"\nbench: {total - len(failed)} of {total} ran" + (
        f"; failed: {', '.join(failed)}" if failed else ""
    ))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
