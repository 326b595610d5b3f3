"""Analysis speed, as ratios measured in one run on one machine.

(a) Top-5 Hessian eigenvalues (largest magnitude) of a CIFAR ResNet and a ViT on one batch of 128 real
    training images: ours (one Lanczos run on the cached gradient graph; and our deflated power iteration
    on the same operator) against a textbook deflated power iteration whose products come from
    ``torch.autograd.functional.hvp`` (rebuilding forward and backward every product). Same tolerance.
(b) A 21x21 loss landscape on a 2,000-image training subset against the same grid on the full training
    set: the per-point cost of both is measured (one full-set point), the full grid extrapolated.

  python benchmarks/analysis_speed.py --data ../shared/data/cifar10-train-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from torch.func import functional_call

from hub import UnitModel, from_pretrained
from hub.data import DataSpec
from training.analyze.hessian import HessianOperator, LossSpec, lanczos_eigenvalues, power_iteration
from training.analyze.inputs import loss_batches
from training.analyze.landscape import LandscapeSettings, loss_at, random_direction
from training.augment import soft_target_cross_entropy

MODELS = ("resnet-tiny-cifar10", "vit-tiny-cifar10")


def textbook_power_iteration(model: UnitModel, inputs: torch.Tensor, targets: torch.Tensor, k: int, max_iter: int,
                             tol: float, seed: int) -> tuple[list[float], int]:
    """The plain method: ``autograd.functional.hvp`` per product, Gram-Schmidt deflation, Rayleigh stop."""
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach() for p in model.parameters())

    def loss(*tensors: torch.Tensor) -> torch.Tensor:
        return soft_target_cross_entropy(functional_call(model, dict(zip(names, tensors, strict=True)), (inputs,)),
                                         targets)

    generator = torch.Generator().manual_seed(seed)
    found: list[tuple[torch.Tensor, ...]] = []
    values, products = [], 0

    def dot(a, b) -> torch.Tensor:
        return sum((x * y).sum() for x, y in zip(a, b, strict=True))

    def deflate(v):
        for u in found:
            c = dot(v, u)
            v = tuple(x - c * y for x, y in zip(v, u, strict=True))
        return v

    for _ in range(k):
        v = deflate(tuple(torch.randn(p.shape, generator=generator) for p in params))
        norm = dot(v, v).sqrt()
        v = tuple(x / norm for x in v)
        value = None
        for _ in range(max_iter):
            _, hv = torch.autograd.functional.hvp(loss, params, v)
            products += 1
            new = dot(hv, v).item()
            hv = deflate(hv)
            norm = dot(hv, hv).sqrt()
            v = tuple(x / norm for x in hv)
            if value is not None and abs(new - value) <= tol * abs(value):
                value = new
                break
            value = new
        found.append(v)
        values.append(value)
    return values, products


def timed(fn):
    tic = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - tic


def hessian_benchmark(model: UnitModel, batch: tuple[torch.Tensor, torch.Tensor], k: int, tol: float,
                      max_iter: int) -> dict:
    from hub.layers import fused_attention

    model.eval()
    inputs, targets = batch
    op, build = timed(lambda: HessianOperator(model, [batch], LossSpec()))
    lanczos, t_lanczos = timed(lambda: lanczos_eigenvalues(op, op.size, k, 40, 0, tol, which="magnitude"))
    ours_power, t_power = timed(lambda: power_iteration(op, op.size, k, max_iter, tol, 0))
    with fused_attention(False):
        (plain, plain_products), t_plain = timed(lambda: textbook_power_iteration(model, inputs, targets, k,
                                                                                  max_iter, tol, 0))
    return {
        "parameters": op.size, "batch": len(inputs),
        "ours_lanczos": {"seconds": build + t_lanczos, "products": lanczos.products, "values": lanczos.values},
        "ours_power": {"seconds": build + t_power, "products": ours_power.products, "values": ours_power.values},
        "textbook_power_autograd_hvp": {"seconds": t_plain, "products": plain_products, "values": plain},
        "speedup_lanczos": t_plain / (build + t_lanczos),
        "speedup_power": t_plain / (build + t_power),
        "per_product_ratio": (t_plain / plain_products) / ((build + t_power) / ours_power.products),
    }


def landscape_benchmark(model: UnitModel, data: str, subset: int, points: int) -> dict:
    spec = LandscapeSettings(points=points)
    direction = random_direction(model, spec.normalisation, torch.Generator().manual_seed(0))
    model.eval()

    def per_point(num_images: int | None) -> tuple[float, float, int]:
        """Seconds to prepare the fixed batches once, and for one grid point (perturb + evaluate)."""
        data_spec = DataSpec(data, split="train", num_images=num_images, batch_size=250)
        batches, prepare = timed(lambda: loss_batches(model, data_spec))
        params = dict(model.named_parameters())
        base = {n: p.detach().clone() for n, p in params.items()}

        def point() -> dict:
            with torch.no_grad():
                for n, p in params.items():
                    p.copy_(base[n]).add_(direction[n], alpha=0.5)
            result = loss_at(model, batches, LossSpec("paper"))
            with torch.no_grad():
                for n, p in params.items():
                    p.copy_(base[n])
            return result

        _, seconds = timed(point)
        return prepare, seconds, sum(len(b[0]) for b in batches)

    sub_prepare, sub_point, sub_n = per_point(subset)
    full_prepare, full_point, full_n = per_point(None)
    grid = points * points
    return {
        "grid": f"{points}x{points}", "subset_images": sub_n, "full_images": full_n,
        "subset_seconds_per_point": sub_point, "full_seconds_per_point": full_point,
        "subset_grid_seconds": sub_prepare + grid * sub_point,
        "full_grid_seconds_extrapolated": full_prepare + grid * full_point,
        "ratio": (full_prepare + grid * full_point) / (sub_prepare + grid * sub_point),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="training data (tar, folder, cifar10)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--max-iter", type=int, default=50, help="power iterations per eigenvalue, both methods")
    parser.add_argument("--subset", type=int, default=2000)
    parser.add_argument("--points", type=int, default=21)
    parser.add_argument("--skip-landscape", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/analysis_speed.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report = {"threads": args.threads, "torch": torch.__version__, "k": args.k, "tol": args.tol,
              "max_iter": args.max_iter, "hessian": {}, "landscape": {}}
    for name in args.models.split(","):
        model = from_pretrained(name)
        batch = loss_batches(model, DataSpec(args.data, split="train", num_images=128, batch_size=128))[0]
        result = hessian_benchmark(model, batch, args.k, args.tol, args.max_iter)
        report["hessian"][name] = result
        print(f"{name}: top-{args.k} Hessian eigenvalues, batch 128: textbook "
              f"{result['textbook_power_autograd_hvp']['seconds']:.1f}s, ours power "
              f"{result['ours_power']['seconds']:.1f}s ({result['speedup_power']:.1f}x), ours Lanczos "
              f"{result['ours_lanczos']['seconds']:.1f}s ({result['speedup_lanczos']:.1f}x)", flush=True)
        if not args.skip_landscape and name == args.models.split(",")[0]:
            result = landscape_benchmark(model, args.data, args.subset, args.points)
            report["landscape"][name] = result
            print(f"{name}: {result['grid']} landscape: subset {result['subset_grid_seconds']:.0f}s vs full "
                  f"{result['full_grid_seconds_extrapolated']:.0f}s ({result['ratio']:.0f}x)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
