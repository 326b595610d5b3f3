"""Inference speed of the shipped models per runtime: images/s and p50/p99 latency at batch 1 and 64, torch
eager against ONNX Runtime FP32, FP16, static INT8 (Q/DQ) and dynamic INT8, threads fixed and stated, all in
one process with the calls interleaved, so the ratios against eager are what to compare.

Accuracy of each graph on the held-out validation images comes from its export gate (``--data``).

  python benchmarks/inference.py --data ../shared/data/cifar10-train-jpeg.tar.gz --threads 1
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
from export.parity import GATES, Gate
from export.predictor import OrtPredictor, Predictor, TorchPredictor
from hub import from_pretrained

MODELS = ("resnet-tiny-cifar10", "vit-tiny-cifar10", "alternet-tiny-cifar10")
PRECISIONS = ("fp32", "fp16", "int8", "int8-dynamic")


def gate_failures(measured: dict, gate: Gate) -> list[str]:
    failures = []
    if gate.max_abs is not None and measured["max_abs"] > gate.max_abs:
        failures.append(f"max |diff| {measured['max_abs']:.3g} > {gate.max_abs:g}")
    if gate.min_top1_agreement is not None and measured["top1_agreement"] < gate.min_top1_agreement:
        failures.append(f"top-1 agreement {measured['top1_agreement']:.4f} < {gate.min_top1_agreement:g}")
    if gate.max_accuracy_drop is not None and measured["accuracy_drop_pp"] > gate.max_accuracy_drop:
        failures.append(f"accuracy drop {measured['accuracy_drop_pp']:.2f} pp > {gate.max_accuracy_drop:g} pp")
    return failures


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
    parser.add_argument("--models", default=",".join(MODELS))
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
        for precision in PRECISIONS:
            path = args.work / name / f"model.{precision}.onnx"
            # measured with an open gate so that a graph failing its real gate is still timed and reported
            manifest = export_model(ExportRequest(
                name, path, precision, gate=Gate(),
                parity=ImageSource(args.data, args.eval_images, 5000, "val"),
                calibration=ImageSource(args.data, 512, 5000, "train")), model)
            measured = manifest.parity[precision]
            failures = gate_failures(measured, GATES[precision])
            accuracy[precision] = {"torch": measured["accuracy_torch"], "onnx": measured["accuracy_onnx"],
                                   "drop_pp": measured["accuracy_drop_pp"], "max_abs": measured["max_abs"],
                                   "top1_agreement": measured["top1_agreement"], "gate_failures": failures}
            print(f"{name:22s} {precision:13s} accuracy {100 * measured['accuracy_onnx']:.2f}% (torch "
                  f"{100 * measured['accuracy_torch']:.2f}%), gate {failures if failures else 'pass'}", flush=True)
            session = ort_session(path, cuda=False, threads=args.threads)
            predictors[f"ort-{precision}"] = OrtPredictor(model.config, name, "onnxruntime", precision,
                                                         session.get_providers(), args.threads, session=session)
        for batch_size in (1, 64):
            batch = np.random.default_rng(0).standard_normal((batch_size, 3, 32, 32)).astype(np.float32)
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
