from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from training.analyze.fourier import FourierResult, FourierSettings
from training.analyze.plots.depth import depth_plot, side_by_side


def plot(result: FourierResult, settings: FourierSettings, title: str) -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colours = plt.cm.plasma(torch.linspace(0, 0.9, len(result.spectra)).tolist())
    for spectrum, colour in zip(result.spectra, colours, strict=True):
        axes[0].plot(spectrum.amplitude.diagonal_freq, spectrum.amplitude.diagonal, color=colour, lw=1)
        axes[1].plot(spectrum.amplitude.radial_freq, spectrum.amplitude.radial, color=colour, lw=1)
    for ax, what in zip(axes[:2], ("diagonal", "radial average"), strict=True):
        ax.set_xlabel("frequency (x pi)")
        ax.set_ylabel("delta log amplitude")
        ax.set_title(f"{what}; colour = depth (dark: early)")
    depth_plot(axes[2], result.units, [s.at(result.point) for s in result.spectra], point_label(result))
    axes[2].set_title("high-frequency amplitude vs depth (grey: MSA, purple: pooling)")
    fig.suptitle(f"{title}: feature-map spectra")
    fig.tight_layout()
    return fig


def point_label(result: FourierResult) -> str:
    where = "the paper's Fig. 8 bin (its 1.0pi)" if result.point == "paper" else "the Nyquist corner (pi, pi)"
    return f"delta log amplitude at {where}"


def compare(results: dict[str, FourierResult]) -> plt.Figure:
    return side_by_side({m: (r.units, [s.at(r.point) for s in r.spectra]) for m, r in results.items()},
                        point_label(next(iter(results.values()))))
