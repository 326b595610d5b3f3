"""The paper's released checkpoints: exact conversion (the originals' logits), safe reading, strict mapping, and
the download path against a loopback HTTP server (404, a truncated download that resumes, sha256 pins, the
offline cache)."""

import dataclasses
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import hub
from hub import IncompatibleWeightsError, NotAvailableError
from hub.config import CIFAR100_CLASSES, CIFAR100_MEAN
from hub.official import (
    MIRROR_ENV,
    UnsafeCheckpointError,
    convert_official,
    convert_state_dict,
    read_release,
)
from tests.releases import RELEASES, fixture_input, original_logits, rule_state, write_release

REPO = Path(__file__).parents[2]


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_a_file_like_the_release_converts_to_the_originals_logits(name, tmp_path):
    model = convert_official(write_release(tmp_path / f"{name}.pth.tar", name))
    with torch.no_grad():
        logits = model(fixture_input()).numpy()
    worst = float(np.abs(logits - original_logits(name)).max())
    print(f"{name}: max |logit difference| against the original {worst:.2e}")
    assert worst <= 1e-4
    assert model.config.architecture == RELEASES[name] and model.config.label_names == list(CIFAR100_CLASSES)
    assert model.config.mean == CIFAR100_MEAN and model.config.input_size == (3, 32, 32)
    original = sum(t.numel() for k, t in rule_state(name).items() if t.is_floating_point()
                   and not k.endswith(("running_mean", "running_var", "attn_mask")))
    assert hub.count_parameters(model) == original


def test_swin_patch_merging_stays_at_the_end_of_its_stage(tmp_path):
    model = convert_official(write_release(tmp_path / "s.pth.tar", "swin_ti"))
    pools = [(i.name, i.stage) for i in model.unit_infos() if i.kind is hub.UnitKind.POOL]
    assert pools == [("s1.4.pool", 1), ("s2.4.pool", 2), ("s3.12.pool", 3)]


