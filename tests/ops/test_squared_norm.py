"""squared_norm: native kernels against the reference, gradients, opcheck, compile, bad input."""

import pytest
import torch

from fastgan.ops import squared_norm, squared_norm_ref
from tests.conftest import DEVICES, SANITIZED, TOLERANCE, rel_error

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
# Small samples, samples of several 65536-element chunks (with a tail), one sample, 1-D; and the
# short-sample path (under 64 elements: a conv weight's kernels as rows), threaded and not.
SHAPES = [(4, 3, 5, 7), (3, 2, 300, 251), (1, 3, 9, 9), (6,), (5, 63), (2, 64), (70000, 3, 3)]
if SANITIZED:
    # One OS thread per CUDA thread, every access checked: the chunked shape took 100 s per
    # layout and dtype there, the 70000 rows minutes. Two chunks (the second a tail) and 700
    # rows (several blocks and a partial one) keep every launch path; the kernel sees the
    # samples contiguous in any layout, so the chunked shape runs in one layout only.
    smaller = {(3, 2, 300, 251): (2, 1, 257, 257), (70000, 3, 3): (700, 3, 3)}
    SHAPES = [smaller.get(shape, shape) for shape in SHAPES]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_forward_matches_reference(device, dtype):
    for shape in SHAPES:
        x = torch.randn(shape, dtype=torch.float64).to(device, dtype)
        views = [x]
        if x.ndim == 4 and not (SANITIZED and x.numel() > 65536):
            views += [x.contiguous(memory_format=torch.channels_last), x.transpose(2, 3)]
        for view in views:
            y = squared_norm(view, impl="native")
            assert y.shape == (shape[0],)
            assert y.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
            err = rel_error(y, squared_norm_ref(view.double().cpu()))
            # The inputs are 16-bit, the sum float32: only float32 rounding remains.
            tolerance = TOLERANCE[torch.float64 if dtype == torch.float64 else torch.float32]
            assert err < tolerance, f"{shape} {view.stride()}: {err:.3g}"


def test_float16_gradient_for_float32_norm():
    x = torch.randn(3, 4, dtype=torch.float16, requires_grad=True)
    (g,) = torch.autograd.grad(squared_norm(x, impl="native").sum(), x)
    assert g.dtype == torch.float16 and torch.allclose(g, 2 * x.detach())


@pytest.mark.parametrize("device", DEVICES)
def test_empty(device):
    assert squared_norm(torch.randn(0, 3, device=device), impl="native").shape == (0,)
    y = squared_norm(torch.randn(3, 0, device=device), impl="native")
    assert torch.equal(y, torch.zeros(3, device=device))


def test_gradcheck_and_gradgradcheck_float64():
    x = torch.randn(3, 2, 4, 5, dtype=torch.float64, requires_grad=True)

    def fn(x):
        return squared_norm(x, impl="native")

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_opcheck(device, dtype):
    x = torch.randn(4, 3, 5, 6, dtype=dtype, device=device, requires_grad=True)
    torch.library.opcheck(torch.ops.fastgan.squared_norm, (x,))
    x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    torch.library.opcheck(torch.ops.fastgan.squared_norm, (x,))


@pytest.mark.parametrize("device", DEVICES)
def test_compile_fullgraph_forward_and_backward(device):
    torch._dynamo.reset()

    def fn(x):
        return squared_norm(x * 3).sum()

    x = torch.randn(4, 3, 8, 8, device=device, requires_grad=True)
    compiled = torch.compile(fn, fullgraph=True)
    compiled(x).backward()
    grad = x.grad.clone()
    x.grad = None
    fn(x).backward()
    assert rel_error(grad, x.grad) < 1e-5


def test_bad_input():
    with pytest.raises(ValueError, match="batch dimension"):
        squared_norm(torch.tensor(1.0))
    with pytest.raises(TypeError, match="floating-point dtype"):
        squared_norm(torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(RuntimeError, match="floating-point dtype"):
        torch.ops.fastgan.squared_norm(torch.ones(3, 2, dtype=torch.int64))
