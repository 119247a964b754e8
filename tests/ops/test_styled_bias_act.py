"""styled_bias_act: native kernels against the float64 reference for every activation, dtype,
layout and broadcast shape of the optional inputs; gradients to third order, opcheck, compile,
empty tensors and bad input."""

import itertools
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from fastgan.ops import ACTIVATIONS, styled_bias_act, styled_bias_act_ref
from tests.conftest import (
    CUDA_EMULATED,
    DEVICES,
    TOLERANCE,
    cuda_param,
    rel_error,
    run_with_baseline_cpu_kernels,
)

ACTS = list(ACTIVATIONS)
DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
FORMATS = [torch.contiguous_format, torch.channels_last]
SHAPE = (3, 5, 4, 7)  # odd sizes so every vector loop has a tail
# (gain, clamp): activation defaults, explicit gain, clamp, gain + clamp, clamp to zero.
GAIN_CLAMP = [(None, None), (0.7, None), (None, 0.6), (2.5, 1.3), (None, 0.0)]
# Every accepted noise shape, by name: broadcast to [N, 1, H, W] or [N, C, H, W].
NOISE_KINDS = ["HW", "1HW", "11HW", "N1HW", "1CHW", "NCHW", "CHW"]


def noise_shape(kind, shape):
    N, C, H, W = shape
    sizes = dict(N=N, C=C, H=H, W=W, **{"1": 1})
    return tuple(sizes[k] for k in kind)


def rand(shape, device, dtype, scale=1.0):
    """Fresh random values, drawn in float64 so that every dtype sees the same distribution."""
    return (torch.randn(shape, dtype=torch.float64) * scale).to(device, dtype)


def make_inputs(
    device,
    dtype,
    shape=SHAPE,
    fmt=torch.contiguous_format,
    scale=True,
    noise="N1HW",
    b=True,
    noise_fmt=torch.contiguous_format,
):
    """(x, scale, noise, b); `noise` is a NOISE_KINDS name or None."""
    x = rand(shape, device, dtype, 2.0).to(memory_format=fmt)
    s = rand(shape[:2], device, dtype) if scale else None
    nz = None
    if noise is not None:
        nz = rand(noise_shape(noise, shape), device, dtype)
        if nz.ndim == 4:
            nz = nz.to(memory_format=noise_fmt)
    bb = rand(shape[1], device, dtype) if b else None
    return x, s, nz, bb


def to64(t):
    return None if t is None else t.detach().double().cpu()


def reference64(x, scale, noise, b, **kwargs):
    """The reference in float64 on the CPU, whatever the inputs' dtype and device."""
    return styled_bias_act_ref(to64(x), to64(scale), to64(noise), to64(b), **kwargs)


def optional_inputs():
    """(scale, noise kind, b): every optional input absent and present, each noise shape."""
    return itertools.product([False, True], [None, *NOISE_KINDS], [False, True])


# --- forward -----------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ACTS)
def test_forward_matches_reference(device, dtype, act):
    checked = 0
    for fmt, (use_scale, noise, use_b) in itertools.product(FORMATS, optional_inputs()):
        for gain, clamp in GAIN_CLAMP if (use_scale and use_b) else GAIN_CLAMP[:1]:
            x, s, nz, b = make_inputs(device, dtype, fmt=fmt, scale=use_scale, noise=noise, b=use_b)
            kwargs = dict(act=act, gain=gain, clamp=clamp)
            y = styled_bias_act(x, s, nz, b, impl="native", **kwargs)
            assert y.dtype == dtype and y.device == x.device and y.shape == x.shape
            assert y.stride() == x.stride(), f"output strides {y.stride()} != input {x.stride()}"
            err = rel_error(y, reference64(x, s, nz, b, **kwargs))
            where = f"{fmt} scale={use_scale} noise={noise} b={use_b} gain={gain} clamp={clamp}"
            assert err < TOLERANCE[dtype], f"{where}: {err:.3g}"
            checked += 1
    # per layout: 24 combinations once, the 8 with scale and b under every (gain, clamp)
    assert checked == 2 * (24 + 8 * len(GAIN_CLAMP))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_forward_channels_last_noise_and_alpha(device, dtype):
    """4-D noise laid out channels_last (with x either way), and lrelu's alpha."""
    for fmt, noise in itertools.product(FORMATS, ["N1HW", "1CHW", "NCHW", "11HW"]):
        x, s, nz, b = make_inputs(
            device, dtype, fmt=fmt, noise=noise, noise_fmt=torch.channels_last
        )
        for act, alpha in (("lrelu", 0.05), ("lrelu", None), ("elu", None)):
            kwargs = dict(act=act, alpha=alpha, gain=1.1, clamp=2.0)
            y = styled_bias_act(x, s, nz, b, impl="native", **kwargs)
            assert y.stride() == x.stride()
            err = rel_error(y, reference64(x, s, nz, b, **kwargs))
            assert err < TOLERANCE[dtype], f"{fmt} noise={noise} {act}: {err:.3g}"


