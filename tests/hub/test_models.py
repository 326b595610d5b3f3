"""Every registered architecture: builds, runs, exposes its units, has the paper's parameter count."""

import pytest
import torch
import torch.nn.functional as F

import hub
from hub import ParamRole, UnitKind, count_parameters, create_model, family_examples, list_models
from hub.layers import parameter_roles, stochastic_depth_rates
from hub.registry import model_entry

ALL = list_models()


def check_model(name: str, preset: str, batch: int = 2) -> None:
    model = create_model(name, preset=preset).eval()
    size = model.config.input_size[-1]
    x = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        logits = model(x)
        features = model.unit_outputs(x, include_head=True)
    assert logits.shape == (batch, model.config.num_classes)
    assert torch.isfinite(logits).all()
    infos = model.unit_infos()
    assert list(features) == [i.name for i in infos], "unit_outputs must return every unit, in order"
    assert torch.equal(features["head"], logits)
    for info in infos[:-1]:
        fmap = features[info.name]
        assert fmap.ndim == 4 and fmap.shape[0] == batch, f"{name} {info.name}: {tuple(fmap.shape)} is not a map"
    assert infos[0].kind is UnitKind.STEM and infos[-1].kind is UnitKind.HEAD


@pytest.mark.parametrize("name", ALL)
def test_builds_and_runs_at_cifar_size(name):
    check_model(name, "cifar")


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_builds_and_runs_at_imagenet_size(name):
    check_model(name, "imagenet", batch=1)


# Reference: parameter counts of the paper's code at 100 classes, CIFAR stems (paper-and-official-code.md, 1.3).
REFERENCE_PARAMS_M = {
    "resnet_50": 23.71, "preresnet_50": 23.70, "resnext_50": 23.18, "wideresnet_50": 67.03, "seresnet_50": 26.22,
    "alexnet": 23.84, "vit_ti": 5.40, "vit_s": 21.42, "pit_ti": 4.58, "mixer_ti": 4.77, "swin_t": 27.56,
    "alternet_18": 9.50, "alternet_50": 34.06, "resnet_18": 11.22, "resnet_101": 42.70, "vgg_16": 134.67,
    "alternet_34": 22.36, "alternet_101": 53.05, "mixer_s": 17.93, "pit_s": 22.85, "vit_b": 85.31,
}


@pytest.mark.parametrize("name", sorted(REFERENCE_PARAMS_M))
def test_parameter_count_matches_reference(name):
    ours = count_parameters(create_model(name, num_classes=100)) / 1e6
    assert ours == pytest.approx(REFERENCE_PARAMS_M[name], rel=0.005)


def test_imagenet_alternet_50_parameter_count():
    assert count_parameters(create_model("alternet_50", preset="imagenet")) / 1e6 == pytest.approx(35.92, rel=0.005)


# Every family's example variant, plus the variants inside the ResNet and VGG modules that take other code paths.
ONE_PER_FAMILY = sorted({*family_examples().values(), "prevgg_11", "preresnet_18", "seresnet_18", "resnext_50",
                         "resnet_smoothing_18"})


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_one_optimisation_step_lowers_the_loss(name, images):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10).train()
    targets = torch.arange(len(images)) % 10
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.0)

    def loss() -> torch.Tensor:
        torch.manual_seed(1)  # the same dropout / drop-path masks for both evaluations
        return F.cross_entropy(model(images), targets)

    before = loss()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = loss()
    assert after < before


def kinds(name: str, **kwargs) -> str:
    return " ".join(i.kind.value for i in create_model(name, **kwargs).unit_infos())


def test_alternet_units_follow_the_replacement_rule():
    assert kinds("alternet_18") == "stem conv conv conv msa conv msa conv msa head"
    infos = create_model("alternet_50").unit_infos()
    body = [i.kind.value for i in infos[1:-1]]
    assert body == ["conv"] * 3 + ["conv"] * 3 + ["msa"] + ["conv", "msa"] * 3 + ["conv", "msa"] * 2
    assert [i.stage for i in infos if i.kind is UnitKind.MSA] == [2, 3, 3, 3, 4, 4]


def test_unit_kinds_of_each_family():
    assert kinds("vit_ti") == " ".join(["stem", *["msa", "mlp"] * 12, "head"])
    assert kinds("resnet_50") == " ".join(["stem", *["conv"] * 16, "head"])
    assert kinds("mixer_ti") == " ".join(["stem", *["mlp"] * 16, "head"])
    assert kinds("swin_t").count("pool") == 3 and kinds("swin_t").count("msa") == 12
    assert kinds("pit_ti").count("pool") == 2 and kinds("pit_ti").count("msa") == 12
    assert kinds("vgg_16").count("pool") == 5 and kinds("vgg_16").count("conv") == 12
    assert kinds("resnet_smoothing_18").count("pool") == 3


def test_token_maps_drop_the_cls_token_and_keep_the_grid():
    model = create_model("pit_ti").eval()
    with torch.no_grad():
        maps = model.unit_outputs(torch.randn(1, 3, 32, 32))
    pools = [tuple(m.shape[-2:]) for name, m in maps.items() if name.endswith("pool")]
    assert tuple(maps["stem"].shape[-2:]) == (31, 31) and pools == [(16, 16), (8, 8)]
    assert maps["s3.0.msa"].shape[1:] == (256, 8, 8)


