"""Corruption robustness on CIFAR-C: the 15 corruptions at 5 severities, the paper's metric (mean accuracy
over the 75 sets), mean error, and NLL/ECE per corruption.

When the released CIFAR-10-C / CIFAR-100-C ``.npy`` files are in ``--cifar-c DIR`` they are used (memory-
mapped; severity s = rows 10000(s-1) to 10000s). Otherwise the CIFAR-C set is generated from the
evaluation images, deterministically from a seed, with the CIFAR severity constants of Hendrycks &
Dietterich's CIFAR script, re-implemented batched in torch: zoom as ``scipy.ndimage.zoom(order=1)`` crops,
ImageMagick's integer-tap motion blur (also inside snow, with its 8-bit round trip), the glass blur's copying
"swap", the real frost photographs (``frost/``, Apache-2.0). The deterministic corruptions equal the
generator's 8-bit outputs (within one grey level at rounding boundaries), the random ones its mean change
within seed noise (``tests/training/analyze/test_corruptions.py``).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from hub import UnitIntrospection
from hub.data import DataSpec
from hub.transforms import normalise_batch
from training.analyze.inputs import Runtime, images_for
from training.analyze.shards import ShardFile
from training.distributed import Distributed
from training.metrics import MetricAccumulator

Corruption = Callable[[Tensor, int, torch.Generator], Tensor]
CORRUPTIONS: dict[str, Corruption] = {}


def corruption(fn: Corruption) -> Corruption:
    CORRUPTIONS[fn.__name__] = fn
    return fn


# -- helpers: every function takes and returns (B, 3, H, W) float pixels in [0, 1] ----------------------------

def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def _depthwise(x: Tensor, kernel: Tensor, mode: str = "reflect") -> Tensor:
    """Convolve every channel with one 2-D kernel (odd size), padding by ``mode``."""
    kh, kw = kernel.shape
    padded = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2), mode=mode)
    weight = kernel.to(x)[None, None].expand(x.shape[1], 1, kh, kw)
    return F.conv2d(padded, weight, groups=x.shape[1])


def _gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> Tensor:
    radius = max(int(truncate * sigma + 0.5), 1)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: Tensor, sigma: float, mode: str = "replicate", truncate: float = 4.0) -> Tensor:
    if sigma <= 0:
        return x
    k = _gaussian_kernel1d(sigma, truncate)
    return _depthwise(_depthwise(x, k[None, :], mode), k[:, None], mode)


def _sample(x: Tensor, grid_y: Tensor, grid_x: Tensor, padding: str = "reflection") -> Tensor:
    """Bilinear sampling of ``x`` at pixel coordinates ``(grid_y, grid_x)`` of shape ``(B, H, W)``."""
    h, w = x.shape[-2:]
    grid = torch.stack([2 * grid_x / (w - 1) - 1, 2 * grid_y / (h - 1) - 1], dim=-1).to(x)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=True)


def _pixel_grid(x: Tensor) -> tuple[Tensor, Tensor]:
    h, w = x.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return ys.expand(x.shape[0], h, w), xs.expand(x.shape[0], h, w)


def clipped_zoom(x: Tensor, factor: float) -> Tensor:
    """The generator's ``clipped_zoom``: crop the centre ``ceil(side / factor)`` pixels, zoom them with linear
    interpolation mapping corner to corner (``scipy.ndimage.zoom(order=1)``) to ``round(crop * factor)``, and trim
    the centre back to the original size."""
    h, w = x.shape[-2:]
    ch, cw = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[..., top:top + ch, left:left + cw]
    out_h, out_w = round(ch * factor), round(cw * factor)
    zoomed = F.interpolate(crop, size=(out_h, out_w), mode="bilinear", align_corners=True)
    trim_top, trim_left = (out_h - h) // 2, (out_w - w) // 2
    return zoomed[..., trim_top:trim_top + h, trim_left:trim_left + w]


def motion_blur_kernel_sample(x: Tensor, radius: float, sigma: float, angles: Tensor) -> Tensor:
    """ImageMagick's motion blur, as the generator calls it through Wand: ``2 * ceil(radius) + 1`` one-sided taps
    at rounded integer offsets along a per-image angle (degrees), Gaussian weights, edge pixels repeated."""
    taps = 2 * math.ceil(radius) + 1
    weights = torch.exp(-0.5 * (torch.arange(taps, dtype=torch.float64) / sigma) ** 2)
    weights /= weights.sum()
    b, _, h, w = x.shape
    theta = torch.deg2rad(angles.double())
    ys = torch.arange(h)[None, :, None].expand(b, h, w)
    xs = torch.arange(w)[None, None, :].expand(b, h, w)
    batch = torch.arange(b)[:, None, None].expand(b, h, w)
    out = torch.zeros_like(x)
    for i, weight in enumerate(weights.tolist()):
        dx = torch.ceil(i * torch.cos(theta) - 0.5).long()[:, None, None]
        dy = torch.ceil(i * torch.sin(theta) - 0.5).long()[:, None, None]
        rows, cols = (ys + dy).clamp(0, h - 1), (xs + dx).clamp(0, w - 1)
        out += weight * x[batch, :, rows, cols].permute(0, 3, 1, 2)
    return out


def plasma_fractal(size: int, decay: float, generator: torch.Generator) -> Tensor:
    """Diamond-square height map in [0, 1] of side ``size`` (a power of two), as the fog corruption uses."""
    grid = torch.zeros(size, size, dtype=torch.float64)
    step, wibble = size, 100.0

    def wibbled(values: Tensor) -> Tensor:
        return values / 4 + wibble * _uniform(values.shape, -wibble, wibble, generator).double()

    while step >= 2:
        half = step // 2
        corners = grid[0:size:step, 0:size:step]
        square = corners + corners.roll(-1, 0)
        square = square + square.roll(-1, 1)
        grid[half:size:step, half:size:step] = wibbled(square)
        centres = grid[half:size:step, half:size:step]
        corners = grid[0:size:step, 0:size:step]
        grid[0:size:step, half:size:step] = wibbled(centres + centres.roll(1, 0) + corners + corners.roll(-1, 1))
        grid[half:size:step, 0:size:step] = wibbled(centres + centres.roll(1, 1) + corners + corners.roll(-1, 0))
        step //= 2
        wibble /= decay
    grid -= grid.min()
    return grid / grid.max()


def _grey(x: Tensor) -> Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])


def _per_image(x: Tensor, fn: Callable[[Image.Image], Image.Image]) -> Tensor:
    out = []
    for image in x:
        array = (image.permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        result = np.asarray(fn(Image.fromarray(array)).convert("RGB"), dtype=np.float32) / 255
        out.append(torch.from_numpy(result).permute(2, 0, 1))
    return torch.stack(out).to(x)


# -- the 15 corruptions, CIFAR constants ------------------------------------------------------------------------

@corruption
def gaussian_noise(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    c = [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
    return (x + c * torch.randn(x.shape, generator=generator)).clamp(0, 1)


@corruption
def shot_noise(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    c = [500, 250, 100, 75, 50][severity - 1]
    return (torch.poisson(x.double() * c, generator=generator) / c).clamp(0, 1).to(x)


@corruption
def impulse_noise(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    c = [0.01, 0.02, 0.03, 0.05, 0.07][severity - 1]
    hit = torch.rand(x.shape, generator=generator) < c
    salt = (torch.rand(x.shape, generator=generator) < 0.5).to(x)
    return torch.where(hit, salt, x)


@corruption
def defocus_blur(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    radius, alias = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    span = torch.arange(-8, 9, dtype=torch.float64)
    disk = ((span[:, None] ** 2 + span[None, :] ** 2) <= radius**2).double()
    disk /= disk.sum()
    k = torch.exp(-0.5 * (torch.arange(-1, 2, dtype=torch.float64) / alias) ** 2)
    k /= k.sum()  # antialias the disk with a 3x3 Gaussian
    kernel = _depthwise(disk[None, None], k[None, :], "reflect")
    kernel = _depthwise(kernel, k[:, None], "reflect")[0, 0]
    return _depthwise(x, kernel, "reflect").clamp(0, 1)


@corruption
def glass_blur(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    sigma, delta, iterations = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][severity - 1]
    x = (gaussian_blur(x, sigma) * 255).floor() / 255
    h, w = x.shape[-2:]
    x = x.clone()
    batch = torch.arange(len(x))
    for _ in range(iterations):  # local pixel shuffling, bottom-right to top-left, every image at once
        for row in range(h - delta, delta, -1):
            for col in range(w - delta, delta, -1):
                dy, dx = torch.randint(-delta, delta, (2, len(x)), generator=generator)
                # The generator's "swap" is a numpy tuple assignment of views, x[h, w], x[h', w'] = x[h', w'],
                # x[h, w]: it copies the neighbour's pixel into (h, w) and leaves the neighbour as it was. That is
                # what defines CIFAR-10-C, so it is reproduced rather than swapping.
                x[batch, :, row, col] = x[batch, :, row + dy, col + dx]
    return gaussian_blur(x, sigma).clamp(0, 1)


@corruption
def motion_blur(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    radius, sigma = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)][severity - 1]
    return motion_blur_kernel_sample(x, radius, sigma, _uniform((len(x),), -45, 45, generator)).clamp(0, 1)


@corruption
def zoom_blur(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    top = [1.06, 1.11, 1.16, 1.21, 1.26][severity - 1]
    factors = np.arange(1, top, 0.01).tolist()  # numpy's, end point included by rounding, as the generator's
    out = x + sum(clipped_zoom(x, f) for f in factors)
    return (out / (len(factors) + 1)).clamp(0, 1)


@corruption
def snow(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    loc, scale, zoom, threshold, radius, sigma, blend = [
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)][severity - 1]
    b, _, h, w = x.shape
    layer = loc + scale * torch.randn((b, 1, h, w), generator=generator)
    layer = clipped_zoom(layer, zoom)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer).clamp(0, 1)
    layer = (layer * 255).floor() / 255  # the generator hands the layer to ImageMagick as an 8-bit PNG...
    layer = motion_blur_kernel_sample(layer, radius, sigma, _uniform((b,), -135, -45, generator))
    layer = (layer * 255).round() / 255  # ...and reads it back at 8 bits
    x = blend * x + (1 - blend) * torch.maximum(x, _grey(x) * 1.5 + 0.5)
    return (x + layer + layer.flip(-1, -2)).clamp(0, 1)


FROST = Path(__file__).with_name("frost")
FROST_PHOTOGRAPHS = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
"""The generator's photographs (Apache-2.0, see ``frost/README.md``); for CIFAR it draws from these five."""


