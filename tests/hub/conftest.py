"""Fixtures for hub tests: model folders, and a real Hub-compatible server (olah, offline mode) on loopback.

olah serves git repositories from a mirrors folder over the Hub's HTTP API; every request reads the git
repo, so a commit made by a test is visible at once. It has no write endpoints, so uploads are not
exercised against it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch

import hub

GIT = ["git", "-c", "user.name=tests", "-c", "user.email=tests@example.invalid", "-c", "init.defaultBranch=main"]


@dataclass
class HubServer:
    endpoint: str
    mirrors: Path

    def commit(self, repo_id: str, folder: Path, tag: str | None = None, files: tuple[str, ...] | None = None) -> str:
        """Commit ``folder``'s files (or only ``files``) as the new head of ``repo_id``; return the commit sha."""
        repo = self.mirrors / "models" / repo_id
        if not (repo / ".git").exists():
            repo.mkdir(parents=True)
            subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True)
        for path in folder.iterdir():
            if files is None or path.name in files:
                shutil.copy(path, repo / path.name)
        subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
        subprocess.run([*GIT, "commit", "-q", "-m", f"upload {folder.name}"], cwd=repo, check=True)
        if tag:
            subprocess.run([*GIT, "tag", tag], cwd=repo, check=True)
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True,
                              text=True).stdout.strip()


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"olah exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"olah did not answer {url} within {timeout} s")


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory) -> HubServer:
    endpoint = os.environ["HF_ENDPOINT"]
    netloc = urlparse(endpoint).netloc
    root = tmp_path_factory.mktemp("olah")
    server = HubServer(endpoint, root / "mirrors")
    probe = tmp_path_factory.mktemp("probe-model")
    (probe / "README.md").write_text("probe\n")
    server.commit("probe/ready", probe)
    config = root / "olah.toml"
    config.write_text(f"""[basic]
host = "127.0.0.1"
port = {urlparse(endpoint).port}
repos-path = "{root / 'cache'}"
mirror-netloc = "{netloc}"
mirror-lfs-netloc = "{netloc}"
hf-scheme = "http"
hf-netloc = "127.0.0.1:1"
hf-lfs-netloc = "127.0.0.1:1"
mirrors-path = ["{server.mirrors}"]
[accessibility]
offline = true
""")
    olah = shutil.which("olah-cli", path=str(Path(sys.executable).parent)) or "olah-cli"
    log = (root / "olah.log").open("w")
    proc = subprocess.Popen([olah, "-c", str(config)], cwd=root, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"{endpoint}/api/models/probe/ready/revision/main", proc)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def model_folders(tmp_path_factory) -> dict[str, Path]:
    """Two versions of a small 10-class model (different random weights), saved as model folders."""
    folders = {}
    for version, seed in (("v1", 1), ("v2", 2)):
        torch.manual_seed(seed)
        model = hub.create_model("resnet_tiny", num_classes=10)
        folder = tmp_path_factory.mktemp(f"model-{version}")
        hub.save_pretrained(model, folder, label_names=[f"class{i}" for i in range(10)],
                            metrics={"accuracy": 0.1}, card=hub.CardInfo(dataset="cifar10", description=version))
        folders[version] = folder
    return folders
