"""Train any registered architecture with a named recipe; the run's output folder is a loadable hub folder.

Examples:
  python -m training.train --model alternet_tiny --dataset cifar10 --recipe cpu-quick --out runs/a
  python -m training.train --model resnet_tiny --dataset train.tar.gz --val-size 5000 --recipe cpu-quick --out runs/r
  torchrun --nproc_per_node 4 -m training.train --model alternet_50 --dataset cifar100 --recipe paper --out runs/x
  python -m training.train ... --out runs/a --resume        # continue a killed or interrupted run exactly
  python -m training.train --init-from vit-tiny-cifar10 --dataset my-images/ --img-size 64 --out runs/ft

DATA (--dataset) is cifar10 / cifar100 (torchvision, downloaded into --root), an ImageFolder directory, or a
.tar/.tar.gz of one (read in memory, never unpacked). A seeded, stratified --val-size split is held out of it.
Its mean/std are the published ones for --dataset-name cifar10/cifar100, else computed from the training images.

--init-from starts from any weights hub.from_pretrained loads (short name, folder, Hub repo id, released
checkpoint): the architecture and preset are the parent's, the classifier is re-initialised when the data has
another number of classes, the mean/std are the parent's (--normalisation says otherwise), and the card records
the parent as its base_model.

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

import signal
import sys

import torch

from hub import HubError
from training.distributed import Distributed
from training.loop import Trainer
from training.settings import build_parser, settings_from_args

INTERRUPTED = 128 + signal.SIGTERM
"""Exit status of a run stopped by SIGTERM after saving its checkpoint."""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(__doc__).parse_args(argv)
    ddp = Distributed.from_env()
    try:
        settings = settings_from_args(args, ddp.world, ddp.local_rank, ddp.local_world, argv)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(settings.threads)
    ddp.start(settings.device)
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
        ddp.stop()


if __name__ == "__main__":
    sys.exit(main())
