"""Where a model's files are, without building it: a short name, a local folder or a Hub repo id resolved to a
:class:`Source`, its files fetched or found in the cache, and a model folder's config and weights checked
(parseable config, safetensors present, sha256 as recorded). No torch here: :func:`hub.from_pretrained` builds
the model from what this finds, and the service's ONNX Runtime worker uses it to find its cached graphs.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
from huggingface_hub import constants
from huggingface_hub.errors import (
    EntryNotFoundError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from hub.catalog import CatalogEntry, load_catalog
from hub.config import ModelConfig
from hub.errors import HubError, IncompatibleWeightsError, NotAvailableError, UnknownModelError
from hub.files import file_sha256

CONFIG_FILE, WEIGHTS_FILE, CARD_FILE = "config.json", "model.safetensors", "README.md"
PROVENANCE_FILE = "official.json"
"""Beside a converted release: the release file's URL and sha256."""
TIMM_PROVENANCE_FILE = "timm.json"
"""Beside a converted timm checkpoint: the repo, its commit and the source file's sha256."""
REPO_ID = re.compile(r"(?:hf[-_]hub:)?(?P<repo>[A-Za-z0-9_][\w.-]*/[A-Za-z0-9_][\w.-]*)(?:@(?P<rev>[\w./-]+))?")
FOREIGN = re.compile(r"(?P<origin>timm|torchvision|[A-Za-z_][\w.]*):(?P<name>[A-Za-z_][\w.-]*)")
"""``timm:NAME``, ``torchvision:NAME`` or ``package.module:factory``: a model of another library or one's own,
built by :mod:`hub.foreign` (never a Hub id or a path, which have no colon in this form)."""


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
    """Turn a short name, a folder path or ``org/name[@revision]`` into a :class:`Source`.

    A short name means the catalog's model even when the working directory holds a folder of that name (write
    ``./name`` for the folder): what a name serves must not depend on where the process was started."""
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
    path = Path(name).expanduser()
    if path.is_dir():
        return Source(name, folder=path)
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


def download(source: Source, local_files_only: bool, cache_dir: str | None) -> tuple[Path, str]:
    """Fetch a repo's config, weights and (if present) card; return the snapshot folder and its commit."""
    repo, rev = source.repo_id, source.revision or "main"
    assert repo is not None
    config = _fetch(repo, rev, CONFIG_FILE, local_files_only, cache_dir)
    try:
        _fetch(repo, rev, WEIGHTS_FILE, local_files_only, cache_dir)
    except NotAvailableError as err:
        if is_timm_snapshot(config.parent):
            raise NotAvailableError(
                f"{err}\n{repo} is in timm's layout: its weights are read from {WEIGHTS_FILE} only; pickled weights "
                f"(pytorch_model.bin, *.pth) are refused, as unpickling them could run code") from err
        raise
    with contextlib.suppress(NotAvailableError):  # the card is optional
        _fetch(repo, rev, CARD_FILE, local_files_only, cache_dir)
    return config.parent, config.parent.name


def official_cache(cache_dir: str | Path | None = None) -> Path:
    """Where the paper's release files are downloaded and converted (``<HF_HUB_CACHE>/howvits-official``)."""
    return Path(cache_dir or constants.HF_HUB_CACHE) / "howvits-official"


