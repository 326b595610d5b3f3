from __future__ import annotations

import matplotlib.pyplot as plt

from training.analyze.noise import NoiseResult, NoiseSettings


def compare(results: dict[str, NoiseResult], title: str = "accuracy under band-limited noise") -> plt.Figure:
    """Accuracy drop and prediction flips against the band centre, one curve per model."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, result in results.items():
        x = [band.centre_pi for band in result.bands]
        axes[0].plot(x, [100 * band.accuracy_drop for band in result.bands], "o-", label=label)
        axes[1].plot(x, [100 * band.flip_rate for band in result.bands], "o-", label=label)
    axes[0].set_ylabel("accuracy drop (pp)")
    axes[1].set_ylabel("prediction flips (%)")
    for ax in axes:
        ax.set_xlabel("noise band centre (x pi)")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot(result: NoiseResult, settings: NoiseSettings, title: str) -> plt.Figure:
    return compare({title: result})
