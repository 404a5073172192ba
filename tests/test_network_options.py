"""`kerasdis.networks` builder arguments `data_format` and `logits_layer` (what the
throughput benchmark's variants build), and the defaults they leave unchanged."""

import keras
import numpy as np
import pytest

from kerasdis import networks


def test_defaults_are_the_default_networks():
    for build in (networks.build_encoder, networks.build_decoder):
        plain = build((64, 64, 1), 6, "conv", seed=3)
        explicit = build((64, 64, 1), 6, "conv", seed=3, data_format="channels_last")
        assert plain.get_config() == explicit.get_config()
        assert [w.path for w in plain.weights] == [w.path for w in explicit.weights]
    decoder = networks.build_decoder((64, 64, 1), 6, "conv", seed=3)
    assert type(decoder.get_layer("logits")) is networks.Conv2DTranspose
    rgb = networks.build_decoder((64, 64, 3), 6, "conv", seed=3)
    assert type(rgb.get_layer("logits")) is keras.layers.Conv2DTranspose


@pytest.mark.parametrize("logits_layer, expected", [
    ("keras", keras.layers.Conv2DTranspose), ("overlap_add", networks.Conv2DTranspose)])
def test_logits_layer_picks_the_class_not_the_function(logits_layer, expected):
    default = networks.build_decoder((64, 64, 1), 6, "conv", seed=3)
    other = networks.build_decoder((64, 64, 1), 6, "conv", seed=3, logits_layer=logits_layer)
    assert type(other.get_layer("logits")) is expected
    assert [w.path for w in other.weights] == [w.path for w in default.weights]
    z = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    np.testing.assert_allclose(other(z), default(z), atol=1e-5)


def test_channels_first_keeps_nhwc_at_the_boundary_and_the_weight_shapes():
    encoder = networks.build_encoder((64, 64, 1), 6, "conv", seed=3, data_format="channels_first")
    decoder = networks.build_decoder((64, 64, 1), 6, "conv", seed=3, data_format="channels_first")
    default_encoder = networks.build_encoder((64, 64, 1), 6, "conv", seed=3)
    default_decoder = networks.build_decoder((64, 64, 1), 6, "conv", seed=3)
    assert encoder.get_layer("conv1").data_format == "channels_first"
    assert type(decoder.get_layer("logits")) is keras.layers.Conv2DTranspose
    for a, b in ((encoder, default_encoder), (decoder, default_decoder)):
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights]
    x = np.random.default_rng(0).random((2, 64, 64, 1)).astype("float32")
    mean, log_var = encoder(x)
    assert mean.shape == (2, 6) and log_var.shape == (2, 6)
    assert decoder(mean).shape == (2, 64, 64, 1)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="data_format"):
        networks.build_encoder(data_format="NCHW")
    with pytest.raises(ValueError, match="logits_layer"):
        networks.build_decoder(logits_layer="fast")
    with pytest.raises(ValueError, match="architecture='conv' only"):
        networks.build_decoder((16, 16, 1), architecture="mlp", data_format="channels_first")
    with pytest.raises(ValueError, match="architecture='conv' only"):
        networks.build_decoder((16, 16, 1), architecture="mlp", logits_layer="keras")
    with pytest.raises(ValueError, match="channels_last"):
        networks.build_decoder(data_format="channels_first", logits_layer="overlap_add")
