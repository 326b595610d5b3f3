"""Model folders: ``config.json`` (:class:`hub.ModelConfig`), ``model.safetensors`` and a ``README.md`` card,
written atomically and loaded strictly: weights are never unpickled, keys and shapes must match exactly, and
the sha256 recorded in the config (and any pinned one) is verified before loading."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from hub.card import CardInfo, render_card
from hub.errors import HubError, IncompatibleWeightsError
from hub.files import atomic_path, file_sha256
from hub.registry import create_model, is_model, list_models
from hub.sources import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE, read_folder
from hub.units import UnitModel, count_parameters

__all__ = ["CARD_FILE", "CONFIG_FILE", "WEIGHTS_FILE", "check_state_dict", "load_folder", "save_pretrained"]


def check_state_dict(model: UnitModel, state: dict[str, Tensor]) -> None:
    """Fail with every missing key, unexpected key and shape mismatch at once."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = []
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
            if items:
                parts.append(f"{title} ({len(items)}): " + ", ".join(items[:20]) + (" ..." if len(items) > 20 else ""))
        raise IncompatibleWeightsError(
            f"weights do not fit {model.config.architecture}:\n  " + "\n  ".join(parts))


def load_folder(folder: Path, expected_sha256: str | None = None) -> UnitModel:
    """Build the model a folder's config names and load its weights strictly (the folder checked first by
    :func:`hub.sources.read_folder`)."""
    checked = read_folder(folder, expected_sha256)
    config = checked.config
    if not is_model(config.architecture):
        raise HubError(f"{folder / CONFIG_FILE} names unknown architecture {config.architecture!r}; known: "
                       f"{', '.join(list_models())}")
    model = create_model(config.architecture, config.num_classes, config.preset, **config.model_args)
    try:
        state = load_file(checked.weights)
    except SafetensorError as err:
        raise IncompatibleWeightsError(f"{checked.weights} is not a readable safetensors file: {err}") from err
    check_state_dict(model, state)
    model.load_state_dict(state, strict=True)
    model.config = config
    return model.eval()


def save_pretrained(model: UnitModel, folder: str | Path, *, metrics: dict[str, float] | None = None,
                    card: CardInfo | None = None, label_names: list[str] | None = None,
                    name: str | None = None) -> Path:
    """Write ``model.safetensors``, ``config.json`` (with the weights' sha256) and a ``README.md`` card."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    labels = label_names if label_names is not None else model.config.label_names
    if labels is not None and len(labels) != model.config.num_classes:
        raise HubError(f"{len(labels)} label names for a model with {model.config.num_classes} classes")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(state, tmp, metadata={"format": "pt"})
    config = dataclasses.replace(model.config, label_names=labels, weights_sha256=file_sha256(folder / WEIGHTS_FILE))
    config.save(folder / CONFIG_FILE)
    text = render_card(name or folder.name, config, count_parameters(model), card, metrics)
    (folder / CARD_FILE).write_text(text)
    return folder
