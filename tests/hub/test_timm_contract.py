"""timm's feature contract where we use timm's words: ``feature_info``, ``forward_intermediates`` and
``forward_head`` give what timm's own models give, against timm itself.

Our families that timm also has are compared at ImageNet size on one 224x224 image (shapes: the weights differ);
the ViT is also compared value for value, with timm's weights converted into ours. Where our structure cannot
match, the test says so and asserts what we do instead.
"""

import pytest
import torch
from torch import nn

from hub import create_model, family_examples
from hub.official import convert_state_dict
from hub.units import SequentialUnit, UnitKind, UnitModel

timm = pytest.importorskip("timm")

PAIRS = [
    ("vit_ti", "vit_tiny_patch16_224", False),
    ("pit_ti", "pit_ti_224", False),
    ("resnet_50", "resnet50", True),
    ("swin_t", "swin_tiny_patch4_window7_224", True),
    ("mixer_b", "mixer_b16_224", True),
]
"""(ours, timm's, slow): the ImageNet-size pairs; the slow ones take seconds each on one core."""

RESNET_STEM = (1, 64, 56, 56)
"""timm's ResNet stem point is after the stem's ReLU (64 x 112 x 112, reduction 2); ours is the stem unit's
output, after its max-pool (reduction 4): the max-pool is inside our stem unit, so no unit ends at reduction 2."""

CALLS = [{}, {"indices": 2}, {"indices": [0, -1]}, {"indices": [-1, -3]}, {"indices": 1, "intermediates_only": True},
         {"indices": [1], "stop_early": True}]


@pytest.fixture(scope="module", params=[pytest.param(p, id=p[0], marks=[pytest.mark.slow] if p[2] else [])
                                        for p in PAIRS])
def pair(request):
    ours_name, timm_name, _ = request.param
    torch.manual_seed(0)
    ours = create_model(ours_name, preset="imagenet").eval()
    theirs = timm.create_model(timm_name, pretrained=False).eval()
    return ours_name, ours, theirs


@pytest.fixture(scope="module")
def image():
    return torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))


def shapes(maps):
    return [tuple(m.shape) for m in maps]


def absolute(indices, count: int) -> list[int]:
    if indices is None:
        return list(range(count))
    if isinstance(indices, int):
        return list(range(count - indices, count))
    return sorted({i % count for i in indices})


def test_feature_info_matches_timm(pair):
    name, ours, theirs = pair
    points = [(p["num_chs"], p["reduction"]) for p in ours.feature_info]
    expected = [(p["num_chs"], p["reduction"]) for p in theirs.feature_info]
    if name == "resnet_50":  # see RESNET_STEM
        assert points[0] == (64, 4) and expected[0] == (64, 2)
        points, expected = points[1:], expected[1:]
    assert points == expected
    assert all(isinstance(ours.get_submodule(p["module"]), nn.Module) for p in ours.feature_info)


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_forward_intermediates_shapes_match_timm(pair, image, call):
    name, ours, theirs = pair
    with torch.no_grad():
        mine, timms = ours.forward_intermediates(image, **call), theirs.forward_intermediates(image, **call)
    if call.get("intermediates_only"):
        mine, timms = (None, mine), (None, timms)
    expected = shapes(timms[1])
    if name == "resnet_50":
        taken = absolute(call.get("indices"), len(ours.feature_info))
        expected = [RESNET_STEM if i == 0 else s for i, s in zip(taken, expected, strict=True)]
    assert shapes(mine[1]) == expected
    if mine[0] is not None and not call.get("stop_early"):
        final = mine[0][:, :1] if name == "pit_ti" else mine[0]  # timm's PiT keeps only its CLS token as features
        assert final.shape == timms[0].shape
        assert ours.forward_head(mine[0], pre_logits=True).shape == theirs.forward_head(timms[0], True).shape


def test_nhwc_is_nchw_channels_last_and_nlc_matches_timm_where_it_has_it(pair, image):
    name, ours, theirs = pair
    with torch.no_grad():
        nchw = ours.forward_intermediates(image, indices=2, intermediates_only=True)
        nhwc = ours.forward_intermediates(image, indices=2, output_fmt="NHWC", intermediates_only=True)
        nlc = ours.forward_intermediates(image, indices=2, output_fmt="NLC", intermediates_only=True)
        if name in ("vit_ti", "mixer_b"):  # timm's token models offer NLC; none of these offers NHWC
            assert shapes(nlc) == shapes(theirs.forward_intermediates(image, indices=2, output_fmt="NLC",
                                                                      intermediates_only=True))
    assert all(torch.equal(a.permute(0, 2, 3, 1), b) for a, b in zip(nchw, nhwc, strict=True))
    assert all(torch.equal(a.flatten(2).transpose(1, 2), b) for a, b in zip(nchw, nlc, strict=True))


