"""Short names (``"alternet-cifar100"``) and where their weights live: a folder in this package or a Hub repo."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG_FILE = Path(__file__).with_name("catalog.toml")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    architecture: str
    description: str = ""
    dataset: str = ""
    folder: str | None = None
    """Path relative to the ``hub`` package of a shipped model folder."""
    repo_id: str | None = None
    revision: str | None = None
    """Pinned revision (a commit sha is best: a branch can move under the name)."""
    sha256: str | None = None
    """Expected sha256 of ``model.safetensors``."""
    train_command: str | None = None
    """How to produce the weights where none are published."""
    source_url: str | None = None
    """A release file of the paper's authors (a pickle), downloaded and converted on first use (:mod:`hub.official`)."""
    source_sha256: str | None = None
    """Expected sha256 of that release file, when pinned."""

    @property
    def package_folder(self) -> Path | None:
        return Path(__file__).parent / self.folder if self.folder else None

    @property
    def availability(self) -> str:
        if self.package_folder and (self.package_folder / "config.json").is_file():
            return "shipped"
        if self.repo_id:
            return f"hub: {self.repo_id}@{self.revision or 'main'}"
        if self.source_url:
            return "the authors' release, converted on first use"
        return "not published"


@cache
def load_catalog(path: Path = CATALOG_FILE) -> dict[str, CatalogEntry]:
    data = tomllib.loads(path.read_text())
    return {name: CatalogEntry(name=name, **fields) for name, fields in data.items()}
