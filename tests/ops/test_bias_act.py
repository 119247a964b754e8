"""bias_act: native kernels against the pure-PyTorch reference, gradients, opcheck, compile."""

import itertools
import warnings

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from fastgan.ops import ACTIVATIONS, bias_act, bias_act_ref
from fastgan.ops._dispatch import Dispatch
from tests.conftest import DEVICES, TOLERANCE, cuda_param, rel_error, run_with_baseline_cpu_kernels

ACTS = list(ACTIVATIONS)
DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
# (gain, clamp) combinations: activation defaults, explicit gain, gain + clamp.
GAIN_CLAMP = [(None, None), (0.7, None), (None, 0.6)]
SHAPE = (3, 6, 5, 7)  # odd sizes so every vector loop has a tail


def make_inputs(device, dtype, shape=SHAPE, dim=1, memory_format=torch.contiguous_format):
    x = (torch.randn(shape, dtype=torch.float64) * 2).to(device, dtype)
    x = x.to(memory_format=memory_format)
    b = torch.randn(shape[dim], dtype=torch.float64).to(device, dtype)
    return x, b


def reference64(x, b, **kwargs):
    """The reference in float64 on the CPU, whatever the inputs' dtype and device."""
    return bias_act_ref(
        x.detach().double().cpu(), None if b is None else b.detach().double().cpu(), **kwargs
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ACTS)
def test_forward_matches_reference(device, dtype, act):
    formats = [torch.contiguous_format, torch.channels_last]
    for dim, (gain, clamp), fmt in itertools.product([0, 1, 2, 3, -1], GAIN_CLAMP, formats):
        x, b = make_inputs(device, dtype, dim=dim, memory_format=fmt)
        kwargs = dict(dim=dim, act=act, gain=gain, clamp=clamp)
        y = bias_act(x, b, impl="native", **kwargs)
        assert y.dtype == dtype and y.device == x.device and y.shape == x.shape
        assert y.stride() == x.stride(), f"output strides {y.stride()} != input {x.stride()}"
        err = rel_error(y, reference64(x, b, **kwargs))
        assert err < TOLERANCE[dtype], f"dim={dim} gain={gain} clamp={clamp} {fmt}: {err:.3g}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("act", ACTS)
def test_forward_without_bias_and_with_alpha(device, act):
    x, _ = make_inputs(device, torch.float32)
    for alpha in (None, 0.05):
        y = bias_act(x, None, act=act, alpha=alpha, gain=1.3, clamp=1.1, impl="native")
        ref = reference64(x, None, act=act, alpha=alpha, gain=1.3, clamp=1.1)
        assert rel_error(y, ref) < TOLERANCE[torch.float32]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("act", ACTS)
def test_gradients_match_reference(device, dtype, act):
    for dim, fmt in [
        (1, torch.contiguous_format),
        (1, torch.channels_last),
        (3, torch.contiguous_format),
    ]:
        x, b = make_inputs(device, dtype, dim=dim, memory_format=fmt)
        x.requires_grad_(True)
        b.requires_grad_(True)
        kwargs = dict(dim=dim, act=act, clamp=0.8)
        y = bias_act(x, b, impl="native", **kwargs)
        grad = torch.randn_like(y)
        gx, gb = torch.autograd.grad(y, (x, b), grad)

        x64 = x.detach().double().cpu().requires_grad_(True)
        b64 = b.detach().double().cpu().requires_grad_(True)
        y64 = bias_act_ref(x64, b64, **kwargs)
        rx, rb = torch.autograd.grad(y64, (x64, b64), grad.double().cpu())
        assert gx.stride() == x.stride()
        assert rel_error(gx, rx) < TOLERANCE[dtype], f"grad x, dim={dim} {fmt}"
        # grad b sums grad x, whose elements are rounded to bfloat16 first, over random signs:
        # the cancellation magnifies their rounding (up to ~1.3e-2 seen at this size).
        tolerance_b = 2 * TOLERANCE[dtype] if dtype == torch.bfloat16 else TOLERANCE[dtype]
        assert rel_error(gb, rb) < tolerance_b, f"grad b, dim={dim} {fmt}"


