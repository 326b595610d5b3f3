"""The real download path: huggingface_hub against a Hub-compatible server on loopback, then its cache offline."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hub
from hub import IncompatibleWeightsError, NotAvailableError, from_pretrained
from hub.catalog import CatalogEntry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def published(hub_server, model_folders):
    """``testorg/tiny``: v1 tagged ``v1.0``, then v2 on main."""
    sha1 = hub_server.commit("testorg/tiny", model_folders["v1"], tag="v1.0")
    sha2 = hub_server.commit("testorg/tiny", model_folders["v2"])
    return {"v1": sha1, "v2": sha2}


def outputs(model, seed=0):
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(x)


@pytest.fixture(scope="module")
def local(model_folders):
    return {v: outputs(from_pretrained(str(f))) for v, f in model_folders.items()}


def test_main_branch_tag_and_commit(published, local):
    latest = from_pretrained("testorg/tiny")
    assert torch.equal(outputs(latest), local["v2"]) and latest.source == f"testorg/tiny@{published['v2']}"
    assert torch.equal(outputs(from_pretrained("testorg/tiny@v1.0")), local["v1"])
    pinned = from_pretrained("testorg/tiny", revision=published["v1"])
    assert torch.equal(outputs(pinned), local["v1"]) and pinned.source.endswith(published["v1"])
    assert pinned.config.label_names[3] == "class3"


def test_cached_models_load_offline(published, local):
    from_pretrained("testorg/tiny")  # make sure main is cached
    model = from_pretrained("testorg/tiny@v1.0", local_files_only=True)
    assert torch.equal(outputs(model), local["v1"])
    code = (f"import hub, torch\nm = hub.from_pretrained('testorg/tiny@{published['v2']}')\n"
            "print(m.source)\n"
            "try:\n    hub.from_pretrained('testorg/never-downloaded')\n"
            "except hub.NotAvailableError as e:\n    print('offline error:', e)\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert f"testorg/tiny@{published['v2']}" in out.stdout
    assert "offline error: testorg/never-downloaded@main is not in the local cache" in out.stdout


def test_missing_revision_repo_and_weights(hub_server, published, model_folders):
    with pytest.raises(NotAvailableError, match="'no-such-branch'"):
        from_pretrained("testorg/tiny@no-such-branch")
    with pytest.raises(NotAvailableError, match="testorg/absent"):
        from_pretrained("testorg/absent")
    hub_server.commit("testorg/config-only", model_folders["v1"], files=("config.json",))
    with pytest.raises(NotAvailableError, match=r"model\.safetensors"):
        from_pretrained("testorg/config-only")


def test_short_name_resolves_to_a_pinned_revision_and_checksum(published, local, model_folders, monkeypatch):
    sha256 = hub.files.file_sha256(model_folders["v1"] / "model.safetensors")
    entry = CatalogEntry("tiny-cifar10", "resnet_tiny", repo_id="testorg/tiny", revision=published["v1"], sha256=sha256)
    monkeypatch.setattr("hub.sources.load_catalog", lambda: {"tiny-cifar10": entry})
    assert torch.equal(outputs(from_pretrained("tiny-cifar10")), local["v1"])  # pinned, although main is v2
    wrong = CatalogEntry("tiny-cifar10", "resnet_tiny", repo_id="testorg/tiny", revision=published["v2"], sha256=sha256)
    monkeypatch.setattr("hub.sources.load_catalog", lambda: {"tiny-cifar10": wrong})
    with pytest.raises(IncompatibleWeightsError, match="the catalog records"):
        from_pretrained("tiny-cifar10")


def test_push_to_a_server_without_write_api_is_a_clear_error(hub_server, model_folders):
    with pytest.raises(hub.HubError, match=r"upload of .* to 'testorg/new' .* failed"):
        hub.push_folder(model_folders["v1"], "testorg/new")
