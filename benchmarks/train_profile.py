"""Where a training step's time goes: forward and backward of every unit on its real input, summed per unit
kind, and the operators that take the most self time over whole steps (torch.profiler).

Each unit is timed alone on the activation it receives in the full model (captured in one forward pass), with
``backward`` of a fixed random cotangent, so the per-kind sums add up to about the model's forward + backward.

  python benchmarks/train_profile.py --model alternet_18 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from hub import create_model
from hub.units import UnitModel


def unit_inputs(model: UnitModel, x: torch.Tensor) -> list[torch.Tensor]:
    inputs = []
    with torch.no_grad():
        for unit in model.units:
            inputs.append(x)
            x = unit(x)
    return inputs


def time_unit(unit: torch.nn.Module, x: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Median seconds of forward, and of forward + backward (parameter and input gradients)."""
    x = x.detach().requires_grad_(True)
    cotangent = torch.randn_like(unit(x))
    forward, step = [], []
    for _ in range(repeats + 1):  # the first round warms the allocator and kernels up
        tic = time.perf_counter()
        y = unit(x)
        middle = time.perf_counter()
        y.backward(cotangent)
        toc = time.perf_counter()
        forward.append(middle - tic)
        step.append(toc - tic)
        unit.zero_grad(set_to_none=True)
        x.grad = None
    return sorted(forward[1:])[repeats // 2], sorted(step[1:])[repeats // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="alternet_18")
    parser.add_argument("--batch-size", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per unit (median kept)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON (default benchmarks/results/train_profile_<model>.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(args.model, num_classes=100).train()
    x = torch.randn(args.batch_size, 3, 32, 32)
    per_kind: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    units = []
    for info, unit, inputs in zip(model.unit_infos(), model.units, unit_inputs(model, x), strict=True):
        forward, step = time_unit(unit, inputs, args.repeats)
        per_kind[info.kind.value][0] += forward
        per_kind[info.kind.value][1] += step
        units.append({"unit": info.name, "forward_ms": 1e3 * forward, "forward_backward_ms": 1e3 * step})
        print(f"{info.name:14s} forward {1e3 * forward:7.1f} ms  forward+backward {1e3 * step:7.1f} ms", flush=True)
    total = sum(step for _, step in per_kind.values())
    for kind, (forward, step) in per_kind.items():
        print(f"{kind:6s} forward {1e3 * forward:7.1f} ms  forward+backward {1e3 * step:7.1f} ms  {step / total:5.1%}")

    def whole_step() -> None:
        model(x).logsumexp(-1).mean().backward()
        model.zero_grad(set_to_none=True)

    whole_step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            whole_step()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20)
    print(table)
    out = args.out or Path(f"benchmarks/results/train_profile_{args.model}.json")
    out.write_text(json.dumps({
        "model": args.model, "batch_size": args.batch_size, "threads": args.threads, "torch": torch.__version__,
        "per_kind_ms": {k: {"forward": 1e3 * f, "forward_backward": 1e3 * s, "share": s / total}
                        for k, (f, s) in per_kind.items()},
        "units": units,
        "top_operators": [{"name": e.key, "self_cpu_ms": e.self_cpu_time_total / 2e3, "calls": e.count / 2}
                          for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:20]],
    }, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
