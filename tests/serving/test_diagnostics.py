"""The per-image diagnostics in NumPy on a predictor's outputs: deterministic for an image and seed, each part
what it claims to be, and the per-stage feature-map amplitudes with the torch backend."""

from dataclasses import asdict

import numpy as np

from export import load_predictor
from hub.preprocess import normalise, pixel_batch
from hub.samples import sample_images
from serving.diagnostics import BANDS, diagnose
from serving.feature_maps import stage_amplitudes


def test_diagnostics_are_seeded_and_complete():
    predictor = load_predictor("resnet-tiny-cifar10", "onnxruntime", threads=1)
    pixels = pixel_batch([sample_images()[0][0]], predictor.config)[0]
    first = diagnose(predictor.predict, predictor.config, pixels, seed=3, draws=6, strength=0.2)
    again = diagnose(predictor.predict, predictor.config, pixels, seed=3, draws=6, strength=0.2)
    other = diagnose(predictor.predict, predictor.config, pixels, seed=4, draws=6, strength=0.2)
    assert asdict(first) == asdict(again) and first.band_noise != other.band_noise
    assert set(first.band_noise) == set(BANDS) and all(row.draws == 6 for row in first.band_noise.values())
    assert all(0 <= row.flip_rate <= 1 for row in first.band_noise.values())
    assert first.spectrum.frequency_pi[-1] == 1 and 0 <= first.spectrum.high_frequency_share <= 1
    clean = predictor.predict(normalise(pixels[None], predictor.config))[0].argmax()
    low = first.shape_vs_texture["low_pass"]
    assert low.agrees == (low.prediction.index == clean)
    assert first.feature_maps == [] and "torch backend" in first.feature_maps_note


def test_feature_map_amplitudes_with_the_torch_backend():
    predictor = load_predictor("resnet-tiny-cifar10", "torch", threads=1)
    batch = predictor.preprocess([sample_images()[0][0]])
    stages = stage_amplitudes(predictor.model, batch)
    assert [s.stage for s in stages] == sorted({s.stage for s in stages}) and len(stages) >= 2
    assert all(np.isfinite(s.delta_log_amplitude_high) for s in stages)
    pixels = pixel_batch([sample_images()[0][0]], predictor.config)[0]
    result = diagnose(predictor.predict, predictor.config, pixels, feature_maps=stages)
    assert result.feature_maps == stages and result.feature_maps_note == ""


def test_diagnostics_of_a_model_that_is_not_ours():
    """A user's own network (``package.module:factory``) on the torch backend: the same diagnostics, its own
    per-stage amplitudes read through its description."""
    predictor = load_predictor("tests.hub.own_model:tiny_net", "torch", threads=1)
    batch = predictor.preprocess([sample_images()[0][0]])
    stages = stage_amplitudes(predictor.model, batch)
    assert [(s.stage, s.unit) for s in stages] == [(0, "stem"), (1, "s1.1.conv")]
    pixels = pixel_batch([sample_images()[0][0]], predictor.config)[0]
    result = diagnose(predictor.predict, predictor.config, pixels, feature_maps=stages, draws=2)
    assert result.feature_maps == stages and set(result.band_noise) == set(BANDS)
