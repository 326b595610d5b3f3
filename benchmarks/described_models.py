"""What reading a foreign model through its unit description costs, as ratios measured in one run.

For each timm family, the same weights two ways: timm's own module read through its ready-made description
(forward hooks; :class:`hub.describe.DescribedModel`) and converted into our units (:mod:`hub.timm_weights`).
Timed: ``unit_outputs`` (every unit's map, what Fourier, variance and CKA read) and a plain forward pass, per
image, interleaved rounds, medians. A ratio above 1 means the described model is slower.

  python benchmarks/described_models.py --threads 2 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hub.describe import DescribedModel
from hub.descriptions import find_description
from hub.timm_weights import convert_timm_state, read_timm_config

FAMILIES = ("resnet50", "vit_tiny_patch16_224", "swin_tiny_patch4_window7_224", "pit_ti_224", "mixer_s16_224")


def both(name: str) -> tuple[torch.nn.Module, DescribedModel]:
    import timm
    from timm.models._hub import save_config_for_hf

    torch.manual_seed(0)
    theirs = timm.create_model(name, pretrained=False).eval()
    with tempfile.TemporaryDirectory() as folder:
        save_config_for_hf(theirs, Path(folder) / "config.json")
        ours = convert_timm_state(read_timm_config(Path(folder) / "config.json"), theirs.state_dict()).eval()
    return ours, DescribedModel(theirs, find_description(theirs), ours.config)


def seconds(fn, x: torch.Tensor) -> float:
    tic = time.perf_counter()
    with torch.inference_mode():
        fn(x)
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "described_models.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, 3, 224, 224)
    rows = {}
    for name in FAMILIES:
        ours, described = both(name)
        runs = {"ours_unit_outputs": ours.unit_outputs, "described_unit_outputs": described.unit_outputs,
                "ours_forward": ours, "described_forward": described}
        for fn in runs.values():
            seconds(fn, x)  # warm-up
        times: dict[str, list[float]] = {key: [] for key in runs}
        for _ in range(args.rounds):
            for key, fn in runs.items():
                times[key].append(seconds(fn, x) / args.batch * 1e3)
        ms = {key: statistics.median(values) for key, values in times.items()}
        rows[name] = {**{f"{k}_ms_per_image": round(v, 2) for k, v in ms.items()},
                      "unit_outputs_ratio": round(ms["described_unit_outputs"] / ms["ours_unit_outputs"], 3),
                      "forward_ratio": round(ms["described_forward"] / ms["ours_forward"], 3)}
        print(name, json.dumps(rows[name]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "rounds": args.rounds, "batch": args.batch,
                                    "torch": torch.__version__, "models": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
