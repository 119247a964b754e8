"""minibatch_discrimination: the fused pairwise op against the pure-PyTorch reference, first-
and second-order gradients, opcheck, compile, memory, bad input; and MinibatchDiscrimination."""

import pytest
import torch

from fastgan.nn import MinibatchDiscrimination, set_impl
from fastgan.ops import (
    minibatch_discrimination,
    minibatch_discrimination_ref,
    minibatch_similarity,
)
from tests.conftest import DEVICES, TOLERANCE, rel_error, run_with_baseline_cpu_kernels

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
# (N, A, B, D): N = 1, a single kernel, kernel dimension 1, odd sizes, a batch larger than the
# CUDA kernel's tiles.
CONFIGS = [(1, 5, 3, 4), (2, 3, 1, 1), (7, 6, 4, 3), (16, 8, 5, 16), (45, 10, 3, 5)]


def inputs(N, A, B, D, device="cpu", dtype=torch.float64, requires_grad=False):
    """Features and T scaled so that the pairwise distances are O(1): exp(-distance) neither
    vanishes nor saturates, and every term of the sums matters."""
    x = torch.randn(N, A, dtype=torch.float64)
    T = torch.randn(A, B, D, dtype=torch.float64) / (A**0.5 * D)
    return (
        x.to(device, dtype).requires_grad_(requires_grad),
        T.to(device, dtype).requires_grad_(requires_grad),
    )


def reference64(x, T):
    return minibatch_discrimination_ref(x.detach().double().cpu(), T.detach().double().cpu())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_forward_matches_reference(device, dtype):
    for config in CONFIGS:
        x, T = inputs(*config, device=device, dtype=dtype)
        y = minibatch_discrimination(x, T, impl="native")
        N, A, B, _ = config
        assert y.shape == (N, A + B) and y.dtype == dtype and y.device == x.device
        assert torch.equal(y[:, :A], x)
        err = rel_error(y, reference64(x, T))
        assert err < TOLERANCE[dtype], f"{config}: {err:.3g}"


