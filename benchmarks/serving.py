"""Serving speed as ratios measured in one run against a real ``bentoml serve`` on loopback (async client, one
worker, client and server on the same cores):

(1) overhead: ``POST /predict`` (one 32x32 PNG, the tiny AlterNet) at concurrency 16 against a no-op BentoML
    endpoint that accepts the same upload and returns a constant (``benchmarks/noop_service.py``) and against the
    plain BentoML + ONNX Runtime service a user would write for the same model
    (``benchmarks/ort_peer_service.py``), the three servers up at once and measured in interleaved rounds; and
    the memory of each server's process tree (ours serving the three shipped models);
(2) compute-bound: a full-size model (``--full-model``, random weights, ONNX Runtime) through ``/predict`` at
    concurrency 16 against the in-process predictor fed the batches the server's batcher formed (decode +
    preprocess + predict; sizes from its ``howvits_model_batch_size`` histogram, each at its bucket's upper
    bound, which favours the in-process side), and batching on against off;
(3) protocols, same model and batch of ``--batch`` images: Open Inference Protocol ``infer`` with binary FP32
    tensors and with binary BYTES images, ``/logits`` with the JSON batch, ``/predict_batch`` with the PNGs;
(4) open loop: ``/predict`` at fixed offered rates (50% and 80% of the closed-loop maximum), latency from
    each request's scheduled send time, so a slow response does not delay the next request's clock.

  python benchmarks/serving.py --threads 2
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

import hub
from export import load_predictor
from hub.samples import SAMPLES

REPO = Path(__file__).resolve().parents[1]
Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(target: str, threads: int, **env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    environment = dict(os.environ, HOWVITS_THREADS=str(threads), BENTOML_DO_NOT_TRACK="true",
                       OMP_NUM_THREADS=str(threads), PYTHONPATH=str(REPO), **env)
    environment.setdefault("BENTOML_HOME", str(REPO / "runs" / "bentoml-bench"))
    process = subprocess.Popen([str(Path(sys.executable).with_name("bentoml")), "serve", target, "--host",
                                "127.0.0.1", "--port", str(port)], cwd=REPO, env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{target} did not start")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _checked(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.url.path}: {response.status_code} {response.text[:200]}")


def _summary(times: list[float], elapsed: float, images_per_request: int = 1) -> dict:
    return {"requests": len(times), "requests_per_s": len(times) / elapsed,
            "images_per_s": images_per_request * len(times) / elapsed,
            "p50_ms": 1000 * float(np.percentile(times, 50)), "p99_ms": 1000 * float(np.percentile(times, 99))}


async def closed_loop(url: str, send: Send, concurrency: int, requests: int, images_per_request: int = 1) -> dict:
    """``concurrency`` clients, each sending its next request when the previous one is answered."""
    times: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        async def worker(index: int, count: int, record: bool) -> None:
            for i in range(count):
                tic = time.perf_counter()
                _checked(await send(client, index * count + i))
                if record:
                    times.append(time.perf_counter() - tic)

        await asyncio.gather(*(worker(i, 2, False) for i in range(concurrency)))  # warm-up
        tic = time.perf_counter()
        await asyncio.gather(*(worker(i, requests // concurrency, True) for i in range(concurrency)))
        elapsed = time.perf_counter() - tic
    return {"concurrency": concurrency, **_summary(times, elapsed, images_per_request)}


async def open_loop(url: str, send: Send, rate: float, seconds: float) -> dict:
    """Requests at fixed intervals of ``1 / rate`` whatever the answers do; latency from the scheduled time.
    Requests that fail (a dropped connection under overload, a non-200) are counted, not timed."""
    times: list[float] = []
    failed = 0
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=httpx.Limits(max_connections=256)) as client:
        start = time.perf_counter()

        async def one(i: int) -> None:
            nonlocal failed
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                _checked(await send(client, i))
            except (httpx.HTTPError, RuntimeError):
                failed += 1
                return
            times.append(time.perf_counter() - scheduled)

        await asyncio.gather(*(one(i) for i in range(int(rate * seconds))))
        elapsed = time.perf_counter() - start
    return {"offered_per_s": rate, "achieved_per_s": len(times) / elapsed, "failed": failed,
            **_summary(times, elapsed)}


def tree_rss_mb(process: subprocess.Popen) -> float:
    """Resident memory of the server and its worker processes."""
    import psutil

    root = psutil.Process(process.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


def batch_sizes(url: str) -> dict[int, int]:
    """Model calls per batch-size bucket (upper bound) from the server's histogram."""
    text = httpx.get(f"{url}/metrics").text
    cumulative = [(float(m[1]), float(m[2])) for m in
                  re.finditer(r'howvits_model_batch_size_bucket\{le="([^"]+)"[^}]*\} ([0-9.e+]+)', text)]
    cumulative = sorted((le, count) for le, count in cumulative if le != float("inf"))
    sizes, previous = {}, 0.0
    for le, count in cumulative:
        if count > previous:
            sizes[int(le)] = int(count - previous)
        previous = count
    return sizes


