"""Exception families of raif_rewards: each carries what a user needs to fix the input."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


class RaifError(Exception):
    """Base of every error this project raises on purpose (CLIs print these in one line)."""


class UnknownConstraintError(RaifError, KeyError):
    def __init__(self, checker_id: str, known: Sequence[str]):
        import difflib

        close = difflib.get_close_matches(str(checker_id), known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; run `raif-rewards list` for all ids"
        self.checker_id = checker_id
        super().__init__(f"unknown constraint id {checker_id!r}{hint}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


#: the most characters of a validator's message (which quotes the rejected value) an error keeps
_MESSAGE_LIMIT = 300


class ConstraintKwargsError(RaifError, ValueError):
    def __init__(self, checker_id: str, field: str, message: str, schema: Mapping[str, Any]):
        self.checker_id, self.field = checker_id, field
        if len(message) > _MESSAGE_LIMIT:  # a 100,000-item list made a 500,000-character "one line"
            message = message[: _MESSAGE_LIMIT - 3] + "..."
        field = field if len(field) <= 120 else field[:117] + "..."
        expected = schema.get("properties", {}).get(field)
        exp = f" (expected {json.dumps(expected, ensure_ascii=False)})" if expected else ""
        super().__init__(f"{checker_id}: bad kwarg {field!r}: {message}{exp}")


class InputFileError(RaifError, ValueError):
    """A bad input file: names the file, the line (1-based) and the field."""

    def __init__(self, path: str, message: str, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field = str(path), line, field
        where = str(path) + (f":{line}" if line is not None else "")
        what = f" field {field!r}:" if field else ""
        super().__init__(f"{where}:{what} {message}")


class EndpointError(RaifError, RuntimeError):
    """An OpenAI-compatible endpoint failed after all retries."""
