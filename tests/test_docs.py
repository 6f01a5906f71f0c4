"""Docs that list constraints are generated from the registry; this fails when they drift."""

from __future__ import annotations

from raif_rewards.docgen import render_markdown
from tests.conftest import ROOT


def test_constraints_doc_is_current():
    path = ROOT / "docs" / "constraints.md"
    assert path.read_text(encoding="utf-8") == render_markdown(), (
        "docs/constraints.md is stale: run `python -m raif_rewards.docgen > docs/constraints.md`"
    )
