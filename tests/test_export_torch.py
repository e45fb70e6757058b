"""numdl.export.load_torch_state_dict: same outputs as the PyTorch model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import numdl
from numdl import layers
from numdl.export import load_torch_state_dict

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)


def _seq(input_shape: tuple, *stack) -> numdl.Sequential:
    return numdl.Sequential([layers.Input(shape=input_shape), *stack])


def _randomize_batch_norms(module: nn.Module) -> None:
    """Non-trivial running statistics and affine parameters, eval mode."""
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                if m.affine:
                    m.weight.normal_()
                    m.bias.normal_()
    module.eval()


def _torch_out(module: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def test_mlp_float64_exact(float64):
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    model = _seq((5,), layers.Dense(8, activation="relu"), layers.Dense(3))
    load_torch_state_dict(model, net.state_dict())
    x = RNG.standard_normal((6, 5))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), _torch_out(net, x), rtol=1e-10
    )


def _convnet_pair(dtype: torch.dtype) -> tuple[nn.Module, numdl.Sequential]:
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 6, 3, padding=1, groups=2),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(6 * 4 * 3, 10),
    ).to(dtype)
    _randomize_batch_norms(net)
    model = _seq(
        (10, 8, 3),
        layers.Conv2D(8, 3),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(6, 3, padding="same", groups=2),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10),
    )
    return net, model


def test_convnet_with_batch_norm_and_flatten_float64(float64):
    net, model = _convnet_pair(torch.float64)
    load_torch_state_dict(model, net.state_dict())
    x = RNG.standard_normal((4, 10, 8, 3))
    expected = _torch_out(net, _nchw(x))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), expected, rtol=1e-10, atol=1e-12
    )


def test_convnet_float32_from_a_module():
    net, model = _convnet_pair(torch.float32)
    load_torch_state_dict(model, net)  # the module itself works too
    x = RNG.standard_normal((4, 10, 8, 3)).astype("float32")
    expected = _torch_out(net, _nchw(x))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5
    )
    assert model.layers[1].epsilon == 1e-3  # the variance absorbed the difference


def test_without_reordering_the_flatten_order_differs(float64):
    net, model = _convnet_pair(torch.float64)
    load_torch_state_dict(model, net.state_dict(), reorder_flatten=False)
    x = RNG.standard_normal((2, 10, 8, 3))
    got = model.predict(x, verbose=0)
    assert np.abs(got - _torch_out(net, _nchw(x))).max() > 1e-3


class _ChannelsLastHead(nn.Module):
    """A PyTorch model that flattens NHWC tensors itself."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(3 * 3 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).permute(0, 2, 3, 1)
        return self.fc(y.flatten(1))


def test_reorder_flatten_false_for_a_model_that_flattens_channels_last(float64):
    net = _ChannelsLastHead().double()
    model = _seq((5, 6, 2), layers.Conv2D(3, 3), layers.Flatten(), layers.Dense(5))
    load_torch_state_dict(model, net.state_dict(), reorder_flatten=False)
    x = RNG.standard_normal((3, 5, 6, 2))
    expected = _torch_out(net, _nchw(x))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10)


def test_conv1d_flatten_linear_and_channels_first_flatten(float64):
    net = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(15, 4))
    net = net.double()
    for flatten in (layers.Flatten(), layers.Flatten(data_format="channels_first")):
        model = _seq((7, 2), layers.Conv1D(3, 3, activation="tanh"), flatten)
        model.add(layers.Dense(4))
        load_torch_state_dict(model, net.state_dict())
        x = RNG.standard_normal((3, 7, 2))
        expected = _torch_out(net, _nchw(x))
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10)


def test_channels_first_numdl_model_needs_no_reordering(float64):
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 3 * 4, 5))
    net = net.double()
    model = _seq(
        (2, 5, 6),
        layers.Conv2D(3, 3, data_format="channels_first"),
        layers.Flatten(),
        layers.Dense(5),
    )
    load_torch_state_dict(model, net.state_dict())
    x = RNG.standard_normal((3, 2, 5, 6))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), _torch_out(net, x), rtol=1e-10
    )


