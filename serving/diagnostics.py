"""Per-image frequency and robustness diagnostics, the single-image forms of the paper's analyses, computed with
NumPy on the runtime's outputs (no torch in an ONNX Runtime worker):

- the image's radially averaged power spectrum and its high-frequency energy share;
- the prediction on low-pass and high-pass filtered versions (does the model rely on shape or texture?);
- robustness to band-limited noise at low, middle and high frequencies: the change of the clean class's
  probability and the flip rate over seeded draws (the same draws for every band), the per-image form of the
  ``noise`` analysis;
- with the torch backend, the delta log amplitude at the highest frequency of the feature maps at the end of
  each stage (:mod:`serving.feature_maps`).

Deterministic for a given image and seed: every model call here has a fixed batch composition.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hub.config import ModelConfig
from hub.postprocess import ClassScore, probabilities, top_k
from hub.preprocess import normalise
from hub.spectrum import BandNoise, PowerSpectrum, band_limit, frequency_filtered, power_spectrum

BANDS = {"low": 0.1 * math.pi, "middle": 0.5 * math.pi, "high": 0.9 * math.pi}
FILTER_CUTOFF = 0.3
"""Low-pass keeps radial frequencies below 0.3 pi; high-pass keeps the rest (plus the mean colour)."""
HIGH_FREQUENCY = 0.5
"""The energy share reported is that above 0.5 pi."""

Classify = Callable[[np.ndarray], np.ndarray]
"""Normalised ``(B, 3, H, W)`` float32 batch -> logits: a predictor's ``predict``."""


@dataclass(frozen=True)
class FilteredPrediction:
    cutoff_pi: float
    prediction: ClassScore
    agrees: bool
    """The filtered image's top-1 class is the clean image's."""
    clean_class_probability: float


@dataclass(frozen=True)
class BandRobustness:
    """How the prediction fares under one band's noise."""

    centre: float
    centre_pi: float
    confidence_change: float
    """Mean change of the clean top-1 class's probability over the draws."""
    flip_rate: float
    """Fraction of draws whose top-1 class differs from the clean one."""
    draws: int
    strength_rms: float


@dataclass(frozen=True)
class StageAmplitude:
    stage: int
    unit: str
    kind: str
    depth: int
    delta_log_amplitude_high: float


@dataclass(frozen=True)
class ImageDiagnostics:
    spectrum: PowerSpectrum
    shape_vs_texture: dict[str, FilteredPrediction]
    band_noise: dict[str, BandRobustness]
    feature_maps: list[StageAmplitude]
    """Per stage, with the torch backend (empty with the others: see ``feature_maps_note``)."""
    feature_maps_note: str
    seed: int


def band_robustness(classify: Classify, config: ModelConfig, pixels: np.ndarray, clean: np.ndarray, draws: int,
                    strength: float, seed: int) -> dict[str, BandRobustness]:
    """``draws`` seeded noise draws of RMS ``strength`` per band (:data:`BANDS`) added to ``(3, H, W)`` pixels."""
    top = int(clean.argmax())
    draw = np.random.default_rng(seed).standard_normal((draws, *pixels.shape))
    rows = {}
    for name, centre in BANDS.items():
        noisy = pixels[None] + band_limit(draw, BandNoise(centre, strength=strength))
        probs = probabilities(classify(normalise(noisy, config)))
        rows[name] = BandRobustness(centre, centre / math.pi, float((probs[:, top] - clean[top]).mean()),
                                    float((probs.argmax(-1) != top).mean()), draws, strength)
    return rows


def diagnose(classify: Classify, config: ModelConfig, pixels: np.ndarray, *, seed: int = 0, draws: int = 8,
             strength: float = 0.1, feature_maps: list[StageAmplitude] | None = None) -> ImageDiagnostics:
    """Everything above for one ``(3, H, W)`` float32 image in [0, 1] already resized to the model's input."""
    clean = probabilities(classify(normalise(pixels[None], config)))[0]
    top = int(clean.argmax())
    filtered = np.stack([frequency_filtered(pixels, FILTER_CUTOFF, keep) for keep in ("low", "high")])
    filtered_probabilities = probabilities(classify(normalise(filtered, config)))
    shape_texture = {
        name: FilteredPrediction(FILTER_CUTOFF, top_k(p, config.labels, 1)[0], int(p.argmax()) == top, float(p[top]))
        for name, p in zip(("low_pass", "high_pass"), filtered_probabilities, strict=True)}
    note = "" if feature_maps is not None else "per-stage feature-map amplitudes need the torch backend"
    return ImageDiagnostics(power_spectrum(pixels, HIGH_FREQUENCY), shape_texture,
                            band_robustness(classify, config, pixels, clean, draws, strength, seed),
                            feature_maps or [], note, seed)


def figure_png(result: ImageDiagnostics, prediction: list[ClassScore], title: str) -> str:
    """A small PNG of the diagnostics, base64-encoded for JSON."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 4 if result.feature_maps else 3
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 2.8))
    spectrum = result.spectrum
    axes[0].semilogy(spectrum.frequency_pi, np.maximum(np.nan_to_num(spectrum.power), 1e-12))
    axes[0].set_title(f"power spectrum (HF share {spectrum.high_frequency_share:.2f})", fontsize=8)
    axes[0].set_xlabel("frequency (x pi)", fontsize=8)
    axes[0].set_ylabel("power", fontsize=8)
    axes[1].barh([p.label for p in prediction][::-1], [p.probability for p in prediction][::-1])
    axes[1].set_title("top-k", fontsize=8)
    axes[1].set_xlabel("probability", fontsize=8)
    names = list(result.band_noise)
    axes[2].bar(names, [result.band_noise[n].flip_rate for n in names], color="tab:red")
    axes[2].set_ylim(0, 1)
    axes[2].set_title("flip rate under band noise", fontsize=8)
    axes[2].set_ylabel("flip rate", fontsize=8)
    if result.feature_maps:
        stages = result.feature_maps
        axes[3].plot([s.stage for s in stages], [s.delta_log_amplitude_high for s in stages], "o-")
        axes[3].set_title("feature-map HF amplitude per stage", fontsize=8)
        axes[3].set_xlabel("stage", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()