def test_lesion_replaces_a_residual_unit_by_its_identity_path(images):
    model = create_model("resnet_tiny").eval()
    infos = model.unit_infos()
    residual = [i.index for i in infos if i.residual]
    assert residual and not infos[0].residual and not infos[-1].residual
    with torch.no_grad():
        clean = model(images)
        with model.lesioned(residual[1]):
            lesioned = model(images)
        restored = model(images)
    assert not torch.allclose(clean, lesioned)
    assert torch.equal(clean, restored)
    with pytest.raises(ValueError, match="not residual"), model.lesioned(0):
        pass


def test_window_that_does_not_divide_a_stage_is_rejected_naming_the_stage():
    with pytest.raises(ValueError, match="stage 2"):
        create_model("alternet_50", window_size=7)  # CIFAR stage 2 is 16x16
    with pytest.raises(ValueError, match="stage 1"):
        create_model("swin_t", window_size=3)
    create_model("alternet_50", preset="imagenet", window_size=7)  # 56/28/14/7: fine


def test_unknown_architecture_and_unknown_override_fail_clearly():
    with pytest.raises(KeyError, match="did you mean alternet_50"):
        create_model("alternet50")
    with pytest.raises(TypeError):
        create_model("resnet_18", not_an_argument=1)
    with pytest.raises(ValueError, match="preset"):
        create_model("resnet_18", preset="mnist")


def test_stochastic_depth_is_linear_in_depth():
    assert stochastic_depth_rates(5, 0.1) == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1])
    model = create_model("vit_ti", drop_path_rate=0.1)
    rates = [u.drop_path.p for u in model.units if u.residual]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.1)


def test_list_models_filters_and_config_records_overrides():
    assert list_models("alternet_*") == ["alternet_101", "alternet_152", "alternet_18", "alternet_34", "alternet_50",
                                         "alternet_tiny"]
    assert set(list_models(family="vit")) == {"vit_ti", "vit_s", "vit_b", "vit_l", "vit_tiny"}
    model = create_model("vit_ti", num_classes=10, drop_path_rate=0.1, img_size=64)
    assert model.config.model_args == {"drop_path_rate": 0.1, "img_size": 64}
    assert model.config.input_size == (3, 64, 64) and isinstance(model, hub.UnitModel)


def test_every_family_module_is_discovered_with_one_example():
    examples = family_examples()
    assert set(examples) == {"alexnet", "alternet", "mixer", "pit", "resnet", "swin", "vgg", "vit"}
    assert {model_entry(name).family for name in ALL} == set(examples)
    assert all(model_entry(name).example for name in examples.values())
    assert examples["resnet"] == "resnet_tiny" and model_entry("resnet_50").description == "ResNet-50."


def test_every_variant_is_a_def_of_its_own_name_in_its_family_file():
    import importlib
    import inspect

    for name in ALL:
        module = importlib.import_module(f"hub.models.{model_entry(name).family}")
        assert f"\ndef {name}(" in inspect.getsource(module), f"{name} is not written out in its family file"


def test_per_preset_defaults_apply_and_overrides_win():
    assert create_model("vit_tiny").units[0].proj.kernel_size == (4, 4)  # CIFAR default of vit_tiny
    assert create_model("vit_tiny", patch_size=8).units[0].proj.kernel_size == (8, 8)
    assert create_model("vit_tiny").config.model_args == {}  # defaults are not recorded as overrides
    assert create_model("pit_b", preset="imagenet", num_classes=10).units[0].proj.stride == (7, 7)


def test_builders_that_do_not_use_img_size_refuse_another_one():
    for name in ("resnet_18", "vgg_11", "alexnet"):
        with pytest.raises(ValueError, match="takes no img_size"):
            create_model(name, img_size=64)
        create_model(name, img_size=32)  # the preset's own size is fine
    assert create_model("swin_t", img_size=64).config.input_size == (3, 64, 64)


def test_position_parameters_and_tokens_are_declared_by_their_modules():
    vit = create_model("vit_tiny")
    assert vit.no_weight_decay() == {"units.0.pos_embed", "units.0.cls_token"}
    assert parameter_roles(vit)["units.0.cls_token"] is ParamRole.TOKEN
    swin = create_model("swin_t")
    tables = [n for n, _ in swin.named_parameters() if n.endswith("relative_bias")]
    assert tables and set(parameter_roles(swin)) == set(tables)
    assert create_model("resnet_tiny").no_weight_decay() == set()


def test_unit_outputs_picks_units_and_stops_early(images):
    model = create_model("resnet_tiny").eval()
    with torch.no_grad():
        every = model.unit_outputs(images)
        some = model.unit_outputs(images, indices=[1, 3])
    names = [i.name for i in model.unit_infos()]
    assert list(some) == [names[1], names[3]] and torch.equal(some[names[3]], every[names[3]])
    assert "head" not in every and not hasattr(model, "forward_features")


def test_models_declare_their_provenance_attributes():
    model = create_model("resnet_tiny")
    assert model.source == "resnet_tiny" and model.folder is None and model.config.architecture == "resnet_tiny"


def test_a_second_example_in_one_family_is_refused(monkeypatch):
    monkeypatch.setattr(hub.registry, "_MODELS", dict(hub.registry._MODELS))

    def vit_other(preset, num_classes, **kwargs):
        return create_model("vit_tiny")

    vit_other.__module__ = "hub.models.vit"
    with pytest.raises(ValueError, match="already has an example"):
        hub.register_model(example=True)(vit_other)
