"""Every fastgan.nn layer with float32 parameters under CPU autocast (bfloat16, float16): runs
forward and backward (the bias, scale and noise follow the dtype the autocast product comes out
in) and stays near the float32 result."""

import pytest
import torch

from fastgan.nn import (
    BiasAct,
    EqualConv2d,
    EqualLinear,
    MappingNetwork,
    MinibatchStdDev,
    ModulatedConv2d,
    StyledConv,
    ToRGB,
)
from tests.conftest import rel_error

W_DIM = 8

X8, W = (3, 4, 8, 8), (3, W_DIM)
# (name, layer, input shapes, forward kwargs, 16-bit inputs); BiasAct and MinibatchStdDev are not
# autocast ops: they get 16-bit inputs, as after a convolution under autocast.
CASES = [
    ("EqualLinear-lrelu", lambda: EqualLinear(6, 5, activation="lrelu"), [(3, 6)], {}, False),
    ("EqualLinear-linear", lambda: EqualLinear(6, 5), [(3, 6)], {}, False),
    ("MappingNetwork", lambda: MappingNetwork(6, 2, W_DIM, 3, 2), [(3, 6), (3, 2)], {}, False),
    (
        "ModulatedConv2d",
        lambda: ModulatedConv2d(4, 5, 3, W_DIM, up=2),
        [(3, 4, 4, 4), W],
        {},
        False,
    ),
    (
        "StyledConv",
        lambda: StyledConv(4, 5, W_DIM, 8, up=2, conv_clamp=256),
        [(3, 4, 4, 4), W],
        dict(noise_mode="const"),
        False,
    ),
    ("ToRGB", lambda: ToRGB(4, 3, W_DIM, conv_clamp=256), [X8, W], {}, False),
    ("EqualConv2d", lambda: EqualConv2d(4, 5, 3, activation="lrelu", down=2), [X8], {}, False),
    ("BiasAct", lambda: BiasAct(4, activation="lrelu"), [X8], {}, True),
    ("MinibatchStdDev", lambda: MinibatchStdDev(), [(4, 4, 4, 4)], {}, True),
]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_under_autocast(dtype, case):
    _, make, shapes, kwargs, low_inputs = case
    layer = make()
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    inputs = [torch.randn(s) for s in shapes]
    for training in (True, False):  # ModulatedConv2d: input scaling / per-sample weights
        layer.train(training)
        with torch.no_grad():
            expect = layer(*inputs, **kwargs)
        xs = [(x.to(dtype) if low_inputs else x.clone()).requires_grad_(True) for x in inputs]
        with torch.autocast("cpu", dtype=dtype):
            y = layer(*xs, **kwargs)
        assert torch.isfinite(y).all()
        # Worst seen over 50 seeds: bfloat16 1.5e-2, float16 1.8e-3 (MappingNetwork).
        assert rel_error(y, expect) < (5e-2 if dtype == torch.bfloat16 else 1e-2)
        y.float().square().sum().backward()
        for t in [*xs, *layer.parameters()]:
            assert t.grad is None or torch.isfinite(t.grad).all()
        assert xs[0].grad is not None
        layer.zero_grad()
