"""PEP 517 build backend: setuptools' own, leaving the checkout as it was found.

pip builds a project inside its checkout, where setuptools writes ``build/`` and ``raif.egg-info/`` and keeps
them; each hook here removes those of the two that it created (a folder that was already there stays).
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools

_LEFTOVERS = ("build", "raif.egg-info")


def _tidy(hook: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(hook)
    def run(*args: Any, **kwargs: Any) -> Any:
        present = {name for name in _LEFTOVERS if Path(name).exists()}  # hooks run in the project root
        try:
            return hook(*args, **kwargs)
        finally:
            for name in _LEFTOVERS:
                if name not in present:
                    shutil.rmtree(name, ignore_errors=True)

    return run


build_wheel = _tidy(_setuptools.build_wheel)
build_sdist = _tidy(_setuptools.build_sdist)
build_editable = _tidy(_setuptools.build_editable)
prepare_metadata_for_build_wheel = _tidy(_setuptools.prepare_metadata_for_build_wheel)
prepare_metadata_for_build_editable = _tidy(_setuptools.prepare_metadata_for_build_editable)
get_requires_for_build_wheel = _tidy(_setuptools.get_requires_for_build_wheel)
get_requires_for_build_sdist = _tidy(_setuptools.get_requires_for_build_sdist)
get_requires_for_build_editable = _tidy(_setuptools.get_requires_for_build_editable)
