"""``python -m training.analyze report --models a,b,c --data DATA --out DIR``: the whole suite on several models
and one Markdown page with every figure side by side and, for each claim of the paper, whether our numbers
support it. Each analysis is run through its ``run`` with the typed settings below (sized to keep a tiny
CIFAR model under a few CPU minutes); the page prints the equivalent command of each, so every number is
reproducible per analysis.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from hub import UnitInfo, UnitIntrospection, UnitKind, model_family
from hub.data import DataSpec, TarImageFolder, add_data_arguments, data_spec_from_args, open_dataset
from hub.describe import DescribedModel
from hub.foreign import is_foreign
from training.analyze.cka import CkaResult, CkaSettings
from training.analyze.corruptions import CorruptionResult, CorruptionSettings
from training.analyze.fourier import FourierResult, FourierSettings
from training.analyze.hessian import HessianResult, HessianSettings
from training.analyze.inputs import MODEL_RECIPE, NoSettings, Runtime, augmentation, load_model
from training.analyze.landscape import LandscapeSettings
from training.analyze.lesion import LesionedUnit, LesionResult
from training.analyze.noise import NoiseResult, NoiseSettings
from training.analyze.plots import fourier as fourier_plot
from training.analyze.plots import hessian as hessian_plot
from training.analyze.plots import noise as noise_plot
from training.analyze.plots import save
from training.analyze.plots import variance as variance_plot
from training.analyze.records import AnalysisRecord, to_json
from training.analyze.registry import ANALYSES
from training.analyze.statistics import REPLICATES, SIGNIFICANCE, Estimate, Verdict, both, lower_than, sign
from training.analyze.variance import VarianceResult


@dataclass(frozen=True)
class SuiteEntry:
    settings: Any
    data: dict[str, Any]
    """Data flags changed from the analysis's own defaults."""


SUITE: dict[str, SuiteEntry] = {
    "fourier": SuiteEntry(FourierSettings(), {}),
    "variance": SuiteEntry(NoSettings(), {}),
    "noise": SuiteEntry(NoiseSettings(), {"num_images": 1000}),
    # no claim reads the trace (yet): 160 Hessian products saved
    "hessian": SuiteEntry(HessianSettings(batches=16, method="lanczos", trace=False), {"batch_size": 16}),
    "landscape": SuiteEntry(LandscapeSettings(points=11), {"num_images": 500}),
    "lesion": SuiteEntry(NoSettings(), {"num_images": 2000}),
    "cka": SuiteEntry(CkaSettings(), {"num_images": 512, "batch_size": 32}),
    "corruptions": SuiteEntry(CorruptionSettings(), {"num_images": 1000}),
}
HIGH_FREQUENCY = 0.7
"""Bands centred at or above this fraction of pi count as high-frequency noise."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="the whole suite on several models, one Markdown report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", required=True, help="comma-separated short names / folders / repo ids / architectures "
                                                    "/ timm:NAME / torchvision:NAME / package.module:factory")
    p.add_argument("--pretrained", action="store_true",
                   help="timm:/torchvision:/factory models with their library's pretrained weights (default: random)")
    p.add_argument("--out", type=Path, required=True, help="report folder (report.md, one subfolder per model)")
    p.add_argument("--analyses", default=",".join(SUITE), help=f"subset of {','.join(SUITE)}")
    p.add_argument("--reuse", action="store_true",
                   help="keep an analysis whose JSON in the model's folder has the same data and settings")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    add_data_arguments(p, exclude=("split", "num_images", "batch_size"))
    p.set_defaults(run=run_report)


@dataclass
class ReportModel:
    """One model of the report: what it is, its units, and its analyses."""

    name: str
    architecture: str
    family: str
    units: list[UnitInfo]
    records: dict[str, AnalysisRecord]
    parameters: int = 0
    flops: int = 0
    """Forward FLOPs of one image at the model's input size (multiply-adds count 2)."""
    recipe: str = ""
    """The recipe it was trained with, as the hub folder's ``recipe.json`` says."""
    train_images: int | None = None
    """Training-set size, from the folder's ``metrics.json`` (None when unknown)."""

    @property
    def has_msa(self) -> bool:
        return any(u.kind is UnitKind.MSA for u in self.units)

    def result(self, analysis: str) -> Any:
        return self.records[analysis].result if analysis in self.records else None


