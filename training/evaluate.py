"""Evaluate a model: ``python -m training.evaluate --model NAME_OR_FOLDER --data DATA --out DIR``.

DATA is ``cifar10`` / ``cifar100`` (torchvision's test split, downloaded into ``--root``), an ImageFolder
directory, or a ``.tar``/``.tar.gz`` of one. ``--val-size N`` evaluates the seeded stratified validation
split carved from DATA instead of all of it (the split the training runs hold out). Writes
``metrics.json`` (every metric, the reliability-diagram bins and the exact settings) and ``reliability.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from hub import HubError, UnitModel, from_pretrained
from hub.preprocess import eval_transform
from training.data import TarImageFolder, stratified_split
from training.metrics import MetricAccumulator, Metrics, plot_reliability, reliability_bins


def open_dataset(data: str, transform, root: str = "data", train: bool = False) -> Dataset:
    """A dataset by name (cifar10/cifar100), ImageFolder directory or tar archive of one."""
    from torchvision import datasets

    if data in ("cifar10", "cifar100"):
        cls = datasets.CIFAR10 if data == "cifar10" else datasets.CIFAR100
        return cls(root, train=train, transform=transform, download=True)
    path = Path(data)
    if path.is_dir():
        return datasets.ImageFolder(path, transform=transform)
    if path.is_file() and ".tar" in path.name:
        return TarImageFolder(path, transform=transform)
    raise ValueError(f"--data {data!r} is not cifar10, cifar100, an ImageFolder directory or a .tar(.gz) of one")


@torch.no_grad()
def evaluate(model: UnitModel, loader: DataLoader, device: str = "cpu", progress: bool = True) -> MetricAccumulator:
    model.eval().to(device)
    accumulator = MetricAccumulator()
    for images, labels in tqdm(loader, desc="evaluate", unit="batch", disable=not progress):
        accumulator.update(model(images.to(device)), labels)
    return accumulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="short name, Hub repo id (org/name[@rev]) or model folder")
    parser.add_argument("--data", required=True, help="cifar10, cifar100, an ImageFolder directory or a tar of one")
    parser.add_argument("--out", required=True, type=Path, help="folder for metrics.json and reliability.png")
    parser.add_argument("--root", default="data", help="download folder for cifar10/cifar100")
    parser.add_argument("--val-size", type=float, default=None,
                        help="evaluate only the seeded stratified validation split of this size (count or fraction)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    try:
        model = from_pretrained(args.model)
        dataset = open_dataset(args.data, eval_transform(model.config), args.root, train=args.val_size is not None)
    except (HubError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.val_size is not None:
        _, val = stratified_split(dataset.targets, args.val_size, args.seed)
        dataset = Subset(dataset, val)
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers)
    accumulator = evaluate(model, loader, args.device)
    metrics: Metrics = accumulator.compute()
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "model": args.model, "source": model.source, "data": args.data, "val_size": args.val_size,
        "seed": args.seed, "metrics": metrics.to_dict(),
        "reliability_15_bins": reliability_bins(accumulator.confidence, accumulator.correct, 15),
    }
    (args.out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_reliability(accumulator.confidence, accumulator.correct, args.out / "reliability.png")
    print(json.dumps(metrics.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