def converted_release(entry: CatalogEntry, cache_dir: str | Path | None = None,
                      expected_sha256: str | None = None) -> Path | None:
    """The folder a release was converted into, or None before its first conversion; a folder converted from
    another file than the pinned one is an error."""
    folder = official_cache(cache_dir) / entry.name
    if not ((folder / CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()):
        return None
    provenance = json.loads((folder / PROVENANCE_FILE).read_text())
    expected = expected_sha256 or entry.source_sha256
    if expected and provenance["sha256"] != expected:
        raise IncompatibleWeightsError(
            f"{folder} was converted from a file with sha256 {provenance['sha256']}, not the expected {expected}; "
            f"delete the folder to download again")
    return folder


def is_timm_config(data: dict) -> bool:
    """A ``config.json`` as timm writes it (``save_for_hf``, ``push_to_hf_hub``): an ``architecture`` and a
    ``pretrained_cfg``, and none of the fields only ours have (``library``, ``preset``)."""
    return "architecture" in data and "pretrained_cfg" in data and not {"library", "preset"} & set(data)


def is_timm_snapshot(folder: Path) -> bool:
    try:
        return is_timm_config(json.loads((folder / CONFIG_FILE).read_text()))
    except (OSError, ValueError):
        return False


def timm_conversion(snapshot: Path, repo_id: str, commit: str, cache_dir: str | Path | None = None) -> Path | None:
    """For a Hub snapshot in timm's layout, the folder its conversion into our units is (or will be) cached in
    (``<HF_HUB_CACHE>/howvits-timm/<org>--<name>/<commit>``); None for any other snapshot."""
    if not is_timm_snapshot(snapshot):
        return None
    return Path(cache_dir or constants.HF_HUB_CACHE) / "howvits-timm" / repo_id.replace("/", "--") / commit


@dataclass(frozen=True)
class LocalModel:
    """A model folder on this machine, checked: its config, and its weights file with their sha256."""

    folder: Path
    config: ModelConfig
    weights_sha256: str
    label: str
    """What the model is known as (``model.source``): the short name, the folder, or ``repo@commit``."""

    @property
    def weights(self) -> Path:
        return self.folder / WEIGHTS_FILE


def read_folder(folder: Path, expected_sha256: str | None = None, label: str | None = None) -> LocalModel:
    """Check a model folder without loading its weights: a valid config, a safetensors file (never a pickle)
    whose sha256 is the one the config records (and ``expected_sha256``, when pinned)."""
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not config_path.is_file():
        raise NotAvailableError(
            f"{folder} has no {CONFIG_FILE}: a model folder holds {CONFIG_FILE} and {WEIGHTS_FILE} "
            f"(write one with hub.save_pretrained or `python -m hub save`)")
    try:
        config = ModelConfig.load(config_path)
    except (ValueError, TypeError) as err:
        raise HubError(f"{config_path} is not a valid model config: {err}") from err
    if not weights_path.is_file():
        pickles = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt*")]
        extra = f" ({', '.join(pickles)} found: pickled weights are never loaded; convert them to safetensors)" \
            if pickles else ""
        raise NotAvailableError(f"{folder} has no {WEIGHTS_FILE}{extra}")
    digest = file_sha256(weights_path)
    for what, want in (("config.json", config.weights_sha256), ("the catalog", expected_sha256)):
        if want and want != digest:
            raise IncompatibleWeightsError(
                f"{weights_path} has sha256 {digest} but {what} records {want}: the file is corrupt or was replaced")
    return LocalModel(folder, config, digest, label or str(folder))


def local_model(name: str, revision: str | None = None, local_files_only: bool | None = None,
                cache_dir: str | None = None) -> LocalModel | None:
    """The checked local folder of a short name, folder or Hub repo (downloaded unless offline), or None for a
    release of the paper's or a timm checkpoint that is not converted yet (that needs torch:
    :func:`hub.from_pretrained`)."""
    source = resolve(name, revision)
    offline = constants.HF_HUB_OFFLINE if local_files_only is None else local_files_only
    if source.release is not None:
        folder = converted_release(source.release, cache_dir)
        return read_folder(folder, label=source.name) if folder is not None else None
    if source.folder is not None:
        shipped = source.name in load_catalog()
        return read_folder(source.folder, source.sha256, source.name if shipped else str(source.folder))
    folder, commit = download(source, offline, cache_dir)
    converted = timm_conversion(folder, source.repo_id, commit, cache_dir)
    if converted is not None:
        done = (converted / TIMM_PROVENANCE_FILE).is_file()
        return read_folder(converted, label=f"{source.repo_id}@{commit}") if done else None
    return read_folder(folder, source.sha256, f"{source.repo_id}@{commit}")
