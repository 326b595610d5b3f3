from __future__ import annotations

import matplotlib.pyplot as plt

from training.analyze.cka import CkaResult
from training.analyze.inputs import NoSettings


def plot(result: CkaResult, settings: NoSettings, title: str) -> plt.Figure:
    names = result.units
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(result.cka, cmap="magma", vmin=0, vmax=1, origin="lower")
    ticks = range(0, len(names), max(1, len(names) // 12))
    ax.set_xticks(list(ticks), [names[i] for i in ticks], rotation=90, fontsize=7)
    ax.set_yticks(list(ticks), [names[i] for i in ticks], fontsize=7)
    fig.colorbar(image, ax=ax, label="linear CKA")
    ax.set_title(f"{title}: mini-batch linear CKA")
    fig.tight_layout()
    return fig
