"""Model folders: round trip, strict loading, checksums, name resolution and the errors users see."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file

import hub
from hub import IncompatibleWeightsError, NotAvailableError, UnknownModelError, from_pretrained
from hub.catalog import CatalogEntry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path, model_folders):
    """A private copy of the v1 model folder that a test may damage."""
    target = tmp_path / "model"
    target.mkdir()
    for f in model_folders["v1"].iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    return target


def test_round_trip_keeps_outputs_labels_and_card(folder, images):
    model = from_pretrained(str(folder))
    torch.manual_seed(1)
    original = hub.create_model("resnet_tiny", num_classes=10).eval()
    with torch.no_grad():
        assert torch.equal(model(images), original(images))
    assert model.config.label_names == [f"class{i}" for i in range(10)]
    assert not model.training and model.source == str(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["pretrained_cfg"]["input_size"] == [3, 32, 32] and len(config["weights_sha256"]) == 64
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "howvits" and card.data.datasets == ["cifar10"]
    assert card.data.eval_results[0].metric_type == "accuracy" and card.data.eval_results[0].metric_value == 0.1


def rewrite_weights(folder: Path, change) -> None:
    state = load_file(folder / "model.safetensors")
    change(state)
    save_file(state, folder / "model.safetensors")
    config = json.loads((folder / "config.json").read_text())
    config["weights_sha256"] = None
    (folder / "config.json").write_text(json.dumps(config))


def test_missing_and_unexpected_keys_are_all_listed(folder):
    def change(state):
        del state["units.1.branch.0.weight"]
        state["units.1.extra"] = torch.zeros(1)

    rewrite_weights(folder, change)
    with pytest.raises(IncompatibleWeightsError) as err:
        from_pretrained(str(folder))
    assert "missing keys (1): units.1.branch.0.weight" in str(err.value)
    assert "unexpected keys (1): units.1.extra" in str(err.value)


def test_shape_mismatch_names_the_tensor(folder):
    config = json.loads((folder / "config.json").read_text())
    config["num_classes"], config["label_names"] = 7, None
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(IncompatibleWeightsError, match=r"units\.\d+\.layers\.\d+\.weight: file \(10, 128\) vs model"):
        from_pretrained(str(folder))


def test_corrupted_weights_fail_the_checksum(folder):
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(IncompatibleWeightsError, match="sha256"):
        from_pretrained(str(folder))


def test_folder_without_config_or_safetensors(folder):
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(NotAvailableError, match="never loaded"):
        from_pretrained(str(folder))
    (folder / "config.json").unlink()
    with pytest.raises(NotAvailableError, match=r"has no config\.json"):
        from_pretrained(str(folder))


def test_unknown_architecture_in_config(folder):
    config = json.loads((folder / "config.json").read_text())
    config["architecture"] = "resnet_9000"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(hub.HubError, match="unknown architecture 'resnet_9000'"):
        from_pretrained(str(folder))


def test_unknown_names_suggest_close_ones():
    with pytest.raises(UnknownModelError, match="Did you mean 'alternet-cifar100'"):
        from_pretrained("alternet-cifr100")
    with pytest.raises(UnknownModelError, match=r"hub.create_model\('resnet_50'\)"):
        from_pretrained("resnet_50")
    with pytest.raises(UnknownModelError, match=r"no folder '\./missing'"):
        from_pretrained("./missing")


def test_unpublished_short_name_prints_the_training_command():
    with pytest.raises(NotAvailableError, match="--model alternet_50 --dataset cifar100 --recipe paper"):
        from_pretrained("alternet-cifar100")


def test_shipped_short_name_loads_the_package_folder_and_checks_its_pin(folder, monkeypatch):
    sha = json.loads((folder / "config.json").read_text())["weights_sha256"]
    entry = CatalogEntry("tiny", "resnet_tiny", folder=str(folder), sha256=sha)  # absolute: joins to itself
    monkeypatch.setattr("hub.sources.load_catalog", lambda: {"tiny": entry})
    assert from_pretrained("tiny").config.architecture == "resnet_tiny"
    bad = CatalogEntry("tiny", "resnet_tiny", folder=str(folder), sha256="0" * 64)
    monkeypatch.setattr("hub.sources.load_catalog", lambda: {"tiny": bad})
    with pytest.raises(IncompatibleWeightsError, match="the catalog records"):
        from_pretrained("tiny")


def test_offline_with_nothing_cached_fails_fast_and_says_what_to_do(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path))
    code = ("import time, hub\nload = hub.from_pretrained  # imports torch: not what is timed\n"
            "t = time.monotonic()\ntry:\n    load('someorg/some-model')\n"
            "except hub.NotAvailableError as e:\n    print(f'{time.monotonic() - t:.2f}', e)\n")
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    seconds, message = out.stdout.split(" ", 1)
    assert "not in the local cache" in message and "HF_HUB_OFFLINE=1" in message
    assert float(seconds) < 2.0, "no retry loop when offline"
    assert time.monotonic() - started < 30


def test_cli_save_info_and_errors(tmp_path, capsys):
    from hub.__main__ import main

    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"c{i}" for i in range(10)))
    out = tmp_path / "saved"
    assert main(["save", "vit_tiny", "--out", str(out), "--num-classes", "10", "--labels", str(labels),
                 "--dataset", "cifar10", "--metric", "accuracy=0.25"]) == 0
    assert main(["info", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert report["parameters"] == hub.count_parameters(hub.create_model("vit_tiny", num_classes=10))
    assert report["units"] == {"stem": 1, "msa": 6, "mlp": 6, "head": 1}
    assert "value: 0.25" in report["card"]
    assert main(["info", "no-such-model"]) == 1
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert main(["list", "swin*"]) == 0
    assert "swin_b swin_s swin_t" in capsys.readouterr().out


def test_push_uploads_a_folder_that_loads(folder, monkeypatch):
    # olah (the loopback Hub server) has no write API, so the upload call itself is recorded instead.
    calls = []

    class RecordingApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private, exist_ok):
            calls.append(("create", repo_id))

        def upload_folder(self, repo_id, folder_path, commit_message, allow_patterns):
            calls.append(("upload", repo_id, sorted(p.name for p in Path(folder_path).iterdir())))
            hub.pretrained.load_folder(Path(folder_path))
            return type("Commit", (), {"commit_url": f"https://hub.invalid/{repo_id}/commit/1"})

    monkeypatch.setattr("huggingface_hub.HfApi", RecordingApi)
    url = hub.push_to_hub(from_pretrained(str(folder)), "me/tiny")
    assert url.endswith("/me/tiny/commit/1")
    assert calls == [("create", "me/tiny"), ("upload", "me/tiny", ["README.md", "config.json", "model.safetensors"])]


def test_a_short_name_means_the_catalogs_model_whatever_the_working_directory_holds(tmp_path, monkeypatch):
    from hub.sources import resolve

    decoy = tmp_path / "alternet-tiny-cifar10"
    decoy.mkdir()
    (decoy / "config.json").write_text('{"architecture": "resnet_tiny", "num_classes": 10}')
    monkeypatch.chdir(tmp_path)
    source = resolve("alternet-tiny-cifar10")
    assert source.folder is not None and source.folder != decoy and source.folder.name == "alternet-tiny-cifar10"
    assert resolve("./alternet-tiny-cifar10").folder == Path("./alternet-tiny-cifar10")
