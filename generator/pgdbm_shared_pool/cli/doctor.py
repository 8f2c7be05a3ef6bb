"""`shared-pool doctor`: inspect a live database read-only and print the verdict."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._output import Parser, UsageError, fail, print_json, shown

if TYPE_CHECKING:
    from ..doctor import Report
    from ..doctor.report import Finding

MARKERS = {"ok": "✓", "warn": "!", "fail": "✗"}
# Thousands of tenant schemas must not bury the problems: cap the ✓ lines per section.
MAX_OK_LINES_PER_SECTION = 12


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def add_arguments(parser: Parser, command: str) -> None:
    parser.description = (
        "Connect read-only and report what would break a shared-pool app. "
        "Exit 0: ok (warnings allowed), 1: problems or no connection, 2: usage error."
    )
    parser.add_argument("--dsn", help="postgresql:// URL (default: $DATABASE_URL)")
    parser.add_argument("--app", type=Path, help="project or package dir whose migrations to check")
    parser.add_argument("--workers", type=_positive_int, default=1, help="processes per replica")
    parser.add_argument("--replicas", type=_positive_int, default=1, help="app instances")
    parser.add_argument("--pool-max", type=_positive_int, help="pool max size per process")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def render(report: Report) -> str:
    """The report as a person reads it: one block per section, problems never hidden."""
    lines = [f"shared-pool doctor: {report.dsn} (read-only)"]
    for title, section in report.sections().items():
        findings = section.findings
        # Thousands of tenant schemas must not bury the problems: cap the ✓ lines.
        oks = [f for f in findings if f.status.value == "ok"][:MAX_OK_LINES_PER_SECTION]
        shown_findings = [f for f in findings if f.status.value != "ok" or f in oks]
        width = max(len(f.label) for f in shown_findings)
        lines += ["", title]
        for finding in shown_findings:
            lines.append(
                f"  {MARKERS[finding.status.value]} {finding.label:<{width}}  {_text(finding)}"
            )
            lines += [f"    {'':<{width}}  {note}" for note in finding.notes]
        if len(shown_findings) < len(findings):
            hidden = len(findings) - len(shown_findings)
            lines.append(f"  {MARKERS['ok']} ... and {hidden} more up to date (see --json)")
    return "\n".join([*lines, "", f"Verdict: {_verdict(report)}"])


def _text(finding: Finding) -> str:
    if finding.source is None:
        return finding.text
    source = shown(finding.source) if os.path.isabs(finding.source) else finding.source
    return f"{finding.text} (from {source})"


def _verdict(report: Report) -> str:
    warnings = f"{report.warnings} warning{'s' if report.warnings != 1 else ''}"
    if report.problems:
        count = len(report.problems)
        return f"{MARKERS['fail']} {count} problem{'s' if count != 1 else ''}, {warnings}"
    if report.warnings:
        return f"{MARKERS['warn']} ok, {warnings}"
    return f"{MARKERS['ok']} ok"


def _usage_error(dsn: str, app: Path | None) -> str | None:
    if not dsn:
        return "no database given: pass --dsn or set DATABASE_URL"
    if urlsplit(dsn).scheme not in ("postgres", "postgresql"):
        return "the DSN must be a postgresql:// URL"
    if app is not None and not app.exists():
        return f"--app {shown(app)}: no such file or directory"
    return None


def _describe(error: BaseException) -> str:
    reason = " ".join(str(error).split()) or "no answer in time"  # TimeoutError has no text
    return f"{type(error).__name__}: {reason}"


def _failed(message: str, as_json: bool) -> int:
    """One line, no traceback; exit code 1."""
    if as_json:
        print_json({"ok": False, "verdict": "fail", "error": message})
        return 1
    return fail("doctor", message)


def run(args: argparse.Namespace) -> int:
    import asyncio

    import asyncpg
    import yaml

    from ..doctor import as_json, diagnose, mask_dsn, read_project

    dsn = args.dsn or os.environ.get("DATABASE_URL") or ""
    usage_error = _usage_error(dsn, args.app)
    if usage_error is not None:
        raise UsageError(usage_error)
    try:
        project = read_project(Path(os.path.abspath(args.app))) if args.app is not None else None
    except (OSError, ValueError, yaml.YAMLError) as error:
        return _failed(f"cannot read {shown(args.app)}: {_describe(error)}", args.json)
    options = {"pool_max": args.pool_max, "workers": args.workers, "replicas": args.replicas}
    try:
        report = asyncio.run(diagnose(dsn, project, **options))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as error:
        return _failed(f"cannot inspect {mask_dsn(dsn)}: {_describe(error)}", args.json)
    if args.json:
        print_json(as_json(report))
    else:
        print(render(report))
    return 0 if report.ok else 1
