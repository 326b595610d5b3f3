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
from typing import Any, Literal

from hub import UnitInfo, UnitKind, model_family
from hub.data import DataSpec, add_data_arguments, data_spec_from_args
from training.analyze.corruptions import CorruptionResult, CorruptionSettings
from training.analyze.fourier import FourierResult, FourierSettings
from training.analyze.hessian import HessianResult, HessianSettings
from training.analyze.inputs import NoSettings, Runtime, load_model
from training.analyze.landscape import LandscapeSettings
from training.analyze.lesion import LesionResult
from training.analyze.noise import NoiseResult, NoiseSettings
from training.analyze.plots import fourier as fourier_plot
from training.analyze.plots import hessian as hessian_plot
from training.analyze.plots import noise as noise_plot
from training.analyze.plots import save
from training.analyze.plots import variance as variance_plot
from training.analyze.records import AnalysisRecord, to_json
from training.analyze.registry import ANALYSES
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
    "hessian": SuiteEntry(HessianSettings(batches=16, method="lanczos", lanczos_steps=20), {"batch_size": 16}),
    "landscape": SuiteEntry(LandscapeSettings(points=11), {"num_images": 500}),
    "lesion": SuiteEntry(NoSettings(), {"num_images": 2000}),
    "cka": SuiteEntry(NoSettings(), {"num_images": 512}),
    "corruptions": SuiteEntry(CorruptionSettings(), {"num_images": 1000}),
}
HIGH_FREQUENCY = 0.7
"""Bands centred at or above this fraction of pi count as high-frequency noise."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="the whole suite on several models, one Markdown report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", required=True, help="comma-separated short names / folders / repo ids / architectures")
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

    @property
    def has_msa(self) -> bool:
        return any(u.kind is UnitKind.MSA for u in self.units)

    def result(self, analysis: str) -> Any:
        return self.records[analysis].result if analysis in self.records else None


def suite_data(base: DataSpec, analysis: str) -> DataSpec:
    return dataclasses.replace(base, **{**ANALYSES[analysis].data, **SUITE[analysis].data})


def analyse(name: str, base: DataSpec, analyses: list[str], out: Path, runtime: Runtime, reuse: bool) -> ReportModel:
    model = load_model(name)
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
    return ReportModel(name, architecture, model_family(architecture), model.unit_infos(), records)


def run_report(args: argparse.Namespace) -> Path:
    names = [m for m in args.models.split(",") if m]
    analyses = [a for a in args.analyses.split(",") if a]
    unknown = set(analyses) - set(SUITE)
    if unknown:
        raise ValueError(f"unknown analyses {sorted(unknown)}; choose from {', '.join(SUITE)}")
    base = data_spec_from_args(args)
    models = [analyse(name, base, analyses, args.out / _slug(name), Runtime(args.device, args.progress,
                                                                            args.out / _slug(name)), args.reuse)
              for name in names]
    args.out.mkdir(parents=True, exist_ok=True)
    figures = _comparison_figures(models, args.out)
    claims = evaluate_claims(models)
    (args.out / "report.md").write_text(_markdown(args, base, analyses, models, figures, claims))
    seconds = {m.name: {a: r.seconds for a, r in m.records.items()} for m in models}
    (args.out / "claims.json").write_text(json.dumps(to_json({"claims": claims, "seconds": seconds}), indent=1) + "\n")
    return args.out / "report.md"


def _slug(model: str) -> str:
    return model.strip("/").replace("/", "--").replace("@", "-at-")


# -- claims ------------------------------------------------------------------------------------------------------

Verdict = Literal["supported", "not supported", "within noise", "not tested"]
SIGNIFICANCE = 2.0
"""A model-against-model gap counts only beyond this many standard errors; closer is "within noise"."""


@dataclass(frozen=True)
class Claim:
    claim: str
    evidence: str
    verdict: Verdict


@dataclass(frozen=True)
class Estimate:
    """A per-model figure and its standard error, so that a verdict can tell a gap from sampling noise."""

    value: float
    se: float

    def __str__(self) -> str:
        return f"{self.value:.3g} +- {self.se:.2g}"

    def percent(self) -> str:
        return f"{100 * self.value:.1f} +- {100 * self.se:.1f}"


def _lower_than(low: list[Estimate], high: list[Estimate]) -> Verdict:
    """Is every ``low`` below every ``high``? Each pair is judged by its gap in combined standard errors."""
    z = [(h.value - lo.value) / max(math.hypot(lo.se, h.se), 1e-12) for lo in low for h in high]
    if all(s > SIGNIFICANCE for s in z):
        return "supported"
    if any(s < -SIGNIFICANCE for s in z):
        return "not supported"
    return "within noise"


def _both(*verdicts: Verdict) -> Verdict:
    if all(v == "supported" for v in verdicts):
        return "supported"
    return "not supported" if "not supported" in verdicts else "within noise"


def _accuracy(p: float, images: int) -> Estimate:
    return Estimate(p, math.sqrt(max(p * (1 - p), 1e-12) / images))


def _high_band_drop(noise: NoiseResult) -> Estimate:
    """Mean accuracy drop over the high-frequency bands. Per image the change in correctness is -1, 0 or +1 and
    non-zero only for flipped predictions, so its variance is at most the flip rate: SE <= sqrt(flips / n)."""
    bands = [b for b in noise.bands if b.centre_pi >= HIGH_FREQUENCY - 1e-9]
    drop = sum(b.accuracy_drop for b in bands) / len(bands)
    flips = sum(b.flip_rate for b in bands) / len(bands)
    return Estimate(drop, math.sqrt(flips / noise.images))


def _top_eigenvalue(hessian: HessianResult) -> Estimate:
    """Mean over batches of each batch's largest positive eigenvalue, SE from the spread between batches."""
    tops = hessian.spectrum.top_positive()
    se = statistics.stdev(tops) / math.sqrt(len(tops)) if len(tops) > 1 else math.inf
    return Estimate(hessian.spectrum.mean_top_positive, se)


