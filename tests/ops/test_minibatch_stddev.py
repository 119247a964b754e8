"""minibatch_stddev: native kernels against the pure-PyTorch reference, gradients, opcheck,
compile, bad input; and the MinibatchStdDev layer."""

import itertools

import pytest
import torch

from fastgan.nn import MinibatchStdDev, set_impl
from fastgan.ops import minibatch_stddev, minibatch_stddev_ref
from tests.conftest import DEVICES, TOLERANCE, rel_error

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
FORMATS = [torch.contiguous_format, torch.channels_last]
# (N, group_size, num_channels): group sizes 1, 2, 4, 8, a group larger than the batch, N = 1,
# a group size that is not a power of two, several channel groups.
CONFIGS = [(4, 1, 1), (8, 2, 1), (8, 4, 1), (8, 8, 1), (3, 8, 1), (1, 4, 1), (6, 3, 2), (8, 4, 3)]


def reference64(x, group_size, num_channels):
    return minibatch_stddev_ref(x.detach().double().cpu(), group_size, num_channels)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_forward_matches_reference(device, dtype):
    for (N, group_size, F), fmt in itertools.product(CONFIGS, FORMATS):
        x = torch.randn(N, 6, 5, 7, dtype=torch.float64).to(device, dtype)
        x = x.contiguous(memory_format=fmt)
        y = minibatch_stddev(x, group_size, F, impl="native")
        assert y.shape == (N, 6 + F, 5, 7) and y.dtype == dtype and y.device == x.device
        assert y.is_contiguous(memory_format=fmt), f"output not in {fmt}"
        err = rel_error(y, reference64(x, group_size, F))
        assert err < TOLERANCE[dtype], f"N={N} group_size={group_size} F={F} {fmt}: {err:.3g}"


