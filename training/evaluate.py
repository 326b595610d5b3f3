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
from torch.utils.data import DataLoader
from tqdm import tqdm

from hub import HubError, UnitModel, from_pretrained
from hub.data import add_data_arguments, data_spec_from_args
from hub.transforms import eval_transform
from training.metrics import MetricAccumulator
from training.outputs import write_evaluation


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
    parser.add_argument("--out", required=True, type=Path, help="folder for metrics.json and reliability.png")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add_data_arguments(parser, defaults={"val_size": None, "batch_size": 256})
    args = parser.parse_args(argv)
    spec = data_spec_from_args(args)
    try:
        model = from_pretrained(args.model)
        dataset = spec.dataset(eval_transform(model.config))
    except (HubError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    loader = DataLoader(dataset, batch_size=spec.batch_size, num_workers=args.workers)
    accumulator = evaluate(model, loader, args.device)
    header = {"model": args.model, "source": model.source, "data": spec.data, "val_size": spec.val_size,
              "seed": spec.seed}
    metrics = write_evaluation(args.out, accumulator, header, "")
    print(json.dumps(metrics.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
