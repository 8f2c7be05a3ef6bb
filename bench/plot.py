"""Draw docs/benchmarks/*.png from bench/results/*.json (the full run).

    python bench/plot.py            # full results -> docs/benchmarks/
    python bench/plot.py --quick    # quick results -> bench/results/plots-quick/ (smoke test)

A benchmark without results is skipped with a note, so plots can be redrawn one at a time.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from _common import BENCH_DIR, RESULTS_DIR
from matplotlib.axes import Axes
from matplotlib.figure import Figure

DOCS_DIR = BENCH_DIR.parent / "docs" / "benchmarks"
QUICK_DIR = RESULTS_DIR / "plots-quick"
PATTERN_COLOR, BASELINE_COLOR, OTHER_COLOR = "#1f77b4", "#7f7f7f", "#ff7f0e"


def bars(
    axes: Axes,
    labels: list[str],
    values: list[float],
    colors: list[str],
    fmt: str,
    ranges: list[dict[str, float]] | None = None,
) -> None:
    """Labelled bars; `ranges` (paired ratios' min and max) become error bars."""
    errors = (
        None
        if ranges is None
        else [[v - r["min"] for v, r in zip(values, ranges, strict=True)],
              [r["max"] - v for v, r in zip(values, ranges, strict=True)]]
    )  # fmt: skip
    drawn = axes.bar(range(len(values)), values, color=colors, yerr=errors, capsize=4)
    axes.bar_label(drawn, labels=[fmt.format(v) for v in values], fontsize=8)
    axes.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)


def plot_query_path(data: dict[str, Any], figure: Figure) -> None:
    rows = data["rows"]
    loops = sorted({row["loop"] for row in rows})
    for axes, loop in zip(figure.subplots(1, len(loops), sharey=True), loops, strict=True):
        chosen = [row for row in rows if row["loop"] == loop]
        colors = [
            BASELINE_COLOR if r["variant"] == "raw asyncpg" else PATTERN_COLOR for r in chosen
        ]
        bars(axes, [r["variant"] for r in chosen],
             [r["client_cpu_us_per_call"] for r in chosen], colors, "{:.0f}")  # fmt: skip
        axes.set_title(f"{loop} loop", fontsize=10)
    figure.axes[0].set_ylabel("client CPU µs per PK lookup (lower is better)")
    figure.suptitle("Query path: pgdbm manager vs raw asyncpg, same pool, same SQL")


def plot_connection_economy(data: dict[str, Any], figure: Figure) -> None:
    timeline, summary = figure.subplots(1, 2, width_ratios=[2, 1])
    for mode, runs in data["runs"].items():
        points = runs[0]["backends_over_time"]
        timeline.step([p[0] for p in points], [p[1] for p in points], where="post", label=mode)
    timeline.set_xlabel("seconds (one service hot per phase)")
    timeline.set_ylabel("server backends (pg_stat_activity)")
    timeline.legend(fontsize=8)
    timeline.set_title("First run of each mode", fontsize=10)
    ratios = data["ratios_vs_baseline"]
    modes = list(ratios)
    colors = [BASELINE_COLOR if m.startswith("pool per service") else PATTERN_COLOR for m in modes]
    throughput = [ratios[m]["throughput"] for m in modes]
    bars(summary, modes, [t["median"] for t in throughput], colors, "{:.2f}x", throughput)
    summary.axhline(0.95, color="red", linestyle="--", linewidth=1)
    summary.set_ylabel("throughput vs pool per service (median, range)")
    figure.suptitle("Connection economy: 5 services peaking in turn")


def plot_http_e2e(data: dict[str, Any], figure: Figure) -> None:
    rows = data["rows"]
    concurrencies = sorted({row["concurrency"] for row in rows})
    metrics = {
        "requests_per_s": "requests/s",
        "p99_ms": "p99 latency ms",
        "server_cpu_us_per_request": "server CPU µs per request",
    }
    servers = list(dict.fromkeys(row["server"] for row in rows))
    width = 0.8 / len(servers)
    # pattern, (a), (b), (c), pattern before: one colour each
    palette = [PATTERN_COLOR, OTHER_COLOR, BASELINE_COLOR, "#2ca02c", "#9ecae1"]
    for axes, (metric, label) in zip(
        figure.subplots(1, len(metrics)), metrics.items(), strict=True
    ):
        for i, server in enumerate(servers):
            chosen = [next(r for r in rows if r["server"] == server and r["concurrency"] == c)
                      for c in concurrencies]  # fmt: skip
            positions = [x + i * width for x in range(len(concurrencies))]
            axes.bar(positions, [r[metric] for r in chosen], width, label=server,
                     color=palette[i % len(palette)])  # fmt: skip
        axes.set_xticks([x + width * (len(servers) - 1) / 2 for x in range(len(concurrencies))],
                        [f"{c} connections" for c in concurrencies])  # fmt: skip
        axes.set_ylabel(label)
    handles, labels = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(servers), fontsize=8)
    figure.suptitle("HTTP GET by id: generated app vs hand-written raw asyncpg (wrk, loopback)")