def suite_data(base: DataSpec, analysis: str) -> DataSpec:
    return dataclasses.replace(base, **{**ANALYSES[analysis].data, **SUITE[analysis].data})


def analyse(name: str, base: DataSpec, analyses: list[str], out: Path, runtime: Runtime, reuse: bool,
            pretrained: bool = False) -> ReportModel:
    model = load_model(name, pretrained=pretrained and is_foreign(name))
    records = {}
    for analysis_name in analyses:
        analysis, entry, data = ANALYSES[analysis_name], SUITE[analysis_name], suite_data(base, analysis_name)
        if reuse and (out / f"{analysis_name}.json").is_file():
            try:
                record = analysis.load(out)
            except (ValueError, KeyError, TypeError):
                record = None
            if record is not None and record.settings == entry.settings and record.data == data:
                records[analysis_name] = record
                continue
        print(f"[report] {name}: {analysis_name}", file=sys.stderr)
        records[analysis_name] = analysis.execute(model, data, entry.settings, runtime)
        analysis.write(records[analysis_name], out)
    architecture = model.config.architecture
    _, recipe = augmentation(model, MODEL_RECIPE)
    family = model.description.family if isinstance(model, DescribedModel) else model_family(architecture)
    return ReportModel(name, architecture, family, model.unit_infos(), records,
                       sum(p.numel() for p in model.parameters()), forward_flops(model), recipe, _train_images(model))


def forward_flops(model: UnitIntrospection) -> int:
    """FLOPs of one forward pass on one image (torch's counter: convolutions, matmuls, attention)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.zeros(1, *model.config.input_size))
    return counter.get_total_flops()


def _train_images(model: UnitIntrospection) -> int | None:
    folder = getattr(model, "folder", None)
    metrics = Path(folder) / "metrics.json" if folder is not None else None
    if metrics is None or not metrics.is_file():
        return None
    return json.loads(metrics.read_text()).get("train_images")


def run_report(args: argparse.Namespace) -> Path:
    names = [m for m in args.models.split(",") if m]
    analyses = [a for a in args.analyses.split(",") if a]
    unknown = set(analyses) - set(SUITE)
    if unknown:
        raise ValueError(f"unknown analyses {sorted(unknown)}; choose from {', '.join(SUITE)}")
    base = data_spec_from_args(args)
    models = [analyse(name, base, analyses, args.out / _slug(name), Runtime(args.device, args.progress,
                                                                            args.out / _slug(name)), args.reuse,
                      args.pretrained)
              for name in names]
    args.out.mkdir(parents=True, exist_ok=True)
    figures = _comparison_figures(models, args.out)
    claims = evaluate_claims(models)
    (args.out / "report.md").write_text(_markdown(args, base, analyses, models, figures, claims))
    seconds = {m.name: {a: r.seconds for a, r in m.records.items()} for m in models}
    (args.out / "claims.json").write_text(json.dumps(to_json({"claims": claims, "seconds": seconds}), indent=1) + "\n")
    return args.out / "report.md"


def _slug(model: str) -> str:
    return model.strip("/").replace("/", "--").replace("@", "-at-").replace(":", "--")


# -- claims ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    claim: str
    evidence: str
    verdict: Verdict


def _accuracy(p: float, images: int) -> Estimate:
    return Estimate(p, math.sqrt(max(p * (1 - p), 1e-12) / images))


def _high_band_drop(noise: NoiseResult) -> Estimate:
    """Mean accuracy drop over the high-frequency bands. Per image the change in correctness is -1, 0 or +1 and
    non-zero only for flipped predictions, so its variance is at most the flip rate: SE <= sqrt(flips / n)."""
    bands = [b for b in noise.bands if b.centre_pi >= HIGH_FREQUENCY - 1e-9]
    drop = sum(b.accuracy_drop for b in bands) / len(bands)
    flips = sum(b.flip_rate for b in bands) / len(bands)
    return Estimate(drop, math.sqrt(flips / noise.images))


def _spread(values: list[float]) -> Estimate:
    """Mean and standard error from the spread between batches."""
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.inf
    return Estimate(sum(values) / len(values), se) if values else Estimate(math.nan, math.inf)


def _top_eigenvalue(hessian: HessianResult) -> Estimate:
    """Mean over batches of each batch's largest positive eigenvalue, SE from the spread between batches."""
    return _spread(hessian.spectrum.top_positive())


