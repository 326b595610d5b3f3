"""What a training run is asked to do: :class:`RunSettings` and the ``python -m training.train`` flags that
fill it (the recipe's own flags come from :mod:`training.recipes`)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from hub.config import PUBLISHED_STATISTICS
from hub.data import STATISTICS_IMAGES, DataSpec, add_data_arguments, data_spec_from_args
from training.recipes import RECIPES, Recipe, add_recipe_arguments, recipe_from_args

NormalisationChoice = Literal["parent", "dataset", "imagenet"]
"""Where a run's mean/std come from: the parent's (``--init-from``), the data's (its published statistics when
``--dataset-name`` has them, else computed from the training images), or ImageNet's."""

COMPILE_MIN_STEPS = 2000
"""Runs this long or longer compile the training step by default (``--compile auto``)."""


def compiler_missing(device: str) -> str | None:
    """Why ``torch.compile`` cannot build kernels for ``device`` here, or None: Inductor compiles CPU kernels
    with a C++ compiler (``$CXX``, default g++) and GPU kernels with Triton."""
    if device.startswith("cuda"):
        return None if importlib.util.find_spec("triton") else "Triton is not installed"
    compiler = os.environ.get("CXX", "g++")
    return None if shutil.which(compiler) else f"no C++ compiler ({compiler}) on PATH"


def should_compile(requested: bool | None, total_steps: int, device: str) -> tuple[bool, str | None]:
    """``--compile`` resolved for a run: an explicit choice stands; ``auto`` (None) compiles runs of
    :data:`COMPILE_MIN_STEPS` or more where a compiler exists. Returns the choice and, when ``auto`` wanted to
    compile but cannot, why (so the run says so and stays eager instead of failing at its first step)."""
    if requested is not None:
        return requested, None
    if total_steps < COMPILE_MIN_STEPS:
        return False, None
    missing = compiler_missing(device)
    return missing is None, missing


