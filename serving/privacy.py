"""What the service may tell a client about the machine it runs on: no absolute paths."""

from __future__ import annotations

import re
from typing import Any

_ABSOLUTE = re.compile(r"(?<![\w.:/-])(?:~|[A-Za-z]:)?/(?:[^\s/'\"]+/)*([^\s/'\"]+)")


def redact_paths(value: Any) -> Any:
    """``value`` with every absolute path in its strings reduced to its last component (recursively)."""
    if isinstance(value, str):
        return _ABSOLUTE.sub(lambda match: match[1], value)
    if isinstance(value, dict):
        return {k: redact_paths(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_paths(v) for v in value]
    return value