def _negative_share(hessian: HessianResult) -> Estimate:
    """The share of negative eigenvalues, SE from the spread of each batch's share."""
    return _spread([sum(v < 0 for v in p.values) / len(p.values) for p in hessian.spectrum.per_batch if p.values])


def _by_kind(changes: dict[str, dict[str, Estimate]], measure: str) -> tuple[str, Verdict]:
    """Evidence and verdict for "MSA units lower ``measure``, conv/MLP units raise it": each kind's mean change
    must have its sign beyond ``SIGNIFICANCE`` standard errors, in every model."""
    verdicts, parts = [], []
    for model, by_kind in changes.items():
        shown = []
        for kind in ("msa", "conv", "mlp"):
            if kind in by_kind:
                verdicts.append(sign(by_kind[kind], -1 if kind == "msa" else 1))
                shown.append(f"{kind.upper() if kind == 'msa' else kind} {by_kind[kind].signed()}")
        parts.append(f"{model}: " + ", ".join(shown))
    if not verdicts:
        return "no MSA, conv or MLP unit analysed", "not tested"
    return f"{measure}: " + "; ".join(parts), both(*verdicts)


def _msa_below_cnn(estimates: dict[str, Estimate], models: dict[str, ReportModel]) -> Verdict | None:
    msa = [e for m, e in estimates.items() if models[m].has_msa]
    cnn = [e for m, e in estimates.items() if not models[m].has_msa]
    return lower_than(msa, cnn) if msa and cnn else None


def _fourier_claim(fourier: dict[str, FourierResult]) -> Claim:
    changes = {m: {c.kind: c.change for c in r.changes} for m, r in fourier.items()}
    point = next(iter(fourier.values())).point if fourier else "paper"
    where = "the paper's Fig. 8 bin (h/2-1, its 1.0pi)" if point == "paper" else "the Nyquist corner (pi)"
    evidence, verdict = _by_kind(changes, f"mean change of delta log amplitude at {where} over the units that keep "
                                          f"resolution")
    apart = [f"{m}: " + ", ".join(f"{c.kind} {c.change.signed()} ({c.units})" for c in r.resolution_changing)
             for m, r in fourier.items() if r.resolution_changing]
    if apart:
        evidence += "; units that change resolution, apart (not judged): " + "; ".join(apart)
    return Claim("MSAs are low-pass filters (reduce high-frequency amplitude); Convs/MLPs the opposite", evidence,
                 verdict)


def _lesion_claim(lesions: dict[str, LesionResult], models: dict[str, ReportModel]) -> Claim | None:
    """Per stage with an MSA, its last MSA's accuracy drop against every other unit of the stage."""
    verdicts, parts = [], []
    for name, result in lesions.items():
        if not models[name].has_msa:
            continue
        stage_of = {u.index: u.stage for u in models[name].units}
        stages: dict[int, list[LesionedUnit]] = {}
        for unit in result.lesioned:
            stages.setdefault(stage_of[unit.index], []).append(unit)
        for stage, units in stages.items():
            msas = [u for u in units if u.kind == "msa"]
            if not msas or len(units) < 2:
                continue
            last = msas[-1]
            others = [u for u in units if u is not last]
            gaps = [Estimate(last.drop - o.drop, math.sqrt((last.flip_rate + o.flip_rate) / result.images))
                    for o in others]
            verdicts += [sign(g, 1) for g in gaps]
            strongest = max(others, key=lambda u: u.drop)
            parts.append(f"{name} stage {stage}: last MSA {last.name} {100 * last.drop:.1f} pp vs the stage's other "
                         f"{len(others)} unit(s), at most {100 * strongest.drop:.1f} pp ({strongest.name})")
    if not verdicts:
        return None
    return Claim("MSAs at the end of a stage matter most (lesion: the accuracy drop when a unit is removed)",
                 "; ".join(parts) + " (each gap judged by its SE <= sqrt(flip rates / images))", both(*verdicts))


