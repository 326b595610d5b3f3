"""Figures of the analyses, apart from the computations (which never import matplotlib): one module per
analysis with ``plot(result, settings, title)``, and ``compare(results)`` where the report sets models side by
side. Every plotted number is in the analysis's JSON record."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def save(figure: plt.Figure, path: Path, dpi: int = 110) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return path