@pytest.fixture(scope="module")
def vit_pair():
    """timm's ViT and ours with the same weights (the paper's CIFAR ViT-Ti: 2x2 patches, no qkv bias)."""
    theirs = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=2, qkv_bias=False,
                               num_classes=100).eval()
    return convert_state_dict("vit_ti", theirs.state_dict()), theirs


@pytest.mark.parametrize("call", [{"indices": 3}, {"indices": [0, -1], "norm": True},
                                  {"indices": [-12, 4], "stop_early": True, "norm": True},
                                  {"output_fmt": "NLC", "norm": True}], ids=str)
def test_vit_with_timms_weights_gives_timms_numbers(vit_pair, call):
    ours, theirs = vit_pair
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        final, maps = ours.forward_intermediates(x, **call)
        timm_final, timm_maps = theirs.forward_intermediates(x, **call)
        assert torch.allclose(final, timm_final, atol=1e-5)
        assert len(maps) == len(timm_maps)
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(maps, timm_maps, strict=True))
        for pre_logits in (True, False):  # without stop_early, the logits of both models
            assert torch.allclose(ours.forward_head(final, pre_logits), theirs.forward_head(timm_final, pre_logits),
                                  atol=1e-5)


HEAVY = {"vgg_11"}
"""VGG's 100M-parameter MLP head takes seconds to build; AlexNet has the same head in the default run."""


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in HEAVY else [])
                                  for n in sorted(set(family_examples().values()) | {"preresnet_18"})])
def test_final_features_feed_the_head_and_points_are_unit_outputs(name):
    model = create_model(name).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        assert torch.equal(model.forward_head(final), model(x))
        outputs = model.unit_outputs(x)
    names = [info.name for info in model.unit_infos()]
    points = model.feature_info
    for point, feature in zip(points, maps, strict=True):
        assert torch.equal(feature, outputs[names[int(point["module"].removeprefix("units."))]])
        assert feature.shape[1] == point["num_chs"] and round(32 / feature.shape[-1]) == point["reduction"]


def test_stop_early_gives_the_same_maps_and_norm_follows_timm():
    model = create_model("preresnet_18").eval()  # BN-ReLU before the pooling: a final norm, on the last stage only
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        every = model.forward_intermediates(x, intermediates_only=True)
        early = model.forward_intermediates(x, indices=[1, -3], stop_early=True, intermediates_only=True)
        normed = model.forward_intermediates(x, norm=True, intermediates_only=True)
        last = model.unit_outputs(x, indices=[-2])
    assert len(every) == 5 and all(torch.equal(a, b) for a, b in zip(early, every[1:3], strict=True))
    assert all(torch.equal(a, b) for a, b in zip(normed[:-1], every[:-1], strict=True))
    assert torch.equal(normed[-1], model.units[-1].norm(next(iter(last.values()))))
    assert not torch.equal(normed[-1], every[-1])


def test_bad_indices_and_formats_raise_naming_the_range():
    model = create_model("pit_ti")
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match="last 4 of 3"):
        model.forward_intermediates(x, indices=4)
    with pytest.raises(ValueError, match="last 0 of 3"):
        model.forward_intermediates(x, indices=0)
    for indices in ([3], [0, -4], []):
        with pytest.raises(IndexError, match="-3 to 2"):
            model.forward_intermediates(x, indices=indices)
    with pytest.raises(ValueError, match="output_fmt"):
        model.forward_intermediates(x, output_fmt="NWHC")


def test_feature_info_dry_run_leaves_modes_and_statistics_alone():
    model = create_model("resnet_tiny").train()
    model.units[1].branch[1].eval()  # one module in its own mode, as a frozen BatchNorm would be
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert [p["num_chs"] for p in model.feature_info] == [16, 16, 32, 64, 128]
    assert model.training and not model.units[1].branch[1].training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_head_without_the_split_still_gives_intermediates():
    units = [SequentialUnit(UnitKind.STEM, 0, nn.Conv2d(3, 4, 3, padding=1)),
             SequentialUnit(UnitKind.CONV, 1, nn.Conv2d(4, 4, 3, padding=1)),
             SequentialUnit(UnitKind.HEAD, 2, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))]
    model = UnitModel(units)
    x = torch.zeros(1, 3, 8, 8)
    assert shapes(model.forward_intermediates(x, intermediates_only=True)) == [(1, 4, 8, 8), (1, 4, 8, 8)]
    with pytest.raises(TypeError, match="norm, pre_logits and fc"):
        model.forward_intermediates(x)
    with pytest.raises(ValueError, match="no blocks of 2"):
        UnitModel(units[:2] + units, units_per_block=2)
