"""Per-operator time of exported graphs in ONNX Runtime (its built-in profiler), to see why one precision is
slower than another:

  python benchmarks/ort_op_profile.py runs/inference-bench/alternet-tiny-cifar10/model.{fp32,int8}.onnx
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("graphs", nargs="+", type=Path)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for graph in args.graphs:
            profile_one(graph, args, tmp)


def profile_one(graph: Path, args: argparse.Namespace, tmp: str) -> None:
    """Kernel time per operator type over ``args.runs`` calls, printed."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tmp) / "ort_profile")  # tens of MB per run: never in the tree
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((args.batch, 3, 32, 32)).astype(np.float32)
    for _ in range(args.runs):
        session.run(None, {session.get_inputs()[0].name: x})
    events = json.loads(Path(session.end_profiling()).read_text())
    by_op: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"]
    total = sum(by_op.values())
    print(f"{graph} (batch {args.batch}): {total / args.runs:.0f} us of kernels per run")
    for op, us in by_op.most_common(args.top):
        print(f"  {op:24s} {us / args.runs:8.1f} us  {100 * us / total:5.1f}%")


if __name__ == "__main__":
    main()
