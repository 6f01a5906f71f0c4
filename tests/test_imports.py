"""Dependency direction: each package imports only what its layer may (checked in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["torch", "transformers", "vllm", "verl", "ray", "aiohttp"]


def _modules_after(stmt: str) -> set[str]:
    code = f"import json, sys\n{stmt}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "stmt,forbidden",
    [
        ("import raif_rewards; from raif_rewards import registry; registry.all_checkers()", HEAVY),
        ("import raif_rewards.cli", HEAVY),
    ],
)
def test_layer_imports(stmt, forbidden):
    loaded = _modules_after(stmt)
    assert not [m for m in forbidden if m in loaded]
