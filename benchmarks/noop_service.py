"""The overhead baseline of ``benchmarks/serving.py``: a BentoML endpoint that accepts the same upload as
``/predict`` and returns a constant, so the ratio of the two is what our service adds to BentoML's own cost.

  bentoml serve benchmarks.noop_service:Noop
"""

from pathlib import Path

import bentoml


@bentoml.service(name="noop", workers=1, metrics={"enabled": False})
class Noop:
    @bentoml.api
    async def predict(self, image: Path, top_k: int = 5) -> dict:
        return {"top_k": [{"label": "cat", "index": 3, "probability": 1.0}]}
