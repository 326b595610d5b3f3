from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from training.analyze.corruptions import CorruptionResult, CorruptionSettings


def plot(result: CorruptionResult, settings: CorruptionSettings, title: str) -> plt.Figure:
    names = list(result.per_corruption_accuracy)
    severities = sorted({s.severity for s in result.sets})
    table = np.array([[result.accuracy(n, s) for s in severities] for n in names])
    fig, ax = plt.subplots(figsize=(6, 7))
    image = ax.imshow(100 * table, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(severities)), [str(s) for s in severities])
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(severities)):
            ax.text(j, i, f"{100 * table[i, j]:.0f}", ha="center", va="center", fontsize=7, color="w")
    ax.set_xlabel("severity")
    fig.colorbar(image, ax=ax, label="accuracy (%)")
    ax.set_title(f"{title}: corruption robustness\nclean {100 * result.clean_accuracy:.1f}%, mean corrupted "
                 f"{100 * result.mean_corrupted_accuracy:.1f}%")
    fig.tight_layout()
    return fig