def test_gradient_of_one_input_only():
    x, b = make_inputs("cpu", torch.float64)
    for need_x, need_b in ((True, False), (False, True)):
        xx, bb = x.clone().requires_grad_(need_x), b.clone().requires_grad_(need_b)
        y = bias_act(xx, bb, act="softplus", clamp=1.0)
        (g,) = torch.autograd.grad(y.sum(), xx if need_x else bb)
        xr, br = x.clone().requires_grad_(need_x), b.clone().requires_grad_(need_b)
        (r,) = torch.autograd.grad(
            bias_act_ref(xr, br, act="softplus", clamp=1.0).sum(), xr if need_x else br
        )
        assert rel_error(g, r) < 1e-12


def test_gradient_is_zero_where_clamped():
    x = torch.randn(4, 8, 6, 6, dtype=torch.float64, requires_grad=True)
    y = bias_act(x, None, act="linear", gain=3.0, clamp=1.0)
    (gx,) = torch.autograd.grad(y.sum(), x)
    clamped = (x.detach() * 3).abs() > 1
    assert clamped.any() and (~clamped).any()
    assert torch.all(gx[clamped] == 0)
    assert torch.allclose(gx[~clamped], torch.full_like(gx[~clamped], 3.0))


@pytest.mark.parametrize("act", ACTS)
def test_gradcheck_and_gradgradcheck_float64(act):
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, requires_grad=True)
    for clamp in (None, 0.9):
        fn = lambda x, b, clamp=clamp: bias_act(x, b, act=act, clamp=clamp, impl="native")  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, b))
        assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("act", ACTS)
def test_second_order_matches_reference(device, act):
    """d/dx <grad(y), v>: the double backward path (R1, path length) against float64 reference."""
    x, b = make_inputs(device, torch.float32, shape=(2, 6, 5, 4))
    v = torch.randn_like(x)

    def second_order(fn, x, b):
        x = x.detach().requires_grad_(True)
        b = b.detach().requires_grad_(True)
        y = fn(x, b)
        (gx,) = torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True)
        if not gx.requires_grad:  # the reference's gradient is constant for piecewise-linear acts
            return torch.zeros_like(x), torch.zeros_like(b)
        return torch.autograd.grad((gx * v.to(gx)).sum(), (x, b), materialize_grads=True)

    kwargs = dict(act=act, clamp=1.5)
    out = second_order(lambda x, b: bias_act(x, b, impl="native", **kwargs), x, b)
    ref = second_order(
        lambda x, b: bias_act_ref(x, b, **kwargs), x.double().cpu(), b.double().cpu()
    )
    for o, r in zip(out, ref, strict=True):
        assert rel_error(o, r) < 1e-5


