"""``python -m export onnx MODEL --out model.onnx`` and ``python -m export tensorrt model.onnx``.

onnx: export a short name, Hub repo id or model folder to ONNX (dynamic batch, fixed spatial size), optionally
at FP16 or INT8, gate it on real images against PyTorch (a failed gate is an error and exit code 1), and
write the manifest beside it (model.onnx.json).
tensorrt: build a TensorRT engine (TensorRT 10 or 11, NVIDIA GPU) from an exported graph, cached by GPU,
TensorRT version and ONNX hash.
cache: export a model into the graph cache (what a predictor and the service load; they run this in a child
process on a cache miss, so torch stays out of an ONNX Runtime process) and print the graph's path.
predict: top-5 for image files with any backend, to try a predictor by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image

from export.errors import ExportError
from export.load import BACKENDS, load_predictor
from export.parity import Gate
from export.pipeline import PRECISIONS, ExportRequest, ImageSource, export_model
from hub import HubError
from hub.postprocess import probabilities, top_k


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("onnx", help="export to ONNX with a parity gate and a manifest")
    p.add_argument("model", help="short name, Hub repo id (org/name[@rev]) or model folder; or timm:NAME, "
                                 "torchvision:NAME, package.module:factory")
    p.add_argument("--pretrained", action="store_true",
                   help="timm:/torchvision:/factory models: the library's pretrained weights (default: random, seed 0)")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32; fp16 (IO stays fp32); int8 (static Q/DQ, calibrated, symmetric: TensorRT's form); "
                        "int8-cpu (static Q/DQ, asymmetric activations: x86's U8S8 form for ONNX Runtime on CPU); "
                        "int8-dynamic (weights only)")
    p.add_argument("--exporter", choices=["dynamo", "legacy"], default="dynamo",
                   help="torch.export-based exporter (default) or the TorchScript one (fallback)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    p.add_argument("--max-batch", type=int, default=4096, help="upper bound of the dynamic batch dimension")
    p.add_argument("--parity-data", default=None,
                   help="images for the gate: cifar10/cifar100/folder/tar (default: the 40 shipped samples)")
    p.add_argument("--parity-images", type=int, default=1000, help="how many (seeded, class-balanced)")
    p.add_argument("--calibration-data", default=None, help="INT8 calibration images (default: the samples)")
    p.add_argument("--calibration-images", type=int, default=512)
    p.add_argument("--calibration-method", choices=["minmax", "entropy", "percentile"], default="minmax")
    p.add_argument("--val-size", type=float, default=5000,
                   help="the held-out split of DATA: the gate uses its validation part, calibration its training "
                        "part (0: whole data)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-accuracy-drop", type=float, default=None,
                   help="INT8 gate in percentage points on labelled images (default 1)")

    p = sub.add_parser("tensorrt", help="build a TensorRT engine from an exported graph")
    p.add_argument("onnx", type=Path, help="an .onnx file written by `python -m export onnx` (with its manifest)")
    p.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32",
                   help="int8 needs the Q/DQ graph; fp16 on TensorRT 11 converts an FP32 graph first")
    p.add_argument("--min-batch", type=int, default=1)
    p.add_argument("--opt-batch", type=int, default=32)
    p.add_argument("--max-batch", type=int, default=128)
    p.add_argument("--cache-dir", type=Path, default=None, help="engine and timing cache (default ~/.cache)")
    p.add_argument("--workspace-gib", type=float, default=4.0)

    p = sub.add_parser("cache", help="export a model into the graph cache once and print the graph's path")
    p.add_argument("model", help="short name, Hub repo id (org/name[@rev]) or model folder")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32")

    p = sub.add_parser("predict", help="top-5 for image files")
    p.add_argument("source", help="short name, repo, folder, .onnx or .plan")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--backend", choices=BACKENDS, default="auto")
    p.add_argument("--threads", type=int, default=None)
    return parser


def run_onnx(args: argparse.Namespace) -> int:
    val_size = args.val_size or None
    gate = None
    if args.max_accuracy_drop is not None and args.precision.startswith("int8"):
        gate = Gate(max_accuracy_drop=args.max_accuracy_drop)
    request = ExportRequest(
        args.model, args.out, args.precision, args.exporter, args.opset, args.max_batch,
        ImageSource(args.parity_data, args.parity_images, val_size, "val", args.seed),
        ImageSource(args.calibration_data, args.calibration_images, val_size, "train", args.seed),
        args.calibration_method, gate, args.pretrained)
    manifest = export_model(request)
    print(json.dumps({"file": str(args.out), "opset": manifest.opset, "exporter": manifest.exporter,
                      "parity": manifest.parity}, indent=2, default=str))
    return 0


def run_tensorrt(args: argparse.Namespace) -> int:
    from export.tensorrt import build_engine

    path = build_engine(args.onnx, args.precision, (args.min_batch, args.opt_batch, args.max_batch), args.cache_dir,
                        args.workspace_gib)
    print(f"engine: {path}")
    return 0


def run_cache(args: argparse.Namespace) -> int:
    from export.cache import cached_onnx
    from hub import from_pretrained

    print(cached_onnx(from_pretrained(args.model), args.precision))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    predictor = load_predictor(args.source, args.backend, args.threads)
    logits = predictor.predict(predictor.preprocess([Image.open(p).convert("RGB") for p in args.images]))
    for path, row in zip(args.images, probabilities(logits), strict=True):
        print(path, ", ".join(f"{s.label} {s.probability:.3f}" for s in top_k(row, predictor.config.labels, 5)))
    print(json.dumps({k: v for k, v in predictor.info().items() if k != "parity"}, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runs = {"onnx": run_onnx, "tensorrt": run_tensorrt, "cache": run_cache, "predict": run_predict}
    try:
        return runs[args.command](args)
    except (ExportError, HubError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
