"""Robustness to frequency-band noise (the paper's Fig. 2b): random noise restricted to a band of spatial
frequencies, added to the images in pixel space (before normalisation), at band centres from 0 to pi.

Noise: a seeded draw (Gaussian, or +-1 signs like the original's ``Random`` attack), 2-D FFT, multiplied
by a band mask, inverse FFT. The mask is a square (L-infinity) annulus ``f - s <= max(|fy|, |fx|) <= f + s``
as in the original's ``FreqAttack``, or a circular one; it is symmetric under f -> -f, so the filtered noise
is real and all its energy lies in the band. ``norm="fixed"`` rescales every image's noise to RMS
``strength`` (bands comparable); ``norm="original"`` keeps the filtered +-strength draw (the original:
narrow and low bands then carry less energy). The noise L2 norm per band is reported either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import matplotlib.pyplot as plt
import torch
from torch import Tensor
from tqdm import tqdm

from hub import UnitModel
from hub.config import ModelConfig
from hub.preprocess import normalise_batch

MaskShape = Literal["square", "circle"]
NoiseNorm = Literal["fixed", "original"]


@dataclass(frozen=True)
class BandNoise:
    """One noise setting: band centre and half-width in radians per pixel (pi = Nyquist)."""

    centre: float
    half_width: float = 0.2
    strength: float = 0.1
    """RMS of the noise in [0, 1] pixel units (``fixed``), or the +- amplitude before filtering (``original``)."""
    shape: MaskShape = "square"
    norm: NoiseNorm = "fixed"
    base: Literal["gaussian", "sign"] = "gaussian"


def band_mask(height: int, width: int, centre: float, half_width: float, shape: MaskShape = "square") -> Tensor:
    """Boolean ``(H, W)`` mask in FFT (unshifted) order of the frequencies inside the band."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64).abs() * 2 * math.pi
    fx = torch.fft.fftfreq(width, dtype=torch.float64).abs() * 2 * math.pi
    radius = (torch.maximum(fy[:, None], fx[None, :]) if shape == "square"
              else torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2))
    return (radius >= centre - half_width - 1e-9) & (radius <= centre + half_width + 1e-9)


def band_limited_noise(shape: tuple[int, ...], setting: BandNoise, generator: torch.Generator) -> Tensor:
    """Noise of ``shape`` ``(..., H, W)`` whose spectrum lies inside the band of ``setting``."""
    draw = torch.randn(shape, generator=generator, dtype=torch.float64)
    if setting.base == "sign":
        draw = draw.sign()
    mask = band_mask(shape[-2], shape[-1], setting.centre, setting.half_width, setting.shape)
    noise = torch.fft.ifft2(torch.fft.fft2(draw) * mask).real
    if setting.norm == "fixed":
        rms = noise.flatten(-3).pow(2).mean(-1).sqrt().clamp(min=1e-12)
        return (noise / rms[..., None, None, None] * setting.strength).float()
    return (noise * setting.strength).float()


def band_energy_fraction(noise: Tensor, mask: Tensor) -> float:
    """Share of the noise's spectral energy inside ``mask`` (FFT order)."""
    power = torch.fft.fft2(noise.double()).abs().pow(2)
    return (power * mask).sum().item() / power.sum().item()


Classify = Callable[[Tensor], Tensor]
"""Normalised ``(B, 3, H, W)`` batch -> logits: a model, or any predictor wrapped as one."""


@torch.no_grad()
def predictions_under_noise(classify: Classify, config: ModelConfig, pixels: Tensor, setting: BandNoise,
                            generator: torch.Generator, clip: bool = False) -> tuple[Tensor, Tensor]:
    """Softmax probabilities for ``pixels + noise`` (``(B, 3, H, W)`` in [0, 1]) and the noise used."""
    noise = band_limited_noise(tuple(pixels.shape), setting, generator).to(pixels.device)
    noisy = pixels + noise
    if clip:
        noisy = noisy.clamp(0, 1)
    return classify(normalise_batch(noisy, config)).softmax(-1), noise