def test_forward_semantics():
    """The similarities without the reference: o >= 1 (each sample is its own neighbour),
    identical samples add exactly 1 each, and a far-away sample adds nothing."""
    T = torch.randn(4, 3, 2, dtype=torch.float64)
    x = torch.randn(1, 4, dtype=torch.float64).repeat(3, 1)
    x = torch.cat([x, x[:1] + 1e6])
    o = minibatch_discrimination(x, T, impl="native")[:, 4:]
    assert torch.allclose(o[:3], torch.full((3, 3), 3.0, dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.allclose(o[3], torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)
    M = torch.randn(5, 2, 3, dtype=torch.float64)
    expected = sum(
        torch.exp(-(M - M[j]).abs().sum(dim=2)) for j in range(5)
    )  # [N, B], one j at a time
    assert rel_error(minibatch_similarity(M, impl="native"), expected) < 1e-14


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_gradients_match_reference(device, dtype):
    for config in CONFIGS:
        x, T = inputs(*config, device=device, dtype=dtype, requires_grad=True)
        y = minibatch_discrimination(x, T, impl="native")
        grad = torch.randn_like(y)
        gx, gT = torch.autograd.grad(y, (x, T), grad)
        x64, T64 = (t.detach().double().cpu().requires_grad_(True) for t in (x, T))
        rx, rT = torch.autograd.grad(
            minibatch_discrimination_ref(x64, T64), (x64, T64), grad.double().cpu()
        )
        if dtype == torch.bfloat16:
            # M = x @ T rounded to bfloat16 moves the distances (and flips the signs of nearly
            # equal coordinates) by more than 1e-2: the bound is twice the error of the same maths
            # done by the reference in bfloat16.
            xb, Tb = (t.detach().requires_grad_(True) for t in (x, T))
            yb = minibatch_discrimination_ref(xb, Tb)
            bx, bT = torch.autograd.grad(yb, (xb, Tb), grad)
            tolerance = (max(1e-2, 2 * rel_error(bx, rx)), max(1e-2, 2 * rel_error(bT, rT)))
        else:
            tolerance = (1e-4, 1e-4)
        assert rel_error(gx, rx) < tolerance[0] and rel_error(gT, rT) < tolerance[1], config


@pytest.mark.parametrize("device", DEVICES)
def test_second_order_matches_reference(device):
    """A gradient penalty's path: the gradient with respect to x, kept in the graph, then
    differentiated again with respect to x and T."""
    for config in CONFIGS:
        x, T = inputs(*config, device=device, requires_grad=True)
        weights = torch.randn(config[0], config[1] + config[2], dtype=torch.float64, device=device)

        def second(fn, x=x, T=T, weights=weights):
            (gx,) = torch.autograd.grad((fn(x, T) * weights).sum(), x, create_graph=True)
            return torch.autograd.grad(gx.square().sum(), (x, T))

        native = second(lambda x, T: minibatch_discrimination(x, T, impl="native"))
        reference = second(minibatch_discrimination_ref)
        for n, r in zip(native, reference, strict=True):
            assert rel_error(n, r) < 1e-10, config


def separated_inputs(N, A, B, D):
    """Inputs whose coordinates of M differ by more than 1e-4 between any two samples: |.| has
    a kink at 0, where gradcheck's finite differences (eps 1e-6) would be wrong, not the op."""
    for _ in range(100):
        x, T = inputs(N, A, B, D)
        T = T * D  # unit-variance M, wider gaps
        M = (x @ T.reshape(A, B * D)).reshape(N, B, D)
        gaps = (M.unsqueeze(0) - M.unsqueeze(1)).abs() + torch.eye(N).reshape(N, N, 1, 1)
        if N == 1 or gaps.min() > 1e-4:
            return x.requires_grad_(True), T.requires_grad_(True)
    raise AssertionError(f"no well-separated inputs for {(N, A, B, D)}")


@pytest.mark.parametrize(
    "config", [(1, 5, 3, 4), (2, 3, 1, 1), (7, 6, 4, 3), (10, 6, 3, 4)], ids=str
)
def test_gradcheck_and_gradgradcheck_float64(config):
    x, T = separated_inputs(*config)

    def fn(x, T):
        return minibatch_discrimination(x, T, impl="native")

    assert torch.autograd.gradcheck(fn, (x, T))
    assert torch.autograd.gradgradcheck(fn, (x, T))


def test_gradcheck_of_the_backward_ops():
    """The backward op's gradients with respect to both its inputs (grad and M) are right."""
    x, T = separated_inputs(6, 5, 3, 4)
    M = (x @ T.reshape(5, 12)).reshape(6, 3, 4).detach().requires_grad_(True)
    grad = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(torch.ops.fastgan.minibatch_similarity_backward, (grad, M))


def test_third_order_raises_clearly():
    x, T = inputs(6, 4, 3, 2, requires_grad=True)
    (gx,) = torch.autograd.grad(
        minibatch_discrimination(x, T, impl="native").sum(), x, create_graph=True
    )
    (gxx,) = torch.autograd.grad(gx.square().sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="third and higher order"):
        torch.autograd.grad(gxx.sum(), x)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_opcheck(device, dtype):
    M = torch.randn(9, 4, 3, dtype=dtype, device=device, requires_grad=True)
    grad = torch.randn(9, 4, dtype=dtype, device=device, requires_grad=True)
    v = torch.randn(9, 4, 3, dtype=dtype, device=device)
    torch.library.opcheck(torch.ops.fastgan.minibatch_similarity, (M,))
    torch.library.opcheck(torch.ops.fastgan.minibatch_similarity_backward, (grad, M))
    # Its autograd raises by design (third order), so the autograd checks are left out.
    torch.library.opcheck(
        torch.ops.fastgan.minibatch_similarity_double_backward,
        (v, grad.detach(), M.detach()),
        test_utils=("test_schema", "test_faketensor", "test_aot_dispatch_static"),
    )


@pytest.mark.parametrize("device", DEVICES)
def test_compile_fullgraph_forward_and_backward(device):
    torch._dynamo.reset()

    def fn(x, T):
        return minibatch_discrimination(x * 2, T).square().sum()

    x, T = inputs(12, 8, 4, 3, device=device, dtype=torch.float32, requires_grad=True)
    compiled = torch.compile(fn, fullgraph=True)
    loss = compiled(x, T)
    grads = torch.autograd.grad(loss, (x, T))
    expected = torch.autograd.grad(fn(x, T), (x, T))
    assert rel_error(loss, fn(x, T)) < 1e-5
    for g, e in zip(grads, expected, strict=True):
        assert rel_error(g, e) < 1e-5


def test_memory_is_linear_in_the_batch():
    """The fused forward and backward allocate O(N B D), never the [N, N, B, D] difference
    tensor: at N=256, B=32, D=16 that is 128 MiB in float32 (the reference's largest
    allocation); no allocation of the fused path may exceed 4 MiB (torch's CPU profiler)."""
    x, T = inputs(256, 64, 32, 16, dtype=torch.float32, requires_grad=True)
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
    ) as prof:
        y = minibatch_discrimination(x, T, impl="native")
        torch.autograd.grad(y, (x, T), torch.randn_like(y))
    largest = max(e.cpu_memory_usage for e in prof.events() if e.cpu_memory_usage > 0)
    assert largest < 4 << 20, f"largest allocation {largest / 2**20:.1f} MiB"


@pytest.mark.parametrize(
    "x_shape, T_shape, error, match",
    [
        ((4, 3, 1), (3, 2, 2), ValueError, r"expected x of shape \[N, A\]"),
        ((4, 3), (3, 2), ValueError, r"expected T of shape \[A, B, D\]"),
        ((4, 3), (5, 2, 2), ValueError, r"A=3 \(the features of x\), got shape \[5, 2, 2\]"),
    ],
)
def test_bad_input(x_shape, T_shape, error, match):
    x, T = torch.randn(x_shape), torch.randn(T_shape)
    with pytest.raises(error, match=match):
        minibatch_discrimination(x, T)
    with pytest.raises(error, match=match):
        minibatch_discrimination_ref(x, T)


def test_bad_input_dtypes_and_cpp_checks():
    with pytest.raises(TypeError, match=r"T of dtype torch\.float32"):
        minibatch_discrimination(torch.randn(4, 3), torch.randn(3, 2, 2, dtype=torch.float64))
    with pytest.raises(TypeError, match="floating-point dtype"):
        minibatch_discrimination(torch.ones(4, 3, dtype=torch.int64), torch.ones(3, 2, 2))
    with pytest.raises(RuntimeError, match=r"expected M of shape \[N, B, D\]"):
        torch.ops.fastgan.minibatch_similarity(torch.randn(4, 3))
    with pytest.raises(RuntimeError, match=r"expected grad of shape \[N, B\]"):
        torch.ops.fastgan.minibatch_similarity_backward(torch.randn(4, 2), torch.randn(4, 3, 2))
    with pytest.raises(RuntimeError, match="expected v of dtype"):
        torch.ops.fastgan.minibatch_similarity_double_backward(
            torch.randn(4, 3, 2, dtype=torch.float64), torch.randn(4, 3), torch.randn(4, 3, 2)
        )


def test_empty_batch_and_zero_kernel_dimension():
    y = minibatch_discrimination(torch.randn(0, 3), torch.randn(3, 2, 4), impl="native")
    assert y.shape == (0, 5)
    x = torch.randn(5, 3, requires_grad=True)
    T = torch.randn(3, 2, 0, requires_grad=True)
    y = minibatch_discrimination(x, T, impl="native")
    assert torch.equal(y[:, 3:], torch.full((5, 2), 5.0))  # every distance is 0


@pytest.mark.parametrize("device", DEVICES)
def test_layer_matches_reference_layer(device):
    layer = MinibatchDiscrimination(8, num_kernels=5, kernel_dim=3).to(device, torch.float64)
    reference = set_impl(MinibatchDiscrimination(8, 5, 3), "ref").to(device, torch.float64)
    reference.load_state_dict(layer.state_dict())
    assert "num_kernels=5" in repr(layer) and layer.T.shape == (8, 5, 3)
    x = torch.randn(6, 8, dtype=torch.float64, device=device, requires_grad=True)
    g1 = torch.autograd.grad(layer(x).square().sum(), (x, layer.T))
    g2 = torch.autograd.grad(reference(x).square().sum(), (x, reference.T))
    assert rel_error(layer(x), reference(x)) < 1e-12
    assert all(rel_error(a, b) < 1e-12 for a, b in zip(g1, g2, strict=True))
    with pytest.raises(ValueError, match="kernel_dim to be an int >= 1"):
        MinibatchDiscrimination(8, 5, 0)


def test_baseline_cpu_kernels():
    run_with_baseline_cpu_kernels(__file__, "forward_matches or second_order")
