"""Train any registered architecture with a named recipe; the run's output folder is a loadable hub folder.

Examples:
  python -m training.train --model alternet_tiny --dataset cifar10 --recipe cpu-quick --out runs/a
  python -m training.train --model resnet_tiny --dataset train.tar.gz --val-size 5000 --recipe cpu-quick --out runs/r
  torchrun --nproc_per_node 4 -m training.train --model alternet_50 --dataset cifar100 --recipe paper --out runs/x
  python -m training.train ... --out runs/a --resume        # continue a killed or interrupted run exactly

DATA (--dataset) is cifar10 / cifar100 (torchvision, downloaded into --root), an ImageFolder directory, or a
.tar/.tar.gz of one (read in memory, never unpacked). A seeded, stratified --val-size split is held out of it.

The output folder holds recipe.json (the recipe after overrides), log.jsonl (one line per epoch),
checkpoint.pt (rewritten atomically every epoch and on SIGTERM), tensorboard/ (if TensorBoard is installed)
and, at the end, the hub folder: model.safetensors, config.json and a README.md model card with the recipe,
data, seed, git commit and the held-out metrics, plus metrics.json and reliability.png.

Determinism: every random choice is a function of --seed, the epoch and a sample or step index, so a run
gives the same weights with any number of loader workers, and --resume continues exactly where a killed run
left its last checkpoint. With N processes (torchrun) the global batch is split N ways; without MixUp/CutMix,
stochastic depth and BatchNorm statistics (per process) that follows the one-process run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from hub import HubError, UnitModel, create_model, save_pretrained
from hub.card import CardInfo
from hub.config import CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD
from hub.preprocess import eval_transform
from hub.pretrained import push_folder
from training.augment import batch_mixer, soft_target_cross_entropy, train_transform
from training.checkpoint import git_commit, load_checkpoint, save_checkpoint
from training.data import (
    EpochBatchSampler,
    SeededTransformSubset,
    class_balanced_subset,
    sample_seed,
    stratified_split,
)
from training.evaluate import evaluate, open_dataset
from training.metrics import Metrics, plot_reliability, reliability_bins
from training.optim import build_optimizer, build_scheduler
from training.recipes import RECIPES, Recipe, add_recipe_arguments, recipe_from_args

NORMALISATION = {"cifar10": (CIFAR10_MEAN, CIFAR10_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD)}
CARD_METRICS = ("accuracy", "top5", "nll", "ece", "ece_10", "brier")
INTERRUPTED = 128 + signal.SIGTERM


@dataclass
class RunSettings:
    """Everything about a run that is not the recipe: what to train on, where, and how to execute it."""

    model: str
    dataset: str
    out: Path
    recipe: Recipe
    root: str = "data"
    dataset_name: str | None = None
    preset: str = "cifar"
    val_size: float = 5000
    data_fraction: float = 1.0
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    workers: int = 0
    channels_last: bool = False
    compile: bool = False
    fused_optimizer: bool = False
    amp: bool = True
    resume: bool = False
    push_to_hub: str | None = None
    name: str | None = None
    progress: bool = True
    command: str = ""

    def provenance(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed by this run."""
        return {"model": self.model, "dataset": self.dataset, "val_size": self.val_size, "seed": self.seed,
                "data_fraction": self.data_fraction, "recipe": dataclasses.asdict(self.recipe)}


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @classmethod
    def from_env(cls) -> Distributed:
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)),
                   int(env.get("LOCAL_WORLD_SIZE", 1)))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        tensor = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(tensor)
        return tensor.tolist()


def dataset_normalisation(name: str | None) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    return NORMALISATION.get(name or "")


