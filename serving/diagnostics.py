"""Per-image frequency and robustness diagnostics, the single-image forms of the paper's analyses:

- the image's radially averaged power spectrum and its high-frequency energy share;
- the prediction on low-pass and high-pass filtered versions (does the model rely on shape or texture?);
- robustness to band-limited noise at low, middle and high frequencies (confidence change and flip rate
  over seeded draws: :func:`hub.noise.image_band_robustness`);
- with the torch backend, the delta log amplitude at the highest frequency of the feature maps at the end of
  each stage (:class:`hub.frequency.DeltaLogAmplitude` of this one image's maps).

Deterministic for a given image and seed: every model call here has a fixed batch composition.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import torch
from torch import Tensor

from hub import UnitModel
from hub.config import ModelConfig
from hub.frequency import DeltaLogAmplitude, log_amplitude, power_spectrum, radial_frequency
from hub.noise import BandNoise, image_band_robustness
from hub.postprocess import top_k
from hub.preprocess import normalise_batch

BANDS = {"low": 0.1 * math.pi, "middle": 0.5 * math.pi, "high": 0.9 * math.pi}
FILTER_CUTOFF = 0.3
"""Low-pass keeps radial frequencies below 0.3 pi; high-pass keeps the rest (plus the mean colour)."""
HIGH_FREQUENCY = 0.5
"""The energy share reported is that above 0.5 pi."""


def frequency_filtered(pixels: Tensor, cutoff: float, keep: str) -> Tensor:
    """Ideal circular low-pass (``keep="low"``) or high-pass (``"high"``, mean colour kept) filter."""
    radius = radial_frequency(*pixels.shape[-2:])
    mask = radius <= cutoff if keep == "low" else radius > cutoff
    mask[0, 0] = True  # the mean colour: a high-passed image stays an image
    filtered = torch.fft.ifft2(torch.fft.fft2(pixels.double()) * mask).real
    return filtered.clamp(0, 1).float()


def _top(probabilities: Tensor, labels: list[str], k: int) -> list[dict]:
    return [asdict(score) for score in top_k(probabilities.double().numpy(), labels, k)]


def diagnose(classify: Callable[[Tensor], Tensor], config: ModelConfig, pixels: Tensor, *, seed: int = 0,
             draws: int = 8, strength: float = 0.1, top_k: int = 5, model: UnitModel | None = None) -> dict:
    """Everything above for one ``(3, H, W)`` image in [0, 1] already resized to the model's input size:
    ``draws`` seeded noise draws of RMS ``strength`` per band, the ``top_k`` clean classes."""
    labels = config.labels
    with torch.no_grad():
        clean = classify(normalise_batch(pixels[None], config)).softmax(-1)[0]
        filtered = torch.stack([frequency_filtered(pixels, FILTER_CUTOFF, "low"),
                                frequency_filtered(pixels, FILTER_CUTOFF, "high")])
        probs = classify(normalise_batch(filtered, config)).softmax(-1)
    top = int(clean.argmax())
    shape_texture = {}
    for name, p in zip(("low_pass", "high_pass"), probs, strict=True):
        shape_texture[name] = {"cutoff_pi": FILTER_CUTOFF, "prediction": _top(p, labels, 1)[0],
                               "agrees": int(p.argmax()) == top, "clean_class_probability": float(p[top])}
    settings = [BandNoise(centre, strength=strength) for centre in BANDS.values()]
    bands = image_band_robustness(classify, config, pixels, settings, draws, seed)
    robustness = {name: {**asdict(row), "draws": draws, "strength_rms": strength}
                  for name, row in zip(BANDS, bands, strict=True)}
    result = {
        "prediction": _top(clean, labels, top_k),
        "spectrum": asdict(power_spectrum(pixels, HIGH_FREQUENCY)),
        "shape_vs_texture": shape_texture,
        "band_noise": robustness,
        "feature_maps": _stage_amplitudes(model, normalise_batch(pixels[None], config)) if model is not None
        else None,
        "seed": seed,
    }
    return result


@torch.no_grad()
def _stage_amplitudes(model: UnitModel, x: Tensor) -> list[dict]:
    """The delta log amplitude at the highest frequency of the last unit's map of each stage."""
    last_of_stage = {info.stage: info for info in model.unit_infos()[:-1]}
    maps = model.eval().forward_intermediates(x, indices=[info.index for info in last_of_stage.values()])
    return [{"stage": stage, "unit": info.name, "kind": info.kind.value, "depth": info.depth,
             "delta_log_amplitude_high": DeltaLogAmplitude.of(log_amplitude(maps[info.name])).at("nyquist")}
            for stage, info in sorted(last_of_stage.items())]


def figure_png(result: dict, title: str) -> str:
    """A small PNG of the diagnostics, base64-encoded for JSON."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 4 if result["feature_maps"] else 3
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 2.8))
    spectrum = result["spectrum"]
    axes[0].semilogy(spectrum["frequency_pi"], np.maximum(spectrum["power"], 1e-12))
    axes[0].set_title(f"power spectrum (HF share {spectrum['high_frequency_share']:.2f})", fontsize=8)
    axes[0].set_xlabel("frequency (x pi)", fontsize=8)
    prediction = result["prediction"]
    axes[1].barh([p["label"] for p in prediction][::-1], [p["probability"] for p in prediction][::-1])
    axes[1].set_title("top-k", fontsize=8)
    names = list(result["band_noise"])
    axes[2].bar(names, [result["band_noise"][n]["flip_rate"] for n in names], color="tab:red")
    axes[2].set_ylim(0, 1)
    axes[2].set_title("flip rate under band noise", fontsize=8)
    if result["feature_maps"]:
        stages = result["feature_maps"]
        axes[3].plot([s["stage"] for s in stages], [s["delta_log_amplitude_high"] for s in stages], "o-")
        axes[3].set_title("feature-map HF amplitude per stage", fontsize=8)
        axes[3].set_xlabel("stage", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()
