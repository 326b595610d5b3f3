"""Per-stage feature-map amplitudes for the diagnostics, when the served model runs in PyTorch (the only backend
whose intermediate maps are at hand); imported only then, so other workers never load torch."""

from __future__ import annotations

import numpy as np
import torch

from hub import UnitIntrospection
from hub.frequency import DeltaLogAmplitude, log_amplitude
from serving.diagnostics import StageAmplitude


@torch.no_grad()
def stage_amplitudes(model: UnitIntrospection, batch: np.ndarray) -> list[StageAmplitude]:
    """The delta log amplitude at the highest frequency of the last unit's map of each stage, for a normalised
    ``(1, 3, H, W)`` batch."""
    last_of_stage = {info.stage: info for info in model.unit_infos()[:-1]}
    maps = model.eval().unit_outputs(torch.from_numpy(batch), indices=[info.index for info in last_of_stage.values()])
    return [StageAmplitude(stage, info.name, info.kind.value, info.depth,
                           DeltaLogAmplitude.of(log_amplitude(maps[info.name])).at("nyquist"))
            for stage, info in sorted(last_of_stage.items())]
