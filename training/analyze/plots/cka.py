from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from hub import UnitInfo
from training.analyze.cka import CkaResult, CkaSettings
from training.analyze.plots.depth import KIND_COLOURS

MAX_TICKS = 40
"""More units than this get every n-th tick label."""


def _label_units(ax: plt.Axes, infos: list[UnitInfo], axis: str) -> None:
    """Unit names along one axis, each coloured by its kind, and a strip of kind colours beside the matrix."""
    ticks = list(range(0, len(infos), -(-len(infos) // MAX_TICKS)))
    names = [infos[i].name for i in ticks]
    if axis == "x":
        ax.set_xticks(ticks, names, rotation=90, fontsize=6)
        labels = ax.get_xticklabels()
    else:
        ax.set_yticks(ticks, names, fontsize=6)
        labels = ax.get_yticklabels()
    ax.tick_params(axis=axis, length=0, pad=9)  # the labels clear the kind strip
    for label, i in zip(labels, ticks, strict=True):
        label.set_color(KIND_COLOURS[infos[i].kind])
    for i, info in enumerate(infos):
        span = {"color": KIND_COLOURS[info.kind], "lw": 0, "clip_on": False}
        if axis == "x":
            ax.axvspan(i - 0.5, i + 0.5, ymin=-0.02, ymax=0, **span)
        else:
            ax.axhspan(i - 0.5, i + 0.5, xmin=-0.02, xmax=0, **span)


def plot(result: CkaResult, settings: CkaSettings, title: str) -> plt.Figure:
    """The within-model matrix, or with ``--other`` the units(model) x units(other) one; rows from the input up."""
    cross = result.cross
    columns = cross.units if cross is not None else result.units
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(cross.cka if cross is not None else result.cka, cmap="magma", vmin=0, vmax=1, origin="lower",
                      aspect="auto")
    _label_units(ax, result.units, "y")
    _label_units(ax, columns, "x")
    ax.set_ylabel(f"{title}: units, input to output", fontsize=8)
    ax.set_xlabel(f"{cross.source if cross is not None else title}: units, input to output", fontsize=8)
    kinds = dict.fromkeys(info.kind for info in [*result.units, *columns])
    ax.legend(handles=[Patch(color=KIND_COLOURS[k], label=k.value) for k in kinds], fontsize=6, loc="upper left",
              bbox_to_anchor=(1.25, 1), title="unit kind", title_fontsize=7)
    fig.colorbar(image, ax=ax, label="linear CKA")
    heading = f"{title} vs {cross.source}" if cross is not None else title
    ax.set_title(f"{heading}: mini-batch linear CKA", fontsize=9)
    fig.tight_layout()
    return fig
