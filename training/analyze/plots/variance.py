from __future__ import annotations

import matplotlib.pyplot as plt

from training.analyze.inputs import NoSettings
from training.analyze.plots.depth import depth_plot, side_by_side
from training.analyze.variance import VarianceResult


def plot(result: VarianceResult, settings: NoSettings, title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    depth_plot(ax, result.units, [result.variance[i.name] for i in result.units], "feature-map variance")
    ax.set_yscale("log")
    ax.set_title(f"{title}: feature-map variance (grey: MSA, purple: pooling)")
    fig.tight_layout()
    return fig


def compare(results: dict[str, VarianceResult]) -> plt.Figure:
    return side_by_side({m: (r.units, [r.variance[i.name] for i in r.units]) for m, r in results.items()},
                        "feature-map variance", log=True)
