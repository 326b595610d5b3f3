from __future__ import annotations

import matplotlib.pyplot as plt

from training.analyze.hessian import Density, HessianResult, HessianSettings, MaxEigenvalueSpectrum


def compare(spectra: dict[str, MaxEigenvalueSpectrum], densities: dict[str, Density] | None = None,
            title: str = "max eigenvalue spectra") -> plt.Figure:
    """Histogram of the max eigenvalue spectrum per model, and SLQ densities when given."""
    panels = 2 if densities else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    for label, spectrum in spectra.items():
        axes[0, 0].hist(spectrum.values, bins=40, alpha=0.5, density=True,
                        label=f"{label} (mean top+ {spectrum.mean_top_positive:.3g}, "
                              f"neg {100 * spectrum.negative_fraction:.0f}%)")
    axes[0, 0].axvline(0, color="k", lw=0.5)
    axes[0, 0].set_xlabel("eigenvalue")
    axes[0, 0].set_ylabel("density over mini-batches")
    axes[0, 0].set_title("max eigenvalue spectrum (top-k per batch)")
    axes[0, 0].legend(fontsize=7)
    if densities:
        for label, d in densities.items():
            axes[0, 1].plot(d.grid, d.density, label=label)
        axes[0, 1].set_yscale("log")
        axes[0, 1].set_ylim(bottom=1e-6)
        axes[0, 1].set_xlabel("eigenvalue")
        axes[0, 1].set_title("SLQ spectral density")
        axes[0, 1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot(result: HessianResult, settings: HessianSettings, title: str) -> plt.Figure:
    densities = {title: result.density} if result.density is not None else None
    return compare({title: result.spectrum}, densities, f"{title}: Hessian eigenvalues")
