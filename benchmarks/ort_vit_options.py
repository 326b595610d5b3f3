"""ViT at batch 1 on ONNX Runtime's CPU provider: the exported graph as it is, against ONNX Runtime's transformer
optimiser (attention, LayerNorm and GELU fusions), graph optimisation levels and intra-op spinning, each as a
ratio to torch eager, interleaved in one process.

  python benchmarks/ort_vit_options.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from export.cache import cached_onnx
from hub import from_pretrained
from hub.layers.attention import Attention


def session(path: Path, threads: int, level: ort.GraphOptimizationLevel, spinning: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = level
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vit-tiny-cifar10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=100, help="calls per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ort_vit_options.json"))
    args = parser.parse_args()
    from onnxruntime.transformers.optimizer import optimize_model

    torch.set_num_threads(args.threads)
    model = from_pretrained(args.model).eval()
    path = cached_onnx(model, "fp32")
    attention = next(m for m in model.modules() if isinstance(m, Attention))
    x = np.random.default_rng(0).standard_normal((1, *model.config.input_size)).astype(np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        optimised = Path(tmp) / "optimised.onnx"
        optimizer = optimize_model(str(path), model_type="vit", num_heads=attention.heads,
                                   hidden_size=attention.qkv.in_features, opt_level=1)
        optimizer.save_model_to_file(str(optimised))
        fused = {k: v for k, v in optimizer.get_fused_operator_statistics().items() if v}
        ops = sorted({n.op_type for n in onnx.load(str(optimised)).graph.node})
        all_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sessions = {
            "exported, ORT_ENABLE_ALL, spinning": session(path, args.threads, all_level, True),
            "exported, ORT_ENABLE_ALL, no spinning": session(path, args.threads, all_level, False),
            "exported, ORT_ENABLE_BASIC": session(path, args.threads, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                                  True),
            "transformer optimiser": session(optimised, args.threads, all_level, True),
        }
        runs: dict[str, Callable[[], object]] = {"torch eager": lambda: model(torch.from_numpy(x))}
        errors = {}
        for name, s in sessions.items():
            input_name = s.get_inputs()[0].name
            runs[name] = (lambda s=s, n=input_name: s.run(None, {n: x}))
            errors[name] = float(np.abs(s.run(None, {input_name: x})[0] - reference).max())
        rates: dict[str, list[float]] = {name: [] for name in runs}
        with torch.no_grad():
            for run in runs.values():
                for _ in range(20):
                    run()
            for _ in range(args.rounds):
                for name, run in runs.items():
                    tic = time.perf_counter()
                    for _ in range(args.calls):
                        run()
                    rates[name].append(args.calls / (time.perf_counter() - tic))
    eager = statistics.median(rates["torch eager"])
    rows = [{"runtime": name, "images_per_s": statistics.median(r), "vs_eager": statistics.median(r) / eager,
             "max_abs_logit_error": errors.get(name, 0.0)} for name, r in rates.items()]
    for row in rows:
        print(f"{row['runtime']:40s} {row['images_per_s']:7.0f} img/s {row['vs_eager']:5.2f}x  "
              f"max |diff| {row['max_abs_logit_error']:.1e}")
    print(f"transformer optimiser fused: {fused}")
    args.out.write_text(json.dumps({"model": args.model, "threads": args.threads, "rows": rows,
                                    "optimiser_fusions": fused, "optimised_ops": ops}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