@dataclass
class RunSettings:
    """Everything about a run that is not the recipe: what to train on, where, and how to execute it."""

    model: str | None
    """The architecture; None: the parent's (``init_from``)."""
    data: DataSpec
    """The training images: the training part of the held-out split (its validation part is evaluated)."""
    out: Path
    recipe: Recipe
    dataset_name: str | None = None
    preset: str | None = None
    """None: ``cifar``, or the parent's with ``init_from``."""
    init_from: str | None = None
    """Weights to start from: anything :func:`hub.from_pretrained` loads."""
    img_size: int | None = None
    """The training resolution; None: the preset's, or the parent's."""
    normalisation: NormalisationChoice = "dataset"
    statistics_images: int = STATISTICS_IMAGES
    """The most training images computed statistics are computed from."""
    data_fraction: float = 1.0
    device: str = "cpu"
    threads: int | None = None
    workers: int = 0
    channels_last: bool = True
    compile: bool | None = None
    """None: on when the run has at least :data:`COMPILE_MIN_STEPS` optimiser steps, so that compiling (one to
    two minutes on a CPU) costs a few percent of the run at most; short runs stay eager."""
    fused_optimizer: bool = True
    amp: bool = True
    resume: bool = False
    push_to_hub: str | None = None
    name: str | None = None
    progress: bool = True
    command: str = ""

    @property
    def seed(self) -> int:
        """One seed for the split, the initialisation and every augmentation draw."""
        return self.data.seed

    def provenance(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed by this run (a parent and a resolution only when set, so
        that checkpoints written before they existed still resume)."""
        optional = {key: value for key, value in (("init_from", self.init_from), ("img_size", self.img_size))
                    if value is not None}
        return {"model": self.model, "dataset": self.data.data, "val_size": self.data.val_size or 0,
                "seed": self.seed, "data_fraction": self.data_fraction, "recipe": dataclasses.asdict(self.recipe),
                **optional}


def build_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None,
                        help="registered architecture (python -m hub list); with --init-from, the parent's")
    parser.add_argument("--init-from", default=None, metavar="NAME",
                        help="start from these weights: a short name, model folder, Hub repo id or released "
                             "checkpoint (anything hub.from_pretrained loads); its architecture, preset and input "
                             "size are kept and its classifier is re-initialised when the class count differs")
    parser.add_argument("--img-size", type=int, default=None,
                        help="training resolution (default: the preset's, or the parent's); the model is resized "
                             "with set_input_size")
    parser.add_argument("--normalisation", "--normalization", default="auto",
                        choices=["auto", "parent", "dataset", "imagenet"],
                        help="mean/std: the parent's, the data's (published for a --dataset-name that has them, "
                             "else computed from the training images) or ImageNet's (default auto: the parent's "
                             "with --init-from, else the data's)")
    parser.add_argument("--statistics-images", type=int, default=STATISTICS_IMAGES,
                        help=f"compute mean/std from at most this many training images, a seeded class-balanced "
                             f"subset (default: {STATISTICS_IMAGES:,})")
    parser.add_argument("--out", required=True, type=Path, help="run folder; becomes the hub folder at the end")
    parser.add_argument("--recipe", default="paper", choices=list(RECIPES), help="named recipe (default: paper)")
    parser.add_argument("--dataset-name", default=None,
                        help="what the data is (cifar10, cifar100, ...): the model card's dataset and, for "
                             f"{', '.join(PUBLISHED_STATISTICS)}, the published normalisation statistics (default: "
                             "--dataset when it names CIFAR)")
    parser.add_argument("--preset", default=None, choices=["cifar", "imagenet"],
                        help="model preset: 32x32 CIFAR stem or 224x224 ImageNet stem (default: cifar, or the "
                             "parent's with --init-from)")
    parser.add_argument("--data-fraction", type=float, default=1.0,
                        help="train on this class-balanced fraction of the remaining images (default: 1)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process (default: CPU cores / processes on this node)")
    parser.add_argument("--workers", type=int, default=None,
                        help="data-loader processes (default: 0 on CPU, where they would compete with the "
                             "training threads; min(8, cores / processes) on CUDA)")
    parser.add_argument("--channels-last", choices=["true", "false"], default="true",
                        help="NHWC memory format (default true: faster convolutions on CPU and CUDA; the same "
                             "function, equal up to float rounding)")
    parser.add_argument("--fused-optimizer", choices=["true", "false"], default="true",
                        help="one fused AdamW/SGD kernel per step (default true, CPU and CUDA; the same update)")
    parser.add_argument("--compile", choices=["auto", "true", "false"], default="auto",
                        help=f"torch.compile the model (default auto: on for runs of {COMPILE_MIN_STEPS}+ steps, "
                             "where its warm-up of one to two minutes is amortised; short runs stay eager)")
    parser.add_argument("--no-amp", dest="amp", action="store_false", help="disable bf16 autocast on CUDA")
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    parser.add_argument("--name", default=None, help="model name in the card (default: the --out folder name)")
    parser.add_argument("--push-to-hub", default=None, metavar="ORG/NAME",
                        help="upload the finished hub folder to this Hub repo")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    add_data_arguments(parser, flag="--dataset", exclude=("split", "num_images", "batch_size"))
    add_recipe_arguments(parser)
    return parser


def settings_from_args(args: argparse.Namespace, world: int, local_rank: int, local_world: int,
                       argv: list[str]) -> RunSettings:
    """Resolve the ``auto`` switches for the device this process trains on."""
    cuda = torch.cuda.is_available()
    device = args.device or ("cuda" if cuda else "cpu")
    if device.startswith("cuda"):
        if not cuda:
            raise ValueError("--device cuda was asked for but torch sees no CUDA GPU")
        device = f"cuda:{local_rank}"
    on_cuda = device.startswith("cuda")
    cores = os.cpu_count() or 1
    threads = args.threads or max(1, cores // local_world)
    workers = args.workers if args.workers is not None else (min(8, cores // local_world) if on_cuda else 0)

    data = dataclasses.replace(data_spec_from_args(args), split="train")
    dataset_name = args.dataset_name or (data.data if data.data in PUBLISHED_STATISTICS else None)
    if not (args.model or args.init_from):
        raise ValueError("give --model (an architecture to train from scratch) or --init-from (weights to start from)")
    for flag, value in (("--img-size", args.img_size), ("--statistics-images", args.statistics_images)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be positive, got {value}")
    launcher = "torchrun --nproc_per_node N -m training.train" if world > 1 else "python -m training.train"
    return RunSettings(
        model=args.model, data=data, out=args.out, recipe=recipe_from_args(args, args.recipe),
        dataset_name=dataset_name, preset=args.preset, init_from=args.init_from, img_size=args.img_size,
        normalisation=resolve_normalisation(args.normalisation, args.init_from),
        statistics_images=args.statistics_images, data_fraction=args.data_fraction, device=device,
        threads=threads, workers=workers, channels_last=args.channels_last == "true",
        compile=None if args.compile == "auto" else args.compile == "true",
        fused_optimizer=args.fused_optimizer == "true", amp=args.amp, resume=args.resume, push_to_hub=args.push_to_hub,
        name=args.name, progress=args.progress,
        command=f"{launcher} {shlex.join(a for a in argv if a != '--resume')}",
    )


def resolve_normalisation(choice: str, init_from: str | None) -> NormalisationChoice:
    """``--normalisation auto``: the parent's statistics when fine-tuning (its features were learnt on inputs
    normalised so), else the data's."""
    if choice == "auto":
        return "parent" if init_from else "dataset"
    if choice == "parent" and not init_from:
        raise ValueError("--normalisation parent needs --init-from (there is no parent)")
    return choice
