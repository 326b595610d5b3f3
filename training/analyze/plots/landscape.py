from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch

from training.analyze.landscape import LandscapeResult, LandscapeSettings


def plot(result: LandscapeResult, settings: LandscapeSettings, title: str) -> plt.Figure:
    coords = result.coordinates
    if settings.dims == 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(coords, result.nll, label="NLL")
        ax.plot(coords, result.loss, label=f"NLL + {settings.l2} L2")
        ax.set_xlabel("direction 1")
        ax.set_ylabel("loss")
        ax.legend()
    else:
        fig = plt.figure(figsize=(12, 5))
        ax = fig.add_subplot(1, 2, 1)
        x, y = torch.meshgrid(torch.tensor(coords), torch.tensor(coords), indexing="xy")
        z = result.grid(result.loss)
        contour = ax.contour(x.numpy(), y.numpy(), z.numpy(), levels=20, cmap="plasma")
        ax.clabel(contour, fontsize=6)
        ax.set_xlabel("direction 1")
        ax.set_ylabel("direction 2")
        ax.set_title(f"NLL + {settings.l2} L2 (contours)")
        ax3d = fig.add_subplot(1, 2, 2, projection="3d")
        shifted = (z - torch.nan_to_num(z, nan=math.inf).min()).numpy()
        ax3d.plot_surface(x.numpy(), y.numpy(), shifted, cmap="plasma", linewidth=0)
        ax3d.set_title("surface (shifted to min 0)")
    fig.suptitle(f"{title}: loss landscape")
    fig.tight_layout()
    return fig
