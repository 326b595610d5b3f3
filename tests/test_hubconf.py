"""torch.hub loads this repository: one entry point per registered architecture, random or released weights."""

from pathlib import Path

import pytest
import torch
from huggingface_hub import constants

import hub
from hub.errors import NotAvailableError

ROOT = Path(__file__).parents[1]


def test_an_entry_point_builds_the_architecture_with_create_models_arguments():
    model = torch.hub.load(str(ROOT), "alternet_50", source="local", pretrained=False)
    assert isinstance(model, hub.UnitModel) and model.config.architecture == "alternet_50"
    small = torch.hub.load(str(ROOT), "vit_tiny", source="local", num_classes=10, patch_size=8)
    assert small.config.num_classes == 10 and small.units[0].proj.kernel_size == (8, 8)


def test_pretrained_loads_the_shipped_weights_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # huggingface_hub read the variable when imported
    model = torch.hub.load(str(ROOT), "resnet_tiny", source="local", pretrained=True)
    shipped = hub.from_pretrained("resnet-tiny-cifar10")
    assert model.source == "resnet-tiny-cifar10" and model.config.label_names[0] == "airplane"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), shipped.state_dict().values(),
                                                 strict=True))


def test_pretrained_without_released_weights_names_those_there_are():
    with pytest.raises(NotAvailableError, match=r"no released weights for 'vit_b'.*resnet_tiny \(resnet-tiny-cifar"):
        torch.hub.load(str(ROOT), "vit_b", source="local", pretrained=True)


@pytest.fixture
def github_name(tmp_path, monkeypatch):
    """``torch.hub.list`` and ``help`` read GitHub repos only: this clone, where torch.hub's cache keeps a
    downloaded one (``owner_name_ref``), is what they find offline."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    (tmp_path / "howvits_howvits_main").symlink_to(ROOT, target_is_directory=True)
    return "howvits/howvits:main"


def test_list_gives_every_registered_architecture_and_nothing_else(github_name):
    assert sorted(torch.hub.list(github_name, trust_repo=True, verbose=False)) == hub.list_models()


def test_help_is_the_registry_description(github_name):
    assert torch.hub.help(github_name, "vit_tiny", trust_repo=True).startswith("6 blocks of width 96 on 4x4 patches")
