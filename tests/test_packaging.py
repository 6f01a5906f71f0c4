"""`pip install .` as a new user runs it: no deprecation boxes, nothing left behind in the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from tests.conftest import ROOT


def test_wheel_build_is_quiet_and_leaves_the_checkout_clean(tmp_path):
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    src = tmp_path / "checkout"
    for rel in tracked.splitlines():  # the files of a clean clone, without this checkout's own leftovers
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    before = sorted(p.name for p in src.iterdir())
    # offline: the venv's setuptools (the [dev] extra requires the build's own minimum)
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "whl"), str(src)],
        capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "deprecat" not in (res.stdout + res.stderr).lower(), res.stderr[-3000:]
    assert sorted(p.name for p in src.iterdir()) == before  # no build/, no raif.egg-info/
    (wheel,) = (tmp_path / "whl").glob("raif-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        assert "License-Expression: Apache-2.0" in meta
        assert not any(n.startswith(("tests/", "build_backend/")) for n in zf.namelist())
        # PEP 561: users' type checkers read the annotations of every package
        packages = ("raif_rewards", "raif_data", "raif_train", "raif_eval")
        assert {f"{p}/py.typed" for p in packages} <= set(zf.namelist())