class Trainer:
    """One run: data, model, optimiser, the epoch loop, checkpoints and the final hub folder."""

    def __init__(self, settings: RunSettings, ddp: Distributed) -> None:
        self.settings, self.recipe, self.ddp = settings, settings.recipe, ddp
        self.device = torch.device(settings.device)
        self.stop_requested = False
        recipe = self.recipe

        base = open_dataset(settings.dataset, None, settings.root, train=True)
        self.classes: list[str] = list(base.classes)
        targets = list(base.targets)
        train_idx, val_idx = (stratified_split(targets, settings.val_size, settings.seed) if settings.val_size
                              else (list(range(len(targets))), []))
        if settings.data_fraction < 1:
            keep = class_balanced_subset([targets[i] for i in train_idx], settings.data_fraction, settings.seed)
            train_idx = [train_idx[i] for i in keep]

        self.model = self._build_model(len(self.classes))
        config = self.model.config
        self.train_set = SeededTransformSubset(base, train_idx, train_transform(recipe, config), settings.seed)
        self.val_set = SeededTransformSubset(base, val_idx, eval_transform(config), settings.seed)
        self.sampler = EpochBatchSampler(len(train_idx), recipe.batch_size, settings.seed, ddp.rank, ddp.world)
        self.steps_per_epoch = len(train_idx) // recipe.batch_size
        self.total_epochs = recipe.warmup_epochs + recipe.epochs
        self.mix = batch_mixer(recipe, len(self.classes))

        self.model.to(self.device)
        if settings.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.model, recipe, fused=settings.fused_optimizer)
        self.scheduler = build_scheduler(self.optimizer, recipe, self.steps_per_epoch)
        step_model: nn.Module = self.model
        if ddp.world > 1:
            step_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.step_model = torch.compile(step_model) if settings.compile else step_model
        self.history: list[dict[str, Any]] = []
        self.commit = git_commit()  # the code this run started with, not whatever is checked out at the end
        self.elapsed = self.epoch_seconds = 0.0
        self.epoch_images = 0

    def _build_model(self, num_classes: int) -> UnitModel:
        settings, recipe = self.settings, self.recipe
        overrides = {"drop_path_rate": recipe.drop_path} if recipe.drop_path else {}
        try:
            model = create_model(settings.model, num_classes=num_classes, preset=settings.preset, **overrides)
        except TypeError as err:
            raise ValueError(f"{settings.model} has no stochastic depth; pass --drop-path 0 ({err})") from err
        stats = dataset_normalisation(settings.dataset_name)
        mean, std = stats if stats else (model.config.mean, model.config.std)
        model.config = dataclasses.replace(model.config, mean=tuple(mean), std=tuple(std), label_names=self.classes)
        return model

    # -- the loop ------------------------------------------------------------------------------------------

    def run(self) -> Path:
        settings, out = self.settings, self.settings.out
        epoch, step, sums = 0, 0, [0.0, 0.0, 0.0]
        if settings.resume:
            epoch, step, sums = self._restore()
        elif self.ddp.main:
            out.mkdir(parents=True, exist_ok=True)
            self.recipe.save(out / "recipe.json")
        board = self._tensorboard()
        previous = signal.signal(signal.SIGTERM, self._request_stop)
        try:
            while epoch < self.total_epochs:
                sums = self._train_epoch(epoch, step, sums)
                if self.stop_requested:
                    return out
                record = self._end_epoch(epoch, sums)
                if board is not None:
                    for key, value in record.items():
                        if isinstance(value, int | float) and key != "epoch":
                            board.add_scalar(key, value, record["epoch"])
                epoch, step, sums = epoch + 1, 0, [0.0, 0.0, 0.0]
                self._save(epoch, 0, sums)
        finally:
            signal.signal(signal.SIGTERM, previous)
            if board is not None:
                board.close()
        if self.ddp.main:
            self._finish()
        return out

    def _request_stop(self, signum: int, frame: object) -> None:
        self.stop_requested = True

    def _stop_agreed(self) -> bool:
        """All processes stop at the same step, or the collectives of the others would hang."""
        flag = float(self.stop_requested)
        return self.ddp.all_sum([flag])[0] > 0 if self.ddp.world > 1 else bool(flag)

    def _train_epoch(self, epoch: int, start_step: int, sums: list[float]) -> list[float]:
        """Run the steps of ``epoch`` from ``start_step``; ``sums`` = [loss sum, correct, images] so far."""
        settings, recipe, ddp = self.settings, self.recipe, self.ddp
        self.model.train()
        self.train_set.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start_step)
        loader = DataLoader(self.train_set, batch_sampler=self.sampler, num_workers=settings.workers,
                            pin_memory=self.device.type == "cuda")
        interactive = sys.stderr.isatty()
        bar = tqdm(total=self.steps_per_epoch, initial=start_step, unit="step", dynamic_ncols=True,
                   desc=f"epoch {epoch + 1}/{self.total_epochs}", disable=not (ddp.main and settings.progress),
                   mininterval=0.5 if interactive else 30)
        loss_sum, correct, seen = sums
        tic = time.perf_counter()
        for step, (images, labels) in enumerate(loader, start=start_step):
            torch.manual_seed(sample_seed(settings.seed, epoch, -2 - step * ddp.world - ddp.rank))
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            if settings.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            loss, logits = self._step(images, labels)
            loss_sum += loss
            correct += (logits.argmax(-1) == labels).sum().item()
            seen += len(labels)
            bar.update()
            done = step + 1 - start_step
            rate = done * recipe.batch_size / (time.perf_counter() - tic)
            remaining = (self.total_epochs - epoch) * self.steps_per_epoch - step - 1
            bar.set_postfix(loss=f"{loss_sum / (step + 1):.4f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}",
                            img_s=f"{rate:.0f}", run_eta=_duration(remaining * recipe.batch_size / rate), refresh=False)
            if self._stop_agreed():
                bar.close()
                self.elapsed += time.perf_counter() - tic
                self._save(epoch, step + 1, ddp.all_sum([loss_sum, correct, seen]))
                if ddp.main:
                    print(f"stopped by SIGTERM at epoch {epoch + 1}, step {step + 1}; checkpoint saved. "
                          f"Continue with the same command and --resume.", file=sys.stderr)
                return [loss_sum, correct, seen]
        bar.close()
        self.epoch_seconds = time.perf_counter() - tic
        self.elapsed += self.epoch_seconds
        self.epoch_images = (self.steps_per_epoch - start_step) * recipe.batch_size
        return ddp.all_sum([loss_sum, correct, seen])

    def _step(self, images: Tensor, labels: Tensor) -> tuple[float, Tensor]:
        recipe = self.recipe
        mixed, targets = self.mix(images, labels)
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.settings.amp and self.device.type == "cuda"):
            logits = self.step_model(mixed)
        loss = soft_target_cross_entropy(logits.float(), targets)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"training loss became {loss.item()}; lower --lr or enable --grad-clip")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), recipe.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return loss.item(), logits.detach()

    def _end_epoch(self, epoch: int, sums: list[float]) -> dict[str, Any]:
        loss_sum, correct, seen = sums
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": self.scheduler.get_last_lr()[0],
            "train_loss": loss_sum / (self.steps_per_epoch * self.ddp.world),
            "train_accuracy": correct / max(seen, 1),
        }
        if self.ddp.main and len(self.val_set):
            metrics = self.validate()
            record.update({f"val_{key}": getattr(metrics, key) for key in ("accuracy", "nll", "ece")})
        record.update(epoch_seconds=self.epoch_seconds, images_per_second=self.epoch_images / self.epoch_seconds,
                      elapsed_seconds=self.elapsed)
        self.history.append(record)
        if self.ddp.main and self.settings.progress:
            shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}
            tqdm.write(json.dumps(shown))
        return record

    def validate(self) -> Metrics:
        loader = DataLoader(self.val_set, batch_size=256, num_workers=self.settings.workers)
        metrics = evaluate(self.model, loader, str(self.device), progress=False).compute()
        self.model.train()
        return metrics

    # -- checkpoints ---------------------------------------------------------------------------------------

    def _save(self, epoch: int, step: int, sums: list[float]) -> None:
        """Rank 0 writes the checkpoint (holding the summed epoch statistics), then the log it implies."""
        if self.ddp.main:
            state = {
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "epoch": epoch, "step": step, "sums": sums,
                "history": self.history, "elapsed": self.elapsed, "provenance": self.settings.provenance(),
            }
            save_checkpoint(state, self.settings.out)
            lines = "".join(json.dumps(record) + "\n" for record in self.history)
            tmp = self.settings.out / ".log.jsonl.tmp"
            tmp.write_text(lines)
            tmp.replace(self.settings.out / "log.jsonl")
        if self.ddp.world > 1:
            dist.barrier()

    def _restore(self) -> tuple[int, int, list[float]]:
        state = load_checkpoint(self.settings.out)
        expected, found = self.settings.provenance(), state["provenance"]
        if found != expected:
            diff = sorted(k for k in expected if expected[k] != found.get(k))
            raise ValueError(f"{self.settings.out} holds a checkpoint of a different run (differs in {diff}); "
                             f"resume with the original settings or choose a new --out")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.history, self.elapsed = list(state["history"]), float(state["elapsed"])
        sums = list(state["sums"]) if self.ddp.main else [0.0, 0.0, 0.0]  # rank 0 carries the global sums
        if self.ddp.main:
            print(f"resumed {self.settings.out} at epoch {state['epoch'] + 1}, step {state['step']}", file=sys.stderr)
        return int(state["epoch"]), int(state["step"]), sums

    def _tensorboard(self) -> Any:
        if not self.ddp.main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.settings.out / "tensorboard"))

    # -- output ---------------------------------------------------------------------------------------------

    def _finish(self) -> None:
        """Held-out metrics, reliability diagram and the hub folder (weights, config, card)."""
        settings, out = self.settings, self.settings.out
        metrics: dict[str, float] = {}
        if len(self.val_set):
            loader = DataLoader(self.val_set, batch_size=256, num_workers=settings.workers)
            accumulator = evaluate(self.model, loader, str(self.device), progress=settings.progress)
            result = accumulator.compute()
            report = {"model": settings.name or out.name, "data": settings.dataset, "split": "validation",
                      "val_size": len(self.val_set), "seed": settings.seed, "metrics": result.to_dict(),
                      "reliability_15_bins": reliability_bins(accumulator.confidence, accumulator.correct, 15)}
            (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
            plot_reliability(accumulator.confidence, accumulator.correct, out / "reliability.png",
                             title=f"{settings.name or out.name}: validation")
            metrics = {key: getattr(result, key) for key in CARD_METRICS}
        self.model.to("cpu", memory_format=torch.contiguous_format)
        save_pretrained(self.model, out, metrics=metrics, card=self._card(), name=settings.name or out.name)
        print(f"wrote {out} (load it with hub.from_pretrained({str(out)!r}))", file=sys.stderr)
        if settings.push_to_hub:
            print(f"uploaded: {push_folder(out, settings.push_to_hub)}", file=sys.stderr)

    def _card(self) -> CardInfo:
        settings, recipe = self.settings, self.recipe
        base = RECIPES.get(recipe.name)
        changed = {k: v for k, v in dataclasses.asdict(recipe).items()
                   if base is not None and getattr(base, k) != v}
        overrides = f" with overrides `{json.dumps(changed)}`" if changed else ""
        last = self.history[-1] if self.history else {}
        best = max(self.history, key=lambda r: r.get("val_accuracy", 0.0)) if self.history else {}
        training = "\n".join([
            f"- Recipe: `{recipe.name}`{overrides} (full recipe in `recipe.json`).",
            f"- Data: `{settings.dataset}`: {len(self.train_set):,} training images"
            f"{f' (class-balanced fraction {settings.data_fraction})' if settings.data_fraction < 1 else ''}, "
            f"{len(self.val_set):,} held out for validation (stratified, seed {settings.seed}); "
            f"{len(self.classes)} classes.",
            f"- Seed {settings.seed}; {recipe.warmup_epochs} warm-up + {recipe.epochs} epochs "
            f"({self.steps_per_epoch} steps of {recipe.batch_size} images each).",
            f"- Ran on {self.ddp.world} x {settings.device} (torch {torch.__version__}, "
            f"{settings.threads or torch.get_num_threads()} threads per process) in {_duration(self.elapsed)} of "
            f"training; git commit `{self.commit}` at launch.",
            f"- Final epoch: train loss {last.get('train_loss', float('nan')):.4f}, validation accuracy "
            f"{last.get('val_accuracy', float('nan')):.4f}; best epoch {best.get('epoch', '-')} "
            f"({best.get('val_accuracy', float('nan')):.4f}). The weights are the final epoch's. Per-epoch log: "
            f"`log.jsonl`.",
        ])
        return CardInfo(
            description=f"`{settings.model}` trained with this toolkit's `training.train`.",
            dataset=settings.dataset_name, split="validation", training=training,
            reproduce=settings.command or "python -m training.train ...",
        )


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="registered architecture (python -m hub list --arch)")
    parser.add_argument("--dataset", required=True,
                        help="cifar10, cifar100, an ImageFolder directory or a .tar/.tar.gz of one")
    parser.add_argument("--out", required=True, type=Path, help="run folder; becomes the hub folder at the end")
    parser.add_argument("--recipe", default="paper", choices=list(RECIPES), help="named recipe (default: paper)")
    parser.add_argument("--root", default="data", help="download folder for cifar10/cifar100 (default: data)")
    parser.add_argument("--dataset-name", default=None,
                        help="what the data is (cifar10, cifar100, ...): the model card's dataset and, for "
                             "CIFAR, the normalisation statistics (default: --dataset when it names CIFAR)")
    parser.add_argument("--preset", default="cifar", choices=["cifar", "imagenet"],
                        help="model preset: 32x32 CIFAR stem or 224x224 ImageNet stem (default: cifar)")
    parser.add_argument("--val-size", type=float, default=5000,
                        help="images held out for validation, a count or a fraction; 0 holds out none "
                             "(default: 5000)")
    parser.add_argument("--data-fraction", type=float, default=1.0,
                        help="train on this class-balanced fraction of the remaining images (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and augmentation")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process (default: CPU cores / processes on this node)")
    parser.add_argument("--workers", type=int, default=None,
                        help="data-loader processes (default: 0 on CPU, where they would compete with the "
                             "training threads; min(8, cores / processes) on CUDA)")
    parser.add_argument("--channels-last", choices=["auto", "true", "false"], default="auto",
                        help="NHWC memory format (default auto: on for CUDA)")
    parser.add_argument("--fused-optimizer", choices=["auto", "true", "false"], default="auto",
                        help="fused AdamW/SGD kernel (default auto: on for CUDA)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the training step")
    parser.add_argument("--no-amp", dest="amp", action="store_false", help="disable bf16 autocast on CUDA")
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    parser.add_argument("--name", default=None, help="model name in the card (default: the --out folder name)")
    parser.add_argument("--push-to-hub", default=None, metavar="ORG/NAME",
                        help="upload the finished hub folder to this Hub repo")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    add_recipe_arguments(parser)
    return parser


