"""Service fixtures: the ASGI app in-process, and one real ``bentoml serve`` on a free loopback port."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import _free_port

REPO = Path(__file__).parents[2]
os.environ.setdefault("HOWVITS_THREADS", "1")


@pytest.fixture(scope="session")
def app_client():
    from starlette.testclient import TestClient

    from serving.service import Classifier

    with TestClient(Classifier.to_asgi()) as client:
        yield client


@pytest.fixture(scope="session")
def server():
    """``bentoml serve serving.service:Classifier`` as a user runs it; yields its base URL."""
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", HOWVITS_THREADS="1", PYTHONPATH=str(REPO))
    bentoml = Path(sys.executable).with_name("bentoml")
    log = open(Path(os.environ["BENTOML_HOME"]).parent / f"serve-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen([str(bentoml), "serve", "serving.service:Classifier", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        assert process.poll() is None, Path(log.name).read_text()[-3000:]
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "bentoml serve did not become ready in 180 s"
        time.sleep(0.2)
    yield url
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()