def test_layer_norm_and_batch_norm1d_in_a_functional_model(float64):
    net = nn.Sequential(
        nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 5), nn.BatchNorm1d(5)
    ).double()
    _randomize_batch_norms(net)
    with torch.no_grad():
        net[1].weight.normal_()
        net[1].bias.normal_()
    inputs = layers.Input(shape=(4,))
    hidden = layers.LayerNormalization(epsilon=1e-5)(layers.Dense(6)(inputs))
    outputs = layers.BatchNormalization()(layers.Dense(5)(hidden))
    model = numdl.Model(inputs, outputs)
    load_torch_state_dict(model, net.state_dict())
    x = RNG.standard_normal((7, 4))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), _torch_out(net, x), rtol=1e-10
    )


def test_batch_norm_without_affine_parameters(float64):
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, affine=False)).double()
    _randomize_batch_norms(net)
    model = _seq((3,), layers.Dense(4), layers.BatchNormalization())
    load_torch_state_dict(model, net.state_dict())
    x = RNG.standard_normal((5, 3))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), _torch_out(net, x), rtol=1e-10
    )


# ------------------------------------------------------------------ errors
def _dense_model() -> numdl.Sequential:
    return _seq((5,), layers.Dense(8, name="hidden"), layers.Dense(3, name="out"))


def test_count_mismatch_lists_both_sides():
    model = _dense_model()
    with pytest.raises(ValueError, match=r"2 layers with weights.*'hidden'.*1 modules"):
        load_torch_state_dict(model, nn.Sequential(nn.Linear(5, 8)).state_dict())


def test_shape_mismatch_names_the_layer_and_changes_nothing():
    model = _dense_model()
    before = model.get_weights()
    net = nn.Sequential(nn.Linear(5, 8), nn.Linear(8, 4))
    with pytest.raises(ValueError, match=r"Dense 'out' expects weights of shapes"):
        load_torch_state_dict(model, net.state_dict())
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_kind_mismatch_names_the_layer():
    model = _seq((6, 6, 2), layers.Conv2D(3, 3, name="c"), layers.Flatten())
    with pytest.raises(ValueError, match=r"Conv2D 'c' expects a PyTorch Conv2d.*'0'"):
        load_torch_state_dict(
            model, {"0.weight": np.zeros((3, 2)), "0.bias": np.zeros(3)}
        )


def test_bias_mismatch():
    model = _seq((5,), layers.Dense(2, use_bias=False, name="d"))
    with pytest.raises(ValueError, match=r"Dense 'd' has use_bias=False.*has a bias"):
        load_torch_state_dict(model, nn.Linear(5, 2).state_dict())


def test_layer_norm_epsilon_must_match():
    model = _seq((4,), layers.LayerNormalization(name="ln"))
    with pytest.raises(ValueError, match=r"'ln'.*epsilon=0.001.*epsilon=1e-05"):
        load_torch_state_dict(model, nn.LayerNorm(4).state_dict())


def test_batch_norm_variance_below_the_epsilon_gap(float64):
    bn = nn.BatchNorm1d(3)
    with torch.no_grad():
        bn.running_var.fill_(1e-4)
    model = _seq((3,), layers.BatchNormalization(name="bn"))
    with pytest.raises(ValueError, match=r"'bn'.*create the layer with epsilon=1e-05"):
        load_torch_state_dict(model, bn.state_dict())
    model = _seq((3,), layers.BatchNormalization(epsilon=1e-5))
    load_torch_state_dict(model, bn.double().eval())
    x = RNG.standard_normal((4, 3))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), _torch_out(bn, x), rtol=1e-10
    )


def test_layers_without_a_counterpart_and_bad_arguments():
    model = _seq((4, 4, 2), layers.DepthwiseConv2D(3, name="dw"))
    with pytest.raises(ValueError, match=r"DepthwiseConv2D 'dw' has weights but no"):
        load_torch_state_dict(model, {"0.weight": np.zeros((2, 1, 3, 3))})
    with pytest.raises(TypeError, match="expected a state dict"):
        load_torch_state_dict(_dense_model(), [np.zeros(3)])
    with pytest.raises(ValueError, match="not built"):
        load_torch_state_dict(numdl.Sequential([layers.Dense(2)]), {})
