"""benchmarks/train_vs_reference.py compares like with like: each reference holds our parameter count, and the
AlterNet-18 reconstruction computes our AlterNet-18's function once given its weights (only the layout differs)."""

import importlib.util
from pathlib import Path

import pytest
import torch

from hub import count_parameters, create_model


@pytest.fixture
def references(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import train_vs_reference

    return train_vs_reference


def test_references_hold_our_parameter_counts(references):
    for arch, (_, build) in references.REFERENCES.items():
        if arch == "vit_ti" and importlib.util.find_spec("timm") is None:
            continue  # timm is installed for the benchmark only
        ours = create_model(arch, num_classes=100)
        assert count_parameters(build(100)) == count_parameters(ours), arch


def test_alternet_reconstruction_computes_our_function(references):
    torch.manual_seed(0)
    ours = create_model("alternet_18", num_classes=100).eval()
    reference = references.reference_alternet_18(100).eval()
    tensors = []
    for name, value in ours.state_dict().items():
        if name.endswith("qkv.weight"):  # one Linear for q, k, v; the reference has a q conv and a kv conv
            inner = value.shape[0] // 3
            tensors += [value[:inner], value[inner:]]
        else:
            tensors.append(value)
    targets = reference.state_dict()
    assert len(tensors) == len(targets)
    reference.load_state_dict({k: v.reshape(t.shape) for (k, t), v in zip(targets.items(), tensors, strict=True)})
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(reference(x), ours(x), rtol=1e-4, atol=1e-4)
