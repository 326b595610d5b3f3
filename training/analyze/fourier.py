"""Fourier analysis of feature maps (the paper's Fig. 2a and 8): relative log amplitude of every unit's output.

Per unit output ``(B, C, H, W)``: 2-D FFT over (H, W), log amplitude, ``fftshift`` (DC in the centre, correct
for odd sizes too, unlike the original's roll by H/2), averaged over images and channels ("mean of log", the
original) or the log of the mean amplitude. Profiles are taken from DC to the corner along the diagonal (the
original: frequencies (k, k), reaching pi at the corner for even sizes) and as a radial average; both are
relative to DC ("delta log amplitude"). Averaged over every image of the evaluation set, not one image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import matplotlib.pyplot as plt
import torch
from torch import Tensor
from tqdm import tqdm

from hub import UnitModel
from training.analyze.common import depth_plot, unit_table

Average = Literal["mean-of-log", "log-of-mean"]
EPS = 1e-6


def shifted_amplitude(fmap: Tensor, average: Average = "mean-of-log") -> Tensor:
    """``(B, C, H, W)`` -> ``(H, W)`` summed over B (callers divide by the image count), DC at ``(H//2, W//2)``.

    ``mean-of-log`` sums ``log(|F| + 1e-6)`` averaged over channels; ``log-of-mean`` sums ``|F|`` averaged
    over channels (the log is taken once the whole set is summed)."""
    amplitude = torch.fft.fft2(fmap.float()).abs()
    values = torch.log(amplitude + EPS) if average == "mean-of-log" else amplitude
    return torch.fft.fftshift(values, dim=(-2, -1)).mean(1).sum(0)


def diagonal_profile(spectrum: Tensor) -> tuple[Tensor, Tensor]:
    """Frequencies (in units of pi) and values minus DC along the diagonal from DC to the corner.

    Walks towards negative frequencies, which for even sizes reaches the Nyquist corner (-pi, -pi); the
    amplitude of a real signal is symmetric, so this is the original's (k, k) diagonal plus its last point.
    """
    h, w = spectrum.shape
    cy, cx = h // 2, w // 2
    steps = torch.arange(min(cy, cx) + 1)
    values = spectrum[cy - steps, cx - steps]
    return 2 * steps.double() / min(h, w), values - values[0]


def radial_profile(spectrum: Tensor, bins: int | None = None) -> tuple[Tensor, Tensor]:
    """Average over rings of normalised radius ``sqrt(fy^2 + fx^2) / pi`` in ``bins`` steps from 0 to 1
    (frequencies beyond pi, in the corners, are left out), minus DC."""
    h, w = spectrum.shape
    bins = bins or min(h, w) // 2
    fy = (torch.arange(h) - h // 2).double() * 2 / h
    fx = (torch.arange(w) - w // 2).double() * 2 / w
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    index = torch.round(radius * bins).long()
    inside = index <= bins
    sums = torch.zeros(bins + 1, dtype=torch.float64).index_add_(0, index[inside], spectrum[inside].double())
    counts = torch.bincount(index[inside], minlength=bins + 1).double()
    values = sums / counts.clamp(min=1)
    values[counts == 0] = float("nan")
    return torch.arange(bins + 1).double() / bins, values - spectrum[h // 2, w // 2].double()


@dataclass
class UnitSpectrum:
    name: str
    kind: str
    depth: float
    size: tuple[int, int]
    diagonal_freq: list[float]
    diagonal: list[float]
    radial_freq: list[float]
    radial: list[float]

    @property
    def high_frequency(self) -> float:
        """Delta log amplitude at the highest diagonal frequency (the paper's Fig. 8 value)."""
        return self.diagonal[-1]


@torch.no_grad()
def feature_map_spectra(model: UnitModel, loader, average: Average = "mean-of-log", device: str = "cpu",
                        progress: bool = True) -> list[UnitSpectrum]:
    """Delta log amplitude of every unit's output, averaged over all images of ``loader``."""
    model.eval().to(device)
    sums: dict[str, Tensor] = {}
    count = 0
    for images, _ in tqdm(loader, desc="fourier", unit="batch", disable=not progress):
        for name, fmap in model.forward_features(images.to(device)).items():
            part = shifted_amplitude(fmap, average).cpu()
            sums[name] = sums[name] + part if name in sums else part
        count += len(images)
    spectra = []
    for info in model.unit_infos()[:-1]:
        spectrum = sums[info.name].double() / count
        if average == "log-of-mean":
            spectrum = torch.log(spectrum + EPS)
        dfreq, diag = diagonal_profile(spectrum)
        rfreq, radial = radial_profile(spectrum)
        spectra.append(UnitSpectrum(info.name, info.kind.value, info.depth, tuple(spectrum.shape), dfreq.tolist(),
                                    diag.tolist(), rfreq.tolist(), radial.tolist()))
    return spectra


def plot_spectra(model: UnitModel, spectra: list[UnitSpectrum], title: str) -> plt.Figure:
    infos = model.unit_infos()[:-1]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colours = plt.cm.plasma(torch.linspace(0, 0.9, len(spectra)).tolist())
    for spectrum, colour in zip(spectra, colours, strict=True):
        axes[0].plot(spectrum.diagonal_freq, spectrum.diagonal, color=colour, lw=1)
        axes[1].plot(spectrum.radial_freq, spectrum.radial, color=colour, lw=1)
    for ax, what in zip(axes[:2], ("diagonal", "radial average"), strict=True):
        ax.set_xlabel("frequency (x pi)")
        ax.set_ylabel("delta log amplitude")
        ax.set_title(f"{what}; colour = depth (dark: early)")
    depth_plot(axes[2], infos, [s.high_frequency for s in spectra], "delta log amplitude at the highest frequency")
    axes[2].set_title("high-frequency amplitude vs depth (grey: MSA, purple: pooling)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def summarise(model: UnitModel, spectra: list[UnitSpectrum]) -> dict:
    """The paper's claim in numbers: the mean change of the high-frequency value across MSA units vs
    Conv/MLP units (negative = the unit removes high frequencies, i.e. acts as a low-pass filter)."""
    values = [s.high_frequency for s in spectra]
    changes: dict[str, list[float]] = {}
    for i in range(1, len(spectra)):
        changes.setdefault(spectra[i].kind, []).append(values[i] - values[i - 1])
    return {"units": unit_table(model.unit_infos()[:-1]),
            "mean_high_frequency_change_by_kind": {k: sum(v) / len(v) for k, v in changes.items()}}
