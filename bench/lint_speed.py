"""`shared-pool check` speed: lines per second on real code and on files built to be hard
(thousands of findings in one file, one 5 MB file), each next to its baseline, Python's own
parser reading the same files (`ast.parse`, the floor no checker goes below).

Both run as subprocesses of the installed console scripts, alternating (A B, B A, ...); a
ratio is the median of the per-round ratios. Targets (issue 10): the 10k-line tree < 1 s,
200k lines of real code < 5 s, the 2,000-finding 0.6 MB file < 3 s, the 5 MB file < 15 s.
--quick checks smaller sizes once (a CI smoke run: no thresholds anywhere).

    python bench/lint_speed.py [--quick]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import sysconfig
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
    print_table,
    show_ratio,
    write_results,
)

sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
from lint_corpus import PROJECTS, checked_paths, fetch

BIN = Path(sys.executable).parent
PARSE_ONLY = """\
import ast, os, sys
for root in sys.argv[1:]:
    paths = [root] if os.path.isfile(root) else [
        os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".py")
    ]
    for path in paths:
        with open(path, "rb") as handle:
            try:
                ast.parse(handle.read())
            except SyntaxError:
                pass
"""
TARGETS_S = {
    "tree 10k lines": 1.0,
    "real code 200k lines": 5.0,
    "2,000 findings, 0.6 MB": 3.0,
    "5 MB file": 15.0,
}

# One unit of the findings files: a function with one mistake of each kind the rules know,
# then the same statements at module level (a snippet), where scopes are widest.
FUNCTION = '''\
async def handler_{n}(db: AsyncDatabaseManager, config, where: str, limit: int):
    """Handler {n}: the kind of code a finding sits in."""
    rows = await db.fetch_all("SELECT * FROM items WHERE id = $1", limit)
    await db.execute(f"DELETE FROM {{{{{{{{tables.items}}}}}}}} WHERE {{where}}")
    await db.execute(f"UPDATE {{{{tables.items}}}} SET n = {{limit}}")
    pool = await AsyncDatabaseManager.create_shared_pool(config)
    await db.execute("CREATE EXTENSION IF NOT EXISTS citext")
    migrations = AsyncMigrationManager(db, "migrations", module_name="m{n}")
    stats = await pool.get_pool_stats()
    return rows, migrations, stats


'''
SNIPPET = """\
query_{n} = "SELECT * FROM orders_{n} WHERE id = $1"
found_{n} = await users.fetch_one(query_{n}, 1)
await users.execute("INSERT INTO audit (n) VALUES ($1)", {n})


"""
# Clean code between the mistakes (2,000 findings in 0.6 MB, as the issue measured).
CLEAN = '''\
async def list_page_{n}_{k}(db: AsyncDatabaseManager, owner_id: int, after: int = 0):
    """Page {k} of the owner's items, newest first: the kind of query most of a file holds."""
    rows = await db.fetch_all(
        "SELECT id, name, created FROM {{{{tables.items}}}}"
        " WHERE owner_id = $1 AND id > $2 ORDER BY id DESC LIMIT 50",
        owner_id,
        after,
    )
    return [dict(row) for row in rows]