def in_process_batches(source: str, images: list[bytes], threads: int, sizes: dict[int, int]) -> dict:
    """The predictor on the batches the server formed, with the per-image decode and preprocessing."""
    predictor = load_predictor(source, "onnxruntime", threads)
    predictor.predict(predictor.preprocess([Image.open(io.BytesIO(images[0])).convert("RGB")] * 4))
    total, count = 0.0, 0
    for size, calls in sizes.items():
        for call in range(calls):
            tic = time.perf_counter()
            decoded = [Image.open(io.BytesIO(images[(call + j) % len(images)])).convert("RGB") for j in range(size)]
            predictor.predict(predictor.preprocess(decoded))
            total += time.perf_counter() - tic
            count += size
    return {"images": count, "images_per_s": count / total, "batch_sizes": sizes}


def full_size_folder(architecture: str, num_classes: int) -> Path:
    """A random-weight model folder (seed 0): speed does not depend on the weights."""
    folder = REPO / "runs" / "bench-models" / f"{architecture}-random"
    if not (folder / "config.json").is_file():
        import torch

        torch.manual_seed(0)
        hub.save_pretrained(hub.create_model(architecture, num_classes=num_classes), folder)
    return folder


def upload(images: list[bytes]) -> Send:
    return lambda client, i: client.post("/predict", files={"image": ("x.png", images[i % len(images)], "image/png")})


