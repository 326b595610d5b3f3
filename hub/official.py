"""The paper's four released CIFAR-100 checkpoints (ResNet-50, ViT-Ti, PiT-Ti, Swin-Ti), read safely and
converted exactly into our units.

A release file is a pickle (``torch.save`` of ``{"name": ..., "state_dict": ...}``, sometimes with the optimiser
state). It is read only with ``torch.load(weights_only=True)``: anything beyond tensors and plain containers is
refused and never runs. The size is capped. Conversion is strict both ways (:mod:`hub.convert`): every source key
is mapped onto one of our tensors or is one of the original's derived buffers (``hub.convert.DERIVED``, with the
reason), every one of our tensors is filled, and shapes must agree; anything else is an error that lists the keys.

The originals: the paper's own post-activation ResNet-50 (``models/resnet.py``), and timm 0.4.9-0.5.4's
``VisionTransformer``, ``PoolingVisionTransformer`` and ``SwinTransformer`` (patch merging at the end of a
stage, head ``head.*``), each mapped module by module onto our units, so the unit introspection reports the
original's stages.

Downloads go into the hub cache (``<HF_HUB_CACHE>/howvits-official``), resumable and with a progress bar; a
file is converted once into a normal model folder, which later calls load without the network.
``HOWVITS_OFFICIAL_MIRROR`` replaces the release base URL.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from hub.card import CardInfo
from hub.catalog import CatalogEntry
from hub.config import CIFAR100_CLASSES
from hub.convert import (
    Layout,
    ModulePairs,
    derived_present,
    head_pairs,
    load_mapped,
    pit_modules,
    stage_counters,
    swin_modules,
    vit_modules,
)
from hub.errors import HubError, IncompatibleWeightsError, NotAvailableError
from hub.files import atomic_path, file_sha256
from hub.folder import load_folder, save_pretrained
from hub.registry import create_model
from hub.sources import PROVENANCE_FILE, converted_release, official_cache
from hub.units import UnitKind, UnitModel

MIRROR_ENV = "HOWVITS_OFFICIAL_MIRROR"
MAX_RELEASE_BYTES = 1 << 30
"""The largest release file accepted (the Swin-Ti file with its AdamW state is about a third of this)."""
CONVERT_COMMAND = "python -m hub convert-official FILE --out FOLDER"


class UnsafeCheckpointError(HubError):
    """A release file that needs more than tensors and plain containers to unpickle."""


@dataclass(frozen=True)
class ReleaseFile:
    name: str | None
    """The original's architecture name stored in the file (``resnet_50``, ``vit_ti``, ...)."""
    state: dict[str, Tensor]
    size: int
    sha256: str


def read_release(path: str | Path, max_bytes: int = MAX_RELEASE_BYTES,
                 expected_sha256: str | None = None) -> ReleaseFile:
    """The file's name field and state dict, unpickled with ``weights_only=True`` (nothing but tensors and
    plain containers; anything else is refused before it runs). Size and sha256 are checked before unpickling."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise HubError(f"{path} is {size:,} bytes; release files above {max_bytes:,} bytes are refused")
    sha256 = file_sha256(path)
    if expected_sha256 and sha256 != expected_sha256:
        raise IncompatibleWeightsError(f"{path} has sha256 {sha256}, not the expected {expected_sha256}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        needed = re.search(r"GLOBAL (\S+)", str(err))
        if needed is None:
            detail = re.search(r"WeightsUnpickler error: *\n*(.+)", str(err))
            raise HubError(f"{path} is not a readable torch checkpoint: {detail[1] if detail else err}") from err
        raise UnsafeCheckpointError(
            f"{path} was refused: unpickling it needs {needed[1]}, not only tensors and plain containers, so it "
            f"could run code (read with torch.load(weights_only=True))") from err
    except (RuntimeError, EOFError, OSError) as err:
        raise HubError(f"{path} is not a readable torch checkpoint: {err}") from err
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise HubError(f"{path} holds no state dict of tensors (expected {{'name': ..., 'state_dict': {{...}}}})")
    name = data.get("name") if isinstance(data.get("name"), str) else None
    return ReleaseFile(name, dict(state), size, sha256)


# -- the originals' module names ------------------------------------------------------------------------------

def _resnet_modules(model: UnitModel) -> ModulePairs:
    """The paper's post-activation ResNet: ``layer0`` (conv, BN), ``layer{s}.{b}.conv{1,2,3}.{0,1}`` and
    ``shortcut.{0,1}``, ``classifier.0.dense``."""
    pairs = [("units.0.layers.0", "layer0.0"), ("units.0.layers.1", "layer0.1")]
    for index, info, nth in stage_counters(model):
        if info.kind is UnitKind.CONV:
            theirs = f"layer{info.stage}.{nth}"
            for ours, conv in ((0, "conv1.0"), (1, "conv1.1"), (3, "conv2.0"), (4, "conv2.1"), (6, "conv3.0"),
                               (7, "conv3.1")):
                pairs.append((f"units.{index}.branch.{ours}", f"{theirs}.{conv}"))
            pairs += [(f"units.{index}.shortcut.{i}", f"{theirs}.shortcut.{i}") for i in (0, 1)]
    return pairs + head_pairs(model, None, "classifier.0.dense")


LAYOUTS: dict[str, Layout] = {layout.architecture: layout for layout in (
    Layout("resnet_50", "the paper's own post-activation ResNet-50 (models/resnet.py, stem=False)", _resnet_modules),
    Layout("vit_ti", "timm 0.5.4 VisionTransformer (img 32, patch 2, dim 192, depth 12, 3 heads, no qkv bias)",
           vit_modules),
    Layout("pit_ti", "timm 0.5.4 PoolingVisionTransformer (img 32, patch 2, stride 1, base dims 32, depth "
           "2/6/4, heads 2/4/8)", pit_modules),
    Layout("swin_t", "timm 0.5.4 SwinTransformer (img 32, patch 1, window 4, dim 96, depths 2/2/6/2, no qkv bias)",
           swin_modules),
)}
FILE_NAMES = {"resnet_50": "resnet_50", "resnet_dnn_50": "resnet_50", "vit_ti": "vit_ti", "pit_ti": "pit_ti",
              "swin_ti": "swin_t", "swin_t": "swin_t"}
"""The ``name`` field of a release file -> our architecture."""


def convert_state_dict(architecture: str, state: dict[str, Tensor]) -> UnitModel:
    """Our model of ``architecture`` with every tensor taken from the original ``state`` (strict both ways)."""
    if architecture not in LAYOUTS:
        raise HubError(f"no converter for {architecture!r}; the released checkpoints are {', '.join(LAYOUTS)}")
    head = next((v for k, v in state.items() if k.endswith(("head.weight", "classifier.0.dense.weight"))), None)
    model = create_model(architecture, num_classes=head.shape[0] if head is not None else 100)
    return load_mapped(model, LAYOUTS[architecture].modules(model), state, architecture)


def convert_official(path: str | Path, architecture: str | None = None) -> UnitModel:
    """A release file (or one written the same way) as our model, with the CIFAR-100 labels and statistics.

    The architecture is read from the file's ``name`` field unless given."""
    return convert_release(read_release(path), architecture, str(path))


