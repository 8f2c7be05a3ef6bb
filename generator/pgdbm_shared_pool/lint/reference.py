"""The rule reference (docs/rules.md), rendered from the rule modules.

Regenerate: python -m pgdbm_shared_pool.lint.reference > docs/rules.md
"""

from __future__ import annotations

from .engine import all_rules


def rules_markdown() -> str:
    parts = [
        "# `shared-pool check` rules\n",
        "Generated from `generator/pgdbm_shared_pool/lint/rules/sp*.py` by "
        "`python -m pgdbm_shared_pool.lint.reference > docs/rules.md`; do not edit by hand. "
        "Silence a finding with `# noqa: CODE` on its line (`-- noqa: CODE` in SQL; after the "
        "closing quotes of a multi-line string).\n",
        "| code | name | finds |\n|---|---|---|",
    ]
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


if __name__ == "__main__":
    print(rules_markdown(), end="")
