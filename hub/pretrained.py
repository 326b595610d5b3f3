"""``from_pretrained`` / ``push_to_hub``: a short name, a local folder or a Hub repo id to a loaded model, and a
model folder to the Hub. The folders themselves are :mod:`hub.folder`'s."""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
from huggingface_hub import constants
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from hub.card import CardInfo
from hub.catalog import CatalogEntry, load_catalog
from hub.errors import HubError, NotAvailableError, UnknownModelError
from hub.folder import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE, load_folder, save_pretrained
from hub.official import load_official
from hub.registry import is_model
from hub.units import UnitModel

REPO_ID = re.compile(r"(?:hf[-_]hub:)?(?P<repo>[A-Za-z0-9_][\w.-]*/[A-Za-z0-9_][\w.-]*)(?:@(?P<rev>[\w./-]+))?")


@dataclass(frozen=True)
class Source:
    """Where a model's files come from: a local folder, a Hub repo at a revision, or an authors' release file."""

    name: str
    folder: Path | None = None
    repo_id: str | None = None
    revision: str | None = None
    sha256: str | None = None
    release: CatalogEntry | None = None
    """A catalog entry whose weights are the paper's own release, converted on first use."""


def resolve(name: str, revision: str | None = None) -> Source:
    """Turn a short name, a folder path or ``org/name[@revision]`` into a :class:`Source`."""
    path = Path(name).expanduser()
    if path.is_dir():
        return Source(name, folder=path)
    catalog = load_catalog()
    if name in catalog:
        entry = catalog[name]
        if entry.availability == "shipped":
            return Source(name, folder=entry.package_folder, sha256=entry.sha256)
        if entry.repo_id:
            pinned = revision or entry.revision
            return Source(name, repo_id=entry.repo_id, revision=pinned, sha256=entry.sha256 if not revision else None)
        if entry.source_url:
            return Source(name, release=entry)
        raise NotAvailableError(
            f"no weights for {name!r} ({entry.architecture} on {entry.dataset}) are published or shipped yet "
            f"({entry.description}). Train them with:\n    {entry.train_command}\nthen load the output folder "
            f"with from_pretrained(<folder>).")
    if name.startswith((".", "/", "~")):
        raise UnknownModelError(f"no folder {name!r}; a model folder holds {CONFIG_FILE} and {WEIGHTS_FILE}")
    match = REPO_ID.fullmatch(name)
    if match:
        rev = match["rev"]
        if rev and revision and rev != revision:
            raise HubError(f"{name!r} pins revision {rev!r} but revision={revision!r} was passed; give only one")
        return Source(name, repo_id=match["repo"], revision=rev or revision)
    if os.sep in name:
        raise UnknownModelError(f"no folder {str(path)!r}, and {name!r} is not a Hub repo id (org/name[@revision])")
    close = difflib.get_close_matches(name, list(catalog), n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    if is_model(name):
        hint += f" {name!r} is an architecture: hub.create_model({name!r}) builds it with random weights."
    raise UnknownModelError(
        f"unknown model {name!r}: not a short name (python -m hub list), a local folder or a Hub repo id "
        f"(org/name[@revision]).{hint}"
    )


def _fetch(repo: str, rev: str, filename: str, local_files_only: bool, cache_dir: str | None) -> Path:
    """Download one file of a repo (or find it in the cache), turning Hub errors into actionable ones."""
    try:
        return Path(huggingface_hub.hf_hub_download(repo, filename, revision=rev, cache_dir=cache_dir,
                                                    local_files_only=local_files_only))
    except RevisionNotFoundError as err:
        raise NotAvailableError(f"revision {rev!r} does not exist in {repo!r}") from err
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as err:  # before EntryNotFoundError, its base
        if local_files_only:
            switch = "HF_HUB_OFFLINE=1" if constants.HF_HUB_OFFLINE else "local_files_only=True"
            raise NotAvailableError(
                f"{repo}@{rev} is not in the local cache ({cache_dir or constants.HF_HUB_CACHE}) and downloads are "
                f"off ({switch}). Download it once with network access, or pass a local folder.") from err
        raise NotAvailableError(
            f"could not download {filename} of {repo}@{rev} from {constants.ENDPOINT} and it is not cached: {err}"
        ) from err
    except EntryNotFoundError as err:
        raise NotAvailableError(
            f"{repo}@{rev} has no {filename}: it is not a model repo in this format "
            f"({CONFIG_FILE} + {WEIGHTS_FILE}, see save_pretrained)") from err
    except RepositoryNotFoundError as err:
        raise NotAvailableError(
            f"{filename} of repo {repo!r} at revision {rev!r} was not found on {constants.ENDPOINT} (no such repo, "
            f"revision or file); check the name and the revision, or set HF_TOKEN for a private repo") from err


def _download(source: Source, local_files_only: bool, cache_dir: str | None) -> tuple[Path, str]:
    """Fetch config, weights and (if present) the card; return the snapshot folder and its commit."""
    repo, rev = source.repo_id, source.revision or "main"
    assert repo is not None
    config = _fetch(repo, rev, CONFIG_FILE, local_files_only, cache_dir)
    _fetch(repo, rev, WEIGHTS_FILE, local_files_only, cache_dir)
    with contextlib.suppress(NotAvailableError):  # the card is optional
        _fetch(repo, rev, CARD_FILE, local_files_only, cache_dir)
    return config.parent, config.parent.name


def from_pretrained(name: str, revision: str | None = None, local_files_only: bool | None = None,
                    cache_dir: str | None = None, source_sha256: str | None = None) -> UnitModel:
    """Load a model by short name, local folder, or Hub repo id (``org/name`` or ``org/name@revision``).

    ``local_files_only=None`` follows ``HF_HUB_OFFLINE``. The returned model is in eval mode and carries its
    config (``model.config``: labels, preprocessing, weights sha256), ``model.source`` (the short name of a
    shipped or released model, the folder, or repo@commit) and ``model.folder`` (where its files are, card
    included). The paper's released checkpoints (``vit-ti-cifar100``, ...) are downloaded and converted on
    first use (:mod:`hub.official`); ``source_sha256`` pins the release file's sha256 (else the catalog's).
    """
    source = resolve(name, revision)
    offline = constants.HF_HUB_OFFLINE if local_files_only is None else local_files_only
    if source.release is not None:
        return load_official(source.release, offline, cache_dir, source_sha256)
    if source.folder is not None:
        model = load_folder(source.folder, source.sha256)
        shipped = source.name in load_catalog() and not Path(source.name).expanduser().is_dir()
        model.source, model.folder = source.name if shipped else str(source.folder), source.folder
        return model
    folder, commit = _download(source, offline, cache_dir)
    model = load_folder(folder, source.sha256)
    model.source, model.folder = f"{source.repo_id}@{commit}", folder
    return model


def push_folder(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None,
                commit_message: str = "Upload model") -> str:
    """Upload a model folder after checking that it loads; returns the commit URL."""
    folder = Path(folder)
    load_folder(folder)
    api = huggingface_hub.HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message,
                                 allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE])
    except (HfHubHTTPError, OfflineModeIsEnabled) as err:
        raise HubError(f"upload of {folder} to {repo_id!r} on {constants.ENDPOINT} failed: {err}") from err
    return str(info.commit_url)


def push_to_hub(model: UnitModel, repo_id: str, *, metrics: dict[str, float] | None = None,
                card: CardInfo | None = None, private: bool = False, token: str | None = None,
                commit_message: str = "Upload model") -> str:
    """``save_pretrained`` into a temporary folder, then upload it to ``repo_id``."""
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp, metrics=metrics, card=card, name=repo_id)
        return push_folder(tmp, repo_id, private=private, token=token, commit_message=commit_message)
