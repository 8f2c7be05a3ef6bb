"""The rule reference (docs/rules.md), rendered from the rule modules.

Regenerate with the corpus figures: python tests/lint_corpus.py > docs/rules.md
"""

from __future__ import annotations

from .engine import all_rules

# code -> (true positives, false positives, known misses) on the labelled corpus
Figures = dict[str, tuple[int, int, int]]


def rules_markdown(figures: Figures | None = None, corpus: str = "", speed: str = "") -> str:
    parts = [
        "# `shared-pool check` rules\n",
        "Generated from `generator/pgdbm_shared_pool/lint/rules/sp*.py` by "
        "`python tests/lint_corpus.py > docs/rules.md`; do not edit by hand. "
        "Silence a finding with `# noqa: CODE` on its line (`-- noqa: CODE` in SQL; after the "
        "closing quotes of a multi-line string).\n",
    ]
    if figures is not None:
        parts.append(_figures_table(figures, corpus))
    if speed:
        parts.append(speed)
    parts.append("| code | name | finds |\n|---|---|---|")
    parts += [f"| [{r.CODE}](#{r.CODE.lower()}) | {r.NAME} | {r.MESSAGE} |" for r in all_rules()]
    for rule in all_rules():
        parts += [
            f"\n## {rule.CODE}\n",
            f"**{rule.NAME}**: {rule.MESSAGE}.\n",
            f"{rule.RATIONALE}\n",
            f"**Fix:** {rule.FIX}\n",
        ]
        for title, examples in (("Bad", rule.BAD_EXAMPLES), ("Good", rule.GOOD_EXAMPLES)):
            for example in examples:
                language = "sql" if example.lstrip().startswith("--") else "python"
                parts.append(f"{title}:\n\n```{language}\n{example.rstrip()}\n```\n")
    return "\n".join(parts)


def _figures_table(figures: Figures, corpus: str) -> str:
    def ratio(part: int, whole: int) -> str:
        return f"{100 * part / whole:.0f}%" if whole else "n/a"

    rows = [
        "Measured on real code (every finding read and labelled, every known miss listed in "
        f"`tests/corpus/`): {corpus}. Test code is exempt where a rule says so.\n",
        "| code | true positives | false positives | known misses | precision | recall |",
        "|---|---|---|---|---|---|",
    ]
    # Every code with labels, rules first: a miss filed under a code no rule has yet still
    # counts in the "all" row.
    codes = [rule.CODE for rule in all_rules()]
    codes += sorted(set(figures) - set(codes))
    for code in codes:
        tp, fp, missed = figures.get(code, (0, 0, 0))
        rows.append(
            f"| {code} | {tp} | {fp} | {missed} | {ratio(tp, tp + fp)} | {ratio(tp, tp + missed)} |"
        )
    tp, fp, missed = (sum(counts[i] for counts in figures.values()) for i in range(3))
    rows.append(
        f"| all | {tp} | {fp} | {missed} | {ratio(tp, tp + fp)} | {ratio(tp, tp + missed)} |\n"
    )
    return "\n".join(rows)