@pytest.mark.parametrize("device", DEVICES)
def test_forward_semantics(device):
    """The appended channels without the reference: group m holds samples m, m + N/G, ..."""
    x = torch.randn(8, 4, 3, 3, dtype=torch.float64, device=device)
    y = minibatch_stddev(x, group_size=2, num_channels=2, impl="native")
    assert torch.equal(y[:, :4], x)
    for m, f in itertools.product(range(4), range(2)):
        members = x[[m, m + 4], 2 * f : 2 * f + 2]
        expected = (members.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        for n in (m, m + 4):
            assert torch.allclose(y[n, 4 + f], expected.expand(3, 3), rtol=1e-12, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("fmt", FORMATS, ids=["contiguous", "channels_last"])
def test_gradients_match_reference(device, dtype, fmt):
    for N, group_size, F in CONFIGS:
        x = torch.randn(N, 6, 4, 5, dtype=torch.float64).to(device, dtype)
        x = x.contiguous(memory_format=fmt).requires_grad_(True)
        y = minibatch_stddev(x, group_size, F, impl="native")
        grad = torch.randn_like(y)
        (gx,) = torch.autograd.grad(y, x, grad)
        assert gx.is_contiguous(memory_format=fmt)
        x64 = x.detach().double().cpu().requires_grad_(True)
        (ref,) = torch.autograd.grad(
            minibatch_stddev_ref(x64, group_size, F), x64, grad.double().cpu()
        )
        assert rel_error(gx, ref) < TOLERANCE[dtype] * 2, (N, group_size, F)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_gradcheck_and_gradgradcheck_float64(config):
    N, group_size, F = config
    x = torch.randn(N, 6, 3, 2, dtype=torch.float64, requires_grad=True)

    def fn(x):
        return minibatch_stddev(x, group_size, F, impl="native")

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_third_order_matches_reference():
    x = torch.randn(8, 4, 3, 2, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(8, 5, 3, 2, dtype=torch.float64)

    def third(fn):
        (g1,) = torch.autograd.grad((fn(x) * weights).sum(), x, create_graph=True)
        (g2,) = torch.autograd.grad(g1.square().sum(), x, create_graph=True)
        (g3,) = torch.autograd.grad(g2.sin().sum(), x)
        return g3

    native = third(lambda t: minibatch_stddev(t, 4, 1, impl="native"))
    reference = third(lambda t: minibatch_stddev_ref(t, 4, 1))
    assert rel_error(native, reference) < 1e-10


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("fmt", FORMATS, ids=["contiguous", "channels_last"])
def test_opcheck(device, dtype, fmt):
    x = torch.randn(8, 6, 3, 4, dtype=dtype, device=device).contiguous(memory_format=fmt)
    x.requires_grad_(True)
    torch.library.opcheck(torch.ops.fastgan.minibatch_stddev, (x, 4, 2))
    grad = torch.randn(8, 8, 3, 4, dtype=dtype, device=device, requires_grad=True)
    torch.library.opcheck(torch.ops.fastgan.minibatch_stddev_backward, (grad, x, 4, 2))


@pytest.mark.parametrize("device", DEVICES)
def test_compile_fullgraph_forward_and_backward(device):
    torch._dynamo.reset()

    def fn(x):
        return minibatch_stddev(x * 2, group_size=4, num_channels=2).square().sum()

    x = torch.randn(8, 6, 4, 4, device=device, requires_grad=True)
    compiled = torch.compile(fn, fullgraph=True)
    loss = compiled(x)
    loss.backward()
    grad_compiled = x.grad.clone()
    x.grad = None
    fn(x).backward()
    assert rel_error(grad_compiled, x.grad) < 1e-5
    assert rel_error(loss, fn(x)) < 1e-5


@pytest.mark.parametrize(
    "shape, kwargs, error, match",
    [
        ((6, 4, 3, 3), dict(group_size=4), ValueError, r"N=6 to be divisible by .* min\(group"),
        ((8, 5, 3, 3), dict(num_channels=2), ValueError, "C=5 to be divisible by num_channels=2"),
        ((8, 4, 3), dict(), ValueError, r"expected x of shape \[N, C, H, W\]"),
        ((0, 4, 3, 3), dict(), ValueError, "at least 1 sample"),
        ((8, 4, 3, 3), dict(group_size=0), ValueError, "group_size to be an int >= 1"),
        ((8, 4, 3, 3), dict(num_channels=0), ValueError, "num_channels to be an int >= 1"),
    ],
)
def test_bad_input(shape, kwargs, error, match):
    x = torch.randn(shape)
    with pytest.raises(error, match=match):
        minibatch_stddev(x, **kwargs)
    with pytest.raises(error, match=match):
        minibatch_stddev_ref(x, **kwargs)


def test_bad_input_reaches_cpp_checks():
    with pytest.raises(RuntimeError, match="divisible by the group size"):
        torch.ops.fastgan.minibatch_stddev(torch.randn(6, 4, 3, 3), 4, 1)
    with pytest.raises(RuntimeError, match="expected grad of shape"):
        torch.ops.fastgan.minibatch_stddev_backward(
            torch.randn(8, 4, 3, 3), torch.randn(8, 4, 3, 3), 4, 1
        )
    with pytest.raises(TypeError, match="floating-point dtype"):
        minibatch_stddev(torch.ones(4, 4, 3, 3, dtype=torch.int32))


@pytest.mark.parametrize("device", DEVICES)
def test_layer_matches_reference_layer(device):
    layer = MinibatchStdDev(group_size=2, num_channels=2)
    reference = set_impl(MinibatchStdDev(group_size=2, num_channels=2), "ref")
    assert "group_size=2" in repr(layer)
    x = torch.randn(6, 4, 4, 4, dtype=torch.float64, device=device, requires_grad=True)
    (g1,) = torch.autograd.grad(layer(x).square().sum(), x)
    (g2,) = torch.autograd.grad(reference(x).square().sum(), x)
    assert rel_error(layer(x), reference(x)) < 1e-12 and rel_error(g1, g2) < 1e-12
    with pytest.raises(ValueError, match="group_size"):
        MinibatchStdDev(group_size=0)