@cache
def frost_photographs() -> tuple[Tensor, ...]:
    """Each photograph as ``(3, H, W)`` in [0, 1], resized by 0.2 as the generator does (OpenCV's bilinear:
    half-pixel centres, no antialiasing, 8-bit result)."""
    resized = []
    for name in FROST_PHOTOGRAPHS:
        pixels = np.asarray(Image.open(FROST / name).convert("RGB"), dtype=np.float32) / 255
        image = torch.from_numpy(pixels).permute(2, 0, 1)[None]
        small = F.interpolate(image, scale_factor=0.2, mode="bilinear", align_corners=False,
                              recompute_scale_factor=False)
        resized.append(((small[0] * 255).round() / 255).double())
    return tuple(resized)


@corruption
def frost(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    """A random crop of one of the frost photographs, blended in: ``keep * x + amount * frost``."""
    keep, amount = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    h, w = x.shape[-2:]
    photographs = frost_photographs()
    crops = []
    for _ in range(len(x)):
        photo = photographs[int(torch.randint(len(photographs), (1,), generator=generator))]
        top = int(torch.randint(photo.shape[1] - h, (1,), generator=generator))
        left = int(torch.randint(photo.shape[2] - w, (1,), generator=generator))
        crops.append(photo[:, top:top + h, left:left + w])
    return (keep * x + amount * torch.stack(crops).to(x)).clamp(0, 1)


@corruption
def fog(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    amount, decay = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][severity - 1]
    h, w = x.shape[-2:]
    size = 1 << (max(h, w) - 1).bit_length()  # the smallest power of two covering the image (32 for CIFAR)
    peak = x.flatten(1).amax(1).view(-1, 1, 1, 1)
    layers = torch.stack([plasma_fractal(size, decay, generator)[:h, :w] for _ in range(len(x))])[:, None].to(x)
    return ((x + amount * layers) * peak / (peak + amount)).clamp(0, 1)


@corruption
def brightness(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    """Raise the HSV value by c with hue and saturation kept: scale RGB by V'/V (grey for black pixels)."""
    c = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    value = x.amax(1, keepdim=True)
    raised = (value + c).clamp(max=1)
    scaled = x * raised / value.clamp(min=1e-12)
    return torch.where(value > 0, scaled, raised.expand_as(x)).clamp(0, 1)


@corruption
def contrast(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    c = [0.75, 0.5, 0.4, 0.3, 0.15][severity - 1]
    means = x.mean((-2, -1), keepdim=True)
    return ((x - means) * c + means).clamp(0, 1)


@corruption
def elastic_transform(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    h, w = x.shape[-2:]
    alpha, sigma, shift = (v * h for v in [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05),
                                            (0.1, 0.03, 0.03)][severity - 1])
    b = len(x)
    centre, third = torch.tensor([h // 2, w // 2], dtype=torch.float64), min(h, w) // 3
    src = torch.stack([centre + third, torch.stack([centre[0] + third, centre[1] - third]), centre - third])
    dst = src + _uniform((b, 3, 2), -shift, shift, generator).double()
    # The warp moves the points src -> dst; sampling needs the inverse: the affine map dst -> src, solved from
    # the three point pairs as rows [x, y, 1] @ A = [x', y'].
    ones = torch.ones(b, 3, 1, dtype=torch.float64)
    inverse = torch.linalg.solve(torch.cat([dst, ones], 2), src.expand(b, 3, 2))  # (B, 3, 2)
    ys, xs = _pixel_grid(x)
    mapped = torch.stack([xs, ys, torch.ones_like(xs)], -1) @ inverse[:, None]  # (B, H, W, 2) as (x, y)
    x = _sample(x, mapped[..., 1], mapped[..., 0])
    if alpha > 0:
        noise = _uniform((b, 2, h, w), -1, 1, generator)
        field = gaussian_blur(noise, sigma, mode="reflect", truncate=3) * alpha if sigma > 0 else noise * alpha
        x = _sample(x, ys + field[:, 1].double(), xs + field[:, 0].double())
    return x.clamp(0, 1)


@corruption
def pixelate(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    h, w = x.shape[-2:]
    return _per_image(x, lambda im: im.resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.BOX))


@corruption
def jpeg_compression(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    quality = [80, 65, 58, 50, 40][severity - 1]

    def encode(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue()))

    return _per_image(x, encode)


def corrupt(x: Tensor, name: str, severity: int, seed: int, batch_index: int = 0) -> Tensor:
    """8-bit pixels as the released sets hold them; deterministic: the same images, corruption, severity, seed and
    batch index give the same output."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from {', '.join(CORRUPTIONS)}")
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1-5, got {severity}")
    key = hashlib.sha256(f"{seed}/{name}/{severity}/{batch_index}".encode()).digest()
    generator = torch.Generator().manual_seed(int.from_bytes(key[:8], "little") >> 1)
    corrupted = CORRUPTIONS[name](x.float(), severity, generator)
    return (corrupted * 255).floor_() / 255  # the released sets are ``np.uint8(...)`` of this: truncated to 8 bits


def released_set(folder: Path, name: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 32, 32, 3)`` uint8 and labels of one released CIFAR-C set (memory-mapped; the files hold
    5 severities x n test images, severity-major: n = 10,000 for the released sets)."""
    path = folder / f"{name}.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: --cifar-c must hold the released <corruption>.npy files")
    images = np.load(path, mmap_mode="r")
    labels = np.load(folder / "labels.npy", mmap_mode="r")
    n = len(images) // 5
    rows = slice(n * (severity - 1), n * severity)
    return images[rows], labels[rows]


@dataclass(frozen=True)
class CorruptionSettings:
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    """severities to run (1-5)"""
    corruptions: tuple[str, ...] | None = None
    """a subset of the 15 corruptions (none: all)"""
    cifar_c: Path | None = None
    """folder of the released CIFAR-10-C/100-C .npy files (none: generate the sets)"""

    @property
    def names(self) -> tuple[str, ...]:
        names = self.corruptions or tuple(CORRUPTIONS)
        unknown = sorted(set(names) - set(CORRUPTIONS))
        if unknown:
            raise ValueError(f"unknown corruption(s) {unknown}; choose from {', '.join(CORRUPTIONS)}")
        return names


@dataclass(frozen=True)
class CorruptedSet:
    corruption: str
    severity: int
    accuracy: float
    nll: float
    ece: float
    images: int


@dataclass(frozen=True)
class CorruptionResult:
    SCHEMA_VERSION: ClassVar[int] = 1
    clean_accuracy: float
    clean_nll: float
    images: int
    """Images per set: the sample size behind each accuracy."""
    mean_corrupted_accuracy: float
    """The paper's robustness: the mean accuracy over all (corruption, severity) sets."""
    mean_corruption_error: float
    per_corruption_accuracy: dict[str, float]
    sets: list[CorruptedSet]
    source: str

    def accuracy(self, corruption: str, severity: int) -> float:
        return next(s.accuracy for s in self.sets if s.corruption == corruption and s.severity == severity)


@torch.no_grad()
def corruption_robustness(model: UnitIntrospection, loader, severities: tuple[int, ...] = (1, 2, 3, 4, 5),
                          names: tuple[str, ...] = tuple(CORRUPTIONS), seed: int = 0,
                          released: Path | None = None, device: str = "cpu", progress: bool = True,
                          dist: Distributed = Distributed(), shards: ShardFile | None = None) -> CorruptionResult:
    """Accuracy, NLL and ECE per (corruption, severity); the paper's robustness = mean accuracy over all sets.

    ``loader`` yields pixels in [0, 1] (used for the generated sets and the clean baseline). Under torchrun each
    rank evaluates the sets ``i % world == rank`` (each set's draws depend on its name, severity and batch only),
    so the gathered result is the single process's; ``shards`` keeps each finished set."""
    model.eval().to(device)
    batches = list(loader)
    clean = MetricAccumulator()
    for pixels, labels in batches:
        clean.update(model(normalise_batch(pixels.to(device), model.config)).cpu(), labels)
    sets = [(n, s) for n in names for s in severities]
    done = {}
    for i in tqdm(dist.mine(len(sets)), desc="corruptions", unit="set", disable=not (progress and dist.main)):
        if shards is not None and (row := shards.get(i)) is not None:
            done[i] = row
            continue
        name, severity = sets[i]
        accumulator = MetricAccumulator()
        if released is not None:
            images, labels = released_set(released, name, severity)
            for start in range(0, len(images), 500):
                pixels = torch.from_numpy(np.array(images[start:start + 500])).permute(0, 3, 1, 2).float() / 255
                logits = model(normalise_batch(pixels.to(device), model.config)).cpu()
                accumulator.update(logits, torch.from_numpy(np.array(labels[start:start + 500])).long())
        else:
            for b, (pixels, labels) in enumerate(batches):
                corrupted = corrupt(pixels, name, severity, seed, b)
                accumulator.update(model(normalise_batch(corrupted.to(device), model.config)).cpu(), labels)
        metrics = accumulator.compute()
        done[i] = CorruptedSet(name, severity, metrics.accuracy, metrics.nll, metrics.ece, metrics.count)
        if shards is not None:
            shards.put(i, done[i])
    rows = dist.gather(done, len(sets))
    mean_accuracy = sum(r.accuracy for r in rows) / len(rows)
    per_corruption = {n: sum(r.accuracy for r in rows if r.corruption == n) / len(severities) for n in names}
    clean_metrics = clean.compute()
    source = (f"released CIFAR-C files in {released}" if released else
              f"generated CIFAR-C (seed {seed}; Hendrycks & Dietterich's CIFAR generator re-implemented)")
    return CorruptionResult(clean_metrics.accuracy, clean_metrics.nll, min(r.images for r in rows), mean_accuracy,
                            1 - mean_accuracy, per_corruption, rows, source)


def run(model: UnitIntrospection, data: DataSpec, settings: CorruptionSettings,
        runtime: Runtime = Runtime()) -> CorruptionResult:
    shards = ShardFile(runtime.workdir, "corruptions", {"model": model.source, "data": data, "settings": settings},
                       runtime.dist, CorruptedSet)
    result = corruption_robustness(model, images_for(model, data, normalise=False), settings.severities,
                                   settings.names, data.seed, settings.cifar_c, runtime.device, runtime.progress,
                                   runtime.dist, shards)
    shards.remove()
    return result
