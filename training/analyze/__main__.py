"""``python -m training.analyze <analysis> --model NAME_OR_FOLDER --data DATA [options] --out DIR``

Analyses: fourier, variance, noise, hessian, landscape, lesion, cka, corruptions, and report (the suite on
several models with one Markdown page). Each writes <out>/<analysis>.json (the model, the images, the exact
settings and every plotted number, typed and versioned) and <out>/<analysis>.png. MODEL may also be a
registered architecture name, which is analysed with random weights (seed 0), or a model of another library or
your own: timm:NAME, torchvision:NAME (random weights unless --pretrained) or package.module:factory (a function
returning a module whose class has a ready-made unit description, or a hub.DescribedModel). DATA: cifar10, cifar100, an
ImageFolder directory or a tar of one; by default the analyses look at the 5,000-image validation split the
training runs held out (--val-size, --seed), and the loss-based ones (hessian, landscape) at the training
part of it. `python -m training.analyze ANALYSIS --help` lists every setting of one analysis.

Several processes: `torchrun --nproc_per_node N -m training.analyze hessian|landscape|corruptions|fourier|variance
...` shares the work with a fixed assignment (Hessian batches, grid points, CIFAR-C sets, image batches), reduces
with torch.distributed (gloo on CPU, NCCL on GPU) and writes the single process's result from rank 0; each rank
keeps its finished items, so a rerun of the same command resumes.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

import torch

from hub import HubError
from hub.cli import add_dataclass_arguments, dataclass_from_args
from hub.data import add_data_arguments, data_spec_from_args
from training.analyze import report
from training.analyze.inputs import Runtime, load_model
from training.analyze.registry import ANALYSES, Analysis
from training.distributed import Distributed


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every analysis takes besides the data and its own settings."""
    parser.add_argument("--model", required=True,
                        help="short name, Hub repo id, model folder or architecture; or timm:NAME, "
                             "torchvision:NAME, package.module:factory (a model of another library or your own)")
    parser.add_argument("--pretrained", action="store_true",
                        help="timm:/torchvision:/factory models: the library's pretrained weights (they must be "
                             "reachable: the Hugging Face or torch hub cache, or online); default: random, seed 0")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="classes of a randomly initialised architecture (default: its preset's)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def run_analysis(analysis: Analysis, args: argparse.Namespace) -> Path:
    """One analysis; under torchrun every rank computes its share and rank 0 writes the one result."""
    dist = Distributed.from_env()
    if dist.world > 1 and not analysis.shards:
        sharded = ", ".join(a.name for a in ANALYSES.values() if a.shards)
        raise ValueError(f"{analysis.name} runs in one process; torchrun shares {sharded}")
    device = dist.device(args.device)
    if dist.world > 1 and not device.startswith("cuda"):
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.local_world))  # no oversubscription
    dist.start(device)
    try:
        model = load_model(args.model, args.num_classes, args.pretrained)
        settings = dataclass_from_args(analysis.settings, args)
        runtime = Runtime(device, args.progress, args.out, dist)
        record = analysis.execute(model, data_spec_from_args(args), settings, runtime)
        return analysis.write(record, args.out) if dist.main else args.out / f"{analysis.name}.json"
    finally:
        dist.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.analyze", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")
    for analysis in ANALYSES.values():
        p = sub.add_parser(analysis.name, help=analysis.help, description=sys.modules[analysis.run.__module__].__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        add_run_arguments(p)
        add_data_arguments(p, defaults=analysis.data)
        add_dataclass_arguments(p.add_argument_group(f"{analysis.name} settings"), analysis.settings)
        p.set_defaults(run=partial(run_analysis, analysis))
    report.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path = args.run(args)
    except (HubError, ValueError, FileNotFoundError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
