"""Serving throughput: requests/s and p50/p99 latency of ``POST /predict`` at concurrency 1, 4 and 16 against
a real ``bentoml serve`` on loopback, next to the same predictor called in-process (decode + preprocess +
predict of one image per call, the work one request carries), and with adaptive batching on against off.

  python benchmarks/serving.py --requests 400
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from export import load_predictor
from hub.samples import SAMPLES

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(batching: bool, threads: int, model: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, HOWVITS_BATCHING="1" if batching else "0", HOWVITS_THREADS=str(threads),
               HOWVITS_MODELS=model, BENTOML_DO_NOT_TRACK="true", OMP_NUM_THREADS=str(threads))
    env.setdefault("BENTOML_HOME", str(REPO / "runs" / "bentoml-bench"))
    process = subprocess.Popen([str(Path(sys.executable).with_name("bentoml")), "serve", "serving.service:Classifier",
                                "--host", "127.0.0.1", "--port", str(port)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def load(url: str, images: list[bytes], concurrency: int, requests: int) -> dict:
    per_worker = requests // concurrency

    def worker(index: int) -> list[float]:
        times = []
        with httpx.Client(base_url=url, timeout=120) as client:
            for i in range(per_worker):
                data = images[(index * per_worker + i) % len(images)]
                tic = time.perf_counter()
                response = client.post("/predict", files={"image": ("x.png", data, "image/png")})
                times.append(time.perf_counter() - tic)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
        return times

    with ThreadPoolExecutor(concurrency) as pool:  # warm-up
        list(pool.map(lambda i: worker(i)[:0], range(concurrency)))
    tic = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        times = [t for result in pool.map(worker, range(concurrency)) for t in result]
    elapsed = time.perf_counter() - tic
    return {"concurrency": concurrency, "requests": len(times), "requests_per_s": len(times) / elapsed,
            "p50_ms": 1000 * float(np.percentile(times, 50)), "p99_ms": 1000 * float(np.percentile(times, 99))}


def in_process(model: str, images: list[bytes], threads: int, calls: int) -> dict:
    predictor = load_predictor(model, "onnxruntime", threads)
    times = []
    for i in range(calls):
        tic = time.perf_counter()
        image = Image.open(io.BytesIO(images[i % len(images)])).convert("RGB")
        predictor.predict(predictor.preprocess([image]))
        times.append(time.perf_counter() - tic)
    return {"requests_per_s": calls / sum(times), "p50_ms": 1000 * float(np.percentile(times, 50)),
            "p99_ms": 1000 * float(np.percentile(times, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="alternet-tiny-cifar10",
                        help="any name from_pretrained takes, e.g. a paper model (vit-ti-cifar100) or a folder")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="runtime threads (server and in-process)")
    parser.add_argument("--requests", type=int, default=480, help="requests per concurrency level")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/serving.json"))
    args = parser.parse_args()
    images = [path.read_bytes() for path in sorted(SAMPLES.glob("*.png"))]
    baseline = in_process(args.model, images, args.threads, 400)
    print(f"in-process predictor (one image per call): {baseline['requests_per_s']:.0f}/s, p50 "
          f"{baseline['p50_ms']:.2f} ms", flush=True)
    report = {"model": args.model, "threads": args.threads, "in_process": baseline, "batching_on": [],
              "batching_off": []}
    for batching in (True, False):
        process, url = start_server(batching, args.threads, args.model)
        try:
            for concurrency in (1, 4, 16):
                row = load(url, images, concurrency, args.requests)
                row["vs_in_process"] = row["requests_per_s"] / baseline["requests_per_s"]
                report["batching_on" if batching else "batching_off"].append(row)
                state = "on " if batching else "off"
                print(f"batching {state} c={concurrency:<2d} {row['requests_per_s']:7.1f} req/s p50 "
                      f"{row['p50_ms']:7.1f} ms p99 {row['p99_ms']:7.1f} ms  {row['vs_in_process']:.2f}x in-process",
                      flush=True)
            if batching:
                report["metrics_batch_histogram"] = [line for line in httpx.get(f"{url}/metrics").text.splitlines()
                                                     if line.startswith("howvits_model_batch_size_bucket")]
        finally:
            stop(process)
    on16, off16 = report["batching_on"][-1], report["batching_off"][-1]
    report["batching_speedup_c16"] = on16["requests_per_s"] / off16["requests_per_s"]
    print(f"batching on/off at c=16: {report['batching_speedup_c16']:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
