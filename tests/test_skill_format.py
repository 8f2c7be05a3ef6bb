"""The skills' shape: the Agent Skills spec, size, links, discovery by the skills CLI, the plugin,
pins.

Discovery re-implements the `skills` CLI's rules (vercel-labs/skills `discoverSkills`): a root
SKILL.md is returned alone unless --full-depth; otherwise the `skills/` container is searched,
and with --full-depth (or when nothing was found) every SKILL.md up to five directories deep
(skipping node_modules, .git, dist, build, __pycache__); names are deduplicated, the first found
winning. test_skill_install_npm.py runs the real CLI.
"""

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from installed_skill import broken_links, install, skill_names
from packaging.requirements import Requirement
from packaging.version import Version
from skill_blocks import MAIN_SKILL, REPO_ROOT, SKILLS_DIR, repository_files

MAIN_SKILL_MD = SKILLS_DIR / MAIN_SKILL / "SKILL.md"
# The spec recommends a SKILL.md under 5,000 tokens. Estimated as characters / 4, like the
# on-invoke cost `claude plugin details` reports; cl100k (tiktoken) counts of our skills were
# within 6 % of it, so the budget keeps a 5 % margin below 5,000.
MAX_ESTIMATED_TOKENS = 4750
ALLOWED_KEYS = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
NAME_RULE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
CHECK_CODE = re.compile(r"\((SP\d{3})\)$")
SKIPPED_BY_CLI = {"node_modules", ".git", "dist", "build", "__pycache__"}


def skill_files() -> list[Path]:
    return sorted(SKILLS_DIR.glob("*/SKILL.md"))