def convert_release(release: ReleaseFile, architecture: str | None, source: str) -> UnitModel:
    """:func:`convert_official` of a file already read (``source``: where it came from)."""
    if architecture is None:
        if release.name not in FILE_NAMES:
            raise HubError(f"{source} names architecture {release.name!r}, which is not one of the released ones "
                           f"({', '.join(FILE_NAMES)}); pass the architecture ({', '.join(LAYOUTS)})")
        architecture = FILE_NAMES[release.name]
    model = convert_state_dict(architecture, release.state)
    if model.config.num_classes == len(CIFAR100_CLASSES):
        model.config.label_names = list(CIFAR100_CLASSES)
    model.source = source
    return model


def official_card(name: str, load_as: str, url: str | None, release: ReleaseFile, architecture: str) -> CardInfo:
    """What the converted folder's model card says about where it came from and what was checked; ``load_as``
    is what ``from_pretrained`` takes for it (the short name, or the folder)."""
    layout = LAYOUTS[architecture]
    present = derived_present(release.state)
    source = "\n".join([
        f"- Released by the paper's authors: `{url}`." if url else "- Converted from a local copy of a release file.",
        f"- Source file: {release.size:,} bytes, sha256 `{release.sha256}`; its architecture field: "
        f"`{release.name}`.",
        f"- Original implementation: {layout.origin}.",
        "- Conversion (`hub.official`): the file was read with `torch.load(weights_only=True)`; every source "
        "tensor was mapped module by module onto this architecture's units with its shape checked, every tensor "
        "of ours was filled" + (f"; the original's derived buffers were not used: {'; '.join(present)}."
                                if present else "."),
        "- Verified by this toolkit's tests: files written exactly like this release with known weights convert "
        "to a model whose logits match the original implementation's within 1e-4.",
        "- Not verified here: the accuracy of these weights (no CIFAR-100 test set on the machine that converted "
        f"them). Measure it with `python -m training.evaluate --model {load_as} --data cifar100 --out eval/`.",
    ])
    return CardInfo(description=f"The paper's released `{architecture}` CIFAR-100 checkpoint, converted for this "
                                f"toolkit: `hub.from_pretrained({load_as!r})`.",
                    dataset="cifar100", split="test", source=source,
                    reproduce=f"python -m hub convert-official {Path(url or 'FILE').name} --out {name}")


def write_converted(model: UnitModel, folder: Path, name: str, url: str | None, release: ReleaseFile,
                    load_as: str | None = None) -> Path:
    """The converted model as a normal model folder, with its provenance beside it."""
    card = official_card(name, load_as or str(folder), url, release, model.config.architecture)
    save_pretrained(model, folder, card=card, name=name)
    provenance = {"url": url, "size": release.size, "sha256": release.sha256, "name": release.name,
                  "architecture": model.config.architecture}
    with atomic_path(folder / PROVENANCE_FILE) as tmp:
        tmp.write_text(json.dumps(provenance, indent=2) + "\n")
    return folder


