from __future__ import annotations

import matplotlib.pyplot as plt

from hub import UnitKind
from training.analyze.inputs import NoSettings
from training.analyze.lesion import LesionResult
from training.analyze.plots.depth import KIND_COLOURS, shade_units


def plot(result: LesionResult, settings: NoSettings, title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 4))
    shade_units(ax, result.units)
    width = 0.8 / max(len(result.units) - 1, 1)
    by_kind = {}
    for unit in result.lesioned:
        kind = UnitKind(unit.kind)
        by_kind[kind] = ax.bar(unit.depth, 100 * unit.drop, width=width, color=KIND_COLOURS[kind])
    ax.legend(by_kind.values(), [k.value for k in by_kind], fontsize=8)
    ax.set_xlabel("normalised depth of the removed unit")
    ax.set_ylabel("accuracy drop (pp)")
    ax.set_title(f"{title}: lesion study, clean accuracy {100 * result.clean_accuracy:.1f}%")
    fig.tight_layout()
    return fig
