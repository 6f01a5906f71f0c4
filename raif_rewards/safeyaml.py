"""YAML for recipes and ``--set`` values, with bounds: no alias bomb, no nesting deep enough to exhaust
the stack. A 390-byte recipe whose aliases expanded to billions of nodes ran for over 10 minutes.
"""

from __future__ import annotations

from typing import Any

import yaml

#: nodes a document may hold once every alias is expanded (a real recipe holds a few hundred)
MAX_EXPANDED_NODES = 100_000
#: how deeply collections may nest (a real recipe nests 3 or 4 deep)
MAX_DEPTH = 64


class YAMLLimitError(yaml.YAMLError):
    """A YAML document over the size or depth bounds (callers report it like any YAML error)."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting every node as if each alias were a copy of its anchor."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._sizes: dict[int, int] = {}
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise YAMLLimitError(f"nested more than {MAX_DEPTH} levels deep at line {mark.line + 1}")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        key = id(node)
        if key not in self._sizes:  # an alias returns its anchor's node, already counted
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            else:
                children = []
            self._sizes[key] = 1 + sum(self._sizes.get(id(c), 1) for c in children)
        if self._sizes[key] > MAX_EXPANDED_NODES:
            raise YAMLLimitError(
                f"more than {MAX_EXPANDED_NODES:,} values once its aliases (*name) are expanded, at line "
                f"{node.start_mark.line + 1} (an alias bomb?)")
        return node


def load(text: str) -> Any:
    """``yaml.safe_load(text)`` within :data:`MAX_EXPANDED_NODES` and :data:`MAX_DEPTH`; raises a
    ``yaml.YAMLError`` (:class:`YAMLLimitError` for the bounds) for anything else."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise YAMLLimitError("nested too deeply") from None
    finally:
        loader.dispose()