def _cka_claim(ckas: dict[str, CkaResult], models: dict[str, ReportModel]) -> Claim | None:
    blocks = {m: r.blocks for m, r in ckas.items() if r.blocks is not None}
    if not blocks:
        return None
    parts = [f"{m} ({'MSA' if models[m].has_msa else 'conv'} model): within {b.within}, across a boundary "
             f"{b.boundary}, contrast {b.contrast.signed()}" for m, b in blocks.items()]
    return Claim("Feature maps form one block per stage (CKA block structure), in multi-stage MSA models as in CNNs",
                 "mean CKA of consecutive units within a stage vs across a stage boundary, bootstrap over "
                 f"{min(b.batches for b in blocks.values())}+ batches: " + "; ".join(parts),
                 both(*(sign(b.contrast, 1) for b in blocks.values())))


def _data_size_claim(hessians: dict[str, HessianResult], models: dict[str, ReportModel]) -> Claim:
    """Fig. 4: fewer training images, more negative Hessian eigenvalues (ViT much more than ResNet)."""
    by_architecture: dict[str, list[str]] = {}
    for name in hessians:
        if models[name].train_images:
            by_architecture.setdefault(models[name].architecture, []).append(name)
    groups = {a: sorted(ms, key=lambda m: models[m].train_images) for a, ms in by_architecture.items()
              if len({models[m].train_images for m in ms}) > 1}
    if not groups:
        return Claim(NEGATIVE_CLAIM, "needs one architecture trained on two training-set sizes, e.g. "
                     "`python -m training.train --model vit_tiny --data-fraction 0.1 ...` beside the full-data "
                     "model, both in --models", "not tested")
    verdicts, parts = [], []
    for architecture, names in groups.items():
        shares = {m: _negative_share(hessians[m]) for m in names}
        verdicts.append(lower_than([shares[names[-1]]], [shares[names[0]]]))
        parts.append(f"{architecture}: " + ", ".join(f"{models[m].train_images:,} images {shares[m].percent()}%"
                                                     for m in names))
    return Claim(NEGATIVE_CLAIM, "share of negative eigenvalues (SE from the spread over batches): " + "; ".join(parts),
                 both(*verdicts))


NEGATIVE_CLAIM = "Less training data, more negative Hessian eigenvalues (Fig. 4)"


def _budget(m: ReportModel) -> str:
    return f"{m.parameters / 1e6:.3f}M parameters, {m.flops / 1e6:.1f} MFLOPs per image, recipe {m.recipe}"


