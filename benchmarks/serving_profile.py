"""Where a serving worker spends its CPU under load: py-spy samples the worker of a real ``bentoml serve`` while
16 client threads post /predict, and the stacks are grouped into model, our code and framework layers.

  pip install py-spy && python benchmarks/serving_profile.py
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from hub.samples import SAMPLES
from serving import start_server, stop

LAYERS = [  # (substring of a frame, layer); a sample counts once per layer it passes through
    ("onnxruntime", "model: ONNX Runtime session.run"), ("serving/images.py", "ours: image decode"),
    ("hub/preprocess.py", "ours: preprocessing (NumPy/Pillow)"), ("serving/batcher.py", "ours: batcher"),
    ("serving/inputs.py", "ours: input parsing (Starlette form)"), ("formparsers", "starlette: multipart parser"),
    ("serving/statistics.py", "ours: statistics"), ("prometheus_client", "prometheus_client (all)"),
    ("serving/edge.py", "ours: edge middleware"), ("serde.py", "BentoML: serialisation"),
    ("pydantic", "pydantic: validation/serialisation"), ("httptools", "uvicorn: HTTP parsing (httptools)"),
    ("h11", "uvicorn: HTTP parsing (h11)"), ("uvicorn", "uvicorn (all)"), ("starlette", "starlette (all)"),
    ("_bentoml_impl/server/app.py", "BentoML: endpoint"), ("tempfile", "upload temp files"),
    ("logging", "logging"), ("opentelemetry", "tracing"), ("asyncio/threads.py", "thread hops (to_thread)"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/serving_profile.txt"))
    parser.add_argument("--keep-raw", action="store_true", help="keep py-spy's raw stacks beside the summary")
    args = parser.parse_args()
    images = [p.read_bytes() for p in sorted(SAMPLES.glob("*.png"))]
    process, url = start_server("serving.service:Classifier", args.threads, HOWVITS_MODELS="alternet-tiny-cifar10")
    raw = args.out.with_suffix(".raw")
    try:
        worker_pid = subprocess.run(["pgrep", "-f", "_bentoml_impl.worker"], capture_output=True, text=True,
                                    check=True).stdout.split()[-1]

        def client(index: int) -> int:
            sent, end = 0, time.time() + args.seconds + 4
            with httpx.Client(base_url=url, timeout=60) as session:
                while time.time() < end:
                    session.post("/predict", files={"image": ("x.png", images[(index + sent) % 40], "image/png")})
                    sent += 1
            return sent

        spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", worker_pid,
                                "--duration", str(int(args.seconds)), "--rate", "200", "--format", "raw", "--output",
                                str(raw), "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with ThreadPoolExecutor(16) as pool:
            requests = sum(pool.map(client, range(16)))
        spy.wait()
    finally:
        stop(process)
    total, layers = 0, collections.Counter()
    for line in raw.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        total += int(count)
        for layer in {name for pattern, name in LAYERS if pattern in stack}:
            layers[layer] += int(count)
    lines = [f"{requests} requests at concurrency 16; {total} CPU samples of the worker (active threads only)",
             *(f"{100 * n / total:5.1f}%  {name}" for name, n in layers.most_common())]
    args.out.write_text("\n".join(lines) + "\n")
    if args.keep_raw:
        print(f"raw stacks: {raw}")
    else:
        raw.unlink()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