'''
CLEAN_PER_UNIT = 5
HEADER = """\
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager

users = AsyncDatabaseManager(pool=shared_pool, schema="users")


"""
TREE_MODULE = (
    "from pgdbm import AsyncDatabaseManager\n\n\n"
    + "".join(
        f"async def query_{n}(db: AsyncDatabaseManager, id_: int):\n"
        f'    return await db.fetch_one("SELECT * FROM {{{{tables.items}}}} WHERE id = $1", id_)\n'
        "\n\n"
        for n in range(20)
    )
    + "async def seeded(db: AsyncDatabaseManager):\n"
    + '    return await db.fetch_all("SELECT * FROM items")\n'
)


def findings_file(path: Path, size: int) -> Path:
    parts, written, n = [HEADER], len(HEADER), 0
    while written < size:
        clean = "".join(CLEAN.format(n=n, k=k) for k in range(CLEAN_PER_UNIT))
        unit = FUNCTION.format(n=n) + clean + SNIPPET.format(n=n)
        parts.append(unit)
        written += len(unit)
        n += 1
    path.write_text("".join(parts), encoding="utf-8")
    return path


def tree(root: Path, lines: int) -> Path:
    per_module = TREE_MODULE.count("\n")
    for index in range(-(-lines // per_module)):
        module = root / f"pkg{index // 12}" / f"module_{index % 12}.py"
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text(TREE_MODULE, encoding="utf-8")
    return root


def real_code(root: Path, lines: int) -> Path:
    """Python's standard library (real code on every machine), whole files in path order
    until `lines`; copied so the walk sees exactly these files."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    total = 0
    for source in sorted(stdlib.rglob("*.py")):
        if "site-packages" in source.parts or "test" in source.parts:
            continue
        try:
            text = source.read_text(encoding="utf-8")
            compile(text, str(source), "exec", flags=1024, dont_inherit=True)  # PyCF_ONLY_AST
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        target = root / source.relative_to(stdlib)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        total += text.count("\n")
        if total >= lines:
            break
    return root


def corpus() -> list[Path]:
    return [path for project in PROJECTS for path in checked_paths(project, fetch(project))]


def count_lines(paths: list[Path]) -> tuple[int, int]:
    """(lines, files) of the Python files below `paths`."""
    files = [p for path in paths for p in ([path] if path.is_file() else path.rglob("*.py"))]
    return sum(f.read_bytes().count(b"\n") for f in files), len(files)


def timed(command: list[str]) -> dict[str, Any]:
    """Wall and CPU seconds of one subprocess (CPU is steadier on a shared machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"{command[:2]} exited {result.returncode}:\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "stdout": result.stdout}


def measure(name: str, paths: list[Path], rounds: int) -> dict[str, Any]:
    commands: dict[str, Callable[[], list[str]]] = {
        "check": lambda: [str(BIN / "shared-pool"), "check", "--format", "json", *map(str, paths)],
        "ast.parse": lambda: [sys.executable, "-c", PARSE_ONLY, *map(str, paths)],
    }
    runs = interleaved(list(commands), rounds, lambda key: timed(commands[key]()))
    findings = len(json.loads(runs["check"][0]["stdout"]))
    lines, files = count_lines(paths)
    size = sum(p.stat().st_size for path in paths for p in _files(path))
    check_wall = median([run["wall_s"] for run in runs["check"]])
    return {
        "workload": name,
        "files": files,
        "lines": lines,
        "megabytes": size / 1e6,
        "findings": findings,
        "rounds": rounds,
        "check_wall_s": check_wall,
        "check_cpu_s": median([run["cpu_s"] for run in runs["check"]]),
        "parse_wall_s": median([run["wall_s"] for run in runs["ast.parse"]]),
        "lines_per_s": lines / check_wall,
        "vs_parse": paired_ratio(
            [run["wall_s"] for run in runs["check"]], [run["wall_s"] for run in runs["ast.parse"]]
        ),
        "target_s": TARGETS_S.get(name),
    }


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else list(path.rglob("*.py"))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rounds = 1 if args.quick else 5
    scale = 0.1 if args.quick else 1.0
    facts = machine_facts(args.dsn)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_lint_") as tmp:
        scratch = Path(tmp)
        workloads: dict[str, Callable[[], list[Path]]] = {
            "corpus": corpus,
            "tree 10k lines": lambda: [tree(scratch / "tree", int(10_000 * scale))],
            "real code 200k lines": lambda: [real_code(scratch / "real", int(200_000 * scale))],
            "2,000 findings, 0.6 MB": lambda: [
                findings_file(scratch / "findings.py", int(600_000 * scale))
            ],
            "5 MB file": lambda: [findings_file(scratch / "big.py", int(5_000_000 * scale))],
        }
        for name, build in workloads.items():
            print(f"{name}: building", file=sys.stderr, flush=True)
            paths = build()
            print(f"{name}: measuring ({rounds} rounds)", file=sys.stderr, flush=True)
            rows.append(measure(name, paths, rounds))
    print_table(
        f"shared-pool check vs ast.parse of the same files, median of {rounds} alternating runs",
        ["workload", "lines", "MB", "findings", "check s", "lines/s", "vs parse", "target s"],
        [
            [r["workload"], r["lines"], r["megabytes"], r["findings"], r["check_wall_s"],
             r["lines_per_s"], show_ratio(r["vs_parse"]),
             "-" if r["target_s"] is None or args.quick else r["target_s"]]
            for r in rows
        ],
    )  # fmt: skip
    write_results(
        "lint_speed",
        args,
        facts,
        {"setup": {"rounds": rounds, "scale": scale, "baseline": "ast.parse"}, "rows": rows},
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
