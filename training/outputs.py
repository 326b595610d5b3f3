"""What training and evaluation runs write beside the weights: ``metrics.json`` (every metric, the
reliability bins and the exact settings), ``reliability.png``, and the training section of the model card."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hub.card import CardInfo
from hub.files import atomic_path
from training.metrics import MetricAccumulator, Metrics, expected_calibration_error, reliability_bins
from training.recipes import RECIPES
from training.settings import RunSettings

CARD_METRICS = ("accuracy", "top5", "nll", "ece", "ece_10", "brier")
"""The metrics a model card's model-index lists."""


def write_evaluation(out: Path, accumulator: MetricAccumulator, header: dict[str, Any], title: str) -> Metrics:
    """``metrics.json`` (``header`` + metrics + 15 reliability bins) and ``reliability.png`` in ``out``."""
    metrics = accumulator.compute()
    out.mkdir(parents=True, exist_ok=True)
    report = {**header, "metrics": metrics.to_dict(),
              "reliability_15_bins": reliability_bins(accumulator.confidence, accumulator.correct, 15)}
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    plot_reliability(accumulator.confidence, accumulator.correct, out / "reliability.png", title=title)
    return metrics


def card_metrics(metrics: Metrics) -> dict[str, float]:
    return {key: getattr(metrics, key) for key in CARD_METRICS}


def plot_reliability(confidence: Tensor, correct: Tensor, path: Path, bins: int = 15, title: str = "") -> Path:
    """Reliability diagram (accuracy vs confidence per bin, with the gap shaded) over a confidence histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = reliability_bins(confidence, correct, bins)
    centres = [(i + 0.5) / bins for i in range(bins)]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(centres, [0 if a != a else a for a in stats["accuracy"]], width=1 / bins, edgecolor="black",
            label="accuracy")
    top.bar(centres, [0 if a != a else c - a for a, c in zip(stats["accuracy"], stats["confidence"], strict=True)],
            bottom=[0 if a != a else a for a in stats["accuracy"]], width=1 / bins, color="tab:red", alpha=0.3,
            label="gap to confidence")
    top.plot([0, 1], [0, 1], "k--", linewidth=1)
    ece = expected_calibration_error(confidence, correct, bins)
    top.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=title or f"ECE ({bins} bins) = {ece:.4f}")
    top.legend(loc="upper left")
    bottom.bar(centres, stats["count"], width=1 / bins, color="gray", edgecolor="black")
    bottom.set(xlabel="confidence", ylabel="samples")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@dataclass(frozen=True)
class RunSummary:
    """What the loop knows at the end of a run that the card reports."""

    train_images: int
    val_images: int
    classes: int
    steps_per_epoch: int
    processes: int
    elapsed: float
    """Seconds of training (pauses and resumes excluded)."""
    commit: str
    """The git commit the run was launched from."""
    history: list[dict[str, Any]]
    """One record per epoch, as in ``log.jsonl``."""


def training_card(settings: RunSettings, summary: RunSummary) -> CardInfo:
    """The card's description, training section (recipe, data, seed, hardware, commit, epochs) and command."""
    recipe = settings.recipe
    base = RECIPES.get(recipe.name)
    changed = {k: v for k, v in dataclasses.asdict(recipe).items() if base is not None and getattr(base, k) != v}
    overrides = f" with overrides `{json.dumps(changed)}`" if changed else ""
    history = summary.history
    last = history[-1] if history else {}
    best = max(history, key=lambda r: r.get("val_accuracy", 0.0)) if history else {}
    fraction = f" (class-balanced fraction {settings.data_fraction})" if settings.data_fraction < 1 else ""
    training = "\n".join([
        f"- Recipe: `{recipe.name}`{overrides} (full recipe in `recipe.json`).",
        f"- Data: `{settings.data.data}`: {summary.train_images:,} training images{fraction}, "
        f"{summary.val_images:,} held out for validation (stratified, seed {settings.seed}); "
        f"{summary.classes} classes.",
        f"- Seed {settings.seed}; {recipe.warmup_epochs} warm-up + {recipe.epochs} epochs "
        f"({summary.steps_per_epoch} steps of {recipe.batch_size} images each).",
        f"- Ran on {summary.processes} x {settings.device} (torch {torch.__version__}, "
        f"{settings.threads or torch.get_num_threads()} threads per process) in {duration(summary.elapsed)} of "
        f"training; git commit `{summary.commit}` at launch.",
        f"- Final epoch: train loss {last.get('train_loss', float('nan')):.4f}, validation accuracy "
        f"{last.get('val_accuracy', float('nan')):.4f}; best epoch {best.get('epoch', '-')} "
        f"({best.get('val_accuracy', float('nan')):.4f}). The weights are the final epoch's. Per-epoch log: "
        f"`log.jsonl`.",
    ])
    how = f"fine-tuned from `{settings.init_from}`" if settings.init_from else "trained"
    return CardInfo(
        description=f"`{settings.model}` {how} with this toolkit's `training.train`.",
        dataset=settings.dataset_name, split="validation", training=training,
        reproduce=settings.command or "python -m training.train ...",
    )