@pytest.mark.parametrize("act", ACTS)
def test_third_order_matches_reference_and_fourth_raises(act):
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(3, 4, dtype=torch.float64)

    def derivatives(fn):
        """d/dx of <v, .> applied 1, 2 and 3 times."""
        out, grads = fn(x, b), []
        for _ in range(3):
            if not out.requires_grad:  # the reference's derivative became a constant
                out = torch.zeros_like(x)
            else:
                (out,) = torch.autograd.grad(
                    (out * v).sum(), x, create_graph=True, materialize_grads=True
                )
            grads.append(out)
        return grads

    native = derivatives(lambda x, b: bias_act(x, b, act=act, clamp=2.5, impl="native"))
    ref = derivatives(lambda x, b: bias_act_ref(x, b, act=act, clamp=2.5))
    for k, (n, r) in enumerate(zip(native, ref, strict=True), 1):
        if r.abs().max() == 0:
            assert n.abs().max() == 0, f"order {k}"
        else:
            assert rel_error(n, r) < 1e-12, f"order {k}"
    with pytest.raises(NotImplementedError, match="order 4"):
        torch.autograd.grad((native[-1] * v).sum(), x)


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    cases = [
        (torch.float32, torch.contiguous_format, 1, "lrelu", 0.2, 1.414, 0.5),
        (torch.float64, torch.channels_last, 1, "gelu", 0.0, 1.0, -1.0),
        (torch.float16, torch.channels_last, 3, "swish", 0.0, 1.414, 2.0),
        (torch.bfloat16, torch.contiguous_format, 2, "tanh", 0.0, 1.0, -1.0),
    ]
    for dtype, fmt, dim, act, alpha, gain, clamp in cases:
        x, b = make_inputs(device, dtype, dim=dim, memory_format=fmt)
        x.requires_grad_(True)
        b.requires_grad_(True)
        args = (x, b, dim, act, alpha, gain, clamp)
        torch.library.opcheck(torch.ops.fastgan.bias_act.default, args)
        torch.library.opcheck(
            torch.ops.fastgan.bias_act.default, (x, None, dim, act, alpha, gain, clamp)
        )
        grad = torch.randn_like(x).requires_grad_(True)
        # Order 3 is the top: its own gradient raises (tested above), which opcheck would flag.
        for order in (1, 2):
            torch.library.opcheck(torch.ops.fastgan.bias_act_backward.default, (grad, *args, order))


@pytest.mark.parametrize("device", DEVICES)
def test_compile_fullgraph_forward_and_backward(device):
    """The public function compiles with no graph break, forward and first-order backward."""

    def layer(x, b):
        return bias_act(x, b, act="lrelu", clamp=256) * 2 + 1

    compiled = torch.compile(layer, fullgraph=True, backend="inductor")
    for dtype in (torch.float32, torch.bfloat16):
        x, b = make_inputs(device, dtype, shape=(2, 8, 6, 6))
        x.requires_grad_(True)
        b.requires_grad_(True)
        y = compiled(x, b)
        gx, gb = torch.autograd.grad(y.float().square().sum(), (x, b))
        y_ref = layer(x, b)
        rx, rb = torch.autograd.grad(y_ref.float().square().sum(), (x, b))
        assert rel_error(y, y_ref) < TOLERANCE[dtype]
        assert rel_error(gx, rx) < TOLERANCE[dtype] and rel_error(gb, rb) < TOLERANCE[dtype]


@pytest.mark.parametrize("act", ["swish", "gelu", "elu"])
def test_compile_fullgraph_every_signature(act):
    """No bias, channels_last, dim=-1, dynamic shapes and backward trace without a graph break."""
    calls = 0

    def backend(gm, example_inputs):
        nonlocal calls
        calls += 1
        assert "fastgan.bias_act" in str(gm.graph), "the op must stay in the graph as one node"
        return gm

    fn = torch.compile(
        lambda x, b: bias_act(x, b, dim=-1, act=act, gain=0.5),
        fullgraph=True,
        backend=backend,
        dynamic=True,
    )
    fn_nb = torch.compile(lambda x: bias_act(x, act=act), fullgraph=True, backend="aot_eager")
    for n in (3, 5):
        x = torch.randn(n, 4, 6, 7).to(memory_format=torch.channels_last).requires_grad_(True)
        b = torch.randn(7, requires_grad=True)
        y = fn(x, b)
        assert rel_error(y, reference64(x, b, dim=-1, act=act, gain=0.5)) < 1e-5
        gx, gb = torch.autograd.grad(y.sum(), (x, b))
        x64, b64 = (
            x.detach().double().requires_grad_(True),
            b.detach().double().requires_grad_(True),
        )
        rx, rb = torch.autograd.grad(
            bias_act_ref(x64, b64, dim=-1, act=act, gain=0.5).sum(), (x64, b64)
        )
        assert rel_error(gx, rx) < 1e-5 and rel_error(gb, rb) < 1e-5
        assert rel_error(fn_nb(x), reference64(x, None, act=act)) < 1e-5
    assert calls >= 1