def _msa_against_others(by_model: dict[str, dict[str, float]], measure: str) -> tuple[str, Verdict]:
    """Evidence and verdict for "MSA units lower ``measure``, conv/MLP units raise it" over the MSA models."""
    msa_models = [m for m in by_model if "msa" in by_model[m]]
    if not msa_models:
        return "no model with MSA units analysed", "not tested"
    parts, ok = [], True
    for m in msa_models:
        changes = by_model[m]
        others = [k for k in ("conv", "mlp") if k in changes]
        ok &= changes["msa"] < 0 and all(changes[k] > changes["msa"] for k in others)
        parts.append(f"{m}: MSA {changes['msa']:+.3f}, " + ", ".join(f"{k} {changes[k]:+.3f}" for k in others))
    return f"{measure}: " + "; ".join(parts), "supported" if ok else "not supported"


def _msa_below_cnn(estimates: dict[str, Estimate], models: dict[str, ReportModel]) -> Verdict | None:
    msa = [e for m, e in estimates.items() if models[m].has_msa]
    cnn = [e for m, e in estimates.items() if not models[m].has_msa]
    return _lower_than(msa, cnn) if msa and cnn else None


def evaluate_claims(report_models: list[ReportModel]) -> list[Claim]:
    """Each paper claim with the numbers that test it and a verdict: supported, not supported, within noise (the
    gap is under ``SIGNIFICANCE`` standard errors) or not tested."""
    models = {m.name: m for m in report_models}

    def results(analysis: str) -> dict[str, Any]:
        return {m.name: m.result(analysis) for m in report_models if analysis in m.records}

    claims = []
    fourier: dict[str, FourierResult] = results("fourier")
    claims.append(Claim("MSAs are low-pass filters (reduce high-frequency amplitude); Convs/MLPs the opposite",
                        *_msa_against_others({m: r.mean_high_frequency_change_by_kind for m, r in fourier.items()},
                                             "mean change of delta log amplitude at the highest frequency across "
                                             "units of each kind")))
    variance: dict[str, VarianceResult] = results("variance")
    claims.append(Claim("MSAs reduce feature-map variance; Convs/MLPs increase it",
                        *_msa_against_others({m: r.mean_log_change_by_kind for m, r in variance.items()},
                                             "mean log ratio of output to input variance per unit kind")))

    noise = {m: _high_band_drop(r) for m, r in results("noise").items()}
    if verdict := _msa_below_cnn(noise, models):
        claims.append(Claim("MSA models are more robust to high-frequency noise than CNNs",
                            f"mean accuracy drop (pp) for bands >= {HIGH_FREQUENCY}pi: "
                            + ", ".join(f"{m} {e.percent()}" for m, e in noise.items()), verdict))

    hessians: dict[str, HessianResult] = results("hessian")
    tops = {m: _top_eigenvalue(r) for m, r in hessians.items()}
    if verdict := _msa_below_cnn(tops, models):
        claims.append(Claim("MSA models have smaller Hessian eigenvalue magnitudes (flatter loss)",
                            "mean of each batch's largest positive eigenvalue: " + ", ".join(
                                f"{m} {e} (negative share {100 * hessians[m].spectrum.negative_fraction:.0f}%)"
                                for m, e in tops.items()), verdict))

    lesions: dict[str, LesionResult] = results("lesion")
    corrupted: dict[str, CorruptionResult] = results("corruptions")
    accuracy = {m: _accuracy(r.clean_accuracy, r.images) for m, r in lesions.items()}
    robust = {m: _accuracy(r.mean_corrupted_accuracy, r.images) for m, r in corrupted.items()}
    alter = [m for m in accuracy if models[m].family == "alternet"]
    resnet = [m for m in accuracy if models[m].family == "resnet"]
    if alter and resnet:
        a, r = alter[0], resnet[0]
        verdicts = [_lower_than([accuracy[r]], [accuracy[a]])]
        evidence = f"accuracy (%) {a} {accuracy[a].percent()} vs {r} {accuracy[r].percent()}"
        if a in robust and r in robust:
            verdicts.append(_lower_than([robust[r]], [robust[a]]))
            evidence += f"; mean corrupted accuracy (%) {robust[a].percent()} vs {robust[r].percent()}"
        claims.append(Claim("AlterNet beats ResNet at equal budget (accuracy and robustness)", evidence,
                            _both(*verdicts)))
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


def _markdown(args: argparse.Namespace, base: DataSpec, analyses: list[str], models: list[ReportModel],
              figures: dict[str, str], claims: list[Claim]) -> str:
    names = [m.name for m in models]
    lines = ["# Analysis report", "",
             f"Models: {', '.join(f'`{m}`' for m in names)}. Data: `{base.data}` (held-out split of "
             f"{base.val_size:g}, seed {base.seed}). Regenerate with:", "", "```bash",
             f"python -m training.analyze report --models {args.models} --data {base.data} --out {args.out}",
             "```", "", "## The paper's claims against our numbers", "",
             "| claim | our evidence | verdict |", "|---|---|---|"]
    lines += [f"| {c.claim} | {c.evidence} | **{c.verdict}** |" for c in claims]
    lines += ["", f"`a +- b` is a value and its standard error (binomial for accuracies, at most sqrt(flip rate / "
              f"images) for noise-induced drops, the spread between batches for eigenvalues). A comparison "
              f"between models counts only when the gap exceeds {SIGNIFICANCE:g} combined standard errors; "
              f"closer is **within noise**: these numbers neither support nor contradict the claim.",
              "", "## Comparisons", ""]
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
