"""Generates docs/constraints.md from the registry, so the documented list can never drift.

Run ``python -m raif_rewards.docgen > docs/constraints.md``; a test fails when the file is stale.
"""

from __future__ import annotations

import json
import random

from raif_rewards import registry


def _example(checker: registry.Checker) -> str:
    if checker.sampler is None:
        return "(not sampled for data generation)"
    kwargs = checker.sample(random.Random(0))
    for name in checker.prompt_kwargs:
        kwargs.setdefault(name, "<the seed prompt>")
    return checker.render(kwargs, "en").replace("\n", " ").replace("|", "\\|")


def render_markdown() -> str:
    checkers = registry.all_checkers()
    lines = [
        "# Constraints",
        "",
        f"Generated from the registry by `python -m raif_rewards.docgen` ({len(checkers)} constraints). "
        "Do not edit by hand. `witness`: the checker declares how to satisfy it (see docs/data.md, "
        "\"Witnesses\"); evolved rows never contain a sampled constraint without one.",
        "",
    ]
    for source in sorted({c.source for c in checkers}):
        group = [c for c in checkers if c.source == source]
        lines += [f"## {source} ({len(group)})", "", "| id | group | kwargs | languages | witness | what it checks | example instruction |",
                  "|---|---|---|---|---|---|---|"]
        for c in group:
            props = c.schema.get("properties", {})
            required = set(c.schema.get("required", []))
            kwargs = ", ".join(f"`{k}`" + ("" if k in required else "?") for k in props) or "-"
            description = c.description.replace("|", "\\|")
            lines.append(
                f"| `{c.id}` | {c.group} | {kwargs} | {', '.join(c.languages)} | {'yes' if c.witness else 'no'} "
                f"| {description} | {_example(c)} |"
            )
        lines.append("")
    lines += [
        "## Kwargs schemas",
        "",
        "```json",
        json.dumps({c.id: c.schema for c in checkers}, indent=1, ensure_ascii=False, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_markdown())
