"""Shared fixtures: paths to the read-only conformance data beside the project."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import settings

# CI explores the same examples on every run: a red build is then reproducible, never a coin toss.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent


def find_conformance(environ: Mapping[str, str] = os.environ, root: Path = ROOT) -> Path:
    """Where the official benchmark files are: $RAIF_CONFORMANCE_DIR if set, else ../shared/conformance
    beside the checkout (the layout of the development machines and CI)."""
    given = environ.get("RAIF_CONFORMANCE_DIR")
    return Path(given).expanduser() if given else root.parent / "shared" / "conformance"


CONFORMANCE = find_conformance()


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    if not (CONFORMANCE / "ifeval").is_dir():
        pytest.fail(
            f"conformance data missing: no {CONFORMANCE / 'ifeval'}; set RAIF_CONFORMANCE_DIR to the folder "
            "holding ifeval/ and ifbench/ (README.md, 'Conformance data', says where they come from)"
        )
    return CONFORMANCE


# These need veRL itself, which lives in its own venv (scripts/ci_verl.sh runs them there, and
# `make test` runs that script): outside it they are not collected rather than skipped.
if importlib.util.find_spec("verl") is None:
    collect_ignore_glob = [
        "test_verl_algo.py",
        "test_verl_bc.py",
        "test_verl_cluster.py",
        "test_verl_config.py",
        "test_verl_gpu_check.py",
        "test_verl_pin.py",
    ]
