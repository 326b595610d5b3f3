"""Loss landscapes: normalised directions, the centre equals the model's loss, seeded, resumable."""

import json

import pytest
import torch

import hub
from training.analyze.hessian import LossSpec
from training.analyze.landscape import LandscapeSettings, loss_at, loss_landscape, random_direction


@pytest.fixture
def model_and_batches():
    torch.manual_seed(0)
    model = hub.create_model("alternet_tiny", num_classes=10).eval()
    batches = [(torch.randn(6, 3, 32, 32), torch.eye(10)[torch.arange(6)]) for _ in range(2)]
    return model, batches


def test_filter_normalisation_gives_each_filter_the_weight_norm(model_and_batches):
    model, _ = model_and_batches
    direction = random_direction(model, "filter", torch.Generator().manual_seed(0))
    for name, w in model.named_parameters():
        d = direction[name]
        if w.ndim < 2:
            assert not d.any(), name
        else:
            dims = tuple(range(1, w.ndim))
            assert torch.allclose(torch.linalg.vector_norm(d, dim=dims), torch.linalg.vector_norm(w, dim=dims),
                                  rtol=1e-4), name


def test_paper_normalisation_is_per_slice_across_filters_and_skips_position_parameters(model_and_batches):
    model, _ = model_and_batches
    direction = random_direction(model, "paper", torch.Generator().manual_seed(0))
    tables = set(hub.layers.parameter_roles(model))
    assert tables and all(name.endswith("relative_bias") for name in tables)
    for name, w in model.named_parameters():
        d = direction[name]
        if name in tables:
            assert not d.any(), name
        elif w.ndim >= 2:
            assert torch.allclose(d.norm(dim=0), w.norm(dim=0), rtol=1e-4), name
    vit = hub.create_model("vit_tiny", num_classes=10)
    kept = random_direction(vit, "paper", torch.Generator().manual_seed(0))
    assert not kept["units.0.pos_embed"].any() and kept["units.0.cls_token"].any()  # the original perturbs CLS


def test_grid_centre_is_the_model_loss_and_runs_repeat_and_resume(model_and_batches, tmp_path):
    model, batches = model_and_batches
    spec = LandscapeSettings(dims=2, points=3, l2="half", weight_decay=0.05)
    first = loss_landscape(model, batches, spec, 0, tmp_path / "a.json", {}, progress=False)
    direct = loss_at(model, batches, LossSpec("half", 0.05))
    assert first.grid(first.nll)[1, 1].item() == pytest.approx(direct["nll"], rel=1e-6)
    assert first.centre_nll == first.grid(first.nll)[1, 1].item()
    assert first.grid(first.regulariser)[1, 1].item() == pytest.approx(direct["regulariser"], rel=1e-6)
    assert first.nll[0] != first.centre_nll
    again = loss_landscape(model, batches, spec, 0, tmp_path / "b.json", {}, progress=False)
    assert first.nll == again.nll
    assert loss_landscape(model, batches, spec, 1, None, {}, progress=False).nll != first.nll  # another seed
    assert loss_at(model, batches, LossSpec("half", 0.05)) == direct  # weights restored

    # resume: a grid file with some points done is continued, not recomputed
    saved = json.loads((tmp_path / "a.json").read_text())
    saved["values"]["nll"][0] = 123.0
    for key in ("nll", "regulariser", "accuracy", "done"):
        saved["values"][key][5:] = [None] * 4
    (tmp_path / "a.json").write_text(json.dumps(saved))
    resumed = loss_landscape(model, batches, spec, 0, tmp_path / "a.json", {}, progress=False)
    assert resumed.nll[0] == 123.0
    assert resumed.nll[5:] == first.nll[5:]
    assert (first.points_evaluated, resumed.points_evaluated) == (9, 4)
    with pytest.raises(ValueError, match="other settings"):
        loss_landscape(model, batches, LandscapeSettings(points=5), 0, tmp_path / "a.json", {}, progress=False)