@pytest.mark.parametrize("device", DEVICES)
def test_non_contiguous_and_offset_inputs(device):
    base = torch.randn(4, 9, 10, 12, device=device)
    b = torch.randn(9, device=device)
    for x in (
        base.transpose(2, 3),
        base[:, :, 1:, 3:],
        base[1:],
        base.flatten()[9:].view(-1, 9),
    ):  # the last: 36-byte offset
        bb = b if x.ndim == 4 else torch.randn(9, device=device)
        y = bias_act(x, bb, act="selu", clamp=1.0, impl="native")
        assert rel_error(y, reference64(x, bb, act="selu", clamp=1.0)) < 1e-5


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(0, 4, 3), (2, 0, 5), (0,)])
def test_empty_tensors(device, shape):
    x = torch.randn(shape, device=device, requires_grad=True)
    dim = 1 if len(shape) > 1 else 0
    b = torch.randn(shape[dim], device=device, requires_grad=True)
    y = bias_act(x, b, dim=dim, act="lrelu", impl="native")
    assert y.shape == x.shape
    gx, gb = torch.autograd.grad(y.sum(), (x, b))
    assert gx.shape == x.shape and gb.shape == b.shape and torch.all(gb == 0)


@pytest.mark.parametrize("device", DEVICES)
def test_nan_propagates(device):
    x = torch.randn(2, 3, 4, device=device)
    x[0, 1, 2] = float("nan")
    for act in ACTS:
        y = bias_act(x, None, act=act, clamp=1.0, impl="native")
        assert torch.isnan(y[0, 1, 2]), act
        assert torch.isnan(y).sum() == 1, act