def plot_scaffold(data: dict[str, Any], figure: Figure) -> None:
    scaffold, green = figure.subplots(1, 2)
    runs = data["scaffold_runs_s"]
    names = list(runs)
    medians = [sorted(times)[len(times) // 2] for times in runs.values()]
    colors = [PATTERN_COLOR if n.startswith("shared-pool") else BASELINE_COLOR for n in names]
    bars(scaffold, names, medians, colors, "{:.1f} s")
    scaffold.set_ylabel("seconds (median)")
    steps = data["green"]
    green.bar(["scaffold to green"], [steps["scaffold_s"]], label="shared-pool new")
    green.bar(["scaffold to green"], [steps["suite_s"]], bottom=[steps["scaffold_s"]],
              label=f"pytest ({int(steps['tests_passed'])} passed)")  # fmt: skip
    green.set_ylabel("seconds")
    green.legend(fontsize=8)
    figure.suptitle("Scaffolding a 2-service project")


def plot_tenants(data: dict[str, Any], figure: Figure) -> None:
    provisioning, latency = figure.subplots(1, 2)
    durations = data["provisioning_ms"]
    provisioning.plot(range(1, len(durations) + 1), durations, ".", markersize=2, alpha=0.4)
    window = max(1, len(durations) // 20)
    rolling = [sorted(durations[max(0, i - window):i + 1])[min(i, window) // 2]
               for i in range(len(durations))]  # fmt: skip
    provisioning.plot(range(1, len(durations) + 1), rolling, color="black", linewidth=1,
                      label=f"rolling median ({window})")  # fmt: skip
    provisioning.set_xlabel("tenant #")
    provisioning.set_ylabel("provisioning ms")
    provisioning.legend(fontsize=8)
    stats = data["latency"]
    keys = list(stats["1 tenant"])  # cold, warm and steady p50 / p99
    width = 0.4
    count = data["setup"]["tenants"]
    for i, (name, color) in enumerate((("1 tenant", BASELINE_COLOR),
                                       ("N tenants", PATTERN_COLOR))):  # fmt: skip
        label = name.replace("N", str(count))
        latency.bar([x + i * width for x in range(len(keys))],
                    [stats[name][k] for k in keys], width, label=label, color=color)  # fmt: skip
    latency.set_xticks([x + width / 2 for x in range(len(keys))],
                       [k.removesuffix("_ms").replace("_", "\n") for k in keys])  # fmt: skip
    latency.set_ylabel("ms (tenant lookup + PK read)")
    latency.legend(fontsize=8)
    figure.suptitle(f"Tenants: provisioning {count} schemas, request latency at 1 vs {count}")


PLOTS: dict[str, Callable[[dict[str, Any], Figure], None]] = {
    "query_path": plot_query_path,
    "connection_economy": plot_connection_economy,
    "http_e2e": plot_http_e2e,
    "scaffold": plot_scaffold,
    "tenants": plot_tenants,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="plot the --quick results instead")
    args = parser.parse_args()
    suffix = ".quick" if args.quick else ""
    out_dir = QUICK_DIR if args.quick else DOCS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, draw in PLOTS.items():
        source = RESULTS_DIR / f"{name}{suffix}.json"
        if not source.exists():
            print(f"{name}: no {source.name}, skipped")
            continue
        figure = plt.figure(figsize=(11, 4.5), layout="constrained")
        draw(json.loads(source.read_text()), figure)
        target: Path = out_dir / f"{name}.png"
        figure.savefig(target, dpi=110)
        plt.close(figure)
        print(f"{name}: {target.relative_to(BENCH_DIR.parent)}")


if __name__ == "__main__":
    main()