def test_a_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return Path.touch, (marker,)

    path = tmp_path / "evil.pth.tar"
    torch.save({"name": "vit_ti", "state_dict": {"w": torch.zeros(1)}, "extra": Payload()}, path)
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        read_release(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is real: an unrestricted load runs it
    assert marker.exists()


def test_size_cap_and_files_that_are_not_checkpoints(tmp_path):
    path = write_release(tmp_path / "v.pth.tar", "vit_ti")
    with pytest.raises(hub.HubError, match="refused"):
        read_release(path, max_bytes=1000)
    (tmp_path / "junk.pth.tar").write_bytes(b"not a checkpoint")
    with pytest.raises(hub.HubError, match="not a readable torch checkpoint"):
        read_release(tmp_path / "junk.pth.tar")
    torch.save({"name": "vit_ti", "state_dict": {"w": "text"}}, tmp_path / "odd.pth.tar")
    with pytest.raises(hub.HubError, match="no state dict of tensors"):
        read_release(tmp_path / "odd.pth.tar")


def test_conversion_is_strict_both_ways():
    state = rule_state("vit_ti")
    del state["blocks.3.mlp.fc1.bias"]
    state["blocks.3.extra.weight"] = torch.zeros(2)
    state["head.weight"] = torch.zeros(100, 191)
    with pytest.raises(IncompatibleWeightsError) as err:
        convert_state_dict("vit_ti", state)
    text = str(err.value)
    assert "our tensors with no source (1): units.8.branch.1.0.bias (from blocks.3.mlp.fc1.bias)" in text
    assert "source keys not consumed (1): blocks.3.extra.weight" in text
    assert "shape mismatches (1): units.25.fc.weight: ours (100, 192) vs the original's head.weight (100, 191)" in text


def test_the_architecture_comes_from_the_name_field_or_the_caller(tmp_path):
    path = tmp_path / "x.pth.tar"
    torch.save({"name": "mystery_net", "state_dict": rule_state("pit_ti")}, path)
    with pytest.raises(hub.HubError, match="pass the architecture"):
        convert_official(path)
    assert convert_official(path, "pit_ti").config.architecture == "pit_ti"


def test_the_convert_command_writes_a_folder_that_loads_offline(tmp_path, capsys):
    from hub.__main__ import main

    path = write_release(tmp_path / "pit.pth.tar", "pit_ti")
    assert main(["convert-official", str(path), "--out", str(tmp_path / "pit")]) == 0
    assert "sha256" in capsys.readouterr().out
    model = hub.from_pretrained(str(tmp_path / "pit"), local_files_only=True)
    with torch.no_grad():
        assert np.abs(model(fixture_input()).numpy() - original_logits("pit_ti")).max() <= 1e-4
    card = (tmp_path / "pit" / "README.md").read_text()
    assert "torch.load(weights_only=True)" in card and "Not verified here" in card
    assert main(["convert-official", str(path), "--out", str(tmp_path / "p2"), "--sha256", "0" * 64]) == 1


class ReleaseServer(http.server.ThreadingHTTPServer):
    """Serves release files by name with range requests; ``truncate`` names are cut in half once."""

    def __init__(self, files: dict[str, bytes], truncate: set[str]) -> None:
        self.files, self.truncate, self.requests = files, set(truncate), []
        super().__init__(("127.0.0.1", 0), ReleaseHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/releases"


class ReleaseHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        server: ReleaseServer = self.server
        name = self.path.rsplit("/", 1)[-1]
        server.requests.append((name, self.headers.get("Range")))
        if name not in server.files:
            self.send_error(404)
            return
        data = server.files[name]
        start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if name in server.truncate:
            server.truncate.discard(name)
            self.wfile.write(data[start:len(data) // 2])
            self.close_connection = True
            return
        self.wfile.write(data[start:])


@pytest.fixture
def release_server(tmp_path, monkeypatch):
    vit = write_release(tmp_path / "src" / "vit_ti_cifar100_9857b21357.pth.tar", "vit_ti")
    server = ReleaseServer({vit.name: vit.read_bytes()}, truncate={vit.name})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(MIRROR_ENV, server.url)
    yield server
    server.shutdown()


def test_download_resumes_converts_once_and_then_loads_offline(release_server, tmp_path, capsys):
    cache = tmp_path / "cache"
    with pytest.raises(NotAvailableError, match="call again to resume"):
        hub.from_pretrained("vit-ti-cifar100", cache_dir=str(cache))
    model = hub.from_pretrained("vit-ti-cifar100", cache_dir=str(cache))
    name = "vit_ti_cifar100_9857b21357.pth.tar"
    size = len(release_server.files[name])
    assert release_server.requests == [(name, None), (name, f"bytes={size // 2}-")]  # the second call resumed
    seen = capsys.readouterr().err
    sha = json.loads((model.folder / "official.json").read_text())["sha256"]
    assert f"sha256 {sha}" in seen and model.source == "vit-ti-cifar100"
    with torch.no_grad():
        assert np.abs(model(fixture_input()).numpy() - original_logits("vit_ti")).max() <= 1e-4
    card = (model.folder / "README.md").read_text()
    assert f"{release_server.url}/{name}" in card and sha in card and f"{size:,} bytes" in card

    again = hub.from_pretrained("vit-ti-cifar100", cache_dir=str(cache), local_files_only=True)
    assert len(release_server.requests) == 2 and again.folder == model.folder
    assert hub.from_pretrained("vit-ti-cifar100", cache_dir=str(cache), source_sha256=sha).folder == model.folder
    with pytest.raises(IncompatibleWeightsError, match="not the expected"):
        hub.from_pretrained("vit-ti-cifar100", cache_dir=str(cache), source_sha256="0" * 64)


def test_a_wrong_pinned_sha256_is_refused_and_the_file_dropped(release_server, tmp_path, monkeypatch):
    release_server.truncate.clear()
    cache = tmp_path / "cache"
    with pytest.raises(IncompatibleWeightsError, match="not the one pinned"):
        hub.from_pretrained("vit-ti-cifar100", cache_dir=str(cache), source_sha256="f" * 64)
    assert not list((cache / "howvits-official" / "downloads").iterdir())
    assert not (cache / "howvits-official" / "vit-ti-cifar100").exists()
    entry = dataclasses.replace(hub.catalog.load_catalog()["vit-ti-cifar100"], source_sha256="e" * 64)
    monkeypatch.setattr("hub.sources.load_catalog", lambda: {"vit-ti-cifar100": entry})  # a pin in the catalog
    with pytest.raises(IncompatibleWeightsError, match="e" * 64):
        hub.from_pretrained("vit-ti-cifar100", cache_dir=str(cache))


def test_a_missing_file_and_a_closed_port_say_what_to_do(release_server, tmp_path, monkeypatch):
    with pytest.raises(NotAvailableError) as err:
        hub.from_pretrained("pit-ti-cifar100", cache_dir=str(tmp_path))
    for fact in ("HTTP 404", f"{release_server.url}/pit_ti_cifar100_0645889efb.pth.tar", MIRROR_ENV,
                 "python -m hub convert-official FILE --out FOLDER"):
        assert fact in str(err.value)
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{_closed_port()}")
    started = time.monotonic()
    with pytest.raises(NotAvailableError, match="ConnectError"):
        hub.from_pretrained("swin-t-cifar100", cache_dir=str(tmp_path))
    assert time.monotonic() - started < 5


def _closed_port() -> int:
    from tests.conftest import _free_port

    return _free_port()


def test_offline_with_nothing_cached_fails_fast_and_names_the_ways_out(tmp_path):
    started = time.monotonic()
    with pytest.raises(NotAvailableError) as err:
        hub.from_pretrained("resnet50-cifar100", cache_dir=str(tmp_path), local_files_only=True)
    assert time.monotonic() - started < 2
    for fact in ("resnet_50_cifar100_691cc9a9e4.pth.tar", "https://github.com/xxxnell/how-do-vits-work-storage",
                 MIRROR_ENV, "convert-official"):
        assert fact in str(err.value)
    script = ("import time, hub\nload = hub.from_pretrained  # imports torch: not what is timed\n"
              "t = time.monotonic()\ntry:\n    load('swin-t-cifar100')\n"
              "except hub.NotAvailableError as e:\n    print(round(time.monotonic() - t, 3), e)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path)))
    seconds, message = result.stdout.split(" ", 1)
    assert float(seconds) < 2 and "HF_HUB_OFFLINE=1" in message and MIRROR_ENV in message


def test_alternet_stays_honest():
    with pytest.raises(NotAvailableError) as err:
        hub.from_pretrained("alternet-cifar100")
    assert "issue #37" in str(err.value) and "torchrun" in str(err.value)