def settings_from_args(args: argparse.Namespace, ddp: Distributed, argv: list[str]) -> RunSettings:
    cuda = torch.cuda.is_available()
    device = args.device or ("cuda" if cuda else "cpu")
    if device.startswith("cuda"):
        if not cuda:
            raise ValueError("--device cuda was asked for but torch sees no CUDA GPU")
        device = f"cuda:{ddp.local_rank}"
    on_cuda = device.startswith("cuda")
    cores = os.cpu_count() or 1
    threads = args.threads or max(1, cores // ddp.local_world)
    workers = args.workers if args.workers is not None else (min(8, cores // ddp.local_world) if on_cuda else 0)

    def switch(value: str) -> bool:
        return on_cuda if value == "auto" else value == "true"

    dataset_name = args.dataset_name or (args.dataset if args.dataset in NORMALISATION else None)
    launcher = "torchrun --nproc_per_node N -m training.train" if ddp.world > 1 else "python -m training.train"
    return RunSettings(
        model=args.model, dataset=args.dataset, out=args.out, recipe=recipe_from_args(args, args.recipe),
        root=args.root, dataset_name=dataset_name, preset=args.preset, val_size=args.val_size,
        data_fraction=args.data_fraction, seed=args.seed, device=device, threads=threads, workers=workers,
        channels_last=switch(args.channels_last), compile=args.compile, fused_optimizer=switch(args.fused_optimizer),
        amp=args.amp, resume=args.resume, push_to_hub=args.push_to_hub, name=args.name, progress=args.progress,
        command=f"{launcher} {shlex.join(a for a in argv if a != '--resume')}",
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    ddp = Distributed.from_env()
    try:
        settings = settings_from_args(args, ddp, argv)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(settings.threads)
    if ddp.world > 1:
        if settings.device.startswith("cuda"):
            torch.cuda.set_device(ddp.local_rank)
        dist.init_process_group("nccl" if settings.device.startswith("cuda") else "gloo")
    torch.manual_seed(settings.seed)  # initialisation: identical on every rank
    torch.backends.cudnn.benchmark = True
    try:
        trainer = Trainer(settings, ddp)
        trainer.run()
        return INTERRUPTED if trainer.stop_requested else 0
    except (HubError, ValueError, FileNotFoundError, FloatingPointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if ddp.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
