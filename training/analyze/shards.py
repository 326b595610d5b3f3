"""One rank's finished work items on disk, so that a rerun of the same job resumes where it stopped.

An analysis that runs over independent items (the Hessian's batches, the CIFAR-C sets) records each item as it
finishes in ``<workdir>/.<analysis>.rank<r>-of-<w>.json``, keyed by everything that fixes the result (model,
data, settings, world size). A rerun with the same key skips the items already there; any other key starts
afresh. The file is removed once the whole result is gathered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.files import atomic_path
from training.analyze.records import from_json, to_json
from training.distributed import Distributed


class ShardFile:
    def __init__(self, workdir: Path | None, analysis: str, key: Any, dist: Distributed, item_type: type) -> None:
        self.item_type = item_type
        self.key = json.loads(json.dumps(to_json(key)))
        self.path = workdir / f".{analysis}.rank{dist.rank}-of-{dist.world}.json" if workdir is not None else None
        self.items: dict[int, Any] = {}
        if self.path is not None and self.path.is_file():
            saved = json.loads(self.path.read_text())
            if saved.get("key") == self.key:
                self.items = {int(i): from_json(item_type, v) for i, v in saved["items"].items()}

    def get(self, index: int) -> Any | None:
        return self.items.get(index)

    def put(self, index: int, item: Any) -> None:
        self.items[index] = item
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps({"key": self.key, "items": {str(i): to_json(v)
                                                                      for i, v in self.items.items()}}))

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
