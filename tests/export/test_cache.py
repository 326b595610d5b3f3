"""The graph cache: a process without torch finds its graphs, and on a miss has a child process export them,
so torch never enters it; a process with torch exports in place; a changed weights file is never served."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]
FIND = ("import sys, json\nfrom export.cache import cached_graph\nfrom export import load_predictor\n"
        "path, local = cached_graph('resnet-tiny-cifar10', 'fp32')\n"
        "predictor = load_predictor('resnet-tiny-cifar10', 'onnxruntime', 1)\n"
        "print(json.dumps({'path': str(path), 'label': local.label, 'torch': 'torch' in sys.modules,"
        " 'classes': predictor.predict(predictor.preprocess([__import__('hub.samples').samples.sample_images()[0][0]]))"
        ".shape[1]}))\n")


def run(code: str, cache: Path) -> dict:
    env = dict(os.environ, HOWVITS_CACHE=str(cache), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_process_without_torch_gets_its_graph_from_a_child_process(tmp_path):
    cold = run(FIND, tmp_path)
    assert not cold["torch"] and cold["classes"] == 10 and cold["label"] == "resnet-tiny-cifar10"
    graph = Path(cold["path"])
    assert graph.is_file() and graph.with_name(graph.name + ".json").is_file() and str(tmp_path) in cold["path"]
    stamp = graph.stat().st_mtime_ns
    warm = run(FIND, tmp_path)  # a hit: nothing exported again
    assert warm["path"] == cold["path"] and graph.stat().st_mtime_ns == stamp and not warm["torch"]


def test_a_process_with_torch_exports_in_place(tmp_path, monkeypatch):
    import export.cache

    monkeypatch.setattr(export.cache, "CACHE", tmp_path)
    monkeypatch.setattr(export.cache.subprocess, "run", None)  # a child process would fail the test
    path, local = export.cache.cached_graph("resnet-tiny-cifar10", "fp32")
    assert path.is_file() and path.is_relative_to(tmp_path) and local.config.architecture == "resnet_tiny"


def test_a_changed_weights_file_is_never_served(tmp_path):
    import shutil

    import pytest

    from export.cache import cached_graph
    from hub.catalog import load_catalog
    from hub.errors import IncompatibleWeightsError

    folder = tmp_path / "model"
    shutil.copytree(load_catalog()["resnet-tiny-cifar10"].package_folder, folder)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(IncompatibleWeightsError, match="corrupt or was replaced"):
        cached_graph(str(folder), "fp32")
