"""`shared-pool check` on real code: every finding labelled, precision and recall asserted.

The corpus is downloaded from PyPI once (tests/lint_corpus.py); labels and known misses are in
tests/corpus/ (held_out/ for the held-out projects). A new finding must be read and labelled, a
label no longer found is a regression.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lint_corpus import (
    LABELS,
    MISSES,
    PROJECTS,
    all_labels,
    all_misses,
    checked_paths,
    count_lines,
    fetch,
    read_labels,
)
from pgdbm_shared_pool.lint import check_paths

Key = tuple[str, str, int, str]


@pytest.fixture(scope="module")
def findings() -> set[Key]:
    found: set[Key] = set()
    for project in PROJECTS:
        source = fetch(project)
        for finding in check_paths(checked_paths(project, source)):
            relative = Path(finding.path).relative_to(source).as_posix()
            found.add((project.name, relative, finding.line, finding.code))
    return found


def test_every_finding_is_labelled_and_every_label_is_found(findings: set[Key]) -> None:
    labelled = {label.key for label in all_labels()}
    assert sorted(findings - labelled) == [], "new findings: read them, label them TP or FP"
    assert sorted(labelled - findings) == [], "labelled findings no longer reported"


def test_known_misses_are_still_missed(findings: set[Key]) -> None:
    found_now = [miss.key for miss in all_misses() if miss.key in findings]
    assert found_now == [], "now reported: label these TP instead of MISS"


@pytest.mark.parametrize("part", ["tuned", "all"])
def test_precision_and_recall(part: str) -> None:
    """On the corpus the rules were tuned on, and on it together with the held-out projects."""
    if part == "tuned":
        labels, misses = read_labels(LABELS), read_labels(MISSES)
    else:
        labels, misses = all_labels(), all_misses()
    tp = sum(label.verdict == "TP" for label in labels)
    fp = sum(label.verdict == "FP" for label in labels)
    assert tp / (tp + fp) >= 0.90
    assert tp / (tp + len(misses)) >= 0.80
    for code in {label.code for label in labels}:
        rule_tp = sum(label.verdict == "TP" and label.code == code for label in labels)
        rule_fp = sum(label.verdict == "FP" and label.code == code for label in labels)
        assert rule_tp / (rule_tp + rule_fp) >= 0.75, code


@pytest.mark.parametrize("project", [p for p in PROJECTS if p.held_out], ids=lambda p: p.name)
def test_held_out_sizes_are_as_recorded(project) -> None:  # type: ignore[no-untyped-def]
    assert count_lines(checked_paths(project, fetch(project))) == project.lines
