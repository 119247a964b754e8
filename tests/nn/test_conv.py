"""fastgan.nn EqualConv2d and BiasAct: the formula, the reference twin (first and second order),
resampling sizes, state_dict, bad arguments; set_impl reaching every layer with an impl."""

import copy
import math

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from fastgan import _native
from fastgan.nn import BiasAct, Blur, Downsample2d, EqualConv2d, Upsample2d, set_impl
from fastgan.ops import bias_act_ref, conv2d_resample_ref, setup_filter
from tests.conftest import DEVICES, TOLERANCE, rel_error


def perturb(layer, scale=0.3):
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(torch.randn_like(p) * scale)
    return layer


def twin(layer):
    return set_impl(copy.deepcopy(layer), "ref")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3),
        dict(kernel_size=3, activation="lrelu", down=2, conv_clamp=0.5),
        dict(kernel_size=1, bias=False, down=2),
        dict(kernel_size=3, activation="swish", up=2, lr_multiplier=0.1, bias_init=0.2),
    ],
    ids=["3x3", "lrelu-down-clamp", "1x1-nobias-down", "swish-up-lr"],
)
def test_equal_conv2d_formula_and_reference(device, kwargs):
    layer = perturb(EqualConv2d(4, 5, **kwargs)).to(device)
    x = torch.randn(3, 4, 8, 8, device=device)
    k, up, down = kwargs["kernel_size"], kwargs.get("up", 1), kwargs.get("down", 1)
    lr = kwargs.get("lr_multiplier", 1.0)
    assert layer.weight_gain == lr / math.sqrt(4 * k * k)
    for gain in (1.0, 0.5):
        y = layer(x, gain=gain)
        assert y.shape == (3, 5, 8 * up // down, 8 * up // down)
        # Independent composition on the reference ops.
        resampling = up > 1 or down > 1
        f = setup_filter([1, 3, 3, 1], device=device) if resampling else None
        z = conv2d_resample_ref(x, layer.weight * layer.weight_gain, f, up, down, padding=k // 2)
        act = kwargs.get("activation", "linear")
        b = None if layer.bias is None else layer.bias * lr
        clamp = kwargs.get("conv_clamp")
        expect = bias_act_ref(
            z,
            b,
            act=act,
            gain=(math.sqrt(2) if act in ("lrelu", "swish") else 1) * gain,
            clamp=None if clamp is None else clamp * gain,
        )
        assert rel_error(y, expect) < TOLERANCE[torch.float32]
        if clamp is not None:
            assert (expect.abs() == clamp * gain).any()

    # Outputs, input and parameter gradients, and second order (R1-style) against the twin.
    def grads(m):
        xx = x.double().clone().requires_grad_(True)
        m = copy.deepcopy(m).double()
        y = m(xx)
        (g,) = torch.autograd.grad(y.square().sum(), xx, create_graph=True)
        g.square().sum().backward()
        return [y, g] + [p.grad for p in m.parameters()]

    for a, r in zip(grads(layer), grads(twin(layer)), strict=True):
        assert rel_error(a, r) < 1e-12


def test_equal_conv2d_initialisation_and_state():
    layer = EqualConv2d(64, 32, 3, bias_init=0.5, lr_multiplier=0.5)
    assert abs(layer.weight.std().item() * 0.5 - 1) < 0.05
    assert torch.allclose(layer.bias * layer.bias_gain, torch.full([32], 0.5))
    assert set(layer.state_dict()) == {"weight", "bias"}, "the FIR filter is not persistent"
    low = copy.deepcopy(layer).to(torch.bfloat16)
    assert low.resample_filter.dtype == torch.float32 and low.weight.dtype == torch.bfloat16
    y = low(torch.randn(2, 64, 8, 8, dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16 and torch.isfinite(y).all()
    x = torch.randn(2, 64, 8, 8).to(memory_format=torch.channels_last)
    assert layer(x).is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("device", DEVICES)
def test_bias_act_layer(device):
    layer = perturb(BiasAct(5, activation="lrelu", alpha=0.1, gain=1.5, clamp=0.8)).to(device)
    x = torch.randn(3, 5, 4, 4, device=device)
    expect = bias_act_ref(x, layer.bias, act="lrelu", alpha=0.1, gain=1.5, clamp=0.8)
    assert rel_error(layer(x), expect) < 1e-6
    plain = BiasAct(activation="relu", gain=1.0).to(device)
    assert plain.bias is None and torch.equal(plain(x), torch.relu(x))
    tanh = BiasAct(7, activation="tanh", dim=2)
    assert tanh.bias.shape == (7,) and not tanh.bias.any()
    y = torch.randn(2, 3, 7)
    assert rel_error(tanh(y), torch.tanh(y)) < 1e-6


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: EqualConv2d(0, 3, 3), "expected in_channels to be an int >= 1, got 0"),
        (lambda: EqualConv2d(4, 3, 3, up=2, down=2), "expected up or down to be 1"),
        (lambda: EqualConv2d(4, 3, 3, activation="leaky"), "unknown activation 'leaky'"),
        (lambda: EqualConv2d(4, 3, 3, impl="fast"), "expected impl in"),
        (lambda: BiasAct(0), "expected num_features to be an int >= 1 or None, got 0"),
        (lambda: BiasAct(activation="leaky"), "unknown activation 'leaky'"),
        (lambda: Upsample2d(impl="fast"), "Upsample2d: expected impl in"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


class OpNamespaces(TorchDispatchMode):
    """Records the namespace of every operator dispatched while active."""

    def __init__(self):
        super().__init__()
        self.namespaces = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.namespaces.add(func.namespace)
        return func(*args, **(kwargs or {}))


def test_set_impl_reaches_every_layer_with_an_impl():
    model = nn.Sequential(
        EqualConv2d(3, 4, 3, down=2, activation="lrelu"),
        BiasAct(4, activation="lrelu"),
        Upsample2d(),
        Downsample2d(),
        Blur(),
    )
    x = torch.randn(2, 3, 8, 8)
    y = model(x)
    layers = [m for m in model.modules() if hasattr(m, "impl")]
    assert len(layers) == 5 and {m.impl for m in layers} == {"auto"}
    assert set_impl(model, "ref") is model and {m.impl for m in layers} == {"ref"}
    with OpNamespaces() as ops:
        y_ref = model(x)
    assert "fastgan" not in ops.namespaces and "aten" in ops.namespaces
    assert rel_error(y_ref, y) < TOLERANCE[torch.float32]
    if _native.has_kernel("upfirdn2d", "cpu"):
        with OpNamespaces() as ops:
            set_impl(model, "auto")(x)
        assert "fastgan" in ops.namespaces
