"""raif_eval's import layering: importing the package and its CLI pulls in no torch, no HTTP client
and no plotting library (those load when a run, a judge or a report needs them)."""

from __future__ import annotations

import subprocess
import sys


def test_import_raif_eval_is_light():
    code = (
        "import sys, raif_eval, raif_eval.cli, raif_eval.runner, raif_eval.report; "
        "print(','.join(m for m in ('torch', 'aiohttp', 'matplotlib', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
