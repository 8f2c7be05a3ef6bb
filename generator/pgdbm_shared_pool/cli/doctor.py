"""`shared-pool doctor`: inspect a live database read-only and print the verdict."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..doctor import FAIL, OK, SECTIONS
from ._output import UsageError, add_command

MARKERS = {"ok": "✓", "warn": "!", "fail": "✗"}
# Thousands of tenant schemas must not bury the problems: cap the ✓ lines per section.
MAX_OK_LINES_PER_SECTION = 12


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = add_command(
        subparsers,
        "doctor",
        run,
        help="read-only check of a live database: migrations, pool budget, PgBouncer, pin",
        description="Connect read-only and report what would break a shared-pool app. "
        "Exit 0: ok (warnings allowed), 1: problems or no connection, 2: usage error.",
    )
    parser.add_argument("--dsn", help="postgresql:// URL (default: $DATABASE_URL)")
    parser.add_argument("--app", type=Path, help="project or package dir whose migrations to check")
    parser.add_argument("--workers", type=_positive_int, default=1, help="processes per replica")
    parser.add_argument("--replicas", type=_positive_int, default=1, help="app instances")
    parser.add_argument("--pool-max", type=_positive_int, help="pool max size per process")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def render(report: dict[str, Any]) -> str:
    lines = [f"shared-pool doctor  {report['dsn']}  (read-only)"]
    for key, title in SECTIONS.items():
        findings = report[key]["findings"]
        MARKERS = {"ok": "✓", "warn": "!", "fail": "✗"}
        # Thousands of tenant schemas must not bury the problems: cap the ✓ lines.
        first_ok = [f for f in findings if f["status"] == OK][:MAX_OK_LINES_PER_SECTION]
        keep = {id(f) for f in first_ok}
        shown = [f for f in findings if f["status"] != OK or id(f) in keep]
        width = max(len(f["label"]) for f in shown)
        lines += ["", title]
        lines += [f"  {MARKERS[f['status']]} {f['label']:<{width}}  {f['text']}" for f in shown]
        if len(shown) < len(findings):
            lines.append(f"  {MARKERS[OK]} ... {len(findings) - len(shown)} more ok (--json)")
    if report["problems"]:
        verdict = f"✗ {len(report['problems'])} problem(s), {report['warnings']} warning(s)"
    else:
        verdict = f"{MARKERS[report['verdict']]} ok, {report['warnings']} warning(s)"
    return "\n".join([*lines, "", f"Verdict: {verdict}"])


def _usage_error(dsn: str, app: Path | None) -> str | None:
    if not dsn:
        return "no database given: pass --dsn or set DATABASE_URL"
    if urlsplit(dsn).scheme not in ("postgres", "postgresql"):
        return "the DSN must be a postgresql:// URL"
    if app is not None and not app.exists():
        return f"--app {app}: no such file or directory"
    return None


def _describe(error: BaseException) -> str:
    reason = " ".join(str(error).split()) or "no answer in time"  # TimeoutError has no text
    return f"{type(error).__name__}: {reason}"


def _failed(message: str, as_json: bool) -> int:
    """One line, no traceback; exit code 1."""
    if as_json:
        print(json.dumps({"ok": False, "verdict": FAIL, "error": message}))
    else:
        print(f"shared-pool doctor: error: {message}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    import asyncpg
    import yaml

    from ..doctor import diagnose
    from ..doctor_facts import find_migration_sets, mask_dsn, read_project_settings

    dsn = args.dsn or os.environ.get("DATABASE_URL") or ""
    usage_error = _usage_error(dsn, args.app)
    if usage_error is not None:
        raise UsageError(usage_error)
    try:
        settings = read_project_settings(args.app) if args.app is not None else None
        sets = find_migration_sets(args.app) if args.app is not None else None
    except (OSError, ValueError, yaml.YAMLError) as error:
        return _failed(f"cannot read {args.app}: {_describe(error)}", args.json)
    try:
        report = asyncio.run(
            diagnose(dsn, settings, sets, args.pool_max, args.workers, args.replicas)
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as error:
        return _failed(f"cannot inspect {mask_dsn(dsn)}: {_describe(error)}", args.json)
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    return 0 if report["ok"] else 1
