"""The real-code corpus for `shared-pool check`: pinned PyPI sdists of pgdbm and projects that
use it, downloaded once into a cache, and the hand labels of every finding on them.

Cache: $PGDBM_SHARED_POOL_CORPUS, else ~/.cache/pgdbm-shared-pool/corpus.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent / "corpus"
LABELS = HERE / "labels.txt"
MISSES = HERE / "misses.txt"


@dataclass(frozen=True)
class CorpusProject:
    name: str  # the PyPI name
    version: str
    folders: tuple[str, ...]  # checked folders of the sdist
    skill_blocks: bool = False  # also the ```python blocks of skills/**/*.md

    @property
    def key(self) -> str:
        return f"{self.name}=={self.version}"


PROJECTS = (
    CorpusProject("pgdbm", "0.5.0", ("examples", "src", "tests"), skill_blocks=True),
    CorpusProject("llmemory", "0.5.0", ("bench", "examples", "src", "tests")),
    CorpusProject("llmring-server", "0.1.3", ("scripts", "src", "tests")),
    CorpusProject("llmbridge-py", "0.2.3", ("src",)),
)


def cache_dir() -> Path:
    configured = os.environ.get("PGDBM_SHARED_POOL_CORPUS")
    return Path(configured) if configured else Path.home() / ".cache/pgdbm-shared-pool/corpus"


def fetch(project: CorpusProject) -> Path:
    """The unpacked sdist (downloaded with pip on first use), with skill blocks extracted."""
    root = cache_dir() / project.key
    done = root / ".complete"
    if done.exists():
        source = root / "src"
        if project.skill_blocks and not (source / "skill-blocks").exists():
            extract_skill_blocks(source)  # a cache from before skill blocks were checked
        return source
    downloads = root / "downloads"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            project.key,
            "-d",
            str(downloads),
        ],
        check=True,
        timeout=300,
    )
    [archive] = downloads.glob("*.tar.gz")
    unpacked = root / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    [top] = unpacked.iterdir()
    source = root / "src"
    if source.exists():
        import shutil

        shutil.rmtree(source)
    top.rename(source)
    if project.skill_blocks:
        extract_skill_blocks(source)
    done.touch()
    return source


FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def extract_skill_blocks(source: Path) -> None:
    """skills/<name>/SKILL.md's Python blocks as skill-blocks/<name>/<n>/block.py (one folder
    each: every block is its own snippet, not one program)."""
    for markdown in sorted((source / "skills").rglob("*.md")):
        skill = markdown.parent.name if markdown.parent.name != "skills" else markdown.stem
        for number, match in enumerate(FENCE.finditer(markdown.read_text(encoding="utf-8")), 1):
            block = source / "skill-blocks" / skill / f"{number:02d}" / "block.py"
            block.parent.mkdir(parents=True, exist_ok=True)
            block.write_text(match.group(1), encoding="utf-8")


def checked_paths(project: CorpusProject, source: Path) -> list[Path]:
    folders = [*project.folders, *(["skill-blocks"] if project.skill_blocks else [])]
    return [source / folder for folder in folders if (source / folder).exists()]


@dataclass(frozen=True)
class Label:
    verdict: str  # TP or FP (a miss file line has verdict MISS)
    project: str
    path: str
    line: int
    code: str
    note: str

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.project, self.path, self.line, self.code)


LINE = re.compile(r"^(TP|FP|MISS)\s+(\S+)\s+(\S+):(\d+)\s+(SP\d{3})\s+#\s*(.+)$")


def read_labels(path: Path) -> list[Label]:
    labels = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip() or text.startswith("#"):
            continue
        match = LINE.match(text)
        if match is None:
            raise ValueError(
                f"{path.name}:{number}: expected 'TP|FP|MISS project path:line CODE # why'"
            )
        verdict, project, file, line, code, note = match.groups()
        labels.append(Label(verdict, project, file, int(line), code, note))
    return labels


def figures(labels: list[Label], misses: list[Label]) -> dict[str, tuple[int, int, int]]:
    """code -> (true positives, false positives, known misses)."""
    counts: dict[str, list[int]] = {}
    for label in [*labels, *misses]:
        slot = {"TP": 0, "FP": 1, "MISS": 2}[label.verdict]
        counts.setdefault(label.code, [0, 0, 0])[slot] += 1
    return {code: (tp, fp, missed) for code, (tp, fp, missed) in counts.items()}


def corpus_description() -> str:
    def parts(project: CorpusProject) -> str:
        blocks = ["the Python blocks of skills/"] if project.skill_blocks else []
        return ", ".join([*project.folders, *blocks])

    names = ", ".join(f"{p.name} {p.version} ({parts(p)})" for p in PROJECTS)
    return f"the PyPI sdists of {names}"


def rules_document() -> str:
    from pgdbm_shared_pool.lint.reference import rules_markdown

    return rules_markdown(figures(read_labels(LABELS), read_labels(MISSES)), corpus_description())


if __name__ == "__main__":
    print(rules_document(), end="")
