"""The `shared-pool` command line: a thin front end over scaffold, checks and doctor.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed args and returning the exit code.
Exit codes: 0 clean, 1 findings or failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    from . import check_cli, doctor, scaffold

    parser = argparse.ArgumentParser(
        prog="shared-pool",
        description="Scaffold, lint and inspect FastAPI apps that share one pgdbm pool.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (scaffold, check_cli, doctor):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits with 2 on usage errors
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
