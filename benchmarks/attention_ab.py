"""Eager training steps with the attention layers of an earlier commit against today's, interleaved in one
process: the before/after of a change to ``hub/layers/attention.py``, on equal terms.

The earlier ``hub/layers/attention.py`` is read with ``git show REV:...`` and its ``Attention`` and
``WindowAttention`` forwards replace today's while the "before" model steps (same weights, same batch).

  python benchmarks/attention_ab.py --rev 6efd5ae --models alternet_18 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import types
from pathlib import Path

import torch
from train_throughput import Setting, timed, training_step

import hub.layers.attention as today

ROOT = Path(__file__).parents[1]


def load_revision(rev: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:hub/layers/attention.py"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    module = types.ModuleType(f"attention_at_{rev}")
    exec(compile(source, f"{rev}:hub/layers/attention.py", "exec"), module.__dict__)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", required=True, help="the earlier commit")
    parser.add_argument("--models", default="alternet_18")
    parser.add_argument("--batch-size", type=int, default=96)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per version and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/attention_ab.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    before = load_revision(args.rev)
    forwards = {"before": (before.Attention.forward, before.WindowAttention.forward),
                "after": (today.Attention.forward, today.WindowAttention.forward)}

    def use(version: str) -> None:
        today.Attention.forward, today.WindowAttention.forward = forwards[version]

    rows = []
    for arch in args.models.split(","):
        steps = {v: training_step(arch, Setting("eager"), "cpu", args.batch_size) for v in forwards}
        rates: dict[str, list[float]] = {v: [] for v in forwards}
        losses = {}
        for version, step in steps.items():
            use(version)
            timed(step, args.warmup, args.batch_size, "cpu")
        for _ in range(args.rounds):
            for version, step in steps.items():
                use(version)
                rate, losses[version] = timed(step, args.steps, args.batch_size, "cpu")
                rates[version].append(rate)
        use("after")
        ratio = statistics.median(rates["after"]) / statistics.median(rates["before"])
        rows.append({"model": arch, "rates": rates, "losses": losses, "after_vs_before": ratio})
        print(f"{arch}: before {statistics.median(rates['before']):.1f} img/s, after "
              f"{statistics.median(rates['after']):.1f} img/s = {ratio:.2f}x; losses {losses}", flush=True)
    args.out.write_text(json.dumps({"rev": args.rev, "threads": args.threads, "batch_size": args.batch_size,
                                    "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
