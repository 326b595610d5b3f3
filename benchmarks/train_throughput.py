"""Training-step throughput (images/s) of ResNet-18, ViT-Ti and AlterNet-18 at batch 96: eager against the
speed settings the trainer offers (channels_last, fused optimiser, torch.compile, and bf16 autocast on CUDA).

A step is what ``training.train`` runs: forward, soft-target cross-entropy, backward, gradient clipping and
an AdamW update, on CIFAR-sized inputs (the data do not change the speed). Every setting is timed in the
same process, so the ratios against eager are what to compare across machines.

  python benchmarks/train_throughput.py                      # CPU, all threads
  python benchmarks/train_throughput.py --device cuda --steps 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from hub import create_model
from training.augment import soft_target_cross_entropy
from training.optim import build_optimizer
from training.recipes import get_recipe

MODELS = ("resnet_18", "vit_ti", "alternet_18")


@dataclass(frozen=True)
class Setting:
    name: str
    channels_last: bool = False
    fused: bool = False
    compile: bool = False
    bf16: bool = False


def settings_for(device: str) -> list[Setting]:
    settings = [Setting("eager"), Setting("channels_last", channels_last=True), Setting("fused_adamw", fused=True),
                Setting("compile", compile=True), Setting("compile+channels_last+fused", True, True, True)]
    if device == "cuda":
        settings += [Setting("bf16", bf16=True), Setting("bf16+compile+channels_last+fused", True, True, True, True)]
    return settings


def images_per_second(arch: str, setting: Setting, device: str, batch: int, steps: int, warmup: int) -> float:
    torch.manual_seed(0)
    model = create_model(arch, num_classes=100).to(device).train()
    x = torch.randn(batch, 3, 32, 32, device=device)
    targets = torch.softmax(torch.randn(batch, 100, device=device), -1)
    if setting.channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, get_recipe("paper"), fused=setting.fused)
    forward = torch.compile(model) if setting.compile else model

    def step() -> None:
        with torch.autocast(device, torch.bfloat16, enabled=setting.bf16):
            logits = forward(x)
        loss = soft_target_cross_entropy(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):  # includes compilation
        step()
    sync()
    tic = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return steps * batch / (time.perf_counter() - tic)


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    return platform.processor() or "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated architectures")
    parser.add_argument("--batch-size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per setting")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation happens here)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train_throughput.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for arch in args.models.split(","):
        eager = None
        for setting in settings_for(args.device):
            try:
                rate = images_per_second(arch, setting, args.device, args.batch_size, args.steps, args.warmup)
            except Exception as err:  # a setting that cannot run here (e.g. no compiler) is reported, not fatal
                print(f"{arch:12s} {setting.name:34s} failed: {type(err).__name__}: {str(err)[:200]}")
                rows.append({"model": arch, **asdict(setting), "error": f"{type(err).__name__}: {err}"[:500]})
                continue
            eager = eager or rate
            rows.append({"model": arch, **asdict(setting), "images_per_s": rate, "vs_eager": rate / eager})
            print(f"{arch:12s} {setting.name:34s} {rate:8.1f} img/s  {rate / eager:5.2f}x eager", flush=True)
    result = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else cpu_name(),
        "torch": torch.__version__, "threads": args.threads, "batch_size": args.batch_size, "steps": args.steps,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
