"""Every code block of the skill is covered by exactly one check, and the prose matches the checks.

The checks themselves live in the test_skill_blocks_*.py registries; skill_blocks.py explains them.
"""

from functools import cache
from pathlib import Path

import pytest
import test_skill_blocks_companions
import test_skill_blocks_main
import test_skill_blocks_references
from skill_blocks import (
    EXECUTED_LANGUAGES,
    REPO_ROOT,
    Block,
    Check,
    Run,
    SameAs,
    Shell,
    all_blocks,
    named_blocks,
)
from skill_excerpts import render_project

REGISTRIES = (test_skill_blocks_main, test_skill_blocks_references, test_skill_blocks_companions)


def all_checks() -> dict[str, Check]:
    checks: dict[str, Check] = {}
    for registry in REGISTRIES:
        duplicated = checks.keys() & registry.CHECKS.keys()
        assert not duplicated, f"{registry.__name__} repeats {sorted(duplicated)}"
        checks.update(registry.CHECKS)
    return checks


def test_every_executable_block_is_named() -> None:
    unnamed = [
        f"{b.path.relative_to(REPO_ROOT)}:{b.line}"
        for b in all_blocks()
        if b.language in EXECUTED_LANGUAGES and b.name is None
    ]
    assert not unnamed, f"add <!-- block: NAME --> before these fences: {unnamed}"


def test_every_fence_declares_its_language() -> None:
    bare = [f"{b.path.relative_to(REPO_ROOT)}:{b.line}" for b in all_blocks() if not b.language]
    assert not bare, f"say which language these blocks are: {bare}"


def test_blocks_and_checks_match_one_to_one() -> None:
    blocks = named_blocks()  # raises on a name used twice
    checks = all_checks()
    assert sorted(blocks) == sorted(checks), (
        f"blocks without a check: {sorted(blocks.keys() - checks.keys())}; "
        f"checks without a block: {sorted(checks.keys() - blocks.keys())}"
    )


@pytest.mark.parametrize("name", sorted(all_checks()))
def test_check_fits_its_block(name: str) -> None:
    block = named_blocks()[name]
    check = all_checks()[name]
    if isinstance(check, Shell):
        assert block.language == "bash"
    elif isinstance(check, Run):
        assert block.language in ("python", "sql"), f"{name}: {block.language} block"
    if isinstance(check, Run):
        assert name in check.block_names(), f"the Run for {name} never uses its block"
        unknown = set(check.block_names()) - named_blocks().keys()
        assert not unknown, f"{name} uses blocks that do not exist: {unknown}"


def _prose(block: Block) -> str:
    """The prose leading to the block, whitespace collapsed (quotes may wrap lines)."""
    return " ".join(block.lead.split())


def _wrong_blocks_that_raise() -> list[str]:
    blocks = named_blocks()
    return sorted(
        name
        for name, check in all_checks().items()
        if isinstance(check, Run) and check.failures() and "WRONG" in blocks[name].text
    )


@pytest.mark.parametrize("name", _wrong_blocks_that_raise())
def test_prose_quotes_what_the_wrong_block_raises(name: str) -> None:
    prose = _prose(named_blocks()[name])
    for failure in all_checks()[name].failures():  # type: ignore[union-attr]
        for quoted in (failure.error.rsplit(".", 1)[-1], failure.fragment):
            assert " ".join(quoted.split()) in prose, f"{name}: the text does not quote {quoted!r}"
        if failure.cause:
            assert failure.cause.rsplit(".", 1)[-1] in prose, f"{name}: cause not quoted"


def test_every_wrong_block_is_executed() -> None:
    checks = all_checks()
    for name, block in named_blocks().items():
        if "WRONG" in block.text:
            assert isinstance(checks[name], Run), f"{name} is WRONG code: run it"


@cache
def _render(services: tuple[str, ...], use_tenants: bool, destination: Path) -> Path:
    return render_project(services, use_tenants, destination)


@pytest.mark.parametrize(
    "name", sorted(n for n, c in all_checks().items() if isinstance(c, SameAs))
)
def test_block_is_verbatim_in_the_rendered_template(
    name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    check = all_checks()[name]
    assert isinstance(check, SameAs)
    label = f"{'-'.join(check.services)}-{'tenants' if check.use_tenants else 'plain'}"
    project = _render(check.services, check.use_tenants, tmp_path_factory.getbasetemp() / label)
    rendered = (project / check.path).read_text(encoding="utf-8")
    assert named_blocks()[name].text in rendered, (
        f"{name} drifted from {check.path}; `python tests/skill_excerpts.py` refreshes it"
    )