def test_defaults_are_lrelu_with_its_gain():
    x, s, nz, b = make_inputs("cpu", torch.float64)
    y = styled_bias_act(x, s, nz, b)
    z = x * s[:, :, None, None] + nz + b[None, :, None, None]
    expect = torch.nn.functional.leaky_relu(z, 0.2) * 2**0.5
    assert rel_error(y, expect) < 1e-14
    assert torch.equal(styled_bias_act(x, s, nz, b, impl="ref"), styled_bias_act_ref(x, s, nz, b))


class RecordOps(TorchDispatchMode):
    """Records the name of every operator that reaches the dispatcher."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_one_native_op_or_the_reference():
    """impl='auto' runs the whole epilogue as one native op; 'ref' runs stock operators."""
    x, s, nz, b = make_inputs("cpu", torch.float32)
    with RecordOps() as native:
        y_native = styled_bias_act(x, s, nz, b, act="swish", clamp=1.0)
    with RecordOps() as ref:
        y_ref = styled_bias_act(x, s, nz, b, act="swish", clamp=1.0, impl="ref")
    assert native.ops == ["fastgan.styled_bias_act.default"]
    assert not any(op.startswith("fastgan.") for op in ref.ops) and "aten.silu.default" in ref.ops
    assert rel_error(y_native, y_ref) < 1e-6


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("fmt", FORMATS, ids=["contiguous", "channels_last"])
def test_large_tensor_across_parallel_grains(device, dtype, fmt):
    """2x70x33x33 (> one 32768-element grain); with 3 and 4 threads the chunk boundaries fall
    inside runs (planes for NCHW, pixels of 70 channels for channels_last)."""
    shape = (2, 70, 33, 33)
    threads = torch.get_num_threads()
    try:
        for n_threads in (1, 3, 4):
            torch.set_num_threads(n_threads)
            for noise in ("N1HW", "NCHW", "HW"):
                x, s, nz, b = make_inputs(device, dtype, shape, fmt, noise=noise)
                kwargs = dict(act="swish", clamp=1.5)
                y = styled_bias_act(x, s, nz, b, impl="native", **kwargs)
                assert y.stride() == x.stride()
                err = rel_error(y, reference64(x, s, nz, b, **kwargs))
                assert err < TOLERANCE[dtype], f"{n_threads} threads, noise={noise}: {err:.3g}"
                grad = torch.randn_like(x)
                gz = torch.ops.fastgan.styled_bias_act_backward(
                    grad, x, s, nz, b, "swish", 0.0, 1.0, 1.5, 1
                )
                z = (to64(x) * to64(s)[:, :, None, None] + to64(nz)).requires_grad_(True)
                ref = styled_bias_act_ref(z, None, None, to64(b), act="swish", gain=1.0, clamp=1.5)
                (rz,) = torch.autograd.grad(ref, z, to64(grad))
                # Outputs within rounding of the clamp may be clamped in one precision and not in
                # the other, which flips their gradient: compare the others.
                away = ((ref.detach().abs() - 1.5).abs() > 1e-4).to(gz.device)
                err = rel_error(gz[away], rz[away])
                assert err < TOLERANCE[dtype], f"backward, {n_threads} threads: {err:.3g}"
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("device", DEVICES)
def test_non_dense_inputs_give_contiguous_output(device):
    base = torch.randn(4, 9, 10, 12, device=device)
    cl = base.to(memory_format=torch.channels_last)
    for x in (base[:, :, 1:, 3:], base.transpose(2, 3), base[:, ::2], cl[:, :, 1:], cl[::2, 1:]):
        N, C, H, W = x.shape
        s = torch.randn(C, N, device=device).t()  # transposed
        b = torch.randn(2 * C, device=device)[::2]  # strided
        for nz in (
            torch.randn(N, 1, H, W, device=device),
            torch.randn(N, 1, H, W, device=device).expand(N, C, H, W),  # stride 0 over C
            torch.randn(N, C, W, H, device=device).transpose(2, 3),  # non-dense noise
        ):
            y = styled_bias_act(x, s, nz, b, act="selu", clamp=1.0, impl="native")
            assert y.is_contiguous(), f"x strides {x.stride()}: output strides {y.stride()}"
            where = f"x strides {x.stride()}, noise strides {nz.stride()}"
            err = rel_error(y, reference64(x, s, nz, b, act="selu", clamp=1.0))
            assert err < 1e-5, f"{where}: {err:.3g}"
            grad = torch.randn(x.shape, dtype=torch.float64)
            out = grads(lambda *t: styled_bias_act(*t, act="selu", clamp=1.0), (x, s, nz, b), grad)
            ref = grads(
                lambda *t: styled_bias_act_ref(*t, act="selu", clamp=1.0),
                [to64(t) for t in (x, s, nz, b)],
                grad,
            )
            for name, o, r in zip(["x", "scale", "noise", "b"], out, ref, strict=True):
                assert rel_error(o, r) < 1e-5, f"{where}: grad {name}"


@pytest.mark.parametrize("device", DEVICES)
def test_nan_propagates(device):
    x, s, nz, b = make_inputs(device, torch.float32)
    x[0, 1, 2, 3] = float("nan")
    nz[2, 0, 1, 1] = float("nan")  # a [N, 1, H, W] noise: every channel of that pixel
    for act in ACTS:
        y = styled_bias_act(x, s, nz, b, act=act, clamp=1.0, impl="native")
        assert torch.isnan(y[0, 1, 2, 3]) and torch.isnan(y[2, :, 1, 1]).all(), act
        assert torch.isnan(y).sum() == 1 + SHAPE[1], act


# --- gradients ---------------------------------------------------------------------------------


def grads(fn, inputs, grad):
    """Gradients of <fn(*inputs), grad> with respect to every input that is not None."""
    leaves = [None if t is None else t.detach().requires_grad_(True) for t in inputs]
    y = fn(*leaves)
    return torch.autograd.grad(y, [t for t in leaves if t is not None], grad.to(y))


def reduced_gradient_mass(reference, inputs, grad):
    """Per reduced gradient (scale, noise, b), the float64 reference's sum of the magnitudes of
    the terms it adds up: |g_z * x| over pixels for scale, |g_z| over what noise broadcasts for
    noise, |g_z| over N, H, W for b, where g_z is the reference gradient with respect to z."""
    x, scale, noise, b = (to64(t) for t in inputs)
    # g_z is the gradient with respect to a noise of x's full shape (zero: z is unchanged).
    full = torch.zeros(x.shape, dtype=torch.float64, requires_grad=True)
    z_noise = full if noise is None else full + noise
    (g_z,) = torch.autograd.grad(reference(x, scale, z_noise, b), full, grad)
    g_z = g_z.abs()
    mass = {"b": g_z.sum((0, 2, 3))}
    if scale is not None:
        mass["scale"] = (g_z * x.abs()).sum((2, 3))
    if noise is not None:
        mass["noise"] = g_z.sum_to_size(noise.shape)
    return mass


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("act", ACTS)
def test_gradients_match_reference(device, dtype, act):
    """Gradients w.r.t. x, scale, noise (of its own shape, for each broadcast shape) and b."""
    kwargs = dict(act=act, clamp=1.5)

    def native(*t):
        return styled_bias_act(*t, impl="native", **kwargs)

    def reference(*t):
        return styled_bias_act_ref(*t, **kwargs)

    cases = [(fmt, noise, True, True) for fmt in FORMATS for noise in NOISE_KINDS]
    cases += [
        (torch.contiguous_format, None, False, False),
        (torch.channels_last, "HW", False, True),
    ]
    x_numel = math.prod(SHAPE)
    for fmt, noise, use_scale, use_b in cases:
        inputs = make_inputs(device, dtype, fmt=fmt, scale=use_scale, noise=noise, b=use_b)
        # The incoming gradient in the op's dtype; the reference gets the same (rounded) values.
        grad = torch.randn(SHAPE, dtype=torch.float64).to(dtype).double()
        out = grads(native, inputs, grad)
        ref = grads(reference, [to64(t) for t in inputs], grad)
        mass = reduced_gradient_mass(reference, inputs, grad)
        names = ["x", "scale", "noise", "b"]
        named = [(n, t) for n, t in zip(names, inputs, strict=True) if t is not None]
        for (name, t), o, r in zip(named, out, ref, strict=True):
            assert o.shape == t.shape and o.dtype == dtype, f"grad {name}: {o.shape} {o.dtype}"
            if dtype == torch.bfloat16 and o.numel() < x_numel:
                # A reduced gradient (scale, b, broadcast noise) sums terms that carry bfloat16's
                # rounding (~4e-3 each); with random signs the sum may cancel far below them, so
                # the error is measured against the sum of the terms' magnitudes.
                err = (o.double() - r).norm().item() / mass[name].norm().item()
                assert err < 1e-2, f"grad {name}, {fmt} noise={noise}: {err:.3g} of |terms|"
                continue
            err = rel_error(o, r)
            assert err < TOLERANCE[dtype], f"grad {name}, {fmt} noise={noise}: {err:.3g}"
        assert out[0].stride() == inputs[0].stride()


@pytest.mark.skipif(
    CUDA_EMULATED,
    reason="the CPU kernels' one-pass backward: the emulated CUDA build takes the GPU's path",
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", [(1, 3, 40, 50), (5, 7, 3, 3), (2, 300, 9, 13)], ids=str)
@pytest.mark.parametrize("noise", ["N1HW", "11HW", "HW", "NCHW"])
@pytest.mark.parametrize(
    "kwargs", [dict(act="lrelu", clamp=1.5), dict(act="linear", gain=1.0)], ids=["lrelu", "scale"]
)
def test_cpu_one_pass_input_grads_match_stock_ops(dtype, shape, noise, kwargs):
    """On the CPU, a backward that records no graph takes the input gradients from grad_z in one
    pass (no einsum, sums or multiply); one that records a graph uses the stock ops. Both agree,
    over several chunks of pixels per sample (1x3x40x50), many samples (5x7x3x3) and channels; a
    noise with a channel dimension takes the stock ops either way. The incoming gradient is not
    modified (the pure scale, act 'linear' with gain 1, passes it through as grad_z)."""
    inputs = make_inputs("cpu", dtype, shape=shape, noise=noise)
    leaves = [t.detach().requires_grad_(True) for t in inputs]
    grad = rand(shape, "cpu", dtype)
    kept = grad.clone()
    y = styled_bias_act(*leaves, impl="native", **kwargs)
    # The profiler sees the operators called from C++ (a dispatch mode would turn the one pass
    # off: under a mode, such as FakeTensorMode, tensors may have no data).
    with torch.profiler.profile() as one_pass:
        fast = torch.autograd.grad(y, leaves, grad, retain_graph=True)
    with torch.profiler.profile() as stock:
        slow = torch.autograd.grad(y, leaves, grad, create_graph=True)
    assert torch.equal(grad, kept)

    def einsum_calls(prof):
        return sum(e.name == "aten::einsum" for e in prof.events())

    assert einsum_calls(stock) == 1
    assert einsum_calls(one_pass) == (1 if noise == "NCHW" else 0)
    tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 2e-2}[dtype]
    for name, t, f, s in zip(["x", "scale", "noise", "b"], inputs, fast, slow, strict=True):
        assert f.shape == t.shape and f.dtype == dtype, name
        assert rel_error(f, s.detach()) < tol, f"grad {name}: {rel_error(f, s.detach()):.3g}"


def test_gradient_of_one_input_only():
    inputs = make_inputs("cpu", torch.float64, noise="1CHW")
    for k in range(4):
        leaves = [t.clone().requires_grad_(i == k) for i, t in enumerate(inputs)]
        (g,) = torch.autograd.grad(styled_bias_act(*leaves, act="softplus").sum(), leaves[k])
        ref_leaves = [t.clone().requires_grad_(i == k) for i, t in enumerate(inputs)]
        (r,) = torch.autograd.grad(
            styled_bias_act_ref(*ref_leaves, act="softplus").sum(), ref_leaves[k]
        )
        assert g.shape == inputs[k].shape and rel_error(g, r) < 1e-12, k


def test_gradient_is_zero_where_clamped():
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    s = torch.rand(2, 3, dtype=torch.float64) + 0.5
    nz = torch.randn(5, 6, dtype=torch.float64)
    y = styled_bias_act(x, s, nz, act="linear", gain=3.0, clamp=1.0)
    (gx,) = torch.autograd.grad(y.sum(), x)
    z = x.detach() * s[:, :, None, None] + nz
    clamped = (z * 3).abs() > 1
    assert clamped.any() and (~clamped).any()
    assert torch.all(gx[clamped] == 0)
    expect = (3 * s[:, :, None, None]).expand_as(x)
    assert torch.allclose(gx[~clamped], expect[~clamped])


@pytest.mark.parametrize("act", ["lrelu", "swish", "tanh", "gelu", "softplus", "elu"])
def test_gradcheck_and_gradgradcheck_float64(act):
    x, s, _, b = make_inputs("cpu", torch.float64, shape=(2, 3, 4, 5))
    for noise, clamp in (("N1HW", None), ("1CHW", 0.9)):
        nz = rand(noise_shape(noise, x.shape), "cpu", torch.float64)
        inputs = [t.clone().requires_grad_(True) for t in (x, s, nz, b)]

        def fn(x, s, nz, b, clamp=clamp):
            return styled_bias_act(x, s, nz, b, act=act, clamp=clamp, impl="native")

        assert torch.autograd.gradcheck(fn, inputs)
        assert torch.autograd.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("act", ["lrelu", "swish", "tanh", "gelu", "sigmoid", "selu"])
def test_third_order_matches_reference_and_fourth_raises(act):
    x, s, nz, b = (
        t.requires_grad_(True)
        for t in make_inputs("cpu", torch.float64, (2, 3, 2, 3), noise="NCHW")
    )
    v = torch.randn(x.shape, dtype=torch.float64)

    def derivatives(fn):
        """d/dx of <v, .> applied twice, then the third derivative w.r.t. every input."""
        out = fn(x, s, nz, b)
        for _ in range(2):
            if not out.requires_grad:  # the reference's derivative became a constant
                out = torch.zeros_like(x)
            else:
                (out,) = torch.autograd.grad(
                    (out * v).sum(), x, create_graph=True, materialize_grads=True
                )
        if not out.requires_grad:
            return [torch.zeros_like(t) for t in (x, s, nz, b)], None
        third = torch.autograd.grad(
            (out * v).sum(), (x, s, nz, b), create_graph=True, materialize_grads=True
        )
        return list(third), third[0]

    kwargs = dict(act=act, gain=1.3, clamp=2.5)
    native, top = derivatives(lambda *t: styled_bias_act(*t, impl="native", **kwargs))
    ref, _ = derivatives(lambda *t: styled_bias_act_ref(*t, **kwargs))
    for name, n, r in zip(["x", "scale", "noise", "b"], native, ref, strict=True):
        if r.abs().max() == 0:
            assert n.abs().max() == 0, name
        else:
            assert rel_error(n, r) < 1e-12, name
    with pytest.raises(NotImplementedError, match="order 4"):
        torch.autograd.grad((top * v).sum(), x)


# --- opcheck and compile -----------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    cases = [
        # dtype, layout, scale, noise, b, act, alpha, gain, clamp
        (torch.float32, torch.contiguous_format, True, "N1HW", True, "lrelu", 0.2, 1.414, 0.5),
        (torch.float64, torch.channels_last, True, "NCHW", True, "gelu", 0.0, 1.0, -1.0),
        (torch.float16, torch.channels_last, True, "N1HW", False, "swish", 0.0, 1.414, 2.0),
        (torch.bfloat16, torch.contiguous_format, False, "NCHW", True, "tanh", 0.0, 1.0, -1.0),
        (torch.float32, torch.channels_last, False, None, False, "elu", 0.0, 1.0, 1.0),
        (torch.float32, torch.contiguous_format, True, "HW", True, "softplus", 0.0, 0.5, -1.0),
    ]
    op, backward = (
        torch.ops.fastgan.styled_bias_act.default,
        torch.ops.fastgan.styled_bias_act_backward.default,
    )
    for dtype, fmt, use_scale, noise, use_b, act, alpha, gain, clamp in cases:
        inputs = make_inputs(device, dtype, fmt=fmt, scale=use_scale, noise=noise, b=use_b)
        inputs = [None if t is None else t.requires_grad_(True) for t in inputs]
        args = (*inputs, act, alpha, gain, clamp)
        torch.library.opcheck(op, args)
        grad = torch.randn_like(inputs[0]).requires_grad_(True)
        # Order 3 is the top: its own gradient raises (tested above), which opcheck would flag.
        for order in (1, 2):
            torch.library.opcheck(backward, (grad, *args, order))


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_non_dense_inputs(device):
    """Strided views and a grad laid out unlike x: the fake kernels must predict the strides."""
    base = torch.randn(4, 10, 6, 8, device=device)
    for x in (base.transpose(2, 3), base[:, :, ::2]):
        x = x.detach().requires_grad_(True)
        N, C, H, W = x.shape
        s = torch.randn(N, C, device=device, requires_grad=True)
        nz = torch.randn(N, 1, H, W, device=device, requires_grad=True)
        args = (x, s, nz, None, "gelu", 0.0, 1.0, 0.7)
        torch.library.opcheck(torch.ops.fastgan.styled_bias_act.default, args)
        grad = torch.randn(x.shape, device=device).to(memory_format=torch.channels_last)
        torch.library.opcheck(torch.ops.fastgan.styled_bias_act_backward.default, (grad, *args, 1))


@pytest.mark.parametrize("device", DEVICES)
def test_compile_fullgraph_forward_and_backward(device):
    """The public function compiles with no graph break; forward and backward match eager."""

    def layer(x, s, nz, b):
        return styled_bias_act(x, s, nz, b, act="lrelu", clamp=256) * 2 + 1

    torch._dynamo.reset()
    compiled = torch.compile(layer, fullgraph=True)
    for dtype, fmt in (
        (torch.float32, torch.channels_last),
        (torch.bfloat16, torch.contiguous_format),
    ):
        inputs = [
            t.requires_grad_(True)
            for t in make_inputs(device, dtype, (2, 8, 6, 6), fmt, noise="N1HW")
        ]
        y = compiled(*inputs)
        g = torch.autograd.grad(y.float().square().sum(), inputs)
        y_ref = layer(*inputs)
        r = torch.autograd.grad(y_ref.float().square().sum(), inputs)
        assert y.stride() == y_ref.stride()
        assert rel_error(y, y_ref) < TOLERANCE[dtype]
        for name, a, e in zip(["x", "scale", "noise", "b"], g, r, strict=True):
            assert rel_error(a, e) < TOLERANCE[dtype], name
    torch._dynamo.reset()


def test_compile_keeps_op_in_graph_with_backward_inside():
    """autograd.grad inside the compiled function, dynamic shapes, optional inputs None."""
    calls = 0

    def backend(gm, example_inputs):
        nonlocal calls
        calls += 1
        assert "fastgan.styled_bias_act" in str(gm.graph), "the op must stay in the graph"
        return gm

    def step(x, s, nz):
        y = styled_bias_act(x, s, nz, None, act="gelu", gain=0.5)
        gx, gs, gn = torch.autograd.grad(y.square().sum(), (x, s, nz))
        return y.detach(), gx, gs, gn

    torch._dynamo.reset()
    # Dynamo traces torch.autograd.grad only with this switch (torch 2.13).
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        compiled = torch.compile(step, fullgraph=True, backend=backend, dynamic=True)
        for n in (3, 5):
            x, s, nz, _ = make_inputs("cpu", torch.float32, (n, 4, 6, 7), noise="HW", b=False)
            inputs = [t.requires_grad_(True) for t in (x, s, nz)]
            out = compiled(*inputs)
            ref = step(*inputs)
            for a, e in zip(out, ref, strict=True):
                assert rel_error(a, e) < 1e-6
    assert calls >= 1
    torch._dynamo.reset()


# --- empty tensors and bad input ---------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5)])
def test_empty_tensors(device, shape):
    N, C, H, W = shape
    for fmt in FORMATS:
        x = torch.randn(shape, device=device).to(memory_format=fmt).requires_grad_(True)
        s = torch.randn(N, C, device=device, requires_grad=True)
        nz = torch.randn(N, 1, H, W, device=device, requires_grad=True)
        b = torch.randn(C, device=device, requires_grad=True)
        y = styled_bias_act(x, s, nz, b, act="lrelu", impl="native")
        assert y.shape == x.shape
        g = torch.autograd.grad(y.sum(), (x, s, nz, b))
        for t, gt in zip((x, s, nz, b), g, strict=True):
            assert gt.shape == t.shape and torch.all(gt == 0)


N_, C_, H_, W_ = SHAPE


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(x=torch.randn(5, 4, 7)), ValueError, r"expected x of shape \[N, C, H, W\]"),
        (dict(x=torch.randn(1, 3, 5, 4, 7)), ValueError, r"expected x of shape \[N, C, H, W\]"),
        (dict(scale=torch.randn(N_, C_ + 1)), ValueError, r"expected scale of shape \[3, 5\]"),
        (dict(scale=torch.randn(C_)), ValueError, r"expected scale of shape \[3, 5\]"),
        (dict(scale=torch.randn(N_, C_, 1, 1)), ValueError, r"expected scale of shape \[3, 5\]"),
        (dict(noise=torch.randn(N_, 2, H_, W_)), ValueError, r"broadcastable to \[3, 1, 4, 7\]"),
        (dict(noise=torch.randn(N_, 1, H_ + 1, W_)), ValueError, r"got shape \[3, 1, 5, 7\]"),
        (dict(noise=torch.randn(2, 1, H_, W_)), ValueError, "expected noise broadcastable"),
        (dict(noise=torch.randn(H_, W_ - 1)), ValueError, "expected noise broadcastable"),
        (dict(noise=torch.randn(W_)), ValueError, "expected noise broadcastable"),
        (dict(noise=torch.randn(1, N_, 1, H_, W_)), ValueError, "expected noise broadcastable"),
        (dict(b=torch.randn(C_ + 1)), ValueError, r"expected b of shape \[5\]"),
        (dict(scale=torch.randn(N_, C_, dtype=torch.float64)), TypeError, "scale of dtype"),
        (dict(noise=torch.randn(H_, W_, dtype=torch.float16)), TypeError, "noise of dtype"),
        (dict(b=torch.randn(C_, dtype=torch.bfloat16)), TypeError, "b of dtype"),
        (dict(scale=torch.randn(N_, C_, device="meta")), ValueError, "expected scale on cpu"),
        (dict(noise=torch.randn(H_, W_, device="meta")), ValueError, "expected noise on cpu"),
        (dict(scale=[[1.0] * C_] * N_), TypeError, r"expected scale to be a torch\.Tensor"),
        (dict(noise=1.0), TypeError, r"expected noise to be a torch\.Tensor"),
        (dict(act="leaky"), ValueError, "styled_bias_act: unknown act 'leaky'"),
        (dict(gain="2"), TypeError, "styled_bias_act: expected gain to be a number"),
        (dict(impl="cuda"), ValueError, "expected impl in"),
        (dict(x=torch.ones(SHAPE, dtype=torch.int32)), TypeError, "floating-point dtype"),
        (dict(x=[[1.0]]), TypeError, r"expected x to be a torch\.Tensor"),
    ],
)
def test_bad_input_python(kwargs, error, match):
    args = dict(x=torch.randn(SHAPE), scale=None, noise=None, b=None)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        styled_bias_act(**args)
    if "impl" not in kwargs:
        with pytest.raises(error, match=match):
            styled_bias_act_ref(**args)


def test_bad_input_reaches_cpp_checks():
    """Calling torch.ops directly skips the Python checks; the C++ checks still name the problem."""
    x = torch.randn(SHAPE)
    op, backward = torch.ops.fastgan.styled_bias_act, torch.ops.fastgan.styled_bias_act_backward
    tail = ("lrelu", 0.2, 1.0, -1.0)
    noise_msg = r"expected noise broadcastable to \[3, 1, 4, 7\] or \[3, 5, 4, 7\]"
    for nz in (torch.randn(N_, 2, H_, W_), torch.randn(N_, 1, H_ + 1, W_), torch.randn(2, H_, W_)):
        with pytest.raises(RuntimeError, match=noise_msg):
            op(x, None, nz, None, *tail)
    with pytest.raises(RuntimeError, match="expected noise broadcastable"):
        op(x, None, torch.randn(W_), None, *tail)
    with pytest.raises(RuntimeError, match="expected noise broadcastable"):
        op(x, None, torch.randn(1, 1, 1, H_, W_), None, *tail)
    with pytest.raises(RuntimeError, match=r"expected scale of shape \[3, 5\] \(\[N, C\] of x\)"):
        op(x, torch.randn(C_, N_), None, None, *tail)
    with pytest.raises(RuntimeError, match=r"expected x of shape \[N, C, H, W\]"):
        op(torch.randn(5, 4, 7), None, None, None, *tail)
    with pytest.raises(RuntimeError, match="expected noise of dtype Float"):
        op(x, None, torch.randn(H_, W_, dtype=torch.float64), None, *tail)
    with pytest.raises(RuntimeError, match="expected scale of dtype Float"):
        op(x, torch.randn(N_, C_, dtype=torch.float16), None, None, *tail)
    with pytest.raises(RuntimeError, match=r"expected b of shape \[5\]"):
        op(x, None, None, torch.randn(4), *tail)
    with pytest.raises(RuntimeError, match="unknown act 'nope'"):
        op(x, None, None, None, "nope", 0.0, 1.0, -1.0)
    with pytest.raises(RuntimeError, match="floating-point dtype"):
        op(torch.ones(SHAPE, dtype=torch.int32), None, None, None, *tail)
    with pytest.raises(RuntimeError, match="expected grad of shape"):
        backward(torch.randn(N_, C_, H_, W_ + 1), x, None, None, None, *tail, 1)
    with pytest.raises(RuntimeError, match="expected order >= 1"):
        backward(x, x, None, None, None, *tail, 0)
    with pytest.raises(RuntimeError, match=r"expected order in \[0, 3\]"):
        backward(x, x, None, None, None, *tail, 4)


def test_baseline_cpu_kernel_matches_reference():
    """The kernel built for baseline x86-64 (chosen on CPUs without AVX2) passes the same tests."""
    run_with_baseline_cpu_kernels(
        __file__,
        "(forward or large_tensor or non_dense or gradients_match) and cpu and not baseline",
    )


# --- CUDA only ---------------------------------------------------------------------------------


@pytest.mark.parametrize("device", [cuda_param(emulated=False)])
def test_cuda_float64_matches_cpu_to_second_order(device):
    cpu = make_inputs("cpu", torch.float64, (2, 5, 4, 3), noise="NCHW")
    for act in ACTS:
        fn = lambda *t, act=act: styled_bias_act(*t, act=act, clamp=1.2, impl="native")  # noqa: E731
        results = []
        for inputs in ([t.to(device) for t in cpu], [t.clone() for t in cpu]):
            inputs = [t.requires_grad_(True) for t in inputs]
            y = fn(*inputs)
            (g,) = torch.autograd.grad(y.square().sum(), inputs[0], create_graph=True)
            results.append([y, *torch.autograd.grad(g.sum(), inputs, materialize_grads=True)])
        for c, r in zip(*results, strict=True):
            assert rel_error(c, r) < 1e-12, act


@pytest.mark.parametrize("device", [cuda_param(emulated=False)])
@pytest.mark.parametrize("fmt", FORMATS, ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("width", [16400, 32769], ids=["2pow31-32bit-index", "2pow32-64bit-index"])
def test_cuda_huge_tensors_both_index_widths(device, fmt, width):
    """[1, 4, 32768, width]: just over 2**31 elements (32-bit indices, past int32) and just over
    2**32 (64-bit indices); the last rows lie past the boundary in both layouts."""
    shape = (1, 4, 32768, width)
    numel = 4 * 32768 * width
    free, _ = torch.cuda.mem_get_info()
    if free < 3 * numel * 2 + (2 << 30):
        pytest.skip(f"needs {3 * numel * 2 / 2**30:.1f} GiB of free GPU memory")
    dtype = torch.bfloat16
    x = torch.empty(shape, device=device, dtype=dtype).uniform_(-2, 2).to(memory_format=fmt)
    s = torch.rand(1, 4, device=device, dtype=dtype) + 0.5
    nz = torch.randn(1, 1, 32768, width, device=device, dtype=dtype)
    b = torch.randn(4, device=device, dtype=dtype)
    y = styled_bias_act(x, s, nz, b, act="lrelu", impl="native")
    assert y.stride() == x.stride()
    for rows in (slice(0, 4), slice(16382, 16386), slice(-4, None)):
        ref = reference64(x[:, :, rows], s, nz[:, :, rows], b, act="lrelu")
        assert rel_error(y[:, :, rows], ref) < TOLERANCE[dtype], rows


@pytest.mark.parametrize("device", [cuda_param(emulated=False)])
def test_cuda_current_stream(device):
    x, s, nz, b = make_inputs(device, torch.float32, (8, 64, 32, 32), noise="NCHW")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        y = styled_bias_act(x, s, nz, b, act="lrelu", impl="native")
    stream.synchronize()
    assert rel_error(y, reference64(x, s, nz, b, act="lrelu")) < 1e-5
