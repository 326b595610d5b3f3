"""The parity table: one model of every registered family (smallest CIFAR model, random weights, seed 0) exported
to FP32 and FP16 ONNX and gated on the 40 shipped real images; the result in benchmarks/results/.

  python benchmarks/export_parity.py
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import hub
from export import ExportRequest, export_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/export_parity.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family, arch in hub.family_examples().items():
            torch.manual_seed(0)
            model = hub.create_model(arch, num_classes=10)
            for precision in ("fp32", "fp16"):
                tic = time.perf_counter()
                manifest = export_model(ExportRequest(arch, Path(tmp) / f"{arch}.{precision}.onnx", precision), model)
                parity = manifest.parity[precision]
                rows.append({"family": family, "model": arch, "precision": precision, "opset": manifest.opset,
                             "max_abs": parity["max_abs"], "top1_agreement": parity["top1_agreement"],
                             "passed": parity["passed"], "seconds": time.perf_counter() - tic})
                print(f"{family:9s} {arch:14s} {precision} max|d| {parity['max_abs']:.2e} top-1 "
                      f"{100 * parity['top1_agreement']:.0f}% {'pass' if parity['passed'] else 'FAIL'}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
