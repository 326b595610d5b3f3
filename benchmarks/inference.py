"""Inference speed of the shipped models per runtime: images/s and p50/p99 latency at batch 1 and 64, torch
eager against ONNX Runtime FP32, FP16, static INT8 (Q/DQ) and dynamic INT8, threads fixed and stated, all in
one process with the calls interleaved, so the ratios against eager are what to compare.

Accuracy of each graph on the held-out validation images comes from its export gate (``--data``).

  python benchmarks/inference.py --data ../shared/data/cifar10-train-jpeg.tar.gz --threads 1

MODELS may be any names ``from_pretrained`` takes: the paper's models (``resnet50-cifar100``, ``vit-ti-cifar100``,
``pit-ti-cifar100``, ``swin-t-cifar100``; give them CIFAR-100 ``--data``), Hub repos or converted folders:

  python benchmarks/inference.py --models resnet50-cifar100,vit-ti-cifar100 --data cifar100 --val-size 0 \
      --precisions fp32 --out benchmarks/results/inference_paper.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from export import ExportRequest, ImageSource, export_model
from export.ort import ort_session
from export.parity import GATES, Gate, gate_failures
from export.predictor import OrtPredictor, Predictor
from export.torch_runtime import TorchPredictor
from hub import from_pretrained

MODELS = ("resnet-tiny-cifar10", "vit-tiny-cifar10", "alternet-tiny-cifar10")
PRECISIONS = ("fp32", "fp16", "int8", "int8-cpu", "int8-dynamic")


def latencies(predictor: Predictor, batch: np.ndarray, seconds: float, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        predictor.predict(batch)
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 10:
        tic = time.perf_counter()
        predictor.predict(batch)
        times.append(time.perf_counter() - tic)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="labelled data for accuracy (held-out split) and calibration")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated names, repo ids or folders")
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help=f"subset of {','.join(PRECISIONS)}")
    parser.add_argument("--val-size", type=float, default=5000,
                        help="held-out split of DATA whose validation part scores accuracy (0: all of DATA)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for every runtime (default 1)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per cell")
    parser.add_argument("--eval-images", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=Path("runs/inference-bench"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/inference.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models.split(","):
        model = from_pretrained(name).eval()
        predictors: dict[str, Predictor] = {
            "torch-eager": TorchPredictor(model.config, name, "torch", threads=args.threads, model=model)}
        accuracy: dict[str, dict] = {}
        for precision in args.precisions.split(","):
            path = args.work / name / f"model.{precision}.onnx"
            # measured with an open gate so that a graph failing its real gate is still timed and reported
            manifest = export_model(ExportRequest(
                name, path, precision, gate=Gate(),
                parity=ImageSource(args.data, args.eval_images, args.val_size or None, "val"),
                calibration=ImageSource(args.data, 512, args.val_size or None, "train")), model)
            measured = manifest.parity[precision]
            failures = gate_failures(GATES[precision], measured)
            accuracy[precision] = {"torch": measured["accuracy_torch"], "onnx": measured["accuracy_onnx"],
                                   "drop_pp": measured["accuracy_drop_pp"], "max_abs": measured["max_abs"],
                                   "top1_agreement": measured["top1_agreement"], "gate_failures": failures}
            scored = (f"accuracy {100 * measured['accuracy_onnx']:.2f}% (torch {100 * measured['accuracy_torch']:.2f}%)"
                      if measured["accuracy_onnx"] is not None else "no labels in the model's label space")
            print(f"{name:22s} {precision:13s} {scored}, max |diff| {measured['max_abs']:.2e}, gate "
                  f"{failures if failures else 'pass'}", flush=True)
            session = ort_session(path, cuda=False, threads=args.threads)
            predictors[f"ort-{precision}"] = OrtPredictor(model.config, name, "onnxruntime", precision,
                                                         session.get_providers(), args.threads, session=session)
        for batch_size in (1, 64):
            shape = (batch_size, *model.config.input_size)
            batch = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            cell: dict[str, list[float]] = {key: [] for key in predictors}
            for _ in range(3):  # interleave the runtimes to share any drift in machine load
                for key, predictor in predictors.items():
                    cell[key] += latencies(predictor, batch, args.seconds / 3)
            eager = batch_size / float(np.median(cell["torch-eager"]))
            for key, times in cell.items():
                throughput = batch_size / float(np.median(times))
                precision = key.removeprefix("ort-") if key.startswith("ort-") else "fp32"
                rows.append({"model": name, "runtime": key, "batch": batch_size, "images_per_s": throughput,
                             "p50_ms": 1000 * float(np.percentile(times, 50)),
                             "p99_ms": 1000 * float(np.percentile(times, 99)), "vs_eager": throughput / eager,
                             "accuracy": accuracy.get(precision) if key != "torch-eager" else None})
                print(f"{name:22s} {key:17s} b{batch_size:<3d} {throughput:9.1f} img/s  p50 "
                      f"{rows[-1]['p50_ms']:7.2f} ms  p99 {rows[-1]['p99_ms']:7.2f} ms  {rows[-1]['vs_eager']:5.2f}x",
                      flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "torch": torch.__version__, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
