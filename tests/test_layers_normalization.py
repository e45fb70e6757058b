"""BatchNormalization, LayerNormalization, UnitNormalization.

Every layer: output shape (eager and symbolic), weights, get_config round
trip, a training step, parity with torch.nn (BatchNorm1d/2d, LayerNorm,
functional.normalize) and errors naming the layer.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import numdl
from numdl import layers, optimizers
from numdl.autograd.tensor import Tensor
from numdl.testing import assert_close

DTYPES = ["float64", "float32"]


def _rtol(dtype):
    return 1e-10 if dtype == "float64" else 1e-5


def _tt(a):
    return torch.tensor(np.asarray(a))


def _rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------- BatchNormalization
def _torch_batchnorm(bn, channels, dtype):
    """A torch BatchNorm with ``bn``'s settings and weights."""
    cls = torch.nn.BatchNorm1d if len(bn._build_shapes) <= 3 else torch.nn.BatchNorm2d
    ref = cls(channels, eps=bn.epsilon, momentum=1 - bn.momentum)
    ref = ref.to(getattr(torch, dtype))
    with torch.no_grad():
        ref.weight.copy_(_tt(bn.gamma.numpy()))
        ref.bias.copy_(_tt(bn.beta.numpy()))
        ref.running_mean.copy_(_tt(bn.moving_mean.numpy()))
        ref.running_var.copy_(_tt(bn.moving_variance.numpy()))
    return ref


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape, axis", [((8, 3), -1), ((4, 3, 5), 1), ((2, 3, 3, 4), -1), ((2, 3, 2, 2), 1)]
)
def test_batchnorm_training_parity_with_torch(dtype, shape, axis):
    """Outputs, gradients and moving statistics over three training steps."""
    numdl.config.set_floatx(dtype)
    rng = _rng(len(shape))
    c = shape[axis]
    bn = layers.BatchNormalization(axis=axis, momentum=0.9)
    bn.build((None,) + shape[1:])
    bn.set_weights([rng.normal(size=c), rng.normal(size=c), np.zeros(c), np.ones(c)])
    ref = _torch_batchnorm(bn, c, dtype)
    perm = [0, axis % len(shape)] + [
        i for i in range(1, len(shape)) if i != axis % len(shape)
    ]
    back = list(np.argsort(perm))
    moving_var = np.ones(c)
    for step in range(3):
        x = rng.normal(1.0, 2.0, size=shape).astype(dtype)
        g = rng.normal(size=shape).astype(dtype)
        xt = Tensor(x.copy(), requires_grad=True)
        y = bn(xt, training=True)
        y.backward(g)
        xr = _tt(x).requires_grad_(True)
        yr = ref(xr.permute(perm)).permute(back)
        yr.backward(_tt(g))
        rtol = _rtol(dtype)
        assert_close(y.data, yr.detach().numpy(), rtol, f"output {step}")
        assert_close(xt.grad, xr.grad.numpy(), rtol, f"grad x {step}")
        assert_close(bn.gamma.grad, ref.weight.grad.numpy(), rtol, "grad gamma")
        assert_close(bn.beta.grad, ref.bias.grad.numpy(), rtol, "grad beta")
        bn.gamma.grad = bn.beta.grad = None
        ref.zero_grad()
        # moving mean: the same average as torch's running_mean
        assert_close(bn.moving_mean.numpy(), ref.running_mean.numpy(), rtol, "mean")
        # moving variance: Keras averages the biased batch variance; torch's
        # running_var the unbiased one (n / (n - 1) times larger).
        axes = tuple(i for i in range(len(shape)) if i != axis % len(shape))
        biased = x.astype(np.float64).var(axis=axes)
        moving_var = 0.9 * moving_var + 0.1 * biased
        assert_close(bn.moving_variance.numpy(), moving_var, rtol, "Keras var")
        torch_var = ref.running_var.numpy()
        assert not np.allclose(bn.moving_variance.numpy(), torch_var, rtol=1e-3)
        with torch.no_grad():
            ref.running_var.copy_(_tt(bn.moving_variance.numpy()))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_inference_parity_with_torch_eval(dtype):
    numdl.config.set_floatx(dtype)
    rng = _rng(1)
    bn = layers.BatchNormalization()
    x = rng.normal(size=(6, 2, 2, 3)).astype(dtype)
    bn(x, training=True)  # moves the statistics away from 0 and 1
    bn.set_weights([rng.normal(size=3), rng.normal(size=3)] + bn.get_weights()[2:])
    ref = _torch_batchnorm(bn, 3, dtype).eval()
    xt = Tensor(x.copy(), requires_grad=True)
    y = bn(xt)  # training=None: inference, as in Keras
    g = rng.normal(size=x.shape).astype(dtype)
    y.backward(g)
    xr = _tt(x).requires_grad_(True)
    yr = ref(xr.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    yr.backward(_tt(g))
    assert_close(y.data, yr.detach().numpy(), _rtol(dtype), "output")
    assert_close(xt.grad, xr.grad.numpy(), _rtol(dtype), "grad x")
    assert_close(bn.gamma.grad, ref.weight.grad.numpy(), _rtol(dtype), "grad gamma")


def test_batchnorm_inference_and_frozen_layers_leave_moving_statistics_alone():
    rng = _rng(2)
    x = rng.normal(3.0, 2.0, size=(5, 4))
    bn = layers.BatchNormalization()
    y = bn(x, training=False)
    assert_close(y.data, x / np.sqrt(1 + 1e-3), 1e-6, "inference with initial stats")
    before = [w.copy() for w in bn.get_weights()]
    bn.trainable = False
    y = bn(x, training=True)  # Keras 3: a frozen BN runs in inference mode
    assert_close(y.data, x / np.sqrt(1 + 1e-3), 1e-6, "frozen layer")
    for w, b in zip(bn.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    bn.trainable = True
    moving = bn.moving_mean
    bn(x, training=True)
    assert bn.moving_mean is moving  # updated in place
    assert_close(moving.numpy(), 0.01 * x.mean(0), 1e-6, "one update")


def test_batchnorm_training_inherited_from_outer_call():
    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.bn = layers.BatchNormalization(momentum=0.5)

        def call(self, inputs, training=None):
            return self.bn(inputs)

    x = _rng(3).normal(size=(4, 2))
    outer = Outer()
    outer(x, training=True)
    assert_close(outer.bn.moving_mean.numpy(), 0.5 * x.mean(0), 1e-6, "updated")


def test_batchnorm_shapes_weights_and_counts():
    bn = layers.BatchNormalization(axis=1)
    assert bn(np.zeros((2, 3, 4, 5), "float32")).shape == (2, 3, 4, 5)
    assert [w.path.split("/")[1] for w in bn.weights] == [
        "gamma", "beta", "moving_mean", "moving_variance"
    ]  # fmt: skip
    assert [w.shape for w in bn.weights] == [(3,)] * 4
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    assert bn.count_params() == 12
    sym = layers.BatchNormalization()(layers.Input(shape=(7, 5)))
    assert sym.shape == (None, 7, 5)
    assert layers.BatchNormalization().compute_output_shape((None, 3)) == (None, 3)
    bare = layers.BatchNormalization(center=False, scale=False)
    bare.build((None, 4))
    assert [w.path.split("/")[1] for w in bare.weights] == [
        "moving_mean", "moving_variance"
    ]  # fmt: skip
    x = _rng(4).normal(size=(6, 4)).astype("float32")
    y = bare(x, training=True).data
    ref = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)
    assert_close(y, ref, 1e-5, "no gamma, no beta")


def test_batchnorm_config_round_trip():
    bn = layers.BatchNormalization(
        axis=1,
        momentum=0.9,
        epsilon=1e-5,
        center=False,
        gamma_initializer="random_normal",
        moving_variance_initializer="zeros",
        gamma_regularizer="l2",
        gamma_constraint="non_neg",
        name="bn",
    )
    cfg = bn.get_config()
    keras_keys = {
        "axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
        "gamma_initializer", "moving_mean_initializer",
        "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
        "beta_constraint", "gamma_constraint", "synchronized",
    }  # fmt: skip
    assert keras_keys <= set(cfg)
    cfg = json.loads(json.dumps(cfg))
    again = layers.BatchNormalization.from_config(cfg)
    assert again.get_config() == cfg
    assert (again.axis, again.momentum, again.epsilon) == (1, 0.9, 1e-5)
    again.build((None, 3, 2))
    assert again.beta is None and again.moving_variance.numpy().tolist() == [0, 0, 0]
    assert len(again.losses) == 1  # the gamma regularizer


def test_batchnorm_training_step_matches_torch():
    numdl.config.set_floatx("float64")
    rng = _rng(5)
    x = rng.normal(size=(8, 3))
    target = rng.normal(size=(8, 3))
    bn = layers.BatchNormalization()
    bn.build((None, 3))
    bn.set_weights([rng.normal(size=3), rng.normal(size=3), np.zeros(3), np.ones(3)])
    ref = _torch_batchnorm(bn, 3, "float64")
    opt = optimizers.SGD(learning_rate=0.1)
    topt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(2):
        loss = ((bn(x, training=True) - target) ** 2).mean()
        loss.backward()
        grads = [w.grad for w in bn.trainable_weights]
        opt.apply_gradients(zip(grads, bn.trainable_weights))
        for w in bn.trainable_weights:
            w.grad = None
        topt.zero_grad()
        F.mse_loss(ref(_tt(x)), _tt(target)).backward()
        topt.step()
    assert_close(bn.gamma.numpy(), ref.weight.detach().numpy(), 1e-10, "gamma")
    assert_close(bn.beta.numpy(), ref.bias.detach().numpy(), 1e-10, "beta")
    assert_close(bn.moving_mean.numpy(), ref.running_mean.numpy(), 1e-10, "mean")


def test_batchnorm_constant_batch_is_finite_and_silent():
    bn = layers.BatchNormalization(beta_initializer="ones")
    x = Tensor(np.full((4, 2), 5.0, "float32"), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = bn(x, training=True)
        (y * numdl.tensor(np.arange(8.0).reshape(4, 2))).sum().backward()
    np.testing.assert_array_equal(y.data, np.ones((4, 2)))
    assert np.isfinite(x.grad).all() and np.isfinite(bn.gamma.grad).all()
    assert_close(bn.moving_variance.numpy(), [0.99, 0.99], 1e-7, "var 0 averaged in")


def test_batchnorm_errors_name_the_layer():
    with pytest.raises(TypeError, match="BatchNormalization 'b1': axis must be an int"):
        layers.BatchNormalization(axis=[1, 2], name="b1")
    with pytest.raises(ValueError, match="'b2': synchronized=True"):
        layers.BatchNormalization(synchronized=True, name="b2")
    with pytest.raises(ValueError, match=r"'b3': axis 3 is out of range .*\(None, 4\)"):
        layers.BatchNormalization(axis=3, name="b3")(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="'b4': the size of axis -1 must be known"):
        layers.BatchNormalization(name="b4")(layers.Input(shape=(None,)))
    bn = layers.BatchNormalization(name="b5")
    bn(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"'b5' expects inputs with last axis 4"):
        bn(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"'b5' expects inputs with 2 dimensions"):
        bn(np.zeros((2, 3, 4)))
    with pytest.raises(TypeError, match="BatchNormalization: unexpected keyword"):
        layers.BatchNormalization(moment=0.9)


# ------------------------------------------------------- LayerNormalization
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", [((4, 6), -1), ((2, 3, 4), [-2, -1])])
def test_layernorm_parity_with_torch(dtype, shape, axis):
    numdl.config.set_floatx(dtype)
    rng = _rng(6)
    ln = layers.LayerNormalization(axis=axis)
    x = rng.normal(2.0, 3.0, size=shape).astype(dtype)
    ln.build((None,) + shape[1:])
    pshape = ln.gamma.shape
    ln.set_weights([rng.normal(size=pshape), rng.normal(size=pshape)])
    ref = torch.nn.LayerNorm(pshape, eps=1e-3).to(getattr(torch, dtype))
    with torch.no_grad():
        ref.weight.copy_(_tt(ln.gamma.numpy()))
        ref.bias.copy_(_tt(ln.beta.numpy()))
    g = rng.normal(size=shape).astype(dtype)
    xt = Tensor(x.copy(), requires_grad=True)
    ln(xt).backward(g)
    xr = _tt(x).requires_grad_(True)
    yr = ref(xr)
    yr.backward(_tt(g))
    rtol = _rtol(dtype)
    assert_close(ln(x).data, yr.detach().numpy(), rtol, "output")
    assert_close(xt.grad, xr.grad.numpy(), rtol, "grad x")
    assert_close(ln.gamma.grad, ref.weight.grad.numpy(), rtol, "grad gamma")
    assert_close(ln.beta.grad, ref.bias.grad.numpy(), rtol, "grad beta")


def test_layernorm_shapes_weights_and_keras_axis_list():
    ln = layers.LayerNormalization(axis=[1, 2])
    assert ln(layers.Input(shape=(3, 4, 5))).shape == (None, 3, 4, 5)
    assert [w.shape for w in ln.weights] == [(3, 4), (3, 4)]
    assert [w.path.split("/")[1] for w in ln.weights] == ["gamma", "beta"]
    assert ln.count_params() == 24
    plain = layers.LayerNormalization()
    assert plain.get_config()["axis"] == -1
    assert plain(np.zeros((2, 5), "float32")).shape == (2, 5)
    assert plain.get_config()["axis"] == [-1]  # Keras makes it a list on build
    rms = layers.LayerNormalization(rms_scaling=True, center=True)
    rms.build((None, 5))
    assert [w.path.split("/")[1] for w in rms.weights] == ["gamma"]
    off = layers.LayerNormalization(center=False, scale=False)
    off.build((None, 5))
    assert off.weights == [] and off.gamma is None and off.beta is None


def test_layernorm_rms_scaling_formula():
    x = _rng(7).normal(1.0, 1.0, size=(3, 4))
    ln = layers.LayerNormalization(rms_scaling=True, epsilon=0.01, dtype="float64")
    y = ln(x).data
    assert_close(y, x / np.sqrt(x.var(-1, keepdims=True) + 0.01), 1e-14, "rms")


def test_layernorm_config_round_trip_and_training_step():
    ln = layers.LayerNormalization(
        axis=(1,), epsilon=1e-5, beta_regularizer="l1", name="ln", dtype="float64"
    )
    cfg = json.loads(json.dumps(ln.get_config()))
    again = layers.LayerNormalization.from_config(cfg)
    assert again.get_config() == cfg and again.epsilon == 1e-5
    rng = _rng(8)
    x, target = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    again.build((None, 4))
    again.set_weights([rng.normal(size=4), rng.normal(size=4)])
    ref = torch.nn.LayerNorm(4, eps=1e-5).double()
    with torch.no_grad():
        ref.weight.copy_(_tt(again.gamma.numpy()))
        ref.bias.copy_(_tt(again.beta.numpy()))
    loss = ((again(x) - target) ** 2).mean()
    loss.backward()
    optimizers.SGD(learning_rate=0.5).step(again.trainable_weights)
    F.mse_loss(ref(_tt(x)), _tt(target)).backward()
    torch.optim.SGD(ref.parameters(), lr=0.5).step()
    assert_close(again.gamma.numpy(), ref.weight.detach().numpy(), 1e-10, "gamma")
    assert_close(again.beta.numpy(), ref.bias.detach().numpy(), 1e-10, "beta")
    assert len(again.losses) == 1


def test_layernorm_errors_name_the_layer():
    with pytest.raises(TypeError, match="LayerNormalization 'l1': axis must be"):
        layers.LayerNormalization(axis="last", name="l1")
    with pytest.raises(ValueError, match=r"'l2': axis 2 is out of range"):
        layers.LayerNormalization(axis=2, name="l2")(np.zeros((2, 3)))
    ln = layers.LayerNormalization(name="l3")
    ln(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="'l3' expects inputs with last axis 3"):
        ln(np.zeros((2, 4)))


# -------------------------------------------------------- UnitNormalization
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [-1, 1])
def test_unitnorm_parity_with_torch_normalize(dtype, axis):
    numdl.config.set_floatx(dtype)
    rng = _rng(9)
    x = rng.normal(size=(3, 4, 2)).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    layer = layers.UnitNormalization(axis=axis)
    xt = Tensor(x.copy(), requires_grad=True)
    y = layer(xt)
    y.backward(g)
    xr = _tt(x).requires_grad_(True)
    yr = F.normalize(xr, p=2.0, dim=axis, eps=1e-6)
    yr.backward(_tt(g))
    assert_close(y.data, yr.detach().numpy(), _rtol(dtype), "output")
    assert_close(xt.grad, xr.grad.numpy(), _rtol(dtype), "grad x")


def test_unitnorm_several_axes_zeros_and_config():
    x = _rng(10).normal(size=(2, 3, 4))
    layer = layers.UnitNormalization(axis=[1, 2], dtype="float64")
    y = layer(x).data
    assert_close((y**2).sum(axis=(1, 2)), np.ones(2), 1e-14, "unit norm")
    assert layer.weights == []
    assert layer(layers.Input(shape=(3, 4))).shape == (None, 3, 4)
    zeros = Tensor(np.zeros((2, 3)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layers.UnitNormalization()(zeros)
        out.sum().backward()
    np.testing.assert_array_equal(out.data, np.zeros((2, 3)))
    assert np.isfinite(zeros.grad).all()
    cfg = json.loads(json.dumps(layer.get_config()))
    assert layers.UnitNormalization.from_config(cfg).get_config() == cfg
    assert cfg["axis"] == [1, 2]
    ints = layers.UnitNormalization()(np.array([[3, 4]]))
    assert ints.dtype == np.float32
    assert_close(ints.data, [[0.6, 0.8]], 1e-7, "integer inputs")


def test_unitnorm_errors_name_the_layer():
    with pytest.raises(TypeError, match="UnitNormalization 'u1': axis must be"):
        layers.UnitNormalization(axis=1.0, name="u1")
    with pytest.raises(ValueError, match="'u2': axis=3 is out of range"):
        layers.UnitNormalization(axis=3, name="u2")(np.zeros((2, 3)))
