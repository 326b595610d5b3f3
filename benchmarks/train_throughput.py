"""Training-step throughput (images/s) of ResNet-18, ViT-Ti and AlterNet-18 at batch 96: eager against each
speed setting the trainer offers (channels_last, fused optimiser, torch.compile, and bf16 autocast on CUDA)
and against the trainer's defaults for a paper-length run.

A step is what ``training.train`` runs: forward, soft-target cross-entropy, backward, gradient clipping and
an AdamW update, on CIFAR-sized inputs (the data do not change the speed). Every setting is timed in the
same process after ``--warmup`` untimed steps (compilation happens there; ViT steps keep speeding up for
about ten steps on a CPU), so the ratios against eager are what to compare across machines. Every setting
starts from the same weights and sees the same batch, so the loss after the last step must agree across
settings (float rounding only; bf16 within its precision): the JSON records it and how far it is from eager's.

  python benchmarks/train_throughput.py                      # CPU, all threads
  python benchmarks/train_throughput.py --device cuda --steps 50
  python benchmarks/train_throughput.py --models alternet_18 --settings eager,defaults
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from hub import create_model
from training.augment import soft_target_cross_entropy
from training.optim import build_optimizer
from training.recipes import get_recipe
from training.settings import RunSettings, should_compile

MODELS = ("resnet_18", "vit_ti", "alternet_18")


@dataclass(frozen=True)
class Setting:
    name: str
    channels_last: bool = False
    fused: bool = False
    compile: bool = False
    bf16: bool = False


def trainer_defaults(device: str) -> Setting:
    """What ``python -m training.train`` uses when no speed flag is given, for a paper-recipe run on CIFAR."""
    defaults = {f.name: f.default for f in dataclasses.fields(RunSettings)}
    recipe = get_recipe("paper")
    steps = 45_000 // recipe.batch_size * (recipe.warmup_epochs + recipe.epochs)
    compiled, _ = should_compile(defaults["compile"], steps, device)
    return Setting("defaults", channels_last=defaults["channels_last"], fused=defaults["fused_optimizer"],
                   compile=compiled, bf16=device == "cuda" and defaults["amp"])


def settings_for(device: str) -> list[Setting]:
    settings = [Setting("eager"), Setting("channels_last", channels_last=True), Setting("fused_adamw", fused=True),
                Setting("compile", compile=True)]
    if device == "cuda":
        settings += [Setting("bf16", bf16=True)]
    return [*settings, trainer_defaults(device)]


def training_step(arch: str, setting: Setting, device: str, batch: int) -> Callable[[], torch.Tensor]:
    """One training step of a fresh model (the same seed for every setting) on a fixed batch; returns the loss."""
    torch.manual_seed(0)
    return model_step(create_model(arch, num_classes=100), setting, device, batch)


def model_step(model: nn.Module, setting: Setting, device: str, batch: int) -> Callable[[], torch.Tensor]:
    """:func:`training_step` for a model built elsewhere (a reference implementation to compare with)."""
    model = model.to(device).train()
    torch.manual_seed(1)
    x = torch.randn(batch, 3, 32, 32, device=device)
    targets = torch.softmax(torch.randn(batch, 100, device=device), -1)
    if setting.channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, get_recipe("paper"), fused=setting.fused)
    forward = torch.compile(model) if setting.compile else model

    def step() -> torch.Tensor:
        with torch.autocast(device, torch.bfloat16, enabled=setting.bf16):
            logits = forward(x)
        loss = soft_target_cross_entropy(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        return loss.detach()

    return step


def timed(step: Callable[[], torch.Tensor], steps: int, batch: int, device: str) -> tuple[float, float]:
    """Images per second over ``steps`` steps, and the last step's loss."""
    tic = time.perf_counter()
    for _ in range(steps):
        loss = step()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - tic), float(loss)


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
    parser.add_argument("--settings", default=None,
                        help="comma-separated setting names to run (default all: eager, channels_last, "
                             "fused_adamw, compile, [bf16,] defaults)")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per setting and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the settings (median kept)")
    parser.add_argument("--warmup", type=int, default=10,
                        help="untimed steps first (compilation happens here; ViT keeps speeding up for ~10)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train_throughput.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = settings_for(args.device)
    if args.settings:
        wanted = args.settings.split(",")
        settings = [s for s in settings if s.name in wanted]
        if len(settings) != len(wanted):
            parser.error(f"--settings: choose from {', '.join(s.name for s in settings_for(args.device))}")
    rows = []
    for arch in args.models.split(","):
        steps: dict[Setting, Callable[[], torch.Tensor]] = {}
        for setting in settings:
            try:
                steps[setting] = training_step(arch, setting, args.device, args.batch_size)
                timed(steps[setting], args.warmup, args.batch_size, args.device)  # compilation happens here
            except Exception as err:  # a setting that cannot run here (e.g. no compiler) is reported, not fatal
                steps.pop(setting, None)
                print(f"{arch:12s} {setting.name:16s} failed: {type(err).__name__}: {str(err)[:200]}")
                rows.append({"model": arch, **asdict(setting), "error": f"{type(err).__name__}: {err}"[:500]})
        rates: dict[Setting, list[float]] = {setting: [] for setting in steps}
        losses: dict[Setting, float] = {}
        for _ in range(args.rounds):  # settings interleaved, so a slower minute of the machine hits them all
            for setting, step in steps.items():
                rate, losses[setting] = timed(step, args.steps, args.batch_size, args.device)
                rates[setting].append(rate)
        eager = None
        for setting in steps:
            rate = statistics.median(rates[setting])
            eager = eager or (rate, losses[setting])
            rows.append({"model": arch, **asdict(setting), "images_per_s": rate, "vs_eager": rate / eager[0],
                         "rounds": rates[setting], "loss": losses[setting],
                         "loss_vs_eager": losses[setting] - eager[1]})
            print(f"{arch:12s} {setting.name:16s} {rate:8.1f} img/s  {rate / eager[0]:5.2f}x eager  "
                  f"loss {losses[setting]:.6f} ({losses[setting] - eager[1]:+.1e})", flush=True)
    result = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else cpu_name(),
        "torch": torch.__version__, "threads": args.threads, "batch_size": args.batch_size, "steps": args.steps,
        "rounds": args.rounds, "warmup": args.warmup, "defaults": asdict(trainer_defaults(args.device)), "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
