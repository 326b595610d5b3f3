from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from training.analyze.hessian import (
    Density,
    HessianResult,
    HessianSettings,
    HessianTrace,
    MaxEigenvalueSpectrum,
    UnitEigenpairs,
)
from training.analyze.plots.depth import KIND_COLOURS, depth_plot


def _spectra_panel(ax: plt.Axes, spectra: dict[str, MaxEigenvalueSpectrum]) -> None:
    for label, spectrum in spectra.items():
        ax.hist(spectrum.values, bins=40, alpha=0.5, density=True,
                label=f"{label} (mean top+ {spectrum.mean_top_positive:.3g}, "
                      f"neg {100 * spectrum.negative_fraction:.0f}%)")
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density over mini-batches")
    ax.set_title("max eigenvalue spectrum (top-k per batch)")
    ax.legend(fontsize=7)


def _densities_panel(ax: plt.Axes, densities: dict[str, Density]) -> None:
    for label, d in densities.items():
        ax.plot(d.grid, d.density, label=label)
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-6)
    ax.set_xlabel("eigenvalue")
    ax.set_title("SLQ spectral density")
    ax.legend(fontsize=7)


def _trace_panel(ax: plt.Axes, trace: HessianTrace) -> None:
    """Each batch's trace with its probe standard error, and the all-batch value with its band."""
    batches = range(len(trace.per_batch))
    ax.errorbar(batches, [t.value for t in trace.per_batch], [t.se for t in trace.per_batch], fmt="o", ms=3,
                capsize=2, color="tab:blue", label="per batch +- SE over probes")
    ax.axhline(trace.value, color="black", lw=1, label=f"all batches {trace.value:.4g} +- {trace.se:.2g}")
    ax.axhspan(trace.value - trace.se, trace.value + trace.se, color="0.8", lw=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("mini-batch")
    ax.set_ylabel("Hessian trace (Hutchinson)")
    ax.set_title("trace")
    ax.legend(fontsize=7)


def _units_panel(ax: plt.Axes, per_unit: list[UnitEigenpairs]) -> None:
    """Each unit's top eigenvalue against depth, coloured by kind; crosses mark those that did not converge."""
    infos = [u.unit for u in per_unit]
    depth_plot(ax, infos, [u.eigenpairs.values[0] for u in per_unit], "top eigenvalue of the unit's block")
    ax.axhline(0, color="k", lw=0.5)
    handles = [Patch(color=KIND_COLOURS[k], label=k.value) for k in dict.fromkeys(info.kind for info in infos)]
    if unconverged := [u for u in per_unit if not all(u.eigenpairs.converged)]:
        handles.append(ax.scatter([u.unit.depth for u in unconverged], [u.eigenpairs.values[0] for u in unconverged],
                                  marker="x", color="black", s=30, zorder=4, label="not converged"))
    ax.legend(handles=handles, fontsize=7)
    ax.set_title("per-unit Hessian blocks (first batch)")


def compare(spectra: dict[str, MaxEigenvalueSpectrum], densities: dict[str, Density] | None = None,
            title: str = "max eigenvalue spectra") -> plt.Figure:
    """Histogram of the max eigenvalue spectrum per model, and SLQ densities when given."""
    panels = 2 if densities else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    _spectra_panel(axes[0, 0], spectra)
    if densities:
        _densities_panel(axes[0, 1], densities)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot(result: HessianResult, settings: HessianSettings, title: str) -> plt.Figure:
    """The spectrum, and beside it whichever of the density, the trace and the per-unit blocks were computed."""
    panels = [lambda ax: _spectra_panel(ax, {title: result.spectrum})]
    if result.density is not None:
        panels.append(lambda ax: _densities_panel(ax, {title: result.density}))
    if result.trace is not None:
        panels.append(lambda ax: _trace_panel(ax, result.trace))
    if result.per_unit:
        panels.append(lambda ax: _units_panel(ax, result.per_unit))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for draw, ax in zip(panels, axes[0], strict=True):
        draw(ax)
    trace = f"; trace {result.trace.value:.4g} +- {result.trace.se:.2g}" if result.trace is not None else ""
    fig.suptitle(f"{title}: Hessian eigenvalues{trace}")
    fig.tight_layout()
    return fig
