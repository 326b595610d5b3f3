"""``bentoml build`` packages a bento that serves every configured shipped model with no network."""

import os
import subprocess
import sys
from pathlib import Path

import httpx

from hub.catalog import load_catalog
from tests.servers import REPO, bentoml_serve

SHIPPED = ("alternet-tiny-cifar10", "vit-tiny-cifar10", "resnet-tiny-cifar10")


def test_the_built_bento_serves_every_shipped_model_offline(tmp_path):
    home = tmp_path / "bentoml"
    env = dict(os.environ, BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="true")
    built = subprocess.run([str(Path(sys.executable).with_name("bentoml")), "build", "--output", "tag"], cwd=REPO,
                           env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    tag = built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    name, version = tag.split(":")
    src = home / "bentos" / name / version / "src"
    for model in SHIPPED:
        folder = src / "hub" / load_catalog()[model].folder
        assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    assert not (src / "tests").exists() and not (src / "benchmarks").exists()
    with bentoml_serve(target=tag, cwd=tmp_path, BENTOML_HOME=str(home), HF_HUB_OFFLINE="1") as url:
        listed = httpx.get(f"{url}/models").json()
        assert [m["name"] for m in listed["models"]] == list(SHIPPED) and all(m["ready"] for m in listed["models"])
        for model in SHIPPED:
            assert httpx.get(f"{url}/v2/models/{model}/ready").status_code == 200
