"""The Markdown helpers the sections of docs/benchmarks.md share."""

from __future__ import annotations

from _common import BENCH_DIR, show_ratio
from plot import DOCS_DIR

PAGE = BENCH_DIR.parent / "docs" / "benchmarks.md"
IMAGES = DOCS_DIR.relative_to(PAGE.parent)  # the quick report links the same paths


def x(value: float | dict[str, float]) -> str:
    """A ratio; a paired ratio (median, min, max) shows its range too."""
    return show_ratio(value) if isinstance(value, dict) else f"{value:.2f}x"


def verdict(met: bool | None) -> str:
    return "—" if met is None else ("**met**" if met else "**not met**")


def image(name: str) -> str:
    return f"![{name}]({IMAGES / name}.png)"
