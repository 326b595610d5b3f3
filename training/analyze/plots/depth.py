"""Quantities against normalised depth, with MSA and pooling units shaded as in the paper's plots."""

from __future__ import annotations

import matplotlib.pyplot as plt

from hub import UnitInfo, UnitKind

KIND_COLOURS = {UnitKind.STEM: "tab:gray", UnitKind.CONV: "tab:blue", UnitKind.MSA: "tab:red",
                UnitKind.MLP: "tab:green", UnitKind.POOL: "tab:purple", UnitKind.HEAD: "black"}


def shade_units(ax: plt.Axes, infos: list[UnitInfo]) -> None:
    """Grey bands over MSA units and purple over pooling units."""
    width = 1 / max(len(infos) - 1, 1)
    for info in infos:
        if info.kind in (UnitKind.MSA, UnitKind.POOL):
            colour = "0.85" if info.kind is UnitKind.MSA else "#e8dcf5"
            ax.axvspan(info.depth - width / 2, info.depth + width / 2, color=colour, zorder=0, lw=0)


def depth_plot(ax: plt.Axes, infos: list[UnitInfo], values: list[float], ylabel: str, label: str | None = None,
               colour: str = "black", size: int = 14) -> None:
    shade_units(ax, infos)
    ax.plot([i.depth for i in infos], values, "-", color=colour, lw=1, label=label, zorder=2)
    ax.scatter([i.depth for i in infos], values, c=[KIND_COLOURS[i.kind] for i in infos], s=size, zorder=3)
    ax.set_xlabel("normalised depth")
    ax.set_ylabel(ylabel)


def side_by_side(series: dict[str, tuple[list[UnitInfo], list[float]]], ylabel: str, log: bool = False) -> plt.Figure:
    """One depth panel per model (the report's comparisons)."""
    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.5), squeeze=False)
    for ax, (model, (infos, values)) in zip(axes[0], series.items(), strict=True):
        depth_plot(ax, infos, values, ylabel, size=12)
        if log:
            ax.set_yscale("log")
        ax.set_title(model, fontsize=9)
    fig.tight_layout()
    return fig
