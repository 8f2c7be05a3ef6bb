"""`shared-pool new`: render the template into a new folder."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ._output import Parser, UsageError, fail, print_json, progress, shown


def add_arguments(parser: Parser, command: str) -> None:
    parser.description = (
        "Render the copier template into DEST. Answers are checked before anything is "
        "written; on error DEST is left as it was. From a git checkout the template is its "
        "HEAD, uncommitted edits included. Exit 0: created, 1: failed, 2: usage error or an "
        "answer the template refuses."
    )
    parser.add_argument("dest", type=Path, metavar="DEST", help="new or empty folder")
    parser.add_argument(
        "--service",
        dest="services",
        action="append",
        metavar="NAME",
        help="a service (schema + migrations + router); repeat for more. Required unless "
        "--data services=[...] is given",
    )
    parser.add_argument("--project-name", help="human-readable name (default: DEST's folder name)")
    parser.add_argument("--package-name", help="Python package (default: derived from the name)")
    parser.add_argument(
        "--tenants", action="store_true", help="add the schema-per-tenant extension"
    )
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="answer any other copier.yml question, as `copier copy --data` does "
        "(e.g. pool_max_size=20)",
    )
    parser.add_argument("--force", action="store_true", help="render into a non-empty DEST")
    parser.add_argument("--json", action="store_true", help="print dest, answers, created as JSON")


def run(args: argparse.Namespace) -> int:
    from ..scaffold import InvalidAnswers, ScaffoldError, new_project

    extra = parse_data(args.data)
    # Any YAML from --data: the naming rule refuses what is not a list of names.
    services: Any = args.services or []
    if "services" in extra:
        if services:
            raise UsageError("give services with --service or --data services=..., not both")
        services = extra.pop("services")
    elif not services:
        raise UsageError("at least one --service NAME is required")
    try:
        result = new_project(
            args.dest,
            services=services,
            project_name=args.project_name,
            package_name=args.package_name,
            use_tenants=args.tenants,
            extra=extra,
            overwrite=args.force,
            progress=progress,
        )
    except InvalidAnswers as error:
        raise UsageError(str(error)) from error
    except ScaffoldError as error:
        return fail("new", str(error))
    if args.json:
        print_json(asdict(result))
    else:
        services = ", ".join(result.answers["services"])
        print(f"Created {shown(result.dest)} with services: {services}")
        print(f"Next steps:\n  cd {shown(result.dest)}\n  make install\n  make test")
    return 0


def parse_data(items: list[str]) -> dict[str, object]:
    """`--data KEY=VALUE` answers, typed as copier.yml types each question (as copier would)."""
    from ..template import copier_config

    config = copier_config()
    answers: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--data expects KEY=VALUE, got {item!r}")
        spec = config.get(key)
        kind = spec.get("type", "str") if isinstance(spec, dict) else "str"
        answers[key] = _typed(key, kind, text)
    return answers


def _typed(key: str, kind: str, text: str) -> object:
    import yaml

    if kind == "str":
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UsageError(f"invalid {key}={text}: not YAML ({type(error).__name__})") from None
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise UsageError(f"invalid {key}={text}: not an integer")
    if kind == "bool" and not isinstance(value, bool):
        raise UsageError(f"invalid {key}={text}: not true or false")
    return value
