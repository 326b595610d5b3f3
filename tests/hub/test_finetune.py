"""Fine-tuning from any weights: a new classifier (``reset_classifier``), ``from_pretrained(num_classes=...,
img_size=...)`` recording the parent, and ``set_input_size`` (position embeddings resampled, window stages rebuilt,
refusals that say why)."""

import logging

import pytest
import torch
from huggingface_hub import ModelCard, constants

import hub
from hub.layers import WindowAttention
from hub.registry import family_examples
from hub.resize import rebuilt, resample_position_embedding

SHIPPED = "resnet-tiny-cifar10"


def states(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_kept(before: dict[str, torch.Tensor], model: torch.nn.Module, except_for: set[str] = frozenset()) -> None:
    """Every tensor but ``except_for`` is bit-identical, and no key was renamed."""
    after = model.state_dict()
    assert set(after) == set(before)
    changed = {k for k in before if before[k].shape != after[k].shape or not torch.equal(before[k], after[k])}
    assert changed == set(except_for)


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.mark.parametrize("name", sorted(family_examples().values()))
def test_reset_classifier_gives_the_new_classes_and_keeps_every_other_weight(name, images):
    torch.manual_seed(0)
    model = hub.create_model(name, num_classes=10).eval()
    model.config.label_names = [f"c{i}" for i in range(10)]
    before = states(model)
    names = model.reset_classifier(7)
    assert len(names) == 2 and all(before[n].shape[0] == 10 for n in names)
    assert_kept(before, model, except_for=set(names))
    with torch.no_grad():
        assert model(images).shape == (4, 7)
    assert model.config.num_classes == 7 and model.config.label_names is None
    assert not any(m.training for m in model.modules()), "the new layer follows the model's eval mode"


def test_from_pretrained_with_other_classes_keeps_the_backbone_and_names_the_reset(offline, caplog, images):
    parent = hub.from_pretrained(SHIPPED)
    before = states(parent)
    with caplog.at_level(logging.WARNING, logger="hub.pretrained"):
        model = hub.from_pretrained(SHIPPED, num_classes=5)
    head = [k for k in before if k.startswith(f"units.{len(model.units) - 1}.") and before[k].shape[0] == 10]
    assert_kept(before, model, except_for=set(head))
    assert all(name in caplog.text for name in head) and "re-initialised for 5 classes" in caplog.text
    with torch.no_grad():
        assert model(images).shape == (4, 5)
    assert model.config.parent == hub.config.Parent(SHIPPED, parent.config.weights_sha256, None)
    assert model.config.num_classes == 5 and model.config.label_names is None


def test_from_pretrained_with_the_same_classes_loads_strictly_and_relabels(offline, caplog):
    parent = hub.from_pretrained(SHIPPED)
    labels = [f"kind{i}" for i in range(10)]
    with caplog.at_level(logging.WARNING, logger="hub.pretrained"):
        model = hub.from_pretrained(SHIPPED, labels=labels)
    assert_kept(states(parent), model)
    assert not caplog.records and model.config.label_names == labels and model.config.parent.source == SHIPPED
    with pytest.raises(ValueError, match="3 labels for num_classes=4"):
        hub.from_pretrained(SHIPPED, num_classes=4, labels=["a", "b", "c"])


def test_a_fine_tuned_folder_records_its_parent_in_config_and_card(offline, tmp_path):
    model = hub.from_pretrained(SHIPPED, num_classes=3)
    hub.save_pretrained(model, tmp_path / "child")
    card = ModelCard.load(tmp_path / "child" / "README.md")
    assert card.data.base_model == SHIPPED and card.data.base_model_relation == "finetune"
    assert f"fine-tuned from `{SHIPPED}` (weights sha256 `{model.config.parent.weights_sha256}`)" in card.text
    loaded = hub.from_pretrained(str(tmp_path / "child"))
    assert loaded.config.parent == model.config.parent and loaded.config.num_classes == 3
    grandchild = hub.from_pretrained(str(tmp_path / "child"), num_classes=2)  # a local folder as the parent
    assert grandchild.config.parent.source == str(tmp_path / "child")


def test_set_input_size_resamples_vit_position_embeddings_like_timm(images):
    timm_layers = pytest.importorskip("timm.layers")
    torch.manual_seed(0)
    model = hub.create_model("vit_tiny", num_classes=10).eval()
    before = states(model)
    model.set_input_size(64)
    pos = model.units[0].pos_embed
    assert pos.shape == (1, 1 + 16 * 16, 96)
    expected = timm_layers.resample_abs_pos_embed(before["units.0.pos_embed"], [16, 16], num_prefix_tokens=1)
    torch.testing.assert_close(pos.detach(), expected, rtol=0, atol=1e-6)
    assert_kept(before, model, except_for={"units.0.pos_embed"})
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    assert model.config.input_size == (3, 64, 64) and model.config.model_args == {"img_size": 64}


def test_set_input_size_at_the_same_size_is_an_exact_no_op(images):
    model = hub.create_model("vit_tiny", num_classes=10).eval()
    with torch.no_grad():
        expected = model(images)
    before, config, units = states(model), model.config, model.units
    model.set_input_size(32)
    assert model.units is units and model.config == config
    assert_kept(before, model)
    with torch.no_grad():
        assert torch.equal(model(images), expected)
    pos = model.units[0].pos_embed
    assert resample_position_embedding(pos, (8, 8)) is pos


def test_pit_position_map_is_resized_and_its_pooling_grids_follow():
    torch.manual_seed(0)
    model = hub.create_model("pit_ti", num_classes=10).eval()
    before = states(model)
    model.set_input_size(48)
    assert model.units[0].pos_embed.shape == (1, 64, 47, 47)  # 2x2 patches, stride 1
    assert_kept(before, model, except_for={"units.0.pos_embed"})
    with torch.no_grad():
        assert model(torch.randn(1, 3, 48, 48)).shape == (1, 10)


@pytest.mark.parametrize(("name", "new_masks"), [("swin_t", 1), ("alternet_tiny", 0)])
def test_window_stages_are_rebuilt_for_a_size_their_windows_still_tile(name, new_masks):
    """Swin's last stage (4x4, its window) attends globally at 32x32; at 64x64 its odd block shifts, masked."""
    torch.manual_seed(0)
    model = hub.create_model(name, num_classes=10).eval()
    before = states(model)
    old = [(m.resolution, m.window) for m in model.modules() if isinstance(m, WindowAttention)]
    masks = sum(m.mask is not None for m in model.modules() if isinstance(m, WindowAttention))
    model.set_input_size(64)
    assert_kept(before, model)
    attention = [m for m in model.modules() if isinstance(m, WindowAttention)]
    assert [(m.resolution, m.window) for m in attention] == [((2 * h, 2 * w), p) for (h, w), p in old]
    assert all(m.mask is None or m.mask.shape[0] == (m.resolution[0] // m.window) ** 2 for m in attention)
    assert sum(m.mask is not None for m in attention) == masks + new_masks
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)


@pytest.mark.parametrize(("name", "size", "message"), [
    ("mixer_ti", 64, "token-mixing MLPs have weights for exactly 256 tokens"),
    ("swin_t", 40, "does not divide the 10x10 feature map of stage 3"),
    ("alternet_tiny", 40, "does not divide the 10x10 feature map of stage 3"),
    ("swin_t", 16, "stage 4's map would be 2x2, smaller than its 4x4 window"),
    ("vgg_11", 16, "cannot take 16x16 inputs"),
])
def test_sizes_a_model_cannot_take_are_refused_and_the_model_is_unchanged(name, size, message):
    model = hub.create_model(name, num_classes=10)
    before, config = states(model), model.config
    with pytest.raises(ValueError, match=message):
        model.set_input_size(size)
    assert model.config == config
    assert_kept(before, model)


def test_a_convolutional_model_only_records_its_new_size_and_round_trips(offline, tmp_path, images):
    model = hub.from_pretrained(SHIPPED, img_size=64)
    assert_kept(states(hub.from_pretrained(SHIPPED)), model)
    assert model.config.input_size == (3, 64, 64) and model.config.model_args == {}
    assert rebuilt(model, drop_path_rate=0.1).config.input_size == (3, 64, 64)  # rebuilt for another reason
    hub.save_pretrained(model, tmp_path / "big")
    assert hub.from_pretrained(str(tmp_path / "big")).config.input_size == (3, 64, 64)


def test_a_resized_vit_round_trips_through_its_folder(offline, tmp_path):
    model = hub.from_pretrained("vit-tiny-cifar10", img_size=48)
    hub.save_pretrained(model, tmp_path / "vit48")
    loaded = hub.from_pretrained(str(tmp_path / "vit48"))
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert loaded.config.model_args == {"img_size": 48} and loaded.config.parent.source == "vit-tiny-cifar10"