def centres(count: int) -> list[float]:
    """``count`` band centres evenly from 0 to pi."""
    return [math.pi * i / (count - 1) for i in range(count)]


@torch.no_grad()
def frequency_noise_robustness(model: UnitModel, loader, settings: list[BandNoise], seed: int = 0,
                               clip: bool = False, device: str = "cpu", progress: bool = True) -> dict:
    """Per band: accuracy, accuracy drop against clean, prediction-flip rate and mean noise L2 norm.

    ``loader`` yields pixels in [0, 1]. Every band uses the same seeded draws for the same image."""
    model.eval().to(device)
    batches = list(loader)
    clean_pred, labels = [], []
    for pixels, y in batches:
        clean_pred.append(model(normalise_batch(pixels.to(device), model.config)).argmax(-1).cpu())
        labels.append(y)
    clean_pred_t, labels_t = torch.cat(clean_pred), torch.cat(labels)
    clean_acc = (clean_pred_t == labels_t).double().mean().item()
    rows = []
    for setting in tqdm(settings, desc="bands", unit="band", disable=not progress):
        generator = torch.Generator().manual_seed(seed)
        predicted, norms = [], []
        for pixels, _ in batches:
            probs, noise = predictions_under_noise(model, model.config, pixels.to(device), setting, generator, clip)
            predicted.append(probs.argmax(-1).cpu())
            norms.append(noise.flatten(1).norm(dim=1).cpu())
        pred = torch.cat(predicted)
        accuracy = (pred == labels_t).double().mean().item()
        rows.append({"centre": setting.centre, "centre_pi": setting.centre / math.pi, "accuracy": accuracy,
                     "accuracy_drop": clean_acc - accuracy, "flip_rate": (pred != clean_pred_t).double().mean().item(),
                     "noise_l2": torch.cat(norms).mean().item()})
    return {"clean_accuracy": clean_acc, "images": len(labels_t), "bands": rows}


@torch.no_grad()
def image_band_robustness(classify: Classify, config: ModelConfig, pixels: Tensor, settings: list[BandNoise],
                          draws: int = 8, seed: int = 0) -> list[dict]:
    """The per-image form: one ``(3, H, W)`` image in [0, 1], ``draws`` seeded noise draws per band.

    Returns, per band, the mean change of the clean top-1 class's probability and the fraction of draws
    whose prediction differs from the clean one. Deterministic for a given image and seed; ``classify`` is
    a model in eval mode or any predictor wrapped as ``normalised batch -> logits``."""
    clean = classify(normalise_batch(pixels[None], config)).softmax(-1)[0]
    top = int(clean.argmax())
    batch = pixels[None].expand(draws, *pixels.shape)
    rows = []
    for setting in settings:
        probs, _ = predictions_under_noise(classify, config, batch, setting, torch.Generator().manual_seed(seed))
        rows.append({"centre": setting.centre, "centre_pi": setting.centre / math.pi,
                     "confidence_change": (probs[:, top] - clean[top]).mean().item(),
                     "flip_rate": (probs.argmax(-1) != top).double().mean().item()})
    return rows


def plot_robustness(results: dict[str, dict], title: str) -> plt.Figure:
    """``results``: label -> :func:`frequency_noise_robustness` output (one curve per model)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, result in results.items():
        x = [row["centre_pi"] for row in result["bands"]]
        axes[0].plot(x, [100 * row["accuracy_drop"] for row in result["bands"]], "o-", label=label)
        axes[1].plot(x, [100 * row["flip_rate"] for row in result["bands"]], "o-", label=label)
    axes[0].set_ylabel("accuracy drop (pp)")
    axes[1].set_ylabel("prediction flips (%)")
    for ax in axes:
        ax.set_xlabel("noise band centre (x pi)")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
