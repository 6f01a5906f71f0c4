"""Target of the `verl.plugins` entry point: `import verl` in any process (driver, task runner, agent-loop
and reward workers) imports this module, which registers RAIF's agent loop with veRL.

veRL swallows a plugin's import error at debug level, so `registered()` lets callers check loudly.
"""

from __future__ import annotations

__all__ = ["register_all", "registered"]


def register_all() -> None:
    """Import the modules whose decorators register RAIF's pieces with veRL (idempotent)."""
    # The agent loop registers itself under AGENT_LOOP_NAME when its module is imported.
    import raif_train.verl.agent_loop  # noqa: F401


def registered() -> dict[str, bool]:
    """Which RAIF extensions veRL can see in this process."""
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

    from raif_train.verl.overrides import AGENT_LOOP_NAME

    return {"agent_loop": AGENT_LOOP_NAME in _agent_loop_registry}


register_all()
