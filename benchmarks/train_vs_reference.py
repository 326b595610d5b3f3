"""Our training step against a reference implementation of the same architecture, interleaved in one process.

The paper's own code is not installable, so each family is compared with the closest implementation that is:

- ``vit_ti``: timm's ``VisionTransformer`` (the class the released CIFAR-100 ViT-Ti was trained with; today's
  timm, which already uses fused attention); ``pip install timm --no-deps`` for this benchmark only.
- ``resnet_18``: torchvision's ``resnet18`` with the CIFAR stem (3x3/1 conv, no max-pool), the same post-activation
  network as the paper's ``resnet_18``.
- ``alternet_18``: a plain NCHW AlterNet-18 written here from the description of the original in
  ``shared/reference/paper-and-official-code.md`` (pre-activation basic blocks; MSA blocks with bias-free 1x1-conv
  q and kv, an einsum attention, one relative-position table shared by the heads, a 1x1-conv output). It is a
  reconstruction, not the original's code: a stand-in until the original is rerun beside ours.

Each pair is checked to hold the same number of parameters. Rows: ours eager, ours with the trainer's defaults,
the reference eager; ratios are against the reference. Steps are ``train_throughput``'s (forward, soft-target
cross-entropy, backward, clipping, AdamW).

  python benchmarks/train_vs_reference.py --threads 2 --rounds 6
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor, nn
from train_throughput import Setting, cpu_name, model_step, timed, trainer_defaults, training_step

from hub import count_parameters, create_model
from hub.models.alternet import HEADS


class ReferenceLocalAttention(nn.Module):
    """Window MHSA on an NCHW map as the original lays it out: 1x1-conv q/kv, einsum, one shared bias table."""

    def __init__(self, dim: int, heads: int, dim_head: int = 64, window: int = 4) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads, self.window, self.scale = heads, window, dim_head ** -0.5
        self.to_q = nn.Conv2d(dim, inner, 1, bias=False)
        self.to_kv = nn.Conv2d(dim, 2 * inner, 1, bias=False)
        self.to_out = nn.Conv2d(inner, dim, 1)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        self.rel_index = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + window - 1
        self.pos_embedding = nn.Parameter(torch.randn(2 * window - 1, 2 * window - 1) * 0.02)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        p, n1, n2 = self.window, h // self.window, w // self.window
        bias = self.pos_embedding[self.rel_index[:, :, 0], self.rel_index[:, :, 1]]
        x = x.reshape(b, c, n1, p, n2, p).permute(0, 2, 4, 1, 3, 5).reshape(b * n1 * n2, c, p, p)
        q, k, v = (t.reshape(b * n1 * n2, self.heads, -1, p * p).transpose(-1, -2)
                   for t in (self.to_q(x), *self.to_kv(x).chunk(2, dim=1)))
        attn = (torch.einsum("bhid,bhjd->bhij", q, k) * self.scale + bias).softmax(dim=-1)
        out = torch.einsum("bhij,bhjd->bhid", attn, v).transpose(-1, -2).reshape(b * n1 * n2, -1, p, p)
        out = self.to_out(out)
        return out.reshape(b, n1, n2, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


class ReferenceBlock(nn.Module):
    """Pre-activation basic block (``conv``) or MSA block (``msa``) of the original AlterNet-18."""

    def __init__(self, cin: int, cout: int, stride: int, heads: int | None = None) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        if heads is None:
            self.act = nn.ReLU()
            self.branch = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                                        nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1, bias=False))
        else:
            self.act = nn.GELU()
            self.branch = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                                        ReferenceLocalAttention(cout, heads))
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x: Tensor) -> Tensor:
        a = self.act(self.norm(x))
        return (x if self.shortcut is None else self.shortcut(a)) + self.branch(a)


def reference_alternet_18(num_classes: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, 1, 1, bias=False)]
    cin = 64
    for stage, (width, heads) in enumerate(zip((64, 128, 256, 512), HEADS, strict=True)):
        layers.append(ReferenceBlock(cin, width, 1 if stage == 0 else 2))
        layers.append(ReferenceBlock(width, width, 1, None if stage == 0 else heads))
        cin = width
    layers += [nn.BatchNorm2d(cin), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


def reference_resnet_18(num_classes: int) -> nn.Module:
    from torchvision.models import resnet18

    model = resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model


def reference_vit_ti(num_classes: int) -> nn.Module:
    try:
        from timm.models.vision_transformer import VisionTransformer
    except ImportError as err:
        raise SystemExit("vit_ti's reference is timm: pip install timm --no-deps") from err
    return VisionTransformer(img_size=32, patch_size=2, embed_dim=192, depth=12, num_heads=3, qkv_bias=False,
                             num_classes=num_classes)


REFERENCES: dict[str, tuple[str, Callable[[int], nn.Module]]] = {
    "resnet_18": ("torchvision resnet18, CIFAR stem", reference_resnet_18),
    "vit_ti": ("timm VisionTransformer", reference_vit_ti),
    "alternet_18": ("AlterNet-18 reconstructed from the original's description", reference_alternet_18),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(REFERENCES), help="comma-separated: " + ", ".join(REFERENCES))
    parser.add_argument("--batch-size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per implementation and round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds over the implementations (median kept)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (ViT speeds up for ~10)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train_vs_reference.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    defaults = trainer_defaults("cpu")
    rows = []
    for arch in args.models.split(","):
        if arch not in REFERENCES:
            parser.error(f"--models: no reference for {arch!r}; choose from {', '.join(REFERENCES)}")
        name, build = REFERENCES[arch]
        torch.manual_seed(0)
        reference = build(100)
        steps = {"ours eager": training_step(arch, Setting("eager"), "cpu", args.batch_size),
                 "ours defaults": training_step(arch, defaults, "cpu", args.batch_size),
                 "reference eager": model_step(reference, Setting("eager"), "cpu", args.batch_size)}
        for step in steps.values():
            timed(step, args.warmup, args.batch_size, "cpu")
        rates: dict[str, list[float]] = {label: [] for label in steps}
        for _ in range(args.rounds):
            for label, step in steps.items():
                rates[label].append(timed(step, args.steps, args.batch_size, "cpu")[0])
        medians = {label: statistics.median(r) for label, r in rates.items()}
        row = {"model": arch, "reference": name, "parameters": count_parameters(create_model(arch, num_classes=100)),
               "reference_parameters": count_parameters(reference), "images_per_s": medians, "rounds": rates,
               "ours_eager_vs_reference": medians["ours eager"] / medians["reference eager"],
               "ours_defaults_vs_reference": medians["ours defaults"] / medians["reference eager"]}
        rows.append(row)
        print(f"{arch:12s} ours eager {medians['ours eager']:6.1f}  defaults {medians['ours defaults']:6.1f}  "
              f"{name} {medians['reference eager']:6.1f} img/s -> eager {row['ours_eager_vs_reference']:.2f}x, "
              f"defaults {row['ours_defaults_vs_reference']:.2f}x (params {row['parameters']:,} vs "
              f"{row['reference_parameters']:,})", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"device": cpu_name(), "torch": torch.__version__, "threads": args.threads,
                                    "batch_size": args.batch_size, "steps": args.steps, "rounds": args.rounds,
                                    "warmup": args.warmup, "defaults": asdict(defaults), "rows": rows}, indent=2)
                        + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
