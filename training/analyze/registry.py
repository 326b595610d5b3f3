"""The one list of analyses: what the ``python -m training.analyze`` subcommands are generated from (flags from
each settings dataclass, help from its field docs) and what the report runs (``run`` directly, typed results).

Each analysis module holds a settings dataclass, a result dataclass (with its ``SCHEMA_VERSION``) and
``run(model, data, settings, runtime) -> result``; its figure is drawn by the same-named module of
:mod:`training.analyze.plots`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub import UnitIntrospection
from hub.data import DataSpec
from training.analyze import cka, corruptions, fourier, hessian, landscape, lesion, noise, variance
from training.analyze import plots as figures
from training.analyze.inputs import NoSettings, Runtime
from training.analyze.plots import cka as cka_plot
from training.analyze.plots import corruptions as corruptions_plot
from training.analyze.plots import fourier as fourier_plot
from training.analyze.plots import hessian as hessian_plot
from training.analyze.plots import landscape as landscape_plot
from training.analyze.plots import lesion as lesion_plot
from training.analyze.plots import noise as noise_plot
from training.analyze.plots import variance as variance_plot
from training.analyze.records import AnalysisRecord


@dataclass(frozen=True)
class Analysis:
    name: str
    help: str
    settings: type
    result: type
    run: Callable[[UnitIntrospection, DataSpec, Any, Runtime], Any]
    plot: Callable[[Any, Any, str], Any]
    """``plot(result, settings, title) -> Figure``."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """Defaults of the data flags where this analysis differs (e.g. the loss-based ones use the training part)."""
    shards: bool = False
    """Splits its work across torchrun ranks (the others run in one process)."""

    @property
    def schema_version(self) -> int:
        return self.result.SCHEMA_VERSION

    def execute(self, model: UnitIntrospection, data: DataSpec, settings: Any,
                runtime: Runtime = Runtime()) -> AnalysisRecord:
        """Run on ``model`` and wrap the result with what produced it and how long it took."""
        if not isinstance(settings, self.settings):
            raise TypeError(f"{self.name} takes {self.settings.__name__}, not {type(settings).__name__}")
        tic = time.perf_counter()
        result = self.run(model, data, settings, runtime)
        return AnalysisRecord(self.name, self.schema_version, model.source, model.config.architecture, data,
                              settings, result, time.perf_counter() - tic)

    def write(self, record: AnalysisRecord, folder: Path) -> Path:
        """``<folder>/<analysis>.json`` and its figure ``<analysis>.png``; returns the JSON path."""
        path = record.save(folder)
        figures.save(self.plot(record.result, record.settings, record.model), folder / f"{self.name}.png")
        return path

    def load(self, folder: Path) -> AnalysisRecord:
        return AnalysisRecord.load(folder / f"{self.name}.json", self.settings, self.result, self.schema_version)


ANALYSES: dict[str, Analysis] = {a.name: a for a in (
    Analysis("fourier", "relative log amplitude of every unit's feature maps (Fig. 2a, 8)", fourier.FourierSettings,
             fourier.FourierResult, fourier.run, fourier_plot.plot, shards=True),
    Analysis("variance", "feature-map variance per unit against depth (Fig. 9)", NoSettings,
             variance.VarianceResult, variance.run, variance_plot.plot, shards=True),
    Analysis("noise", "accuracy under noise restricted to frequency bands (Fig. 2b)", noise.NoiseSettings,
             noise.NoiseResult, noise.run, noise_plot.plot, {"num_images": 1000}),
    Analysis("hessian", "top-k Hessian eigenvalues per mini-batch, Lanczos ends, SLQ density",
             hessian.HessianSettings, hessian.HessianResult, hessian.run, hessian_plot.plot,
             {"split": "train", "batch_size": 16}, shards=True),
    Analysis("landscape", "1-D / 2-D loss landscape, resumable", landscape.LandscapeSettings,
             landscape.LandscapeResult, landscape.run, landscape_plot.plot,
             {"split": "train", "num_images": 2000, "batch_size": 250}, shards=True),
    Analysis("lesion", "accuracy drop when one residual unit is removed", NoSettings,
             lesion.LesionResult, lesion.run, lesion_plot.plot, {"num_images": 2000}),
    Analysis("cka", "mini-batch linear CKA between all units, or with --other between two models' units",
             cka.CkaSettings, cka.CkaResult, cka.run, cka_plot.plot, {"num_images": 1024}),
    Analysis("corruptions", "CIFAR-C: 15 corruptions x 5 severities", corruptions.CorruptionSettings,
             corruptions.CorruptionResult, corruptions.run, corruptions_plot.plot, {"num_images": 1000},
             shards=True),
)}
