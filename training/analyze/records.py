"""Typed analysis results on disk: every analysis writes one ``<analysis>.json`` record (which model, which
images, the settings, the result, the cost) and reads it back as the same dataclasses, checked against the
result's schema version. Nothing downstream (the report, a notebook) digs through dicts by string paths."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hub.data import DataSpec
from hub.files import atomic_path


def to_json(value: Any) -> Any:
    """JSON-ready: dataclasses to dicts, enums to values, paths to strings, tuples to lists, NaN/inf to null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def from_json(annotation: Any, data: Any) -> Any:
    """The inverse of :func:`to_json` for a type annotation (dataclasses, lists, tuples, dicts, optionals,
    enums, paths, literals and plain values; null floats come back as NaN)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or origin is Literal:
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        return from_json(next(a for a in args if a is not type(None)), data)
    if data is None:
        return math.nan if annotation is float else None
    if dataclasses.is_dataclass(annotation):
        hints = typing.get_type_hints(annotation)
        return annotation(**{f.name: from_json(hints[f.name], data[f.name])
                             for f in dataclasses.fields(annotation) if f.init and f.name in data})
    if origin is list:
        return [from_json(args[0], v) for v in data]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json(args[0], v) for v in data)
        return tuple(from_json(t, v) for t, v in zip(args, data, strict=True))
    if origin is dict:
        return {k: from_json(args[1], v) for k, v in data.items()}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum | Path):
        return annotation(data)
    if annotation is float:
        return float(data)
    return data


@dataclass
class AnalysisRecord:
    """One analysis of one model: what ``<analysis>.json`` holds."""

    analysis: str
    schema_version: int
    model: str
    """Where the weights came from (short name, folder, repo@commit, or the architecture with random weights)."""
    architecture: str
    data: DataSpec
    settings: Any
    result: Any
    seconds: float = math.nan
    written: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.analysis}.json"
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(to_json(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: Path, settings_type: type, result_type: type, schema_version: int) -> AnalysisRecord:
        """Read a record written by the same analysis at the same schema version (anything else is refused:
        rerun the analysis rather than read numbers that may mean something else)."""
        data = json.loads(path.read_text())
        found = data.get("schema_version")
        if found != schema_version:
            raise ValueError(f"{path} was written with schema version {found} of the {data.get('analysis')} "
                             f"result; this code reads version {schema_version}: rerun the analysis")
        return cls(data["analysis"], found, data["model"], data["architecture"], from_json(DataSpec, data["data"]),
                   from_json(settings_type, data["settings"]), from_json(result_type, data["result"]),
                   from_json(float, data.get("seconds")), data.get("written", ""))
