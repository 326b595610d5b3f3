"""``python -m training.analyze <analysis> --model NAME_OR_FOLDER --data DATA [options] --out DIR``

Analyses: fourier, variance, noise, hessian, landscape, lesion, cka, corruptions, and report (the suite on
several models with one Markdown page). Each writes <out>/<analysis>.json (every plotted number plus the
exact settings) and <out>/<analysis>.png. MODEL may also be a registered architecture name, which is
analysed with random weights (seed 0). DATA: cifar10, cifar100, an ImageFolder directory or a tar of one;
by default the analyses look at the 5,000-image validation split the training runs held out
(--val-size, --seed), and the loss-based ones (hessian, landscape) at the training part of it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from hub import HubError
from training.analyze import cka, corruptions, fourier, freqnoise, hessian, landscape, lesion, variance
from training.analyze.common import DataSpec, images_for, load_model, loss_batches, model_name, write_outputs
from training.recipes import RECIPES, get_recipe

Handler = Callable[[argparse.Namespace], Path]


def _spec(args: argparse.Namespace) -> DataSpec:
    return DataSpec(args.data, args.root, args.val_size or None, args.split, args.num_images, args.seed,
                    args.batch_size)


def _common(parser: argparse.ArgumentParser, split: str = "val", num_images: int | None = None,
            batch_size: int = 128) -> None:
    parser.add_argument("--model", required=True, help="short name, Hub repo id, model folder or architecture")
    parser.add_argument("--data", required=True, help="cifar10, cifar100, an ImageFolder directory or a tar of one")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--root", default="data", help="download folder for cifar10/cifar100")
    parser.add_argument("--val-size", type=float, default=5000,
                        help="the held-out split (count or fraction); 0: use the whole data / CIFAR test set")
    parser.add_argument("--split", choices=["val", "train"], default=split,
                        help=f"which part of that split to use (default: {split})")
    parser.add_argument("--num-images", type=int, default=num_images,
                        help=f"seeded class-balanced subset of this many images (default: {num_images or 'all'})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the subset and every random draw")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"default: {batch_size}")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="classes of a randomly initialised architecture (default: its preset's)")
    parser.add_argument("--no-progress", dest="progress", action="store_false")


def run_fourier(args: argparse.Namespace) -> Path:
    model = load_model(args.model, args.num_classes)
    spectra = fourier.feature_map_spectra(model, images_for(model, _spec(args)), args.average, args.device,
                                          args.progress)
    result = {"spectra": spectra, **fourier.summarise(model, spectra)}
    figure = fourier.plot_spectra(model, spectra, f"{model_name(model)}: feature-map spectra")
    settings = {"data": _spec(args).describe(), "average": args.average,
                "profile": "diagonal from DC to the corner (reaches pi for even sizes) and radial average"}
    return write_outputs(args.out, "fourier", model, settings, result, figure)


def run_variance(args: argparse.Namespace) -> Path:
    model = load_model(args.model, args.num_classes)
    values = variance.feature_map_variance(model, images_for(model, _spec(args)), args.device, args.progress)
    result = {"variance": values, "mean_log_change_by_kind": variance.variance_changes_by_kind(model, values)}
    figure = variance.plot_variance(model, values, f"{model_name(model)}: feature-map variance")
    return write_outputs(args.out, "variance", model, {"data": _spec(args).describe()}, result, figure)


def _noise_settings(args: argparse.Namespace) -> list[freqnoise.BandNoise]:
    return [freqnoise.BandNoise(c, args.half_width, args.strength, args.mask, args.norm, args.noise)
            for c in freqnoise.centres(args.bands)]


def run_noise(args: argparse.Namespace) -> Path:
    model = load_model(args.model, args.num_classes)
    loader = images_for(model, _spec(args), normalise=False)
    result = freqnoise.frequency_noise_robustness(model, loader, _noise_settings(args), args.seed, args.clip,
                                                  args.device, args.progress)
    figure = freqnoise.plot_robustness({model_name(model): result}, "accuracy under band-limited noise")
    settings = {"data": _spec(args).describe(), "bands": args.bands, "half_width_rad": args.half_width,
                "strength": args.strength, "mask": args.mask, "norm": args.norm, "noise": args.noise,
                "clip": args.clip, "space": "pixels in [0, 1], before normalisation"}
    return write_outputs(args.out, "noise", model, settings, result, figure)


def run_hessian(args: argparse.Namespace) -> Path:
    model = load_model(args.model, args.num_classes)
    augment = None if args.augment == "none" else get_recipe(args.augment)
    batches = loss_batches(model, _spec(args), augment, args.seed)[: args.batches]
    loss_spec = hessian.LossSpec(args.l2, args.weight_decay, args.bn)
    spectrum = hessian.max_eigenvalue_spectrum(model, iter(batches), loss_spec, args.k, args.method, args.max_iter,
                                               args.tol, args.lanczos_steps, args.seed, args.progress, len(batches))
    density = None
    if args.density:
        op = hessian.HessianOperator(model, batches[:1], loss_spec)
        density = hessian.slq_density(op, op.size, args.lanczos_steps, args.probes, args.seed, dtype=op.dtype)
        top = hessian.lanczos_eigenvalues(op, op.size, args.k, args.lanczos_steps, args.seed, args.tol, op.dtype)
        bottom = hessian.lanczos_eigenvalues(op, op.size, args.k, args.lanczos_steps, args.seed, args.tol, op.dtype,
                                             which="smallest")
        spectrum["first_batch_lanczos"] = {"largest": top, "smallest": bottom}
    figure = hessian.plot_spectra({model_name(model): spectrum},
                                  {model_name(model): density} if density else None,
                                  f"{model_name(model)}: Hessian eigenvalues")
    settings = {"data": _spec(args).describe(), "batches": len(batches), "batch_size": args.batch_size,
                "k": args.k, "method": args.method, "max_iter": args.max_iter, "tol": args.tol,
                "augmentation": args.augment, "loss": loss_spec, "lanczos_steps": args.lanczos_steps,
                "attention": "explicit softmax (fused kernels have no double backward)"}
    return write_outputs(args.out, "hessian", model, settings, {**spectrum, "density": density}, figure)


def run_landscape(args: argparse.Namespace) -> Path:
    model = load_model(args.model, args.num_classes)
    augment = None if args.augment == "none" else get_recipe(args.augment)
    batches = loss_batches(model, _spec(args), augment, args.seed)
    spec = landscape.LandscapeSpec(args.dims, args.points, args.span, args.normalisation, args.seed, args.l2,
                                   args.weight_decay)
    data_settings = {"data": _spec(args).describe(), "augmentation": args.augment, "model": model_name(model)}
    args.out.mkdir(parents=True, exist_ok=True)
    grid = args.out / f"landscape_grid_{args.dims}d.json"
    result = landscape.loss_landscape(model, batches, spec, grid, data_settings, args.progress)
    figure = landscape.plot_landscape(result, spec, f"{model_name(model)}: loss landscape")
    return write_outputs(args.out, "landscape", model, {**data_settings, "landscape": spec}, result, figure)


def run_lesion(args: argparse.Namespace) -> Path:
    model = load_model(args.model, args.num_classes)
    result = lesion.lesion_study(model, images_for(model, _spec(args)), args.device, args.progress)
    figure = lesion.plot_lesion(model, result, f"{model_name(model)}: lesion study")
    return write_outputs(args.out, "lesion", model, {"data": _spec(args).describe()}, result, figure)


def run_cka(args: argparse.Namespace) -> Path:
    model = load_model(args.model, args.num_classes)
    names, matrix = cka.minibatch_cka(model, images_for(model, _spec(args)), args.device, args.progress)
    figure = cka.plot_cka(names, matrix, f"{model_name(model)}: mini-batch linear CKA")
    return write_outputs(args.out, "cka", model, {"data": _spec(args).describe()}, {"units": names, "cka": matrix},
                         figure)


def run_corruptions(args: argparse.Namespace) -> Path:
    model = load_model(args.model, args.num_classes)
    names = tuple(args.corruptions.split(",")) if args.corruptions else tuple(corruptions.CORRUPTIONS)
    unknown = set(names) - set(corruptions.CORRUPTIONS)
    if unknown:
        raise ValueError(f"unknown corruption(s) {sorted(unknown)}; choose from {', '.join(corruptions.CORRUPTIONS)}")
    severities = tuple(int(s) for s in args.severities.split(","))
    result = corruptions.corruption_robustness(model, images_for(model, _spec(args), normalise=False), severities,
                                               names, args.seed, args.cifar_c, args.device, args.progress)
    figure = corruptions.plot_corruptions(result, f"{model_name(model)}: corruption robustness")
    settings = {"data": _spec(args).describe(), "severities": severities, "corruptions": names,
                "metric": "mean accuracy over all (corruption, severity) sets (the paper's robustness)"}
    return write_outputs(args.out, "corruptions", model, settings, result, figure)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.analyze", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")

    p = sub.add_parser("fourier", help="relative log amplitude of every unit's feature maps (Fig. 2a, 8)")
    _common(p)
    p.add_argument("--average", choices=["mean-of-log", "log-of-mean"], default="mean-of-log",
                   help="average log amplitudes (the original) or take the log of the mean amplitude")
    p.set_defaults(run=run_fourier)

    p = sub.add_parser("variance", help="feature-map variance per unit against depth (Fig. 9)")
    _common(p)
    p.set_defaults(run=run_variance)

    p = sub.add_parser("noise", help="accuracy under noise restricted to frequency bands (Fig. 2b)")
    _common(p, num_images=1000)
    p.add_argument("--bands", type=int, default=11, help="band centres from 0 to pi (default 11)")
    p.add_argument("--half-width", type=float, default=0.2, help="band half-width in rad/pixel (original: 0.2)")
    p.add_argument("--strength", type=float, default=0.1, help="noise RMS in [0,1] pixel units (default 0.1)")
    p.add_argument("--mask", choices=["square", "circle"], default="square", help="square annulus (original)")
    p.add_argument("--norm", choices=["fixed", "original"], default="fixed",
                   help="fixed: same noise energy in every band; original: filter a fixed-amplitude draw")
    p.add_argument("--noise", choices=["gaussian", "sign"], default="gaussian", help="base draw before filtering")
    p.add_argument("--clip", action="store_true", help="clip noisy pixels to [0, 1] (changes the spectrum)")
    p.set_defaults(run=run_noise)

    p = sub.add_parser("hessian", help="top-k Hessian eigenvalues per mini-batch, Lanczos ends, SLQ density")
    _common(p, split="train", batch_size=16)
    p.add_argument("--batches", type=int, default=10, help="mini-batches in the max eigenvalue spectrum")
    p.add_argument("--k", type=int, default=5, help="eigenvalues per batch (default 5)")
    p.add_argument("--method", choices=["power", "lanczos"], default="power",
                   help="both give the k largest by magnitude: power iteration with deflation (PyHessian, default) or "
                        "one Lanczos run (far fewer Hessian products)")
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--lanczos-steps", type=int, default=40)
    p.add_argument("--augment", choices=["none", *RECIPES], default="paper",
                   help="training augmentation + MixUp/CutMix of this recipe, seeded (default: paper); none")
    p.add_argument("--l2", choices=["none", "half", "paper"], default="paper",
                   help="paper: wd * sum of tensor norms (original); half: wd/2 |theta|^2; none")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--bn", choices=["eval", "train"], default="eval", help="BatchNorm statistics during products")
    p.add_argument("--density", action="store_true", help="also SLQ density and Lanczos ends on the first batch")
    p.add_argument("--probes", type=int, default=4, help="SLQ probe vectors")
    p.set_defaults(run=run_hessian)

    p = sub.add_parser("landscape", help="1-D / 2-D loss landscape, resumable")
    _common(p, split="train", num_images=2000, batch_size=250)
    p.add_argument("--dims", type=int, choices=[1, 2], default=2)
    p.add_argument("--points", type=int, default=21, help="grid points per axis (default 21, as the paper)")
    p.add_argument("--span", type=float, default=1.0, help="grid covers [-span, span] (default 1)")
    p.add_argument("--normalisation", choices=["filter", "paper"], default="filter",
                   help="filter: Li et al. per output filter; paper: the original's norm(dim=0) variant")
    p.add_argument("--augment", choices=["none", *RECIPES], default="none",
                   help="evaluate on seeded training augmentation of this recipe (the paper: paper)")
    p.add_argument("--l2", choices=["none", "half", "paper"], default="paper")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.set_defaults(run=run_landscape)

    p = sub.add_parser("lesion", help="accuracy drop when one residual unit is removed")
    _common(p, num_images=2000)
    p.set_defaults(run=run_lesion)

    p = sub.add_parser("cka", help="mini-batch linear CKA between all units")
    _common(p, num_images=1024)
    p.set_defaults(run=run_cka)

    p = sub.add_parser("corruptions", help="CIFAR-C: 15 corruptions x 5 severities")
    _common(p, num_images=1000)
    p.add_argument("--severities", default="1,2,3,4,5")
    p.add_argument("--corruptions", default=None, help="comma-separated subset (default: all 15)")
    p.add_argument("--cifar-c", type=Path, default=None, help="folder of the released CIFAR-10-C/100-C .npy files")
    p.set_defaults(run=run_corruptions)

    from training.analyze import report

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
