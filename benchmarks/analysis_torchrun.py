"""One process against torchrun for the analyses that shard, as a ratio measured in one run on one machine.

Each analysis runs as its command line twice per round, interleaved: one process with every core's thread,
then ``torchrun --nproc_per_node N`` with cores / N threads per process, the same settings and data (wall time
of the whole command, start-up included, because that is what a user waits for). The results are checked
equal (within 1e-3 relative: with other thread counts, float sums run in another order) before the times are
trusted; with the same threads per process they are bit-identical (tests/training/analyze/test_distributed.py).

  python benchmarks/analysis_torchrun.py --data ../shared/data/cifar10-train-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = {  # enough items that every rank has several, small enough for a few minutes on 2 cores
    "hessian": ["--batches", "8", "--k", "5", "--method", "lanczos", "--batch-size", "32"],
    "corruptions": ["--severities", "1,3,5", "--corruptions", "gaussian_noise,glass_blur,fog,contrast,jpeg_compression,"
                    "zoom_blur", "--num-images", "500"],
}


def timed(command: list[str], threads: int) -> tuple[float, dict]:
    out = Path(command[command.index("--out") + 1])
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(REPO))
    tic = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - tic
    analysis = command[command.index("training.analyze") + 1]
    return seconds, json.loads((out / f"{analysis}.json").read_text())["result"]


def largest_difference(a, b) -> float:
    """The largest relative difference between two results' numbers (their structure must match)."""
    if isinstance(a, dict):  # residuals near 0 are all rounding: their relative change says nothing
        return max((largest_difference(a[k], b[k]) for k in a if k != "residuals"), default=0.0)
    if isinstance(a, list):
        if len(a) != len(b):
            return float("inf")
        return max((largest_difference(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) / max(abs(a), abs(b), 1e-12)
    return 0.0 if a == b else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="alternet-tiny-cifar10")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--analyses", default=",".join(WORK))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "analysis_torchrun.json")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    results = {"cores": cores, "processes": args.processes, "model": args.model, "analyses": {}}
    for analysis in args.analyses.split(","):
        times: dict[str, list[float]] = {"one process": [], "torchrun": []}
        gaps: list[float] = []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                base = ["-m", "training.analyze", analysis, "--model", args.model, "--data", args.data, "--no-progress",
                        *WORK[analysis]]
                single = [sys.executable, *base, "--out", f"{tmp}/one"]
                shared = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                          str(args.processes), *base, "--out", f"{tmp}/shared"]
                one_seconds, one = timed(single, cores)
                shared_seconds, many = timed(shared, max(1, cores // args.processes))
                gap = largest_difference(one, many)  # threads per process differ, so float sums may too
                if gap > 1e-3:
                    raise SystemExit(f"{analysis}: torchrun's result differs from one process's by {gap:.2g}")
                gaps.append(gap)
                times["one process"].append(one_seconds)
                times["torchrun"].append(shared_seconds)
        medians = {k: statistics.median(v) for k, v in times.items()}
        results["analyses"][analysis] = {"seconds": times, "median_seconds": medians,
                                         "speedup": medians["one process"] / medians["torchrun"],
                                         "largest_relative_difference": max(gaps)}
        print(f"{analysis}: one process {medians['one process']:.1f} s, torchrun x{args.processes} "
              f"{medians['torchrun']:.1f} s: {results['analyses'][analysis]['speedup']:.2f}x", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
