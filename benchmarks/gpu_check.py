"""Every CUDA code path once, in one command, for the day a GPU is lent: one JSON of figures and verdicts.

Sections (each records its seconds, its figures and ``ok``; one that cannot run records why and the rest go on):
- ``training``: a training step per family with eager / bf16 / channels_last / fused / compile / the trainer's
  defaults (img/s, and the loss after the same steps from the same weights, equal to eager's within float
  rounding, bf16 within 5%);
- ``ddp``: DistributedDataParallel in one process (NCCL on CUDA, gloo on CPU): the same loss as the plain model;
- ``hessian``: a Hessian-vector product and the top eigenvalue on the device, equal to the CPU's;
- ``onnxruntime``: ONNX Runtime on the device (CUDA provider really in use) against torch there: logits and
  batch-64 throughput;
- ``predictor``: the service's predictor (``load_predictor(..., "auto")``) on the shipped model: the backend
  it chose and its predictions against PyTorch on the sample images;
- ``tensorrt``: the build plans for TensorRT 10 and 11 at FP32/FP16, and engines with parity when
  ``tensorrt`` imports.

No network: random weights for the training families, the shipped model from the package for the predictor.
``--device cpu`` runs every section on the CPU (what the tests do), up to where CUDA is needed.

  python benchmarks/gpu_check.py                    # on the GPU machine: at most ~8 minutes
  python benchmarks/gpu_check.py --device cpu --models resnet_tiny,vit_tiny,alternet_tiny --steps 2
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from train_throughput import Setting, cpu_name, settings_for, timed, training_step

from hub import create_model, from_pretrained
from training.analyze.hessian import HessianOperator, lanczos_eigenvalues

FAMILIES = ("resnet_18", "vit_ti", "alternet_18")
SAMPLES = Path(__file__).parents[1] / "hub" / "samples"
LOSS_RTOL = {False: 1e-3, True: 5e-2}
"""Relative loss difference from eager allowed after the same steps: float rounding, or bf16 (by bf16)."""


def chosen_settings(device: str, names: list[str] | None) -> list[Setting]:
    """train_throughput's settings for the device (bf16 on CUDA, and the trainer's defaults), or some of them."""
    return [s for s in settings_for(device) if names is None or s.name in names]


def check_training(device: str, models: list[str], settings: list[Setting], steps: int, batch: int) -> dict:
    rows, ok = [], True
    for arch in models:
        eager_rate = eager_loss = None
        for setting in settings:
            step = training_step(arch, setting, device, batch)
            timed(step, 2, batch, device)  # warm-up and compilation
            rate, loss = timed(step, steps, batch, device)
            eager_rate, eager_loss = eager_rate or rate, eager_loss if eager_loss is not None else loss
            relative = abs(loss - eager_loss) / abs(eager_loss)
            agrees = relative <= LOSS_RTOL[setting.bf16]
            ok &= agrees
            rows.append({"model": arch, **asdict(setting), "images_per_s": rate, "vs_eager": rate / eager_rate,
                         "loss": loss, "loss_relative_to_eager": relative, "loss_agrees": agrees})
            print(f"  {arch:14s} {setting.name:14s} {rate:8.1f} img/s {rate / eager_rate:5.2f}x  loss {loss:.5f}"
                  f"{'' if agrees else '  DIFFERS'}", flush=True)
    return {"ok": ok, "batch": batch, "steps": steps, "rows": rows}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_ddp(device: str, arch: str, batch: int) -> dict:
    import torch.distributed as dist

    backend = "nccl" if device == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        losses = []
        for wrap in (False, True):
            torch.manual_seed(0)
            model = create_model(arch, num_classes=10).to(device).train()
            x, y = torch.randn(batch, 3, 32, 32, device=device), torch.randint(0, 10, (batch,), device=device)
            step_model = nn.parallel.DistributedDataParallel(model) if wrap else model
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for _ in range(3):
                loss = nn.functional.cross_entropy(step_model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            losses.append(float(loss))
    finally:
        dist.destroy_process_group()
    relative = abs(losses[1] - losses[0]) / abs(losses[0])
    return {"ok": relative <= 1e-5, "backend": backend, "loss_plain": losses[0], "loss_ddp": losses[1],
            "relative": relative}


def check_hessian(device: str, arch: str) -> dict:
    """The same seeded model and batch on the CPU and the device."""
    results = {}
    for where in dict.fromkeys(("cpu", device)):
        torch.manual_seed(0)
        model = create_model(arch, num_classes=10).to(where).eval()
        generator = torch.Generator().manual_seed(1)
        x = torch.randn(16, 3, 32, 32, generator=generator).to(where)
        targets = torch.softmax(torch.randn(16, 10, generator=generator), -1).to(where)
        op = HessianOperator(model, [(x, targets)])
        v = torch.randn(op.size, generator=torch.Generator().manual_seed(2)).to(where)
        hv = op(v).cpu()
        top = lanczos_eigenvalues(op, op.size, k=1, steps=30, tol=1e-4, device=where, which="magnitude")
        results[where] = (hv, top.values[0])
    (hv_cpu, top_cpu), (hv_dev, top_dev) = results["cpu"], results[device]
    hvp_error = float((hv_dev - hv_cpu).norm() / hv_cpu.norm())
    top_error = abs(top_dev - top_cpu) / abs(top_cpu)
    return {"ok": hvp_error <= 1e-3 and top_error <= 1e-3, "hvp_relative_error": hvp_error,
            "top_eigenvalue_cpu": top_cpu, "top_eigenvalue_device": top_dev, "top_relative_error": top_error}


def _rate(run: Callable[[], Any], batch: int, device: str, repeats: int = 20) -> float:
    run()
    if device == "cuda":
        torch.cuda.synchronize()
    tic = time.perf_counter()
    for _ in range(repeats):
        run()
    if device == "cuda":
        torch.cuda.synchronize()
    return repeats * batch / (time.perf_counter() - tic)


def exported(arch: str, precision: str, folder: Path) -> Path:
    """The seeded random-weight model as ONNX at ``precision``, through the export pipeline and its gates."""
    from export.pipeline import ExportRequest, export_model

    torch.manual_seed(0)
    path = folder / f"{arch}.{precision}.onnx"
    if not path.is_file():
        export_model(ExportRequest(arch, path, precision=precision), create_model(arch, num_classes=10).eval())
    return path


def check_onnxruntime(device: str, arch: str, folder: Path) -> dict:
    from export.ort import ort_session

    path = exported(arch, "fp32", folder)
    torch.manual_seed(0)
    model = create_model(arch, num_classes=10).eval()
    session = ort_session(path, cuda=device == "cuda", threads=os.cpu_count() or 1)
    model = model.to(device)
    batch = np.random.default_rng(0).standard_normal((64, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(batch).to(device)).cpu().numpy()
    name = session.get_inputs()[0].name
    logits = session.run(None, {name: batch})[0]
    error = float(np.abs(logits - reference).max())
    x = torch.from_numpy(batch).to(device)
    with torch.no_grad():
        torch_rate = _rate(lambda: model(x), 64, device)
    ort_rate = _rate(lambda: session.run(None, {name: batch}), 64, device)
    return {"ok": error <= 1e-3, "providers": session.get_providers(), "max_abs_logit_error": error,
            "torch_images_per_s": torch_rate, "ort_images_per_s": ort_rate, "ort_vs_torch": ort_rate / torch_rate}


def check_predictor(device: str) -> dict:
    from export.load import load_predictor

    predictor = load_predictor("resnet-tiny-cifar10", backend="auto")
    images = [Image.open(p).convert("RGB") for p in sorted(SAMPLES.glob("*.png"))[:16]]
    batch = predictor.preprocess(images)
    model = from_pretrained("resnet-tiny-cifar10").to(device).eval()
    with torch.no_grad():
        reference = model(torch.from_numpy(batch).to(device)).cpu().numpy()
    logits = predictor.predict(batch)
    error = float(np.abs(logits - reference).max())
    on_device = device != "cuda" or predictor.backend in ("tensorrt", "onnxruntime-cuda")
    return {"ok": error <= 1e-2 and on_device, "backend": predictor.backend, "providers": predictor.providers,
            "notes": predictor.notes, "max_abs_logit_error": error,
            "top1_agreement": float((logits.argmax(1) == reference.argmax(1)).mean())}


def check_tensorrt(device: str, arch: str, folder: Path) -> dict:
    from export.tensorrt import build_engine, plan_build, require_tensorrt

    path, fp16 = exported(arch, "fp32", folder), exported(arch, "fp16", folder)
    gpu = torch.cuda.get_device_name() if device == "cuda" else "none"
    capability = ".".join(map(str, torch.cuda.get_device_capability())) if device == "cuda" else "0.0"
    plans = {f"{version}/{precision}": asdict(plan_build(graph, precision, version, gpu, capability))
             for version in ("10.13", "11.0") for precision, graph in (("fp32", path), ("fp16", fp16))}
    result: dict[str, Any] = {"plans": plans}
    try:
        require_tensorrt()
    except Exception as err:  # no tensorrt or no GPU: the plans are what can be checked
        return {**result, "ok": True, "engines": f"skipped: {err}"}
    from export.tensorrt import TensorRTPredictor

    engines = {}
    batch = np.random.default_rng(0).standard_normal((8, 3, 32, 32)).astype(np.float32)
    torch.manual_seed(0)
    with torch.no_grad():
        reference = create_model(arch, num_classes=10).eval()(torch.from_numpy(batch)).numpy()
    for precision, graph in (("fp32", path), ("fp16", fp16)):
        engine = build_engine(graph, precision=precision, cache_dir=folder)
        logits = TensorRTPredictor.load(engine, 1).predict(batch)
        engines[precision] = {"max_abs_logit_error": float(np.abs(logits - reference).max())}
    ok = engines["fp32"]["max_abs_logit_error"] <= 1e-3 and engines["fp16"]["max_abs_logit_error"] <= 5e-2
    return {**result, "ok": ok, "engines": engines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--models", default=",".join(FAMILIES), help="training families, comma-separated")
    parser.add_argument("--settings", default=None, help="training settings to run (default: all for the device)")
    parser.add_argument("--small", default="resnet_tiny", help="model of the DDP, Hessian, ORT, TensorRT checks")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per setting")
    parser.add_argument("--batch-size", type=int, default=96)
    parser.add_argument("--budget-s", type=float, default=480, help="sections not started by then are skipped")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_check.json"))
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA GPU is visible; --device cpu runs every section on the CPU")
    start = time.perf_counter()
    settings = chosen_settings(args.device, args.settings.split(",") if args.settings else None)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sections: dict[str, Callable[[], dict]] = {
            "training": lambda: check_training(args.device, args.models.split(","), settings, args.steps,
                                               args.batch_size),
            "ddp": lambda: check_ddp(args.device, args.small, 16),
            "hessian": lambda: check_hessian(args.device, args.small),
            "onnxruntime": lambda: check_onnxruntime(args.device, args.small, folder),
            "predictor": lambda: check_predictor(args.device),
            "tensorrt": lambda: check_tensorrt(args.device, args.small, folder),
        }
        report: dict[str, Any] = {
            "device": torch.cuda.get_device_name() if args.device == "cuda" else cpu_name(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "sections": {},
        }
        for name, check in sections.items():
            if time.perf_counter() - start > args.budget_s:
                report["sections"][name] = {"ok": None, "skipped": f"over the {args.budget_s:.0f} s budget"}
                continue
            print(f"{name} ...", flush=True)
            tic = time.perf_counter()
            try:
                result = check()
            except Exception as err:  # one broken path must not hide the others' figures
                result = {"ok": False, "error": f"{type(err).__name__}: {err}"[:1000]}
            result["seconds"] = time.perf_counter() - tic
            report["sections"][name] = result
            print(f"{name}: {'ok' if result['ok'] else 'FAILED'} ({result['seconds']:.0f} s)"
                  + (f" {result['error']}" if "error" in result else ""), flush=True)
    report["seconds"] = time.perf_counter() - start
    report["ok"] = all(s["ok"] is not False for s in report["sections"].values())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"wrote {args.out} ({'all ok' if report['ok'] else 'failures above'}, {report['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
