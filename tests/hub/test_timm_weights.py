"""timm's ImageNet checkpoints by Hub id: timm models built here with random weights, saved as timm saves them for
the Hub, served by a Hub-compatible server on loopback (nothing reaches the internet), loaded with from_pretrained
and compared with timm's own logits on the same weights and the same inputs (real images and random ones)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import hub
from hub import HubError, IncompatibleWeightsError, NotAvailableError, from_pretrained
from hub.preprocess import input_batch
from hub.samples import sample_images
from hub.sources import local_model
from hub.timm_weights import ARCHITECTURES, convert_timm_state, read_timm_config
from tests.timm_models import randomised

timm = pytest.importorskip("timm")
from timm.models._hub import save_config_for_hf, save_for_hf  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HEAVY = pytest.mark.slow


def publish(hub_server, tmp_path: Path, repo_id: str, model: torch.nn.Module, safe_serialization: bool | str = True,
            **config) -> str:
    """Save ``model`` as timm saves a model for the Hub and commit it as ``repo_id``; returns the commit."""
    folder = tmp_path / "saved" / repo_id.replace("/", "--")
    save_for_hf(model, folder, model_config=config or None, safe_serialization=safe_serialization)
    return commit_with_lfs(hub_server, repo_id, folder)


def commit_with_lfs(hub_server, repo_id: str, folder: Path) -> str:
    """Commit ``folder`` with its weights in Git LFS, as the Hub stores them: a pointer in git, the object in
    ``.git/lfs/objects`` (olah serves it from there; git never hashes and compresses the weights)."""
    objects = {}
    for path in folder.iterdir():
        if path.suffix in (".safetensors", ".bin"):
            digest, size = hub.files.file_sha256(path), path.stat().st_size
            objects[digest] = path.rename(path.with_name(f".{path.name}.object"))
            path.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\nsize {size}\n")
    commit = hub_server.commit(repo_id, folder)
    for digest, obj in objects.items():
        target = hub_server.mirrors / "models" / repo_id / ".git" / "lfs" / "objects" / digest[:2] / digest[2:4]
        target.mkdir(parents=True, exist_ok=True)
        obj.rename(target / digest)
    return commit


def inputs(model: hub.UnitModel) -> torch.Tensor:
    """Two real images through our preprocessing at the model's input size, and a random input."""
    images = [image for image, _ in sample_images()[::20]]
    size = model.config.input_size[-1]
    noise = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    return torch.cat([torch.from_numpy(input_batch(images, model.config)), noise])


def max_difference(ours: hub.UnitModel, theirs: torch.nn.Module) -> float:
    x = inputs(ours)
    with torch.no_grad():
        return float((ours(x) - theirs(x)).abs().max())


FAMILIES = [
    pytest.param("resnet18", id="resnet18"),
    pytest.param("vit_tiny_patch16_224", id="vit_tiny"),
    pytest.param("deit_tiny_patch16_224", id="deit_tiny", marks=HEAVY),  # timm's ViT-Ti class and layout again
    pytest.param("pit_ti_224", id="pit_ti"),
    pytest.param("resnet50", id="resnet50", marks=HEAVY),
    pytest.param("vit_small_patch16_224", id="vit_small", marks=HEAVY),
    pytest.param("deit_small_patch16_224", id="deit_small", marks=HEAVY),
    pytest.param("vit_base_patch16_224", id="vit_base", marks=HEAVY),
    pytest.param("deit_base_patch16_224", id="deit_base", marks=HEAVY),
    pytest.param("swin_tiny_patch4_window7_224", id="swin_tiny", marks=HEAVY),
    pytest.param("mixer_b16_224", id="mixer_b16", marks=HEAVY),
]
"""Each family through the Hub server; ResNet-18 stands for ResNet-50 in the default run (the same stem, stages
and downsampling; serving ResNet-50's 100 MB takes 20 s on two cores)."""


@pytest.mark.parametrize("name", FAMILIES)
def test_a_timm_repo_loads_by_hub_id_with_timms_logits(name, hub_server, tmp_path):
    theirs = randomised(name)
    repo = f"timm/{name}.{theirs.pretrained_cfg['tag']}"
    commit = publish(hub_server, tmp_path, repo, theirs)
    ours = from_pretrained(repo, cache_dir=str(tmp_path / "cache"))
    worst = max_difference(ours, theirs)
    print(f"{name}: max |logit difference| against timm {worst:.2e}")
    assert worst <= 1e-4
    assert ours.source == f"{repo}@{commit}" and ours.config.num_classes == 1000
    cfg = theirs.pretrained_cfg
    assert (ours.config.mean, ours.config.std) == (tuple(cfg["mean"]), tuple(cfg["std"]))
    assert (ours.config.interpolation, ours.config.crop_pct, ours.config.input_size) == \
        (cfg["interpolation"], cfg["crop_pct"], tuple(cfg["input_size"]))
    assert hub.count_parameters(ours) == sum(p.numel() for p in theirs.parameters())


def test_the_converted_folder_says_where_it_came_from(hub_server, tmp_path):
    theirs = randomised("vit_tiny_patch16_224")
    labels = [f"n{i:08d}" for i in range(1000)]
    repo = "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    commit = publish(hub_server, tmp_path, repo, theirs, safe_serialization="both", label_names=labels)
    ours = from_pretrained(repo, cache_dir=str(tmp_path / "cache"))
    assert ours.config.label_names == labels and ours.config.model_args == {"qkv_bias": True}
    assert ours.config.architecture == "vit_ti" and ours.config.preset == "imagenet"
    source = next((tmp_path / "cache").glob("models--timm--vit_tiny*/snapshots/*/model.safetensors"))
    sha256 = hub.files.file_sha256(source)
    card = (ours.folder / "README.md").read_text()
    assert f"Converted from timm `{repo}@{commit}`" in card and sha256 in card
    assert json.loads((ours.folder / "timm.json").read_text())["sha256"] == sha256
    assert not list((tmp_path / "cache").rglob("pytorch_model.bin"))  # the pickle beside it was never fetched


