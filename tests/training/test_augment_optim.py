"""Input pipelines, soft-target loss, weight-decay groups and the learning-rate schedule."""

import math

import pytest
import torch
from PIL import Image

import hub
from hub.transforms import eval_transform
from training.augment import batch_mixer, soft_target_cross_entropy, train_transform
from training.optim import build_optimizer, build_scheduler, lr_factor, parameter_groups
from training.recipes import get_recipe


def test_transforms_produce_normalised_tensors_of_the_model_size():
    config = hub.create_model("resnet_tiny", num_classes=10).config
    image = Image.new("RGB", (40, 30), (255, 0, 0))
    x = eval_transform(config)(image)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert x[0, 16, 16] == pytest.approx((1 - config.mean[0]) / config.std[0], rel=1e-4)
    torch.manual_seed(0)
    y = train_transform(get_recipe("paper"), config)(Image.new("L", (32, 32), 128))  # grey in, RGB out
    assert y.shape == (3, 32, 32)


def test_mixer_gives_soft_targets_that_sum_to_one():
    torch.manual_seed(0)
    images, labels = torch.randn(8, 3, 32, 32), torch.arange(8) % 4
    mixed, targets = batch_mixer(get_recipe("paper"), 4)(images, labels)
    assert mixed.shape == images.shape and targets.shape == (8, 4)
    assert torch.allclose(targets.sum(-1), torch.ones(8)) and targets.min() >= 0.1 / 4 - 1e-6
    plain, smooth = batch_mixer(get_recipe("paper-sgd"), 4)(images, labels)
    assert torch.equal(plain, images) and torch.equal(smooth, torch.nn.functional.one_hot(labels, 4).float())


def test_soft_target_cross_entropy_equals_cross_entropy_for_one_hot_targets():
    logits, labels = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    onehot = torch.nn.functional.one_hot(labels, 3).float()
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert soft_target_cross_entropy(logits, onehot) == pytest.approx(expected.item(), rel=1e-6)


def test_weight_decay_groups():
    model = hub.create_model("vit_tiny", num_classes=10)
    everything = sum(p.numel() for p in model.parameters())
    (one,) = parameter_groups(model, 0.05, decay_norm_and_bias=True)
    assert sum(p.numel() for p in one["params"]) == everything
    decayed, exempt = parameter_groups(model, 0.05, decay_norm_and_bias=False)
    assert exempt["weight_decay"] == 0.0 and all(p.ndim >= 2 for p in decayed["params"])
    names = {id(p): n for n, p in model.named_parameters()}
    assert {"units.0.pos_embed", "units.0.cls_token"} <= {names[id(p)] for p in exempt["params"]}
    assert sum(p.numel() for g in (decayed, exempt) for p in g["params"]) == everything
    swin_decayed, swin_exempt = parameter_groups(hub.create_model("swin_t", num_classes=10), 0.05, False)
    assert all(p.ndim >= 2 for p in swin_decayed["params"])  # relative-position tables are 2-D yet exempt
    assert sum(p.ndim == 2 for p in swin_exempt["params"]) == 12


def test_schedule_warms_up_then_follows_cosine_or_steps():
    paper = get_recipe("paper").with_overrides(warmup_epochs=2, epochs=10)
    assert lr_factor(0, paper, 100) == pytest.approx(1 / 200)
    assert lr_factor(199, paper, 100) == pytest.approx(1.0)
    assert lr_factor(200, paper, 100) == pytest.approx(1.0)
    assert lr_factor(200 + 500, paper, 100) == pytest.approx(0.5)
    assert lr_factor(1200, paper, 100) == pytest.approx(0.0, abs=1e-12)
    sgd = get_recipe("paper-sgd").with_overrides(warmup_epochs=1, milestones=(2, 4))
    assert [lr_factor(10 + e * 10, sgd, 10) for e in range(6)] == pytest.approx([1, 1, 0.2, 0.2, 0.04, 0.04])
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model, paper)
    scheduler = build_scheduler(optimizer, paper, 100)
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(paper.lr / 200)
    for _ in range(700):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(paper.lr * 0.5 * (1 + math.cos(math.pi * 0.5)))
