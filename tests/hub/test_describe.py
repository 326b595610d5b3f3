"""Unit descriptions of foreign models: every ready-made one builds, reads its units, lesions them, and runs the
Fourier and lesion analyses on real images; a model without one gets an error that says what to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from hub.describe import DescribedModel, Description, DescriptionError, UnitSpec
from hub.descriptions import described_classes, find_description
from hub.foreign import load_foreign
from hub.layers import ParamRole, parameter_roles
from hub.units import UnitKind
from training.analyze import fourier, lesion
from training.analyze.inputs import NoSettings

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")
FIXTURE = Path(__file__).parents[1] / "fixtures" / "cifar10-mini.tar.gz"


def _small_timm(name: str, **kwargs) -> Callable[[], nn.Module]:
    return lambda: timm.create_model(name, num_classes=10, **kwargs)


def _small_torchvision(cls: str, **kwargs) -> Callable[[], nn.Module]:
    return lambda: getattr(torchvision.models, cls)(num_classes=10, **kwargs)


# Each family at a CPU-test size, built from its own class (the description is found from the class, not the name).
FAMILIES: dict[str, Callable[[], nn.Module]] = {
    "timm ResNet": _small_timm("resnet18"),
    "timm ViT": _small_timm("vit_tiny_patch16_224", img_size=64, patch_size=8, depth=3),
    "timm DeiT distilled": _small_timm("deit_tiny_distilled_patch16_224", img_size=64, patch_size=8, depth=2),
    "timm Swin": _small_timm("swin_tiny_patch4_window7_224", img_size=64, window_size=4, embed_dim=24,
                             depths=(1, 1, 2, 1), num_heads=(1, 2, 3, 4)),
    "timm PiT": _small_timm("pit_ti_224", img_size=64),
    "timm ConvNeXt": _small_timm("convnext_atto"),
    "timm Mixer": lambda: timm.models.mlp_mixer.MlpMixer(num_classes=10, img_size=64, num_blocks=3, embed_dim=64),
    "torchvision ResNet": _small_torchvision("resnet18"),
    "torchvision ViT": lambda: torchvision.models.VisionTransformer(64, 8, num_layers=2, num_heads=2,
                                                                    hidden_dim=48, mlp_dim=96, num_classes=10),
    "torchvision Swin": lambda: torchvision.models.SwinTransformer([4, 4], 24, [1, 1, 2, 1], [1, 2, 3, 4], [4, 4],
                                                                   num_classes=10),
}


def _randomised(module: nn.Module) -> nn.Module:
    """Every parameter and BatchNorm statistic drawn at random: the libraries zero-initialise residual branches'
    last norms and heads, behind which a wrong description could hide."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.2)
        for b in module.buffers():
            if b.is_floating_point():
                b.uniform_(0.5, 1.5)
    return module.eval()


@pytest.fixture(scope="module", params=list(FAMILIES))
def described(request) -> DescribedModel:
    net = _randomised(FAMILIES[request.param]())
    return DescribedModel(net, find_description(net), input_size=(3, 64, 64))


def test_units_cover_the_model(described):
    x = torch.randn(2, 3, 64, 64)
    infos = described.unit_infos()
    assert infos[0].kind is UnitKind.STEM and infos[-1].kind is UnitKind.HEAD
    assert {i.kind for i in infos} & {UnitKind.CONV, UnitKind.MSA, UnitKind.MLP}
    owned = [p for i in infos for _, p in described.unit_parameters(i.index)]
    assert len({id(p) for p in owned}) == len(owned), "a parameter is owned by two units"
    assert {id(p) for p in owned} == {id(p) for p in described.parameters()}, "a parameter is owned by no unit"
    with torch.no_grad():
        outputs = described.unit_outputs(x, include_head=True)
        assert torch.equal(outputs.pop("head"), described(x))
        some = described.unit_outputs(x, indices=[1, -2])
    assert list(outputs) == [i.name for i in infos[:-1]]
    assert all(m.ndim == 4 and m.shape[0] == 2 and m.isfinite().all() for m in outputs.values())
    assert list(some) == [infos[1].name, infos[-2].name] and torch.equal(some[infos[1].name], outputs[infos[1].name])


def test_every_residual_unit_lesions_and_restores(described):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        clean = described(x)
        for info in (i for i in described.unit_infos() if i.residual):
            with described.lesioned(info.index):
                assert not torch.allclose(described(x), clean), f"lesioning {info.name} changed nothing"
        assert torch.equal(described(x), clean)
    with pytest.raises(ValueError, match="not residual"), described.lesioned(0):
        pass


def test_fourier_and_lesion_run_on_real_images(described):
    from hub.data import DataSpec

    data = DataSpec(str(FIXTURE), val_size=20, num_images=8, batch_size=4)
    spectra = fourier.run(described, data, fourier.FourierSettings())
    assert [u.name for u in spectra.units] == [i.name for i in described.unit_infos()[:-1]]
    assert all(torch.tensor([s.paper_point, s.nyquist]).isfinite().all() for s in spectra.spectra)
    result = lesion.run(described, data, NoSettings())
    assert result.images == 8 and len(result.lesioned) == sum(i.residual for i in described.unit_infos())


def test_position_parameters_are_declared():
    net = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=1, num_classes=10)
    roles = parameter_roles(DescribedModel(net, find_description(net), input_size=(3, 32, 32)))
    assert roles == {"model.pos_embed": ParamRole.POSITION, "model.cls_token": ParamRole.TOKEN}


def test_a_model_without_a_description_says_what_to_do():
    net = torchvision.models.mobilenet_v3_small(num_classes=10)
    with pytest.raises(DescriptionError, match="no ready-made unit description") as err:
        find_description(net)
    assert "timm.models.resnet.ResNet" in str(err.value) and "DescribedModel" in str(err.value)
    assert len(described_classes()) >= 9


def test_a_description_that_does_not_fit_is_refused():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(10))
    with pytest.raises(DescriptionError, match="'body'"):
        DescribedModel(net, Description((UnitSpec("body", "conv", 1), UnitSpec("2", "head", 2)), "mine"))
    with pytest.raises(DescriptionError, match="head"):
        Description((UnitSpec("0", "conv", 1),), "mine")
    reused = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU())
    shared = nn.Sequential(reused, reused, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
    model = DescribedModel(shared, Description((UnitSpec("0", "stem", 0), UnitSpec("4", "head", 1)), "mine"),
                           input_size=(3, 8, 8))
    with pytest.raises(DescriptionError, match="ran twice"):
        model.unit_outputs(torch.randn(1, 3, 8, 8), include_head=True)  # (stopping early, it runs once)


def test_specs_name_the_library_and_refuse_unknown_models():
    model = load_foreign("timm:resnet18")
    assert model.config.architecture == "timm:resnet18" and model.config.library == "timm"
    assert model.config.input_size == (3, 224, 224) and "random" in model.source
    vision = load_foreign("torchvision:resnet18", num_classes=7)
    assert vision.config.num_classes == 7 and vision.config.interpolation == "bilinear"
    with pytest.raises(Exception, match="no model 'resnet_nope'"):
        load_foreign("timm:resnet_nope")
    with pytest.raises(Exception, match="no model 'resnet_nope'"):
        load_foreign("torchvision:resnet_nope")
    own = load_foreign("tests.hub.own_model:tiny_net", num_classes=3)
    assert own.source == "tests.hub.own_model:tiny_net" and own.config.num_classes == 3
