"""The training loop: one :class:`Trainer` per process (data, model, optimiser, epochs, checkpoints), and the
process's place in a torchrun job. What a run writes at the end is :mod:`training.outputs`'s."""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from hub import UnitModel, create_model, save_pretrained
from hub.card import describe_normalisation
from hub.config import PUBLISHED_STATISTICS, Normalisation
from hub.data import balanced_sample, channel_statistics, class_balanced_subset
from hub.files import atomic_path
from hub.pretrained import from_pretrained, push_folder
from hub.resize import rebuilt
from hub.transforms import eval_transform
from training.augment import batch_mixer, soft_target_cross_entropy, train_transform
from training.checkpoint import git_commit, load_checkpoint, save_checkpoint
from training.distributed import Distributed
from training.evaluate import evaluate
from training.metrics import Metrics
from training.optim import build_optimizer, build_scheduler
from training.outputs import RunSummary, card_metrics, duration, training_card, write_evaluation
from training.sampling import EpochBatchSampler, SeededTransformSubset, sample_seed
from training.settings import RunSettings, should_compile


def with_drop_path(build: Callable[..., UnitModel], *args: Any, **kwargs: Any) -> UnitModel:
    """``build(*args, **kwargs)`` for a model with the recipe's stochastic depth, which some architectures lack."""
    try:
        return build(*args, **kwargs)
    except TypeError as err:
        raise ValueError(f"the architecture has no stochastic depth; pass --drop-path 0 ({err})") from err


class Trainer:
    """One run: data, model, optimiser, the epoch loop, checkpoints and the final hub folder."""

    def __init__(self, settings: RunSettings, ddp: Distributed) -> None:
        self.settings, self.recipe, self.ddp = settings, settings.recipe, ddp
        self.device = torch.device(settings.device)
        self.stop_requested = False
        recipe = self.recipe

        base = settings.data.open()
        self.classes: list[str] = list(base.classes)
        targets = list(base.targets)
        train_idx = settings.data.indices(targets)
        val_idx = dataclasses.replace(settings.data, split="val").indices(targets) if settings.data.val_size else []
        if settings.data_fraction < 1:
            keep = class_balanced_subset([targets[i] for i in train_idx], settings.data_fraction, settings.seed)
            train_idx = [train_idx[i] for i in keep]

        self.model = self._build_model()
        self.settings = dataclasses.replace(settings, model=self.model.config.architecture)  # the parent's if unset
        self._normalise(base, targets, train_idx)
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
        total_steps = self.steps_per_epoch * self.total_epochs
        self.compiled, missing = should_compile(settings.compile, total_steps, settings.device)
        if missing and ddp.main:
            print(f"--compile auto: training eagerly, {missing} (pass --compile false to silence this)",
                  file=sys.stderr)
        self.step_model = torch.compile(step_model) if self.compiled else step_model
        self.history: list[dict[str, Any]] = []
        self.commit = git_commit()  # the code this run started with, not whatever is checked out at the end
        self.elapsed = self.epoch_seconds = 0.0
        self.epoch_images = 0

    def _build_model(self) -> UnitModel:
        """The architecture with random weights, or the parent with this data's classes; then the recipe's
        stochastic depth and the training resolution."""
        settings, drop_path = self.settings, self.recipe.drop_path
        if settings.init_from:
            model = from_pretrained(settings.init_from, labels=self.classes, img_size=settings.img_size)
            self._check_parent(model)
            if drop_path != model.config.model_args.get("drop_path_rate", 0.0):
                model = with_drop_path(rebuilt, model, drop_path_rate=drop_path)
            return model
        overrides = {"drop_path_rate": drop_path} if drop_path else {}
        model = with_drop_path(create_model, settings.model, len(self.classes), settings.preset or "cifar",
                               **overrides)
        model.config = dataclasses.replace(model.config, label_names=self.classes)
        if settings.img_size:
            model.set_input_size(settings.img_size)
        return model

    def _check_parent(self, model: UnitModel) -> None:
        """The parent decides the architecture and the preset: a flag that says otherwise is refused."""
        config, settings = model.config, self.settings
        for flag, asked, found in (("--model", settings.model, config.architecture),
                                   ("--preset", settings.preset, config.preset)):
            if asked is not None and asked != found:
                raise ValueError(f"{flag} {asked} contradicts --init-from {settings.init_from}, a "
                                 f"{config.architecture} with the {config.preset} preset; leave {flag} out (the parent "
                                 f"decides it)")

    def _normalise(self, base: Dataset, targets: list[int], train_idx: list[int]) -> None:
        """The model's mean/std: the parent's, published ones, or computed from (at most
        ``statistics_images``) training images at the training resolution, before augmentation."""
        settings, config = self.settings, self.model.config
        name = "imagenet-1k" if settings.normalisation == "imagenet" else settings.dataset_name
        if settings.normalisation == "parent":
            mean, std, origin = config.mean, config.std, Normalisation("parent", config.parent.source)
        elif name in PUBLISHED_STATISTICS:
            (mean, std), origin = PUBLISHED_STATISTICS[name], Normalisation("published", name)
        else:
            picked = balanced_sample(targets, train_idx, settings.statistics_images, settings.seed)
            pixels = SeededTransformSubset(base, picked, eval_transform(config, normalise=False), settings.seed)
            loader = DataLoader(pixels, batch_size=256, num_workers=settings.workers)
            stats = channel_statistics((batch for batch, _ in loader), len(picked),
                                       settings.progress and self.ddp.main)
            mean, std = stats.mean, stats.std
            origin = Normalisation("computed", images=stats.images, cap=settings.statistics_images)
        self.model.config = dataclasses.replace(config, mean=tuple(mean), std=tuple(std), normalisation=origin)
        if self.ddp.main:
            print(f"normalisation: {describe_normalisation(origin)}", file=sys.stderr)

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
                            img_s=f"{rate:.0f}", run_eta=duration(remaining * recipe.batch_size / rate), refresh=False)
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
            with atomic_path(self.settings.out / "log.jsonl") as tmp:
                tmp.write_text("".join(json.dumps(record) + "\n" for record in self.history))
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
        name = settings.name or out.name
        metrics: dict[str, float] = {}
        if len(self.val_set):
            loader = DataLoader(self.val_set, batch_size=256, num_workers=settings.workers)
            accumulator = evaluate(self.model, loader, str(self.device), progress=settings.progress)
            header = {"model": name, "data": settings.data.data, "split": "validation",
                      "val_size": len(self.val_set), "seed": settings.seed, "train_images": len(self.train_set),
                      "data_fraction": settings.data_fraction}
            metrics = card_metrics(write_evaluation(out, accumulator, header, f"{name}: validation"))
        self.model.to("cpu", memory_format=torch.contiguous_format)
        summary = RunSummary(len(self.train_set), len(self.val_set), len(self.classes), self.steps_per_epoch,
                             self.ddp.world, self.elapsed, self.commit, self.history)
        save_pretrained(self.model, out, metrics=metrics, card=training_card(settings, summary), name=name)
        print(f"wrote {out} (load it with hub.from_pretrained({str(out)!r}))", file=sys.stderr)
        if settings.push_to_hub:
            print(f"uploaded: {push_folder(out, settings.push_to_hub)}", file=sys.stderr)
