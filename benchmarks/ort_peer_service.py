"""The peer of ``benchmarks/serving.py``: the plain BentoML service around ONNX Runtime that a user would write
instead of ours for one exported model (``HOWVITS_PEER_ONNX``: an ``.onnx`` file with its manifest), taking the
same upload as ``/predict`` and answering the same top-k.

  HOWVITS_PEER_ONNX=~/.cache/howvits/onnx/<key>/model.fp32.onnx bentoml serve benchmarks.ort_peer_service:OrtPeer
"""

import json
import os
from pathlib import Path

import bentoml
import numpy as np
import onnxruntime as ort
from PIL import Image


@bentoml.service(name="ort-peer", workers=1, metrics={"enabled": False})
class OrtPeer:
    def __init__(self) -> None:
        path = Path(os.environ["HOWVITS_PEER_ONNX"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("HOWVITS_THREADS", "1"))
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        config = json.loads(path.with_name(path.name + ".json").read_text())["config"]
        self.size, self.labels = config["input_size"][-1], config["label_names"]
        self.mean = np.array(config["mean"], np.float32)[:, None, None]
        self.std = np.array(config["std"], np.float32)[:, None, None]

    @bentoml.api
    def predict(self, image: Image.Image, top_k: int = 5) -> dict:
        pixels = np.asarray(image.convert("RGB").resize((self.size, self.size)), np.float32) / 255
        batch = ((pixels.transpose(2, 0, 1) - self.mean) / self.std)[None].astype(np.float32)
        logits = self.session.run(None, {"input": batch})[0][0]
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        order = np.argsort(-probabilities)[:top_k]
        return {"top_k": [{"label": self.labels[i], "index": int(i), "probability": float(probabilities[i])}
                          for i in order]}
