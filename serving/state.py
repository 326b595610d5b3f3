"""The one piece of process state the middleware needs: the service instance of this worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_CURRENT: dict[str, Any] = {}


def register(service: Any) -> None:
    _CURRENT["service"] = service


def current() -> Any | None:
    return _CURRENT.get("service")


def input_shape(model: str) -> tuple[int, ...]:
    """``(-1, C, H, W)`` of a model from its config alone (no weights loaded), for the API's input schema."""
    from hub.pretrained import resolve

    try:
        folder = resolve(model).folder
        if folder is not None and (Path(folder) / "config.json").is_file():
            size = json.loads((Path(folder) / "config.json").read_text())["input_size"]
            return (-1, *size)
    except Exception:  # a Hub repo not yet downloaded: the schema stays generic, the predictor still checks
        pass
    return (-1, 3, -1, -1)
