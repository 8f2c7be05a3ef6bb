"""The copier template this package renders: where it is, its questions, a project's answers."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ANSWERS_FILE = ".copier-answers.yml"  # copier.yml's _answers_file
# libyaml's loader when PyYAML was built with it: several times faster on copier.yml.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def template_root() -> Path:
    """The directory holding copier.yml: the repo checkout, or the copy bundled in the wheel."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir.parents[1], package_dir / "_template"):
        if (candidate / "copier.yml").is_file():
            return candidate
    raise FileNotFoundError("copier.yml not found next to the pgdbm_shared_pool package")


@cache
def copier_config(template: Path | None = None) -> dict[str, Any]:
    """copier.yml, parsed once per template folder."""
    path = (template or template_root()) / "copier.yml"
    return dict(yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER))


def askable_questions(template: Path | None = None) -> frozenset[str]:
    """Question names a caller may answer; computed values (`when: false`) are not answers."""
    return frozenset(
        key
        for key, spec in copier_config(template).items()
        if not key.startswith("_") and not (isinstance(spec, dict) and spec.get("when") is False)
    )


def computed_value(key: str, template: Path | None = None) -> Any:
    """A `when: false` value of copier.yml (e.g. tenant_registry_schema), parsed as copier does."""
    spec = copier_config(template)[key]
    default = spec["default"]
    return yaml.safe_load(default) if spec.get("type") == "yaml" else default


def load_answers(project: Path) -> dict[str, Any] | None:
    """The project's recorded answers, or None if it has no (readable) answers file."""
    path = Path(project) / ANSWERS_FILE
    if not path.is_file():
        return None
    answers = yaml.safe_load(path.read_text(encoding="utf-8"))
    return dict(answers) if isinstance(answers, dict) else None


def fingerprint(template: Path | None = None) -> str:
    """The template's version as content: a digest of copier.yml and every file copier renders
    from (its `_subdirectory`, minus `_exclude`), by relative path and bytes, symlinks followed.

    A git checkout, an installed copy of the skill and the wheel's bundled copy of the same
    template agree; any edit to what copier reads changes it.
    """
    root = Path(template or template_root())
    config = copier_config(root)
    excluded = [str(pattern) for pattern in config.get("_exclude", [])]
    digest = hashlib.sha256()
    found = [root / "copier.yml"]
    for folder, dirs, names in os.walk(root / config.get("_subdirectory", ""), followlinks=True):
        dirs[:] = [d for d in dirs if not _matches(d, excluded)]
        found += [Path(folder) / name for name in names if not _matches(name, excluded)]
    for path in sorted(found, key=lambda p: p.relative_to(root).as_posix()):
        content = path.read_bytes()
        name = path.relative_to(root).as_posix().encode()
        digest.update(b"%d:%s%d:" % (len(name), name, len(content)) + content)
    return digest.hexdigest()[:16]


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
