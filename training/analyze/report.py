"""``python -m training.analyze report --models a,b,c --data DATA --out DIR``: the whole suite on several models
and one Markdown page with every figure side by side and, for each claim of the paper, whether our
numbers support it. Each analysis runs through the same command line as on its own (settings below are
sized to keep a tiny CIFAR model under a few CPU minutes), so every number is reproducible per analysis.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib.pyplot as plt

from training.analyze.common import KIND_COLOURS, shade_units
from training.analyze.hessian import plot_spectra

# analysis -> extra command-line flags used by the report
SUITE: dict[str, list[str]] = {
    "fourier": [],
    "variance": [],
    "noise": ["--num-images", "1000"],
    "hessian": ["--batches", "16", "--batch-size", "16", "--method", "lanczos", "--lanczos-steps", "20"],
    "landscape": ["--points", "11", "--num-images", "500"],
    "lesion": ["--num-images", "2000"],
    "cka": ["--num-images", "512"],
    "corruptions": ["--num-images", "1000"],
}
HIGH_FREQUENCY = 0.7
"""Bands centred at or above this fraction of pi count as high-frequency noise."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="the whole suite on several models, one Markdown report")
    p.add_argument("--models", required=True, help="comma-separated short names / folders / repo ids")
    p.add_argument("--data", required=True, help="cifar10, cifar100, an ImageFolder directory or a tar of one")
    p.add_argument("--out", type=Path, required=True, help="report folder (report.md, one subfolder per model)")
    p.add_argument("--root", default="data")
    p.add_argument("--val-size", default="5000", help="held-out split, as for every analysis")
    p.add_argument("--seed", default="0")
    p.add_argument("--analyses", default=",".join(SUITE), help=f"subset of {','.join(SUITE)}")
    p.add_argument("--reuse", action="store_true",
                   help="keep an analysis whose JSON is already in the model's folder (run with the same flags)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> Path:
    from training.analyze.__main__ import build_parser

    parser = build_parser()
    models = [m for m in args.models.split(",") if m]
    analyses = [a for a in args.analyses.split(",") if a]
    unknown = set(analyses) - set(SUITE)
    if unknown:
        raise ValueError(f"unknown analyses {sorted(unknown)}; choose from {', '.join(SUITE)}")
    results: dict[str, dict[str, Any]] = {}
    timings: dict[str, dict[str, float]] = {}
    for model in models:
        folder = args.out / _slug(model)
        results[model], timings[model] = {}, {}
        for analysis in analyses:
            existing = folder / f"{analysis}.json"
            if args.reuse and existing.is_file():
                results[model][analysis] = json.loads(existing.read_text())
                timings[model][analysis] = results[model][analysis].get("seconds", float("nan"))
                continue
            argv = [analysis, "--model", model, "--data", args.data, "--out", str(folder), "--root", args.root,
                    "--val-size", args.val_size, "--seed", args.seed, *SUITE[analysis]]
            if not args.progress:
                argv.append("--no-progress")
            print(f"[report] {model}: {analysis}", file=sys.stderr)
            tic = time.perf_counter()
            parsed = parser.parse_args(argv)
            path = parsed.run(parsed)
            timings[model][analysis] = time.perf_counter() - tic
            payload = json.loads(Path(path).read_text())
            payload["seconds"] = timings[model][analysis]
            Path(path).write_text(json.dumps(payload, indent=1) + "\n")
            results[model][analysis] = payload
    args.out.mkdir(parents=True, exist_ok=True)
    figures = _comparison_figures(results, args.out)
    claims = evaluate_claims(results)
    page = _markdown(args, models, analyses, results, timings, figures, claims)
    (args.out / "report.md").write_text(page)
    (args.out / "claims.json").write_text(json.dumps({"claims": claims, "seconds": timings}, indent=1) + "\n")
    return args.out / "report.md"


def _slug(model: str) -> str:
    return model.strip("/").replace("/", "--").replace("@", "-at-")


# -- claims ------------------------------------------------------------------------------------------------------

Verdict = Literal["supported", "not supported", "within noise", "not tested"]
SIGNIFICANCE = 2.0
"""A model-against-model gap counts only beyond this many standard errors; closer is "within noise"."""


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


def _high_band_drop(noise: dict) -> Estimate:
    """Mean accuracy drop over the high-frequency bands. Per image the change in correctness is -1, 0 or +1 and
    non-zero only for flipped predictions, so its variance is at most the flip rate: SE <= sqrt(flips / n)."""
    bands = [b for b in noise["bands"] if b["centre_pi"] >= HIGH_FREQUENCY - 1e-9]
    drop = sum(b["accuracy_drop"] for b in bands) / len(bands)
    flips = sum(b["flip_rate"] for b in bands) / len(bands)
    return Estimate(drop, math.sqrt(flips / noise["images"]))


def _top_eigenvalue(hessian: dict) -> Estimate:
    """Mean over batches of each batch's largest positive eigenvalue, SE from the spread between batches."""
    tops = [max(v for v in batch if v > 0) for batch in hessian["per_batch"] if any(v > 0 for v in batch)]
    se = statistics.stdev(tops) / math.sqrt(len(tops)) if len(tops) > 1 else math.inf
    return Estimate(hessian["mean_top_positive"], se)


def _has_msa(result: dict) -> bool:
    return any(u["kind"] == "msa" for u in result.get("fourier", {}).get("result", {}).get("units", []))


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


def _msa_below_cnn(estimates: dict[str, Estimate], results: dict[str, dict[str, Any]]) -> Verdict | None:
    msa = [e for m, e in estimates.items() if _has_msa(results[m])]
    cnn = [e for m, e in estimates.items() if not _has_msa(results[m])]
    return _lower_than(msa, cnn) if msa and cnn else None


def evaluate_claims(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each paper claim with the numbers that test it and a verdict: supported, not supported, within noise (the
    gap is under ``SIGNIFICANCE`` standard errors) or not tested."""
    claims = []

    def add(claim: str, evidence: str, verdict: Verdict) -> None:
        claims.append({"claim": claim, "evidence": evidence, "verdict": verdict})

    fourier = {m: r["fourier"]["result"]["mean_high_frequency_change_by_kind"] for m, r in results.items()
               if "fourier" in r}
    add("MSAs are low-pass filters (reduce high-frequency amplitude); Convs/MLPs the opposite",
        *_msa_against_others(fourier, "mean change of delta log amplitude at the highest frequency across units "
                                      "of each kind"))
    variance = {m: r["variance"]["result"]["mean_log_change_by_kind"] for m, r in results.items() if "variance" in r}
    add("MSAs reduce feature-map variance; Convs/MLPs increase it",
        *_msa_against_others(variance, "mean log ratio of output to input variance per unit kind"))

    noise = {m: _high_band_drop(r["noise"]["result"]) for m, r in results.items() if "noise" in r}
    if verdict := _msa_below_cnn(noise, results):
        add("MSA models are more robust to high-frequency noise than CNNs",
            f"mean accuracy drop (pp) for bands >= {HIGH_FREQUENCY}pi: "
            + ", ".join(f"{m} {e.percent()}" for m, e in noise.items()), verdict)

    hessian = {m: _top_eigenvalue(r["hessian"]["result"]) for m, r in results.items() if "hessian" in r}
    if verdict := _msa_below_cnn(hessian, results):
        negative = {m: results[m]["hessian"]["result"]["negative_fraction"] for m in hessian}
        add("MSA models have smaller Hessian eigenvalue magnitudes (flatter loss)",
            "mean of each batch's largest positive eigenvalue: "
            + ", ".join(f"{m} {e} (negative share {100 * negative[m]:.0f}%)" for m, e in hessian.items()), verdict)

    accuracy = {m: _accuracy(r["lesion"]["result"]["clean_accuracy"], r["lesion"]["result"]["images"])
                for m, r in results.items() if "lesion" in r}
    robust = {m: _accuracy(r["corruptions"]["result"]["mean_corrupted_accuracy"], r["corruptions"]["result"]["images"])
              for m, r in results.items() if "corruptions" in r}
    alter = [m for m in accuracy if "alternet" in m.lower()]
    resnet = [m for m in accuracy if "resnet" in m.lower()]
    if alter and resnet:
        a, r = alter[0], resnet[0]
        verdicts = [_lower_than([accuracy[r]], [accuracy[a]])]
        evidence = f"accuracy (%) {a} {accuracy[a].percent()} vs {r} {accuracy[r].percent()}"
        if a in robust and r in robust:
            verdicts.append(_lower_than([robust[r]], [robust[a]]))
            evidence += f"; mean corrupted accuracy (%) {robust[a].percent()} vs {robust[r].percent()}"
        add("AlterNet beats ResNet at equal budget (accuracy and robustness)", evidence, _both(*verdicts))
    return claims


# -- figures and page --------------------------------------------------------------------------------------------

def _comparison_figures(results: dict[str, dict[str, Any]], out: Path) -> dict[str, str]:
    figures = {}
    if all("fourier" in r for r in results.values()):
        fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.5), squeeze=False)
        for ax, (model, r) in zip(axes[0], results.items(), strict=True):
            spectra = r["fourier"]["result"]["spectra"]
            _depth_series(ax, r["fourier"]["result"]["units"], [s["diagonal"][-1] for s in spectra])
            ax.set_title(model, fontsize=9)
            ax.set_ylabel("delta log amplitude at pi")
        fig.tight_layout()
        figures["fourier"] = _save(fig, out / "compare_fourier.png")
    if all("variance" in r for r in results.values()):
        fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.5), squeeze=False)
        for ax, (model, r) in zip(axes[0], results.items(), strict=True):
            units = r["fourier"]["result"]["units"] if "fourier" in r else None
            values = r["variance"]["result"]["variance"]
            if units:
                _depth_series(ax, units, [values[u["name"]] for u in units])
            ax.set_yscale("log")
            ax.set_title(model, fontsize=9)
            ax.set_ylabel("feature-map variance")
        fig.tight_layout()
        figures["variance"] = _save(fig, out / "compare_variance.png")
    if all("noise" in r for r in results.values()):
        fig, ax = plt.subplots(figsize=(6, 4))
        for model, r in results.items():
            bands = r["noise"]["result"]["bands"]
            ax.plot([b["centre_pi"] for b in bands], [100 * b["accuracy_drop"] for b in bands], "o-", label=model)
        ax.set_xlabel("noise band centre (x pi)")
        ax.set_ylabel("accuracy drop (pp)")
        ax.legend(fontsize=8)
        figures["noise"] = _save(fig, out / "compare_noise.png")
    if all("hessian" in r for r in results.values()):
        fig = plot_spectra({m: r["hessian"]["result"] for m, r in results.items()}, None, "max eigenvalue spectra")
        figures["hessian"] = _save(fig, out / "compare_hessian.png")
    return figures


def _depth_series(ax: plt.Axes, units: list[dict], values: list[float]) -> None:
    from hub import UnitInfo, UnitKind

    infos = [UnitInfo(i, u["name"], UnitKind(u["kind"]), u["stage"], u["depth"], False) for i, u in enumerate(units)]
    shade_units(ax, infos)
    ax.plot([u["depth"] for u in units], values, "k-", lw=1)
    ax.scatter([u["depth"] for u in units], values, c=[KIND_COLOURS[UnitKind(u["kind"])] for u in units], s=12)
    ax.set_xlabel("normalised depth")


def _save(fig: plt.Figure, path: Path) -> str:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path.name


def _markdown(args: argparse.Namespace, models: list[str], analyses: list[str], results: dict, timings: dict,
              figures: dict[str, str], claims: list[dict]) -> str:
    lines = ["# Analysis report", "",
             f"Models: {', '.join(f'`{m}`' for m in models)}. Data: `{args.data}` (held-out split of "
             f"{args.val_size}, seed {args.seed}). Regenerate with:", "", "```bash",
             f"python -m training.analyze report --models {args.models} --data {args.data} --out {args.out}",
             "```", "", "## The paper's claims against our numbers", "",
             "| claim | our evidence | verdict |", "|---|---|---|"]
    lines += [f"| {c['claim']} | {c['evidence']} | **{c['verdict']}** |" for c in claims]
    lines += ["", f"`a +- b` is a value and its standard error (binomial for accuracies, at most sqrt(flip rate / "
              f"images) for noise-induced drops, the spread between batches for eigenvalues). A comparison "
              f"between models counts only when the gap exceeds {SIGNIFICANCE:g} combined standard errors; "
              f"closer is **within noise**: these numbers neither support nor contradict the claim.",
              "", "## Comparisons", ""]
    lines += [f"![{name}]({path})" for name, path in figures.items()]
    lines += ["", "## Every figure", "", "| analysis | " + " | ".join(models) + " |",
              "|---|" + "---|" * len(models)]
    for analysis in analyses:
        cells = [f"![{analysis}]({_slug(m)}/{analysis}.png)" for m in models]
        lines.append(f"| {analysis} | " + " | ".join(cells) + " |")
    lines += ["", "## Settings and cost", "", "| analysis | flags | " + " | ".join(f"{m} (s)" for m in models) + " |",
              "|---|---|" + "---|" * len(models)]
    for analysis in analyses:
        flags = " ".join(SUITE[analysis]) or "(defaults)"
        lines.append(f"| {analysis} | `{flags}` | " + " | ".join(f"{timings[m][analysis]:.0f}" for m in models) + " |")
    lines += ["", "Every number above is in the JSON file beside each figure, with the exact settings.", ""]
    return "\n".join(lines)
