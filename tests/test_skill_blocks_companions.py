"""The code blocks of skills/*/SKILL.md, each run against a fresh database (see skill_blocks.py)."""

import pytest
from skill_blocks import Check, Run, execute

CHECKS: dict[str, Check] = {}


@pytest.mark.parametrize("name", [n for n, c in CHECKS.items() if isinstance(c, Run)])
def test_block_runs_as_the_companion_says(name: str, fresh_database_url: str) -> None:
    execute(CHECKS[name], fresh_database_url)