# -- downloads -----------------------------------------------------------------------------------------------

def release_url(entry: CatalogEntry) -> str:
    """The entry's source URL, or the same file under ``HOWVITS_OFFICIAL_MIRROR``."""
    assert entry.source_url is not None
    mirror = os.environ.get(MIRROR_ENV)
    return f"{mirror.rstrip('/')}/{entry.source_url.rsplit('/', 1)[-1]}" if mirror else entry.source_url


def _unavailable(name: str, url: str, why: str) -> NotAvailableError:
    return NotAvailableError(
        f"{name}: {why}. The release file is {url}; on a machine behind a proxy set {MIRROR_ENV}=<base URL> of a "
        f"mirror, or convert a copy obtained any other way with `{CONVERT_COMMAND}` and load that folder.")


def download(url: str, target: Path, name: str, max_bytes: int = MAX_RELEASE_BYTES) -> Path:
    """``url`` into ``target`` with a progress bar; a partial ``<target>.part`` left by an earlier attempt is
    resumed with an HTTP range request."""
    import httpx

    partial = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.is_file() else 0
    try:
        with httpx.stream("GET", url, headers={"Range": f"bytes={have}-"} if have else {}, follow_redirects=True,
                          timeout=httpx.Timeout(60.0, connect=10.0)) as response:
            if response.status_code == 416 and have:  # the earlier attempt had already received everything
                total = have
            elif response.status_code in (200, 206):
                total = _receive(response, partial, have if response.status_code == 206 else 0, max_bytes)
            else:
                raise _unavailable(name, url, f"the download answered HTTP {response.status_code}")
    except httpx.HTTPError as err:
        raise _unavailable(name, url, f"the download failed ({type(err).__name__}: {err}); call again to resume"
                           ) from err
    if total is not None and partial.stat().st_size != total:
        raise _unavailable(name, url, f"the download stopped at {partial.stat().st_size:,} of {total:,} bytes; call "
                                      f"again to resume")
    os.replace(partial, target)
    return target


def _receive(response, partial: Path, start: int, max_bytes: int) -> int | None:
    """Write the body to ``partial`` from byte ``start`` on; returns the size announced for the whole file."""
    from tqdm import tqdm

    length = response.headers.get("content-length")
    total = start + int(length) if length is not None else None
    if total is not None and total > max_bytes:
        raise HubError(f"{response.url} is {total:,} bytes; release files above {max_bytes:,} bytes are refused")
    with open(partial, "ab" if start else "wb") as handle, tqdm(total=total, initial=start, unit="B", unit_scale=True,
                                                                  desc=f"downloading {partial.stem}") as bar:
        for chunk in response.iter_bytes():  # as it arrives, so a cut-off download keeps every byte
            handle.write(chunk)
            bar.update(len(chunk))
            if handle.tell() > max_bytes:
                raise HubError(f"{response.url} passed {max_bytes:,} bytes; release files that large are refused")
    return total


def load_official(entry: CatalogEntry, offline: bool, cache_dir: str | Path | None = None,
                  sha256: str | None = None) -> UnitModel:
    """The converted folder of a released checkpoint: from the cache, or downloaded and converted once.

    ``sha256`` (given by the user, else the catalog's pin) must match the release file's."""
    expected = sha256 or entry.source_sha256
    url = release_url(entry)
    cache = official_cache(cache_dir)
    folder = cache / entry.name
    if converted_release(entry, cache_dir, expected) is not None:
        return _loaded(load_folder(folder), entry.name, folder)
    release_path = cache / "downloads" / entry.source_url.rsplit("/", 1)[-1]
    if not release_path.is_file():
        if offline:
            raise _unavailable(entry.name, url, "it is not in the cache and downloads are off (HF_HUB_OFFLINE=1 or "
                                                "local_files_only=True)")
        download(url, release_path, entry.name)
    try:
        release = read_release(release_path, expected_sha256=expected)
    except IncompatibleWeightsError as err:
        release_path.unlink()
        raise IncompatibleWeightsError(f"{url}: {err}: the file is not the one pinned (removed from the cache, "
                                       f"never unpickled)") from err
    print(f"{entry.name}: {release_path.name} is {release.size:,} bytes with sha256 {release.sha256}"
          f"{' (as pinned)' if expected else '; pin it in hub/catalog.toml as source_sha256'}", file=sys.stderr)
    model = convert_release(release, entry.architecture, url)
    write_converted(model, folder, entry.name, url, release, load_as=entry.name)
    return _loaded(load_folder(folder), entry.name, folder)


def _loaded(model: UnitModel, name: str, folder: Path) -> UnitModel:
    model.source, model.folder = name, folder
    return model
