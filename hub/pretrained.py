"""``from_pretrained`` / ``push_to_hub``: a short name, a local folder or a Hub repo id to a loaded model, and a
model folder to the Hub. The folders themselves are :mod:`hub.folder`'s."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import huggingface_hub
from huggingface_hub import constants
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

from hub.card import CardInfo
from hub.config import Parent
from hub.errors import HubError, UnknownModelError
from hub.files import file_sha256
from hub.folder import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE, load_folder, save_pretrained
from hub.official import load_official
from hub.registry import is_model
from hub.sources import Source, download, resolve
from hub.timm_weights import timm_folder
from hub.units import UnitModel

log = logging.getLogger(__name__)


def _resolve(name: str, revision: str | None) -> Source:
    """:func:`hub.sources.resolve`, with a hint when the name is an architecture rather than a model."""
    try:
        return resolve(name, revision)
    except UnknownModelError as err:
        if is_model(name):
            raise UnknownModelError(f"{err} {name!r} is an architecture: hub.create_model({name!r}) builds it with "
                                    f"random weights.") from None
        raise


def from_pretrained(name: str, revision: str | None = None, local_files_only: bool | None = None,
                    cache_dir: str | None = None, source_sha256: str | None = None, *,
                    num_classes: int | None = None, labels: Sequence[str] | None = None,
                    img_size: int | None = None) -> UnitModel:
    """Load a model by short name, local folder, or Hub repo id (``org/name`` or ``org/name@revision``).

    ``local_files_only=None`` follows ``HF_HUB_OFFLINE``. The returned model is in eval mode and carries its
    config (``model.config``: labels, preprocessing, weights sha256), ``model.source`` (the short name of a
    shipped or released model, the folder, or repo@commit) and ``model.folder`` (where its files are, card
    included). The paper's released checkpoints (``vit-ti-cifar100``, ...) are downloaded and converted on
    first use (:mod:`hub.official`); ``source_sha256`` pins the release file's sha256 (else the catalog's).
    A short name means the catalog's model even where the working directory has a folder of that name.

    For fine-tuning, ``num_classes`` (or ``labels``, one name per class) and ``img_size`` adapt the loaded model:
    a class count other than the checkpoint's gets a freshly initialised classifier (every other weight kept,
    the re-initialised parameters named in a warning), the same count keeps the checkpoint's; ``img_size`` calls
    :meth:`UnitModel.set_input_size`. Either records the loaded model as ``model.config.parent``.
    """
    source = _resolve(name, revision)
    model = _load(source, name, local_files_only, cache_dir, source_sha256)
    if num_classes is None and labels is None and img_size is None:
        return model
    sha256 = model.config.weights_sha256 or file_sha256(model.folder / WEIGHTS_FILE)
    parent = Parent(model.source, sha256, source.repo_id)
    return _adapt(model, parent, num_classes=num_classes, labels=labels, img_size=img_size)


def _load(source: Source, name: str, local_files_only: bool | None, cache_dir: str | None,
          source_sha256: str | None) -> UnitModel:
    offline = constants.HF_HUB_OFFLINE if local_files_only is None else local_files_only
    if source.release is not None:
        return load_official(source.release, offline, cache_dir, source_sha256)
    if source.folder is not None:
        model = load_folder(source.folder, source.sha256)
        shipped = source.folder != Path(name).expanduser()
        model.source, model.folder = source.name if shipped else str(source.folder), source.folder
        return model
    folder, commit = download(source, offline, cache_dir)
    folder = timm_folder(folder, source.repo_id, commit, cache_dir)  # a repo in timm's layout: its conversion
    model = load_folder(folder, source.sha256)
    model.source, model.folder = f"{source.repo_id}@{commit}", folder
    return model


def _adapt(model: UnitModel, parent: Parent, *, num_classes: int | None = None,
          labels: Sequence[str] | None = None, img_size: int | None = None) -> UnitModel:
    """``model`` (loaded from ``parent``) with ``num_classes`` classes named ``labels`` and ``img_size`` inputs;
    see :func:`from_pretrained`."""
    if labels is not None:
        if num_classes is not None and num_classes != len(labels):
            raise ValueError(f"{len(labels)} labels for num_classes={num_classes}")
        num_classes = len(labels)
    had = model.config.num_classes
    if num_classes is not None and num_classes != had:
        names = model.reset_classifier(num_classes)
        log.warning("%s: its classifier was re-initialised for %d classes (the checkpoint has %d); train these "
                    "before use: %s", parent.source, num_classes, had, ", ".join(names))
    if img_size is not None and img_size != model.config.input_size[-1]:
        was = model.config.input_size[-1]
        model.set_input_size(img_size)
        log.warning("%s: resized from %dx%d to %dx%d inputs", parent.source, was, was, img_size, img_size)
    label_names = list(labels) if labels is not None else model.config.label_names
    model.config = dataclasses.replace(model.config, label_names=label_names, parent=parent)
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
