"""The veRL backend: a RAIF recipe becomes veRL (Hydra) overrides and runs on Ray with RAIF's tricks as
veRL extensions. Importing this package imports neither veRL nor Ray; the modules that need them do.

Modules: overrides (recipe -> overrides), launch (command line, dry run, Ray job), cluster (forwarded
environment, per-node preflight), main (entry module and task runner), plugin (`verl.plugins` entry point),
agent_loop, trainer, loss, expert (behaviour-cloning rows), masks (pure tensor logic).
"""

__all__ = ["VERL_VERSION"]

#: The exact veRL release whose internals this backend extends (tests/test_verl_pin.py guards them).
VERL_VERSION = "0.9.1"