def test_timms_stages_are_ours(hub_server, tmp_path):
    """timm 1.x merges patches and pools tokens at the start of a stage: the converted models say so, with every
    other unit's kind as in timm's blocks."""
    repo = "timm/pit_ti_224.stages"
    publish(hub_server, tmp_path, repo, randomised("pit_ti_224"))
    infos = from_pretrained(repo, cache_dir=str(tmp_path / "cache")).unit_infos()
    assert [i.name for i in infos if i.kind is hub.UnitKind.POOL] == ["s2.0.pool", "s3.0.pool"]
    assert [sum(i.kind is hub.UnitKind.MSA and i.stage == s for i in infos) for s in (1, 2, 3)] == [2, 6, 4]
    swin = hub.create_model("swin_t", preset="imagenet", qkv_bias=True, pool_at_start=True)
    assert [i.name for i in swin.unit_infos() if i.kind is hub.UnitKind.POOL] == ["s2.0.pool", "s3.0.pool",
                                                                                  "s4.0.pool"]


def test_a_wrong_key_is_named(hub_server, tmp_path):
    folder = tmp_path / "saved"
    save_for_hf(randomised("vit_tiny_patch16_224"), folder, safe_serialization=True)
    state = load_file(folder / "model.safetensors")
    state["blocks.3.mlp.fc1.bais"] = state.pop("blocks.3.mlp.fc1.bias")
    save_file(state, folder / "model.safetensors")
    hub_server.commit("timm/vit_tiny_patch16_224.broken", folder)
    with pytest.raises(IncompatibleWeightsError) as err:
        from_pretrained("timm/vit_tiny_patch16_224.broken", cache_dir=str(tmp_path / "cache"))
    text = str(err.value)
    assert "our tensors with no source (1): units.8.branch.1.0.bias (from blocks.3.mlp.fc1.bias)" in text
    assert "source keys not consumed (1): blocks.3.mlp.fc1.bais" in text


def test_a_repo_with_only_pickled_weights_is_refused(hub_server, tmp_path):
    publish(hub_server, tmp_path, "timm/pit_ti_224.pickled", randomised("pit_ti_224"), safe_serialization=False)
    with pytest.raises(NotAvailableError, match=r"pickled weights \(pytorch_model.bin, \*.pth\) are refused"):
        from_pretrained("timm/pit_ti_224.pickled", cache_dir=str(tmp_path / "cache"))
    assert not list((tmp_path / "cache").rglob("pytorch_model.bin"))


@pytest.mark.parametrize(("name", "why"), [("convnext_atto", "cannot be converted. Supported timm architectures: "
                                                             "resnet18, resnet34, resnet50"),
                                           ("deit_tiny_distilled_patch16_224", "a second (distillation) token")])
def test_an_unsupported_architecture_names_the_supported_ones(name, why, hub_server, tmp_path):
    publish(hub_server, tmp_path, f"timm/{name}.test", randomised(name))
    with pytest.raises(HubError, match=r"timm architecture '\w+' cannot be converted") as err:
        from_pretrained(f"timm/{name}.test", cache_dir=str(tmp_path / "cache"))
    assert why in str(err.value) and "mixer_b16_224" in str(err.value)


def test_model_args_that_build_another_network_are_refused(hub_server, tmp_path):
    publish(hub_server, tmp_path, "timm/vit_tiny_patch16_224.gap", randomised("vit_tiny_patch16_224",
                                                                             global_pool="avg"))
    with pytest.raises(HubError, match="model_args global_pool='avg' would build another network"):
        from_pretrained("timm/vit_tiny_patch16_224.gap", cache_dir=str(tmp_path / "cache"))


def test_the_second_load_is_offline_and_converts_nothing(hub_server, tmp_path):
    repo, cache = "timm/deit_tiny_patch16_224.offline", tmp_path / "cache"
    theirs = randomised("deit_tiny_patch16_224")
    commit = publish(hub_server, tmp_path, repo, theirs)
    assert local_model(repo, cache_dir=str(cache)) is None  # downloaded, not converted yet
    model = from_pretrained(repo, cache_dir=str(cache))
    assert local_model(repo, cache_dir=str(cache)).folder == model.folder
    snapshot = next(cache.glob("models--timm--deit_tiny_patch16_224.offline/snapshots/*"))
    (snapshot / "model.safetensors").resolve().write_bytes(b"damaged")  # converting again would have to read it
    logits = tmp_path / "logits.pt"
    code = ("import hub, torch\n"
            f"m = hub.from_pretrained({repo!r})\n"
            "x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))\n"
            f"torch.save(m(x).detach(), {str(logits)!r})\n"
            "print(m.source, m.folder)\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache), HF_ENDPOINT="http://127.0.0.1:1")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    source, folder = out.stdout.split()
    assert source == f"{repo}@{commit}" and Path(folder) == model.folder
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (torch.load(logits, weights_only=True) - theirs(x)).abs().max() <= 1e-4


@HEAVY
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_supported_architecture_converts_to_timms_logits(name, tmp_path):
    """Every entry of the table, from timm's own config writer and state dict (no server: that path is above)."""
    theirs = randomised(name)
    save_config_for_hf(theirs, tmp_path / "config.json")
    ours = convert_timm_state(read_timm_config(tmp_path / "config.json"), theirs.state_dict())
    worst = max_difference(ours, theirs)
    print(f"{name}: max |logit difference| against timm {worst:.2e}")
    assert worst <= 1e-4
