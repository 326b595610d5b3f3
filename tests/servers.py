"""``bentoml serve serving.service:Classifier`` as a user runs it, on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import _free_port

REPO = Path(__file__).parents[1]


class ServerUrl(str):
    """A base URL that also knows the server's process id."""

    def __new__(cls, url: str, pid: int) -> ServerUrl:
        self = super().__new__(cls, url)
        self.pid = pid
        return self


@contextmanager
def bentoml_serve(timeout: float = 240, target: str = "serving.service:Classifier", cwd: Path = REPO,
                  **env: str) -> Iterator[ServerUrl]:
    """Start ``bentoml serve target`` (the service in this checkout, or a built bento's tag run from ``cwd``)
    with ``env`` added to the environment, wait for ``/readyz``, yield its base URL (its process id is
    ``url.pid``). Each server gets a BentoML home of its own unless ``env`` names one: BentoML empties
    ``$BENTOML_HOME/prometheus_multiproc_dir`` at start, which would erase a running server's metrics."""
    port = _free_port()
    home = str(Path(os.environ["BENTOML_HOME"]).parent / f"bentoml-{port}")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HOWVITS_THREADS": "1", "BENTOML_HOME": home, **env}
    if cwd == REPO:
        environment["PYTHONPATH"] = str(REPO)
    log = open(Path(os.environ["BENTOML_HOME"]).parent / f"serve-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen([str(Path(sys.executable).with_name("bentoml")), "serve", target,
                                "--host", "127.0.0.1", "--port", str(port)], cwd=cwd, env=environment, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, Path(log.name).read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"bentoml serve did not become ready in {timeout:.0f} s"
            time.sleep(0.2)
        yield ServerUrl(url, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