def frontmatter(path: Path) -> tuple[dict, list[str]]:
    """The parsed frontmatter and its raw lines."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path}: no frontmatter"
    raw = text.split("---\n", 2)[1]
    return yaml.safe_load(raw), raw.splitlines()


@pytest.mark.parametrize("path", skill_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_frontmatter_follows_the_spec(path: Path) -> None:
    meta, raw = frontmatter(path)
    assert set(meta) <= ALLOWED_KEYS, set(meta) - ALLOWED_KEYS
    name = meta["name"]
    assert name == path.parent.name and len(name) <= 64 and NAME_RULE.fullmatch(name)
    assert "claude" not in name and "anthropic" not in name
    assert name.startswith("pgdbm-")
    description = meta["description"]
    assert isinstance(description, str) and 0 < len(description) <= 1024
    assert "<" not in description and ">" not in description
    assert "Use when" in description
    # One line, double-quoted: block scalars and bare ": " break several skill loaders.
    assert [line for line in raw if line.startswith("description:")] == [
        f"description: {json.dumps(description, ensure_ascii=False)}"
    ]
    assert meta["license"] == "MIT"
    assert 0 < len(meta["compatibility"]) <= 500
    assert all(isinstance(v, str) for v in meta["metadata"].values()), meta["metadata"]
    assert len(path.read_text(encoding="utf-8").splitlines()) < 500


@pytest.mark.parametrize("path", skill_files(), ids=lambda p: p.parent.name)
def test_skill_md_stays_within_the_token_budget(path: Path) -> None:
    tokens = len(path.read_text(encoding="utf-8")) / 4
    assert tokens <= MAX_ESTIMATED_TOKENS, f"~{tokens:.0f} tokens: move detail to references/"


def test_no_skill_at_the_repository_root() -> None:
    """A root SKILL.md makes the CLI copy the whole repository (tests, bench, docs) into every
    agent project and hides the companions unless --full-depth; the plugin loads skills/ only."""
    assert not (REPO_ROOT / "SKILL.md").exists()


def test_plugin_manifests() -> None:
    plugin = json.loads((REPO_ROOT / ".claude-plugin" / "plugin.json").read_text())
    market = json.loads((REPO_ROOT / ".claude-plugin" / "marketplace.json").read_text())
    version = frontmatter(MAIN_SKILL_MD)[0]["metadata"]["version"]
    assert "skills" not in plugin  # skills/*/ is discovered
    assert plugin["name"] == MAIN_SKILL and plugin["version"] == version
    [entry] = market["plugins"]
    assert entry == {**entry, "name": MAIN_SKILL, "source": "./", "version": version}
    # `claude plugin validate --strict` fails without a marketplace description.
    assert market["owner"]["name"] and market["metadata"]["description"]


def markdown_files() -> list[Path]:
    return [
        REPO_ROOT / f
        for f in repository_files()
        if f.suffix == ".md" and f.parts[0] not in ("template", "tests")
    ]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    assert not broken_links(path, REPO_ROOT), path


@pytest.mark.parametrize("skills", [None, [MAIN_SKILL]], ids=["all-skills", "main-skill-alone"])
def test_links_resolve_in_an_installed_copy(skills: list[str] | None, tmp_path: Path) -> None:
    """An installed skill holds copies of its own folder only: its links must stay inside it or
    reach a sibling skill installed with it (the CLI installs all four by default; the plugin
    holds all four). The main skill alone keeps working, except for links to companions."""
    installed = install(tmp_path / ".claude" / "skills", skills)
    companions = {f"../{name}/SKILL.md" for name in skill_names() if name != MAIN_SKILL}
    for path in sorted(installed.rglob("*.md")):
        if "template" in path.relative_to(installed).parts:
            continue
        broken = set(broken_links(path, installed))
        if skills is not None:
            broken -= companions
        assert not broken, f"{path.relative_to(installed)}: {sorted(broken)}"


def test_every_reference_is_linked_from_skill_md_with_when_to_read_it() -> None:
    text = " ".join(MAIN_SKILL_MD.read_text(encoding="utf-8").split())
    for reference in sorted((MAIN_SKILL_MD.parent / "references").iterdir()):
        assert reference.suffix == ".md" and reference.is_file(), "references/ is one level deep"
        link = f"[references/{reference.name}](references/{reference.name}): read when"
        assert link in text, f"SKILL.md must link {reference.name} saying when to read it"
    for companion in skill_names():
        if companion != MAIN_SKILL:
            assert f"(../{companion}/SKILL.md)" in text, companion


def test_no_stray_skill_or_metadata_files() -> None:
    """--full-depth installs every SKILL.md it finds; the CLI drops files named metadata.json."""
    allowed = {p.relative_to(REPO_ROOT) for p in skill_files()}
    stray = [
        f
        for f in repository_files()
        if f.name == "metadata.json" or (f.name == "SKILL.md" and f not in allowed)
    ]
    assert not stray, stray


def discover(files: list[Path], full_depth: bool) -> list[Path]:
    """The SKILL.md files the skills CLI offers for a checkout holding `files`."""
    candidates = [f for f in files if f.name == "SKILL.md" and not SKIPPED_BY_CLI & set(f.parts)]
    if Path("SKILL.md") in candidates and not full_depth:
        return [Path("SKILL.md")]
    found = [f for f in candidates if f.parts[0] == "skills" and len(f.parts) <= 5]
    if full_depth or not found:
        found = [f for f in candidates if len(f.parts) - 1 <= 5]
    names: dict[str, Path] = {}
    for path in sorted(found, key=lambda f: (len(f.parts), f)):
        names.setdefault(frontmatter(REPO_ROOT / path)[0]["name"], path)
    return sorted(names.values())


@pytest.mark.parametrize("full_depth", [False, True], ids=["default", "full-depth"])
def test_skills_cli_offers_all_four_skills_with_or_without_full_depth(full_depth: bool) -> None:
    expected = sorted(p.relative_to(REPO_ROOT) for p in skill_files())
    assert len(expected) == 4
    assert discover(repository_files(), full_depth) == expected


def checklist_codes() -> list[str]:
    text = MAIN_SKILL_MD.read_text(encoding="utf-8")
    checklist = text.split("## Checklist", 1)[1].split("\n## ", 1)[0]
    items = [line for line in checklist.splitlines() if line.startswith("- [ ]")]
    codes = [CHECK_CODE.search(item) for item in items]
    assert all(codes), [item for item, code in zip(items, codes, strict=True) if not code]
    return [code.group(1) for code in codes if code]


def test_checklist_maps_one_to_one_to_the_check_rules() -> None:
    from pgdbm_shared_pool.lint import all_rules

    rule_codes = sorted(rule.CODE for rule in all_rules())
    assert checklist_codes() == rule_codes


def test_cli_options_the_skill_names_exist() -> None:
    from pgdbm_shared_pool.cli import build_parser

    subcommands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    new_options = {o for a in subcommands["new"]._actions for o in a.option_strings}
    assert {"--service", "--tenants", "--json"} <= new_options
    assert "check" in subcommands


def pins(requirements: list[str]) -> dict[str, Requirement]:
    parsed = [Requirement(r) for r in requirements]
    return {r.name.lower(): r for r in parsed}


def test_requirements_agree_with_the_other_manifests() -> None:
    lines = (MAIN_SKILL_MD.parent / "requirements.txt").read_text().splitlines()
    required = pins([line for line in lines if line and not line.startswith("#")])
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    ours = pins(project["dependencies"] + project["optional-dependencies"]["test"])
    manifests = {"pyproject.toml": ours, "template/pyproject.toml.jinja": pins(_template_reqs())}
    for name in ("pgdbm", "copier"):
        [pinned] = required[name].specifier
        assert pinned.operator == "==", f"requirements.txt: pin {name} exactly"
        for manifest, declared in manifests.items():
            if name in declared:
                assert Version(pinned.version) in declared[name].specifier, (manifest, name)
    for name, requirement in required.items():
        if name not in ("pgdbm", "copier"):
            assert requirement.specifier == ours[name].specifier, f"{name}: as in pyproject.toml"


def _template_reqs() -> list[str]:
    text = (REPO_ROOT / "template" / "pyproject.toml.jinja").read_text()
    return re.findall(r'^\s*"([A-Za-z0-9_.\[\]-]+\s*[=<>!~][^"]*)",?\s*$', text, re.MULTILINE)