def protocol_sends(images: list[bytes], batch: np.ndarray, model: str) -> dict[str, Send]:
    n = len(batch)
    fp32 = batch.astype("<f4").tobytes()
    header = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": list(batch.shape),
                                     "parameters": {"binary_data_size": len(fp32)}}],
                         "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}).encode()
    raw = b"".join(struct.pack("<I", len(d)) + d for d in images[:n])
    image_header = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [n],
                                           "parameters": {"binary_data_size": len(raw)}}],
                               "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}).encode()
    logits_json = json.dumps({"batch": batch.tolist()}).encode()
    files = [("images", (f"{i}.png", d, "image/png")) for i, d in enumerate(images[:n])]
    infer = f"/v2/models/{model}/infer"
    return {
        "oip_binary_fp32": lambda c, i: c.post(infer, content=header + fp32,
                                               headers={"Inference-Header-Content-Length": str(len(header))}),
        "oip_binary_images": lambda c, i: c.post(infer, content=image_header + raw,
                                                 headers={"Inference-Header-Content-Length": str(len(image_header))}),
        "logits_json": lambda c, i: c.post("/logits", content=logits_json,
                                           headers={"content-type": "application/json"}),
        "predict_batch_png": lambda c, i: c.post("/predict_batch", files=files, data={"model": model}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="alternet-tiny-cifar10", help="the model of (1), (3) and (4)")
    parser.add_argument("--full-model", default="alternet_18", help="architecture of (2), random weights")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="runtime threads of the server")
    parser.add_argument("--server-threads", type=int, default=0,
                        help="runtime threads of the server in (2) (default: --threads)")
    parser.add_argument("--requests", type=int, default=640, help="requests per closed-loop run")
    parser.add_argument("--full-requests", type=int, default=320, help="requests per run of (2)")
    parser.add_argument("--batch", type=int, default=16, help="images per request in (3)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of (1)")
    parser.add_argument("--only", choices=("all", "front", "compute"), default="all",
                        help="front: (1), (3), (4) and memory; compute: (2)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/serving.json"))
    args = parser.parse_args()
    images = [path.read_bytes() for path in sorted(SAMPLES.glob("*.png"))]
    kept = json.loads(args.out.read_text()) if args.only != "all" and args.out.is_file() else {}
    report: dict = {**kept, "model": args.model, "full_model": args.full_model, "threads": args.threads,
                    "cores": os.cpu_count()}  # a partial run keeps the other parts' last results

    if args.only in ("all", "front"):
        front(args, images, report)
    if args.only in ("all", "compute"):
        report["memory_mb"] = report.get("memory_mb", {})
        compute_bound(args, images, report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


def run(coroutine) -> dict:
    result = asyncio.run(coroutine)
    print(json.dumps(result), flush=True)
    return result


def model_cost(predictor, batch: np.ndarray, calls: int = 50) -> dict[str, float]:
    """The model alone, in-process on one thread: milliseconds per image at batch 1 and at the batch given
    (what a request to the service cannot cost less than)."""
    cost = {}
    for size in (1, len(batch)):
        for _ in range(5):
            predictor.predict(batch[:size])
        tic = time.perf_counter()
        for _ in range(calls):
            predictor.predict(batch[:size])
        cost[f"batch_{size}"] = 1000 * (time.perf_counter() - tic) / calls / size
    return cost


def front(args: argparse.Namespace, images: list[bytes], report: dict) -> None:
    """(1), (3) and (4) on the tiny model, and the memory of the servers."""
    from export.cache import cached_graph

    graph, _ = cached_graph(args.model, "fp32")
    targets = {"noop": ("benchmarks.noop_service:Noop", {}),
               "predict": ("serving.service:Classifier", {}),
               "plain_bentoml_ort": ("benchmarks.ort_peer_service:OrtPeer", {"HOWVITS_PEER_ONNX": str(graph)})}
    servers = {name: start_server(target, args.threads, **env) for name, (target, env) in targets.items()}
    try:
        for _, url in servers.values():  # warm every server before its memory is read
            run(closed_loop(url, upload(images), 4, 64))
        report["memory_mb"] = {**report.get("memory_mb", {}),
                               **{name: tree_rss_mb(process) for name, (process, _) in servers.items()}}
        rounds: dict[str, list[dict]] = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name, (_, url) in servers.items():
                rounds[name].append(run(closed_loop(url, upload(images), 16, args.requests)))

        def median_rate(name: str) -> float:
            return float(np.median([r["requests_per_s"] for r in rounds[name]]))

        report["overhead"] = {"rounds": rounds, "noop_per_s": median_rate("noop"),
                              "predict_per_s": median_rate("predict"), "peer_per_s": median_rate("plain_bentoml_ort"),
                              "ratio_to_noop": median_rate("predict") / median_rate("noop"),
                              "ratio_to_peer": median_rate("predict") / median_rate("plain_bentoml_ort")}
        for name in ("noop", "plain_bentoml_ort"):
            stop(servers.pop(name)[0])
        url = servers["predict"][1]
        predictor = load_predictor(args.model, "onnxruntime", 1)
        batch = predictor.preprocess([Image.open(io.BytesIO(d)).convert("RGB") for d in images[:args.batch]])
        report["model_ms_per_image"] = model_cost(predictor, batch)
        report["protocols"] = {name: run(closed_loop(url, send, 4, args.requests // 4, args.batch))
                               for name, send in protocol_sends(images, batch, args.model).items()}
        report["open_loop"] = [run(open_loop(url, upload(images), fraction * median_rate("predict"), 10.0))
                               for fraction in (0.5, 0.8)]
    finally:
        for process, _ in servers.values():
            stop(process)
    overhead = report["overhead"]
    print(f"overhead: /predict {overhead['predict_per_s']:.0f}/s vs no-op {overhead['noop_per_s']:.0f}/s = "
          f"{overhead['ratio_to_noop']:.2f}x, vs plain BentoML + ONNX Runtime {overhead['peer_per_s']:.0f}/s = "
          f"{overhead['ratio_to_peer']:.2f}x (medians of {args.rounds} interleaved rounds)")
    print("memory (MB, process tree): " + ", ".join(f"{k} {v:.0f}" for k, v in report["memory_mb"].items()))
    print("the model alone (ms per image, one thread): " + ", ".join(
        f"{k} {v:.2f}" for k, v in report["model_ms_per_image"].items()))
    for name, row in report["protocols"].items():
        print(f"{name}: {row['images_per_s']:.0f} img/s, p50 {row['p50_ms']:.1f} ms")


def compute_bound(args: argparse.Namespace, images: list[bytes], report: dict) -> None:
    """(2): a full-size model, service against in-process, batching on against off."""
    folder = full_size_folder(args.full_model, 10)
    compute: dict = {"parameters_m": hub.count_parameters(hub.from_pretrained(str(folder))) / 1e6}
    for batching in (True, False):
        process, url = start_server("serving.service:Classifier", args.server_threads or args.threads,
                                    HOWVITS_MODELS=str(folder),
                                    HOWVITS_BATCHING="1" if batching else "0")
        report["memory_mb"][f"{args.full_model}_server"] = tree_rss_mb(process)
        try:
            key = "batching_on" if batching else "batching_off"
            compute[key] = run(closed_loop(url, upload(images), 16, args.full_requests))
            if batching:
                compute["in_process"] = in_process_batches(str(folder), images, args.threads, batch_sizes(url))
                print(json.dumps(compute["in_process"]), flush=True)
        finally:
            stop(process)
    compute["service_vs_in_process"] = compute["batching_on"]["images_per_s"] / compute["in_process"]["images_per_s"]
    compute["batching_on_vs_off"] = compute["batching_on"]["images_per_s"] / compute["batching_off"]["images_per_s"]
    report["compute_bound"] = compute
    print(f"compute-bound {args.full_model}: service {compute['batching_on']['images_per_s']:.1f} img/s vs in-process "
          f"{compute['in_process']['images_per_s']:.1f} = {compute['service_vs_in_process']:.2f}x; batching on/off "
          f"{compute['batching_on_vs_off']:.2f}x")


if __name__ == "__main__":
    main()