def evaluate_claims(report_models: list[ReportModel]) -> list[Claim]:
    """Each paper claim with the numbers that test it and a verdict: supported, not supported, within noise (a
    sign or gap under ``SIGNIFICANCE`` standard errors) or not tested."""
    models = {m.name: m for m in report_models}

    def results(analysis: str) -> dict[str, Any]:
        return {m.name: m.result(analysis) for m in report_models if analysis in m.records}

    claims = []
    if fourier := results("fourier"):
        claims.append(_fourier_claim(fourier))
    variance: dict[str, VarianceResult] = results("variance")
    if variance:
        claims.append(Claim("MSAs reduce feature-map variance; Convs/MLPs increase it",
                            *_by_kind({m: r.log_change_by_kind for m, r in variance.items()},
                                      "mean log ratio of output to input variance per unit kind (bootstrap SE)")))

    noise = {m: _high_band_drop(r) for m, r in results("noise").items()}
    if verdict := _msa_below_cnn(noise, models):
        claims.append(Claim("MSA models are more robust to high-frequency noise than CNNs",
                            f"mean accuracy drop (pp) for bands >= {HIGH_FREQUENCY}pi: "
                            + ", ".join(f"{m} {e.percent()}" for m, e in noise.items()), verdict))

    hessians: dict[str, HessianResult] = results("hessian")
    tops = {m: _top_eigenvalue(r) for m, r in hessians.items()}
    if verdict := _msa_below_cnn(tops, models):
        unconverged = sum(r.spectrum.unconverged for r in hessians.values())
        total = sum(len(r.spectrum.values) for r in hessians.values())
        claims.append(Claim("MSA models have smaller Hessian eigenvalue magnitudes (flatter loss)",
                            "mean of each batch's largest positive eigenvalue, on each model's own training "
                            "augmentation: " + ", ".join(
                                f"{m} {e} (negative share {100 * hessians[m].spectrum.negative_fraction:.0f}%)"
                                for m, e in tops.items())
                            + f"; {unconverged} of {total} eigenvalues short of the residual tolerance", verdict))

    lesions: dict[str, LesionResult] = results("lesion")
    corrupted: dict[str, CorruptionResult] = results("corruptions")
    accuracy = {m: _accuracy(r.clean_accuracy, r.images) for m, r in lesions.items()}
    alter = [m for m in accuracy if models[m].family == "alternet"]
    resnet = [m for m in accuracy if models[m].family == "resnet"]
    if alter and resnet:
        a, r = alter[0], resnet[0]
        verdicts = [lower_than([accuracy[r]], [accuracy[a]])]
        evidence = (f"{a}: {_budget(models[a])}; {r}: {_budget(models[r])}. Accuracy (%) {accuracy[a].percent()} "
                    f"vs {accuracy[r].percent()}")
        if a in corrupted and r in corrupted:
            robust = {m: _accuracy(corrupted[m].mean_corrupted_accuracy, corrupted[m].images) for m in (a, r)}
            verdicts.append(lower_than([robust[r]], [robust[a]]))
            drops = {m: corrupted[m].clean_accuracy - corrupted[m].mean_corrupted_accuracy for m in (a, r)}
            evidence += (f"; mean corrupted accuracy (%) {robust[a].percent()} vs {robust[r].percent()}; drop from "
                         f"clean {100 * drops[a]:.1f} vs {100 * drops[r]:.1f} pp, "
                         f"{100 * drops[a] / corrupted[a].clean_accuracy:.1f}% vs "
                         f"{100 * drops[r] / corrupted[r].clean_accuracy:.1f}% of clean accuracy")
        claims.append(Claim("AlterNet beats ResNet at equal budget (accuracy and robustness)", evidence,
                            both(*verdicts)))
    if lesion_claim := _lesion_claim(lesions, models):
        claims.append(lesion_claim)
    if hessians:
        claims.append(_data_size_claim(hessians, models))
    if cka_claim := _cka_claim(results("cka"), models):
        claims.append(cka_claim)
    return claims


# -- figures and page --------------------------------------------------------------------------------------------

def _comparison_figures(models: list[ReportModel], out: Path) -> dict[str, str]:
    figures = {}

    def every(analysis: str) -> dict[str, Any] | None:
        found = {m.name: m.result(analysis) for m in models}
        return found if all(r is not None for r in found.values()) else None

    if fourier := every("fourier"):
        figures["fourier"] = save(fourier_plot.compare(fourier), out / "compare_fourier.png", dpi=100).name
    if variance := every("variance"):
        figures["variance"] = save(variance_plot.compare(variance), out / "compare_variance.png", dpi=100).name
    if noise := every("noise"):
        figures["noise"] = save(noise_plot.compare(noise), out / "compare_noise.png", dpi=100).name
    if hessian := every("hessian"):
        figures["hessian"] = save(hessian_plot.compare({m: r.spectrum for m, r in hessian.items()}),
                                  out / "compare_hessian.png", dpi=100).name
    return figures


def command_for(analysis: str, model: str, data: DataSpec, out: Path) -> str:
    """The single-analysis command that computes the same record as the report."""
    flags = []
    for spec, default in ((data, DataSpec(data.data, **ANALYSES[analysis].data)),
                          (SUITE[analysis].settings, ANALYSES[analysis].settings())):
        for f in dataclasses.fields(spec):
            value = getattr(spec, f.name)
            if f.name != "data" and value != getattr(default, f.name):
                shown = ",".join(map(str, value)) if isinstance(value, tuple) else (
                    f"{value:g}" if isinstance(value, float) else value)
                flags.append(f"--{f.name.replace('_', '-')} {shown}")
    return " ".join([f"python -m training.analyze {analysis} --model {model} --data {data.data} --out {out}", *flags])


def image_format(data: str) -> str:
    """How the images of ``data`` are stored, for the report's data section."""
    if data in ("cifar10", "cifar100"):
        return "the dataset's own 8-bit pixels (torchvision)"
    dataset = open_dataset(data)
    first = dataset.names[0] if isinstance(dataset, TarImageFolder) else dataset.samples[0][0]
    kind = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(Path(first).suffix.lower(), Path(first).suffix.lstrip(".").upper())
    lossy = " (lossy: re-compressed, not the dataset's original pixels)" if kind in ("JPEG", "WEBP") else ""
    return f"{kind} files{lossy}"