class RecordOps(TorchDispatchMode):
    """Records the name of every operator that reaches the dispatcher."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_impl_selects_native_kernel_or_reference():
    x, b = make_inputs("cpu", torch.float32)
    with RecordOps() as native:
        y_native = bias_act(x, b, act="lrelu")
    with RecordOps() as ref:
        y_ref = bias_act(x, b, act="lrelu", impl="ref")
    assert native.ops == ["fastgan.bias_act.default"]
    assert "fastgan.bias_act.default" not in ref.ops and "aten.leaky_relu.default" in ref.ops
    assert torch.equal(y_ref, bias_act_ref(x, b, act="lrelu"))
    assert rel_error(y_native, y_ref) < 1e-6


def test_fallback_to_reference_warns_once():
    dispatch = Dispatch("bias_act")  # fresh warning state
    x = torch.randn(2, 3, device="meta")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert dispatch.use_native(x.device, "auto") is False
        assert dispatch.use_native(x.device, "auto") is False
    assert len(caught) == 1 and "no native meta kernel" in str(caught[0].message)
    with pytest.raises(RuntimeError, match="impl='native'"):
        dispatch.use_native(x.device, "native")
    # The public function falls back too, and the result is right (shape-wise on meta).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert bias_act(x, torch.randn(3, device="meta"), act="gelu").shape == (2, 3)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(act="leaky"), ValueError, "unknown act 'leaky'"),
        (
            dict(b=torch.randn(5)),
            ValueError,
            r"expected b of shape \[6\] \(x.shape\[1\]\), got \[5\]",
        ),
        (dict(b=torch.randn(2, 3)), ValueError, r"expected b of shape \[6\]"),
        (
            dict(b=torch.randn(6, dtype=torch.float64)),
            TypeError,
            "expected b of dtype torch.float32",
        ),
        (dict(b=torch.randn(6, device="meta")), ValueError, "expected b on cpu"),
        (dict(b=torch.randn(6), dim=4), ValueError, r"expected dim in \[-4, 4\)"),
        (dict(b=torch.randn(6), dim=-5), ValueError, r"expected dim in \[-4, 4\)"),
        (dict(b=torch.randn(6), dim=1.0), TypeError, "expected dim to be an int"),
        (dict(gain="2"), TypeError, "expected gain to be a number"),
        (dict(clamp=[1]), TypeError, "expected clamp to be a number"),
        (dict(impl="cuda"), ValueError, "expected impl in"),
        (dict(b=[1.0] * 6), TypeError, "expected b to be a torch.Tensor"),
    ],
)
def test_bad_input_python(kwargs, error, match):
    x = torch.randn(2, 6, 3, 3)
    with pytest.raises(error, match=match):
        bias_act(x, **kwargs)


@pytest.mark.parametrize(
    "dtype", [torch.int32, torch.int64, torch.complex64, torch.bool, torch.float8_e4m3fn]
)
def test_bad_dtype(dtype):
    x = torch.ones(2, 3, dtype=dtype)
    with pytest.raises(TypeError, match=f"floating-point dtype.*got {dtype}"):
        bias_act(x)
    with pytest.raises(TypeError, match=r"expected x to be a torch\.Tensor"):
        bias_act([1.0, 2.0])


def test_bad_input_reaches_cpp_checks():
    """Calling torch.ops directly skips the Python checks; the C++ checks still name the problem."""
    x = torch.randn(2, 6, 3)
    op = torch.ops.fastgan.bias_act
    with pytest.raises(RuntimeError, match="unknown act 'nope'"):
        op(x, None, 1, "nope", 0.0, 1.0, -1.0)
    with pytest.raises(
        RuntimeError, match=r"expected b of shape \[6\] \(x.shape\[1\]\), got \[4\]"
    ):
        op(x, torch.randn(4), 1, "relu", 0.0, 1.0, -1.0)
    with pytest.raises(RuntimeError, match="expected b of dtype Float"):
        op(x, torch.randn(6, dtype=torch.float16), 1, "relu", 0.0, 1.0, -1.0)
    with pytest.raises(RuntimeError, match=r"expected dim in \[0, 3\)"):
        op(x, torch.randn(6), 3, "relu", 0.0, 1.0, -1.0)
    with pytest.raises(RuntimeError, match="floating-point dtype"):
        op(torch.ones(2, 6, dtype=torch.int32), None, 1, "relu", 0.0, 1.0, -1.0)
    with pytest.raises(RuntimeError, match="floating-point dtype"):
        op(torch.ones(2, 6, dtype=torch.float8_e5m2), None, 1, "relu", 0.0, 1.0, -1.0)
    with pytest.raises(RuntimeError, match="expected grad of shape"):
        torch.ops.fastgan.bias_act_backward(
            torch.randn(2, 6), x, None, 1, "relu", 0.0, 1.0, -1.0, 1
        )
    with pytest.raises(RuntimeError, match="expected order >= 1"):
        torch.ops.fastgan.bias_act_backward(x, x, None, 1, "relu", 0.0, 1.0, -1.0, 0)
    with pytest.raises(RuntimeError, match=r"expected order in \[0, 3\]"):
        torch.ops.fastgan.bias_act_backward(x, x, None, 1, "relu", 0.0, 1.0, -1.0, 4)


# --- CUDA only -------------------------------------------------------------------------------


@pytest.mark.parametrize("device", [cuda_param(emulated=False)])
def test_cuda_second_order_float64_matches_cpu(device):
    x, b = make_inputs("cpu", torch.float64, shape=(2, 5, 4, 3))
    for act in ACTS:
        fn = lambda x, b, act=act: bias_act(x, b, act=act, clamp=1.2, impl="native")  # noqa: E731
        xg, bg = x.to(device).requires_grad_(True), b.to(device).requires_grad_(True)
        assert torch.autograd.gradgradcheck(fn, (xg, bg)), act
        results = []
        for xx, bb in ((xg, bg), (x.clone().requires_grad_(True), b.clone().requires_grad_(True))):
            y = fn(xx, bb)
            (g,) = torch.autograd.grad(y.square().sum(), xx, create_graph=True)
            results.append(torch.autograd.grad(g.sum(), (xx, bb)))
        for c, r in zip(*results, strict=True):
            assert rel_error(c, r) < 1e-12, act


@pytest.mark.parametrize("device", [cuda_param(emulated=False)])
def test_cuda_runs_on_current_stream_and_device_guard(device):
    x, b = make_inputs(device, torch.float32, shape=(8, 64, 32, 32))
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        y = bias_act(x, b, act="lrelu", impl="native")
    stream.synchronize()
    assert rel_error(y, reference64(x, b, act="lrelu")) < 1e-5


@pytest.mark.parametrize("device", [cuda_param(emulated=False)])
def test_cuda_more_than_2pow31_elements(device):
    free, _ = torch.cuda.mem_get_info()
    n = 2**31 + 4099  # not a multiple of the vector width: the tail path runs too
    if free < 3 * n * 2 + (1 << 30):
        pytest.skip(f"needs {3 * n * 2 / 2**30:.1f} GiB of free GPU memory")
    x = torch.empty(n, device=device, dtype=torch.bfloat16).uniform_(-2, 2)
    y = bias_act(x, None, act="lrelu", gain=1.0, impl="native")
    # Spot-check both ends and a window around the 2**31 boundary against the reference.
    for sl in (slice(0, 1 << 20), slice(2**31 - 4096, 2**31 + 4096), slice(n - 5000, n)):
        assert torch.equal(y[sl], bias_act_ref(x[sl], None, act="lrelu", gain=1.0))
    del y
    x2 = x.view(-1)[: (n // 64) * 64].view(-1, 64)  # per-channel bias over > 2**31 elements
    b = torch.randn(64, device=device, dtype=torch.bfloat16)
    y2 = bias_act(x2, b, dim=1, act="relu", gain=1.0, impl="native")
    for sl in (slice(0, 1 << 14), slice(2**31 // 64 - 100, 2**31 // 64 + 100), slice(-100, None)):
        assert torch.equal(y2[sl], bias_act_ref(x2[sl], b, dim=1, act="relu", gain=1.0))


def test_baseline_cpu_kernel_matches_reference():
    """The kernel built for baseline x86-64 (chosen on CPUs without AVX2) passes the same tests."""
    run_with_baseline_cpu_kernels(
        __file__,
        "(forward or gradients or second_order or non_contiguous) and cpu and not baseline",
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_single_channel_bias(device, dtype):
    """A bias of one element (size 1 along dim) is added everywhere, on every kernel path."""
    for shape, dim in [((4, 1, 8, 8), 1), ((3, 1, 5, 7), 1), ((1, 64), 0)]:
        x = torch.randn(shape, device=device, dtype=dtype)
        b = torch.randn(1, device=device, dtype=dtype) + 3
        y = bias_act(x, b, dim=dim, act="linear", impl="native")
        assert rel_error(y, reference64(x, b, dim=dim, act="linear")) < TOLERANCE[dtype]


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_non_dense_inputs(device):
    """Strided views, and a grad laid out unlike x: the fake kernels must predict the strides."""
    base = torch.randn(4, 10, 6, 8, device=device)
    b = torch.randn(10, device=device, requires_grad=True)
    for x in (base.transpose(2, 3), base[:, :, ::2]):
        x = x.detach().requires_grad_(True)
        args = (x, b, 1, "gelu", 0.0, 1.0, 0.7)
        torch.library.opcheck(torch.ops.fastgan.bias_act.default, args)
        grad = torch.randn(x.shape, device=device).to(memory_format=torch.channels_last)
        torch.library.opcheck(torch.ops.fastgan.bias_act_backward.default, (grad, *args, 1))
