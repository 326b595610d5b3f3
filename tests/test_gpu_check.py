"""benchmarks/gpu_check.py runs every section on the CPU up to where CUDA is needed, so the day a GPU is lent
the one command is known to work."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_section_runs_on_the_cpu_and_agrees(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "HOWVITS_CACHE": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--device", "cpu", "--models", "resnet_tiny,vit_tiny",
                    "--settings", "eager,channels_last,fused_adamw", "--steps", "1", "--batch-size", "8",
                    "--out", str(out)],
                   cwd=ROOT, env=env, check=True, timeout=600)
    report = json.loads(out.read_text())
    sections = report["sections"]
    assert list(sections) == ["training", "ddp", "hessian", "onnxruntime", "predictor", "tensorrt"]
    failed = {name: s for name, s in sections.items() if s["ok"] is not True}
    assert not failed, failed
    rows = sections["training"]["rows"]
    assert {(r["model"], r["name"]) for r in rows} == {(m, s) for m in ("resnet_tiny", "vit_tiny")
                                                       for s in ("eager", "channels_last", "fused_adamw")}
    assert all(r["loss_agrees"] and r["images_per_s"] > 0 for r in rows)
    assert sections["ddp"]["backend"] == "gloo" and sections["onnxruntime"]["providers"] == ["CPUExecutionProvider"]
    assert sections["predictor"]["backend"] == "onnxruntime"
    assert set(sections["tensorrt"]["plans"]) == {"10.13/fp32", "10.13/fp16", "11.0/fp32", "11.0/fp16"}
    assert sections["tensorrt"]["engines"].startswith("skipped: TensorRT cannot run here")


def test_cuda_is_refused_where_there_is_none():
    if subprocess.run([sys.executable, "-c", "import torch; assert not torch.cuda.is_available()"]).returncode:
        return  # a GPU is present: the refusal cannot be observed
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "--device cpu" in done.stderr