def _data_lines(base: DataSpec, analyses: list[str], models: list[ReportModel]) -> list[str]:
    lines = ["## Data", "", f"Images: `{base.data}`, stored as {image_format(base.data)}. The analyses look at "
             f"parts of the seeded stratified split of {base.val_size:g} images held out of it (seed {base.seed}), "
             "the same split the training runs held out:", "",
             "| analysis | images | batch | notes |", "|---|---|---|---|"]
    for analysis in analyses:
        data = suite_data(base, analysis)
        part = "training part" if data.split == "train" else "held-out part"
        count = f"{data.num_images:,} of the {part}" if data.num_images else f"all of the {part}"
        if analysis == "hessian":  # the first batches only
            count = f"{SUITE[analysis].settings.batches} batches from the {part}"
        notes = ""
        if analysis == "hessian":
            notes = "augmentation: " + "; ".join(sorted({f"{m.name}: {m.result('hessian').augmentation}"
                                                         for m in models if m.result("hessian") is not None}))
        elif analysis == "corruptions" and (found := [m.result("corruptions") for m in models
                                                      if m.result("corruptions") is not None]):
            notes = (f"{found[0].source}: CIFAR-C-like sets generated from these images, not the released "
                     f"CIFAR-10-C files")
        elif analysis == "landscape":
            notes = f"augmentation: {SUITE[analysis].settings.augment}"
        lines.append(f"| {analysis} | {count} | {data.batch_size} | {notes} |")
    lines += ["", "| model | architecture | parameters | MFLOPs / image | trained with | training images |",
              "|---|---|---|---|---|---|"]
    lines += [f"| `{m.name}` | `{m.architecture}` | {m.parameters:,} | {m.flops / 1e6:.1f} | {m.recipe} | "
              f"{f'{m.train_images:,}' if m.train_images else 'unknown'} |" for m in models]
    return [*lines, ""]


def _markdown(args: argparse.Namespace, base: DataSpec, analyses: list[str], models: list[ReportModel],
              figures: dict[str, str], claims: list[Claim]) -> str:
    names = [m.name for m in models]
    lines = ["# Analysis report", "",
             f"Models: {', '.join(f'`{m}`' for m in names)}. Regenerate with:", "", "```bash",
             f"python -m training.analyze report --models {args.models} --data {base.data} --out {args.out}",
             "```", "", "## The paper's claims against our numbers", "",
             "| claim | our evidence | verdict |", "|---|---|---|"]
    lines += [f"| {c.claim} | {c.evidence} | **{c.verdict}** |" for c in claims]
    lines += ["", f"`a +- b` is a value and its standard error: binomial for accuracies, at most sqrt(flip rate / "
              f"images) for the drops that noise or a lesion causes, the spread between batches for eigenvalues, "
              f"a bootstrap over images ({REPLICATES} resamples; over batches for CKA) for the Fourier, variance "
              f"and CKA figures. Every verdict uses one rule: a sign, or a gap between two models, counts only "
              f"beyond {SIGNIFICANCE:g} standard errors (combined for a gap); closer is **within noise**: these "
              f"numbers neither support nor contradict the claim. A claim with several parts (every model, every "
              f"unit kind) is supported only when every part is, and not supported when any part is contradicted.",
              "", *_data_lines(base, analyses, models), "## Comparisons", ""]
    lines += [f"![{name}]({path})" for name, path in figures.items()]
    lines += ["", "## Every figure", "", "| analysis | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for analysis in analyses:
        cells = [f"![{analysis}]({_slug(m)}/{analysis}.png)" for m in names]
        lines.append(f"| {analysis} | " + " | ".join(cells) + " |")
    lines += ["", "## Settings and cost", "", "| analysis | seconds per model | the same analysis alone |",
              "|---|---|---|"]
    for analysis in analyses:
        seconds = ", ".join(f"{m.records[analysis].seconds:.1f}" for m in models)
        command = command_for(analysis, "MODEL", suite_data(base, analysis), Path("OUT"))
        lines.append(f"| {analysis} | {seconds} | `{command}` |")
    lines += ["", "Every number above is in the JSON record beside each figure, with the exact data and settings.",
              ""]
    return "\n".join(lines)
