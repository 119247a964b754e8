"""fastgan.compat.rosinality: fused_leaky_relu / FusedLeakyReLU against stock PyTorch, upfirdn2d
with rosinality's conventions against fastgan's reference, gradients, bad input."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastgan.compat.rosinality import FusedLeakyReLU, fused_leaky_relu, upfirdn2d
from fastgan.ops import upfirdn2d_ref
from tests.conftest import TOLERANCE, rel_error

IMPLS = ["cuda", "ref"]
DTYPES = [torch.float32, torch.float64]


def rand(shape, dtype=torch.float64, memory_format=torch.contiguous_format):
    return torch.randn(shape, dtype=torch.float64).to(dtype).to(memory_format=memory_format)


def check_close(out, ref, dtype):
    assert out.dtype == dtype
    err = rel_error(out, ref)
    assert err < TOLERANCE[dtype], err


def expected_lrelu(x, b, slope, scale):
    x = x.double()
    if b is not None:
        x = x + b.double().reshape(1, -1, *[1] * (x.ndim - 2))
    return F.leaky_relu(x, slope) * scale


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_leaky_relu(impl, dtype):
    for shape, fmt in [
        ([4, 6], torch.contiguous_format),
        ([2, 6, 5], torch.contiguous_format),
        ([2, 6, 4, 3], torch.channels_last),
    ]:
        x = rand(shape, dtype, fmt)
        b = rand([6], dtype)
        out = fused_leaky_relu(x, b, impl=impl)
        check_close(out, expected_lrelu(x, b, 0.2, 2**0.5), dtype)
        out = fused_leaky_relu(x, b, 0.05, np.float32(1.7), impl=impl)
        check_close(out, expected_lrelu(x, b, 0.05, float(np.float32(1.7))), dtype)
        check_close(fused_leaky_relu(x, impl=impl), expected_lrelu(x, None, 0.2, 2**0.5), dtype)


def test_fused_leaky_relu_bias_dtype_follows_input():
    x = rand([2, 3, 4, 4], torch.float32)
    b = rand([3], torch.float64).requires_grad_()
    out = fused_leaky_relu(x, b)
    assert out.dtype == torch.float32
    check_close(out, expected_lrelu(x, b.detach(), 0.2, 2**0.5), torch.float32)
    out.sum().backward()
    assert b.grad is not None and b.grad.dtype == torch.float64


@pytest.mark.parametrize("impl", IMPLS)
def test_fused_leaky_relu_gradients(impl):
    x = rand([2, 3, 4]).requires_grad_()
    b = rand([3]).requires_grad_()
    with torch.no_grad():  # off the kink
        x += 0.2 * torch.sign(x + b[:, None])

    def fn(x, b):
        return fused_leaky_relu(x, b, 0.1, 1.3, impl=impl)

    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b), fast_mode=True)


def test_fused_leaky_relu_module():
    act = FusedLeakyReLU(5, negative_slope=0.1, scale=1.5)
    assert act.bias.shape == (5,) and torch.equal(act.bias, torch.zeros(5))
    assert [n for n, _ in act.named_parameters()] == ["bias"]
    with torch.no_grad():
        act.bias.normal_()
    x = rand([3, 5, 2, 2], torch.float32).requires_grad_()
    out = act(x)
    check_close(out, expected_lrelu(x.detach(), act.bias.detach(), 0.1, 1.5), torch.float32)
    out.square().sum().backward()
    xd = x.detach().double().requires_grad_()
    bd = act.bias.detach().double().requires_grad_()
    expected_lrelu(xd, bd, 0.1, 1.5).square().sum().backward()
    check_close(x.grad, xd.grad, torch.float32)
    check_close(act.bias.grad, bd.grad, torch.float32)
    no_bias = FusedLeakyReLU(5, bias=False)
    assert no_bias.bias is None and list(no_bias.parameters()) == []
    check_close(no_bias(x.detach()), expected_lrelu(x.detach(), None, 0.2, 2**0.5), torch.float32)


def test_fused_leaky_relu_bad_input():
    x = rand([2, 3, 4, 4], torch.float32)
    with pytest.raises(ValueError, match="b of shape"):
        fused_leaky_relu(x, torch.zeros(4))
    with pytest.raises(ValueError, match="impl"):
        fused_leaky_relu(x, impl="native")
    with pytest.raises(ValueError, match="channel dim 1"):
        fused_leaky_relu(torch.zeros(3))
    with pytest.raises(TypeError, match="negative_slope"):
        fused_leaky_relu(x, None, "0.2")
    with pytest.raises(TypeError, match="input"):
        fused_leaky_relu([1.0, 2.0])
    with pytest.raises(ValueError, match="channel"):
        FusedLeakyReLU(0)


def rosinality_padding(pad):
    """rosinality's pad as fastgan's [x0, x1, y0, y1]: (p0, p1) pads both axes p0 / p1."""
    return [pad[0], pad[1], pad[0], pad[1]] if len(pad) == 2 else list(pad)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "dtype,fmt", list(itertools.product(DTYPES, [torch.contiguous_format, torch.channels_last]))
)
def test_upfirdn2d(impl, dtype, fmt):
    x = rand([2, 3, 7, 6], dtype, fmt)
    for kshape, up, down, pad in [
        ((4, 4), 2, 1, (2, 1)),
        ((3, 5), 1, 2, (1, 2)),
        ((4, 4), 1, 1, (1, 2, 0, 3)),
        ((2, 3), (2, 1), (1, 2), (0, 1, 2, -1)),
        ((4, 4), 1, 1, (2, 2)),
    ]:
        kernel = (torch.rand(kshape, dtype=torch.float64) + 0.1).float()
        out = upfirdn2d(x, kernel, up=up, down=down, pad=pad, impl=impl)
        ref = upfirdn2d_ref(x.double(), kernel, up=up, down=down, padding=rosinality_padding(pad))
        check_close(out, ref, dtype)
        (ux, uy), (dx, dy) = ((u if isinstance(u, tuple) else (u, u)) for u in (up, down))
        px0, px1, py0, py1 = rosinality_padding(pad)
        assert out.shape[2:] == (
            (7 * uy + py0 + py1 - kshape[0]) // dy + 1,
            (6 * ux + px0 + px1 - kshape[1]) // dx + 1,
        )


def test_upfirdn2d_conventions():
    # (p0, p1): p0 before and p1 after on both axes; the kernel convolves (is flipped).
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    x[0, 0, 0, 0] = 1
    k = (torch.rand(3, 3, dtype=torch.float64) + 0.1).float()
    out = upfirdn2d(x, k, pad=(2, 0))
    assert out.shape == (1, 1, 4, 4)
    assert torch.allclose(out[0, 0, :3, :3], k.double())
    # A float16 kernel (a model moved to half) is used as float32.
    out16 = upfirdn2d(x, k.half(), pad=(2, 0))
    assert torch.allclose(out16, upfirdn2d(x, k.half().float(), pad=(2, 0)))


@pytest.mark.parametrize("impl", IMPLS)
def test_upfirdn2d_gradients(impl):
    x = rand([1, 2, 3, 4]).requires_grad_()
    k = (torch.rand(4, 4, dtype=torch.float64) + 0.1).float()

    def fn(x):
        return upfirdn2d(x, k, up=2, down=(1, 2), pad=(2, 1), impl=impl)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,), fast_mode=True)


def test_upfirdn2d_bad_input():
    x = rand([1, 2, 6, 6], torch.float32)
    k = torch.rand(4, 4)
    with pytest.raises(ValueError, match="2-D kernel"):
        upfirdn2d(x, torch.rand(4))
    with pytest.raises(TypeError, match="kernel"):
        upfirdn2d(x, [[1.0]])
    with pytest.raises(TypeError, match="pad"):
        upfirdn2d(x, k, pad=(1, 2, 3))
    with pytest.raises(TypeError, match="up"):
        upfirdn2d(x, k, up=(1, 2, 3))
    with pytest.raises(ValueError, match="down"):
        upfirdn2d(x, k, down=0)
    with pytest.raises(ValueError, match="impl"):
        upfirdn2d(x, k, impl="auto")
    with pytest.raises(ValueError, match="empty"):
        upfirdn2d(x, k, pad=(-3, -3))
