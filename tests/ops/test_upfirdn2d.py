"""upfirdn2d: native kernels against the float64 reference, gradients, opcheck, compile, and the
StyleGAN helpers (setup_filter, upsample2d, downsample2d, filter2d)."""

import itertools

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from fastgan.ops import (
    downsample2d,
    filter2d,
    setup_filter,
    upfirdn2d,
    upfirdn2d_ref,
    upsample2d,
)
from fastgan.ops.upfirdn2d import filter_size, gradient_args, parse_padding, parse_scaling
from tests.conftest import DEVICES, TOLERANCE, cuda_param, rel_error

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
FORMATS = [torch.contiguous_format, torch.channels_last]
UPS = [1, 2, [3, 1]]
DOWNS = [1, 2, [1, 3]]
PADDINGS = [0, 2, [-1, 3, 2, -2]]
# Filter kinds: random (asymmetric, so that a wrong flip shows) 1-D 4-tap, 1-D 8-tap, 2-D 3x5
# (non-square: a transposed filter shows), a 2-D 3x5 outer product of two random 1-D filters
# (the CPU kernel runs it separably), and None (the identity).
FILTERS = {"1d4": (4,), "1d8": (8,), "2d3x5": (3, 5), "rank1_3x5": (3, 5), "none": None}
SHAPE = (2, 3, 9, 11)  # odd sizes: no tile or vector width divides them
GAIN = 1.7


def make_filter(kind, device="cpu"):
    shape = FILTERS[kind]
    if shape is None:
        return None
    if kind.startswith("rank1"):
        col, row = (torch.rand(n, dtype=torch.float64) + 0.1 for n in shape)
        return torch.outer(col, row).float().to(device)
    return (torch.rand(shape, dtype=torch.float64) + 0.1).float().to(device)


def make_x(shape, device, dtype, memory_format=torch.contiguous_format):
    x = torch.randn(shape, dtype=torch.float64).to(device, dtype)
    return x.to(memory_format=memory_format)


def expected_size(shape, f, up, down, padding):
    """(H, W) of the output from the documented formula, or None when it would be empty."""
    (ux, uy), (dx, dy) = parse_scaling(up), parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    if f is None:
        fh = fw = 1
    elif f.ndim == 1:
        fh = fw = f.shape[0]
    else:
        fh, fw = f.shape
    span_y = shape[2] * uy + py0 + py1 - fh
    span_x = shape[3] * ux + px0 + px1 - fw
    if span_y < 0 or span_x < 0:
        return None
    return span_y // dy + 1, span_x // dx + 1


def reference64(x, f, **kwargs):
    """The reference in float64 on the CPU, whatever the inputs' dtype and device."""
    return upfirdn2d_ref(x.detach().double().cpu(), None if f is None else f.cpu(), **kwargs)


def check_layout(y, memory_format):
    assert y.is_contiguous(memory_format=memory_format), (
        f"output strides {y.stride()} are not {memory_format}"
    )


# --- forward against the reference ------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind", list(FILTERS))
def test_forward_matches_reference(device, dtype, kind):
    f = make_filter(kind, device)
    checked = 0
    for up, down, padding, flip, fmt in itertools.product(
        UPS, DOWNS, PADDINGS, [False, True], FORMATS
    ):
        size = expected_size(SHAPE, f, up, down, padding)
        if size is None:
            continue
        x = make_x(SHAPE, device, dtype, fmt)
        kwargs = dict(up=up, down=down, padding=padding, flip_filter=flip, gain=GAIN)
        y = upfirdn2d(x, f, impl="native", **kwargs)
        where = f"up={up} down={down} padding={padding} flip={flip} {fmt}"
        assert y.dtype == dtype and y.device == x.device, where
        assert tuple(y.shape) == (*SHAPE[:2], *size), where
        check_layout(y, fmt)
        err = rel_error(y, reference64(x, f, **kwargs))
        assert err < TOLERANCE[dtype], f"{where}: {err:.3g}"
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("taps", [4, 8])
def test_float64_separable_filter_taps_are_exact(device, taps):
    """A random 1-D filter in float64: its 2-D taps k[i] * k[j] must be formed in float64. The
    CUDA kernels once formed them in float32 (off by ~1e-8 relative, found by the emulated CUDA
    build); [1, 3, 3, 1] hides that, its products being exact in float32."""
    x = make_x((2, 3, 9, 11), device, torch.float64)
    f = (torch.rand(taps) + 0.1).to(device)
    for up, down, padding in ((1, 1, 0), (2, 1, [2, 1, 2, 1]), (1, 2, 1), ([2, 3], [3, 1], 3)):
        y = upfirdn2d(x, f, up=up, down=down, padding=padding, impl="native")
        ref = reference64(x, f, up=up, down=down, padding=padding)
        assert rel_error(y, ref) < TOLERANCE[torch.float64], (up, down, padding)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_forward_larger_and_strided_inputs(device, dtype):
    """Sizes spanning several tiles, long filters, and inputs that are neither contiguous nor
    channels_last (transposed, sliced, offset)."""
    base = make_x((3, 4, 40, 53), device, dtype)
    views = [base, base.transpose(2, 3), base[:, :, 1::2, 3:], base[1:, 1:]]
    configs = [
        (make_filter("1d8", device), 2, 1, [4, 3, 4, 3]),
        (make_filter("2d3x5", device), [1, 3], [3, 2], [1, -2, 0, 2]),
        (torch.rand(16, 16, device=device) + 0.1, 1, 4, [30, 30, 40, 40]),  # CUDA 16x16 tiles
        (torch.rand(16, 16, device=device) + 0.1, 1, 8, 0),  # too big a tile: direct CUDA kernel
        (torch.rand(4, 4, device=device) + 0.1, 2, 2, 1),
    ]
    for x, (f, up, down, padding) in itertools.product(views, configs):
        kwargs = dict(up=up, down=down, padding=padding, gain=0.8)
        y = upfirdn2d(x, f, impl="native", **kwargs)
        assert y.is_contiguous()
        err = rel_error(y, reference64(x, f, **kwargs))
        assert err < TOLERANCE[dtype], f"{tuple(x.stride())} up={up} down={down}: {err:.3g}"


@pytest.mark.parametrize("device", DEVICES)
def test_semantics_without_reference(device):
    """Zero insertion, decimation, shifts and the impulse response, checked from first principles
    rather than against upfirdn2d_ref."""
    x = make_x((2, 3, 5, 7), device, torch.float32)
    assert torch.equal(upfirdn2d(x, None, impl="native"), x)
    y = upfirdn2d(x, None, up=2, impl="native")
    assert y.shape == (2, 3, 10, 14)
    assert torch.equal(y[:, :, ::2, ::2], x)
    y[:, :, ::2, ::2] = 0
    assert torch.all(y == 0)
    y = upfirdn2d(x, None, up=[3, 1], impl="native")
    assert y.shape == (2, 3, 5, 21) and torch.equal(y[..., ::3], x)
    assert torch.equal(upfirdn2d(x, None, down=2, impl="native"), x[:, :, ::2, ::2])
    assert torch.equal(upfirdn2d(x, None, down=[1, 3], impl="native"), x[:, :, ::3, :])
    # padding [x0, x1, y0, y1]: one column of zeros on the left, the last column cropped.
    y = upfirdn2d(x, None, padding=[1, -1, 0, 0], impl="native")
    assert torch.all(y[..., 0] == 0) and torch.equal(y[..., 1:], x[..., :-1])
    y = upfirdn2d(x, None, padding=[0, 0, -2, 1], impl="native")
    assert torch.all(y[:, :, -1] == 0) and torch.equal(y[:, :, :-1], x[:, :, 2:])
    assert torch.allclose(upfirdn2d(x, None, gain=-2.5, impl="native"), x * -2.5)

    # The full response to a single sample a is a * f (a true convolution) or a * flip(f).
    a = torch.randn(1, 1, 1, 1, device=device)
    for f in (torch.rand(3, 5, device=device), torch.rand(4, device=device)):
        f2 = f if f.ndim == 2 else torch.outer(f, f)
        fh, fw = f2.shape
        for flip in (False, True):
            y = upfirdn2d(
                a,
                f,
                padding=[fw - 1, fw - 1, fh - 1, fh - 1],
                flip_filter=flip,
                gain=1.5,
                impl="native",
            )
            expect = a[0, 0] * (f2.flip([0, 1]) if flip else f2) * 1.5
            assert torch.allclose(y[0, 0], expect, rtol=1e-6, atol=1e-7), (f.shape, flip)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_empty_batch_and_channels(device, dtype):
    f = setup_filter([1, 3, 3, 1], device=device)
    for shape in ((0, 3, 6, 5), (2, 0, 6, 5)):
        for fmt in FORMATS:
            x = make_x(shape, device, dtype, fmt).requires_grad_(True)
            y = upfirdn2d(x, f, up=2, down=[1, 2], padding=[2, 1, 0, 1], impl="native")
            assert y.shape == (*shape[:2], *expected_size(shape, f, 2, [1, 2], [2, 1, 0, 1]))
            (gx,) = torch.autograd.grad(y.sum(), x)
            assert gx.shape == x.shape
            assert upsample2d(x, f).shape == (*shape[:2], 12, 10)
            assert downsample2d(x, f).shape == (*shape[:2], 3, 2)


# --- the CUDA-specialised paths ---------------------------------------------------------------


@pytest.mark.parametrize("device", [cuda_param()])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 37, 70), (1, 2, 100, 67)])
def test_cuda_stylegan_paths(device, dtype, shape):
    """2x up, 2x down and blur with a 4x4 filter on NCHW-contiguous inputs (the compile-time
    specialised tiled kernels), over several tiles of sizes not multiples of the tile."""
    H, W = shape[2:]
    filters = [
        setup_filter([1, 3, 3, 1], device=device),  # [4, 4]
        torch.rand(4, 4, device=device) + 0.1,  # asymmetric: a wrong flip shows
        setup_filter([1, 3, 3, 1], device=device, separable=True),  # [4]: runs as its outer product
    ]
    for f, flip, gain in itertools.product(filters, [False, True], [1, 0.7]):
        x = make_x(shape, device, dtype)
        cases = [
            (upsample2d, dict(up=2), (2 * H, 2 * W)),
            (downsample2d, dict(down=2), (H // 2, W // 2)),
            (filter2d, dict(), (H, W)),
        ]
        for fn, kwargs, size in cases:
            y = fn(x, f, flip_filter=flip, gain=gain, impl="native", **kwargs)
            assert y.shape[2:] == size and y.is_contiguous(), fn.__name__
            ref = fn(x.double().cpu(), f.cpu(), flip_filter=flip, gain=gain, impl="ref", **kwargs)
            err = rel_error(y, ref)
            assert err < TOLERANCE[dtype], f"{fn.__name__} {list(f.shape)} flip={flip}: {err:.3g}"
        # Same specialisation with non-zero extra padding.
        y = upfirdn2d(x, f, up=2, padding=[3, -1, 0, 2], flip_filter=flip, impl="native")
        ref = reference64(x, f, up=2, padding=[3, -1, 0, 2], flip_filter=flip)
        assert rel_error(y, ref) < TOLERANCE[dtype]
    # The gradients: upsample2d's is a 2x downsampling with the same 4x4 filter, and back.
    f = filters[1]
    for fn, kwargs in ((upsample2d, dict(up=2)), (downsample2d, dict(down=2))):
        x = make_x(shape, device, dtype).requires_grad_(True)
        y = fn(x, f, impl="native", **kwargs)
        grad = torch.randn_like(y)
        (gx,) = torch.autograd.grad(y, x, grad)
        x64 = x.detach().double().cpu().requires_grad_(True)
        (rx,) = torch.autograd.grad(
            fn(x64, f.cpu(), impl="ref", **kwargs), x64, grad.cpu().double()
        )
        assert rel_error(gx, rx) < TOLERANCE[dtype], fn.__name__


@pytest.mark.parametrize("device", [cuda_param(emulated=False)])
def test_cuda_more_than_65535_planes(device):
    """N * C > 65535 planes: more than one grid z-extent, the blocks loop over planes."""
    x = make_x((1, 70000, 3, 3), device, torch.float32)
    f = setup_filter([1, 3, 3, 1], device=device)
    x64 = x.double().cpu()
    for fn, kwargs in ((upsample2d, dict(up=2)), (downsample2d, dict(down=2)), (filter2d, {})):
        y = fn(x, f, impl="native", **kwargs)
        ref = fn(x64, f.cpu(), impl="ref", **kwargs)
        assert rel_error(y, ref) < TOLERANCE[torch.float32], fn.__name__
        # The last planes too (a plane-looping bug would leave them unwritten or wrong).
        assert rel_error(y[:, -70:], ref[:, -70:]) < TOLERANCE[torch.float32], fn.__name__
    # The generic (run-time) tiled kernel loops over planes too.
    f35 = make_filter("2d3x5", device)
    y = upfirdn2d(x, f35, up=[3, 1], down=[1, 2], padding=2, impl="native")
    ref = reference64(x, f35, up=[3, 1], down=[1, 2], padding=2)
    assert rel_error(y, ref) < TOLERANCE[torch.float32]
    assert rel_error(y[:, -70:], ref[:, -70:]) < TOLERANCE[torch.float32]


@pytest.mark.parametrize("device", [cuda_param(emulated=False)])
def test_cuda_runs_on_current_stream(device):
    x = make_x((8, 16, 64, 64), device, torch.float32)
    f = setup_filter([1, 3, 3, 1], device=device)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        y = upsample2d(x, f, impl="native")
    stream.synchronize()
    assert rel_error(y, upsample2d(x.double().cpu(), f.cpu(), impl="ref")) < 1e-5


@pytest.mark.parametrize("device", [cuda_param()])
def test_cuda_float64_gradgradcheck(device):
    x = make_x((1, 2, 5, 6), device, torch.float64).requires_grad_(True)
    f = make_filter("2d3x5", device)

    def fn(x):
        return upfirdn2d(x, f, up=[2, 3], down=[3, 1], padding=[1, 2, 0, 3], impl="native")

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


# --- gradients ---------------------------------------------------------------------------------

# (filter kind, up, down, padding, flip_filter, gain)
GRAD_CONFIGS = [
    ("1d4", 2, 1, [2, 1, 2, 1], False, 1.0),
    ("2d3x5", 1, 2, 1, False, 1.0),
    ("1d4", [2, 3], [3, 1], [1, 2, 0, 3], False, 0.7),
    ("2d3x5", 1, 1, [-1, 2, 1, -2], True, 1.0),
    ("1d8", 2, 2, 3, True, 1.3),
    ("none", [3, 1], [1, 2], [0, 1, -1, 0], False, 2.0),
]


def config_id(config):
    kind, up, down, padding, flip, gain = config
    return f"{kind}-up{up}-down{down}-pad{padding}-flip{int(flip)}-gain{gain}".replace(" ", "")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("fmt", FORMATS, ids=["contiguous", "channels_last"])
def test_gradients_match_reference(device, dtype, fmt):
    for kind, up, down, padding, flip, gain in GRAD_CONFIGS:
        f = make_filter(kind, device)
        kwargs = dict(up=up, down=down, padding=padding, flip_filter=flip, gain=gain)
        x = make_x((2, 3, 9, 10), device, dtype, fmt).requires_grad_(True)
        y = upfirdn2d(x, f, impl="native", **kwargs)
        grad = torch.randn(y.shape, dtype=torch.float64).to(device, dtype).to(memory_format=fmt)
        (gx,) = torch.autograd.grad(y, x, grad)

        x64 = x.detach().double().cpu().requires_grad_(True)
        y64 = upfirdn2d_ref(x64, None if f is None else f.cpu(), **kwargs)
        (rx,) = torch.autograd.grad(y64, x64, grad.double().cpu())
        assert gx.dtype == dtype and gx.shape == x.shape
        check_layout(gx, fmt)
        err = rel_error(gx, rx)
        assert err < TOLERANCE[dtype], f"{kind} up={up} down={down} padding={padding}: {err:.3g}"


@pytest.mark.parametrize("config", GRAD_CONFIGS, ids=config_id)
def test_gradcheck_and_gradgradcheck_float64(config):
    kind, up, down, padding, flip, gain = config
    f = make_filter(kind)
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)

    def fn(x):
        return upfirdn2d(
            x, f, up=up, down=down, padding=padding, flip_filter=flip, gain=gain, impl="native"
        )

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))
    xc = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (xc,))


@pytest.mark.parametrize("config", GRAD_CONFIGS[:3], ids=config_id)
def test_third_order(config):
    """h(x, g) = d<g, y(x)^2>/dx is a gradient; gradgradcheck of h checks the op's derivatives up
    to third order, and d/dx <v, dh/dx ...> is compared with the reference's."""
    kind, up, down, padding, flip, gain = config
    f = make_filter(kind)
    kwargs = dict(up=up, down=down, padding=padding, flip_filter=flip, gain=gain)
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    oh, ow = expected_size(x.shape, f, up, down, padding)
    g = torch.randn(1, 2, oh, ow, dtype=torch.float64, requires_grad=True)

    def h(x, g, impl="native"):
        y = upfirdn2d(x, f, impl=impl, **kwargs)
        (gx,) = torch.autograd.grad(y.square(), x, g, create_graph=True)
        return gx

    assert torch.autograd.gradgradcheck(h, (x, g))

    v1, v2 = torch.randn_like(x), torch.randn_like(x)

    def third(impl):
        gx = h(x, g, impl)
        (d2,) = torch.autograd.grad((gx * v1).sum(), x, create_graph=True)
        (d3,) = torch.autograd.grad((d2 * v2).sum(), g)
        return gx, d2, d3

    for k, (n, r) in enumerate(zip(third("native"), third("ref"), strict=True), 1):
        assert rel_error(n, r) < 1e-12, f"order {k}"


def test_backward_is_upfirdn2d_with_swapped_factors():
    """gradient_args gives the adjoint: <up(x), g> == <x, up_T(g)> for the swapped call."""
    for kind, up, down, padding, flip, gain in GRAD_CONFIGS:
        f = make_filter(kind)
        f_op = torch.ones(1, 1) if f is None else f
        x = torch.randn(2, 3, 7, 8, dtype=torch.float64)
        y = upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip, gain=gain)
        g = torch.randn_like(y)
        bup, bdown, bpad = gradient_args(
            tuple(x.shape[2:]),
            tuple(y.shape[2:]),
            filter_size(f_op),
            parse_scaling(up),
            parse_scaling(down),
            parse_padding(padding),
        )
        assert bup == parse_scaling(down) and bdown == parse_scaling(up)
        gx = torch.ops.fastgan.upfirdn2d(
            g, f_op, list(bup), list(bdown), list(bpad), not flip, gain
        )
        assert gx.shape == x.shape
        lhs, rhs = (y * g).sum().item(), (x * gx).sum().item()
        assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs)), (kind, up, down)


# --- opcheck -----------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("fmt", FORMATS, ids=["contiguous", "channels_last"])
def test_opcheck(device, dtype, fmt):
    op = torch.ops.fastgan.upfirdn2d.default
    for kind, up, down, padding, flip, gain in GRAD_CONFIGS[:5]:
        f = make_filter(kind, device)
        up, down, padding = parse_scaling(up), parse_scaling(down), parse_padding(padding)
        x = make_x((2, 3, 7, 6), device, dtype, fmt).requires_grad_(True)
        args = (x, f, list(up), list(down), list(padding), flip, gain)
        torch.library.opcheck(op, args)
        # The backward call: a gradient shaped like the output through the swapped configuration.
        oh, ow = expected_size(x.shape, f, up, down, padding)
        bup, bdown, bpad = gradient_args((7, 6), (oh, ow), filter_size(f), up, down, padding)
        grad = make_x((2, 3, oh, ow), device, dtype, fmt).requires_grad_(True)
        torch.library.opcheck(op, (grad, f, list(bup), list(bdown), list(bpad), not flip, gain))


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_non_dense_inputs(device):
    """Strided views, and ambiguous layouts (C = 1 channels_last): the fake kernel must predict
    the strides of the real output."""
    base = torch.randn(2, 3, 8, 10, device=device)
    f = make_filter("2d3x5", device)
    views = [
        base.transpose(2, 3),
        base[:, :, ::2],
        base[:, :, :, 1:],
        torch.randn(2, 1, 6, 7, device=device).to(memory_format=torch.channels_last),
    ]
    for x in views:
        x = x.detach().requires_grad_(True)
        args = (x, f, [2, 1], [1, 2], [1, 2, 0, 1], False, 1.0)
        torch.library.opcheck(torch.ops.fastgan.upfirdn2d.default, args)


# --- torch.compile -----------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_compile_fullgraph_forward_and_backward(device):
    f = setup_filter([1, 3, 3, 1], device=device)
    f35 = make_filter("2d3x5", device)

    def layer(x):
        y = upsample2d(x, f)
        y = upfirdn2d(y, f35, up=[1, 2], down=[3, 1], padding=[1, 2, 0, -1], gain=0.5)
        return downsample2d(y.square(), f) * 2

    torch._dynamo.reset()
    compiled = torch.compile(layer, fullgraph=True)
    for fmt in FORMATS:
        x = make_x((2, 3, 12, 10), device, torch.float32, fmt).requires_grad_(True)
        y = compiled(x)
        (gx,) = torch.autograd.grad(y.sum(), x)
        y_ref = layer(x)
        (rx,) = torch.autograd.grad(y_ref.sum(), x)
        assert y.shape == y_ref.shape
        assert rel_error(y, y_ref) < 1e-5 and rel_error(gx, rx) < 1e-5
    torch._dynamo.reset()


def test_compile_keeps_op_in_graph_with_backward_inside():
    """loss.backward() inside the compiled function, dynamic shapes, the op one graph node."""
    calls = 0

    def backend(gm, example_inputs):
        nonlocal calls
        calls += 1
        assert "fastgan.upfirdn2d" in str(gm.graph), "the op must stay in the graph"
        return gm

    f = make_filter("1d4")

    def step(x):
        y = upfirdn2d(x, f, up=2, down=[1, 2], padding=[2, 1, 1, 2], flip_filter=True)
        (gx,) = torch.autograd.grad(y.square().sum(), x)
        return y.detach(), gx

    torch._dynamo.reset()
    # Dynamo traces torch.autograd.grad only with this switch (torch 2.13); without it, fullgraph
    # fails on the autograd.grad call itself, whatever the op.
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        compiled = torch.compile(step, fullgraph=True, backend=backend, dynamic=True)
        for h in (6, 9):
            x = make_x((2, 3, h, 7), "cpu", torch.float32).requires_grad_(True)
            y, gx = compiled(x)
            y_ref, rx = step(x)
            assert rel_error(y, y_ref) < 1e-6 and rel_error(gx, rx) < 1e-6
    assert calls >= 1
    torch._dynamo.reset()


# --- setup_filter and the helpers --------------------------------------------------------------


def test_setup_filter_conventions():
    f = setup_filter([1, 3, 3, 1])
    expect = torch.tensor([1.0, 3, 3, 1])
    expect = torch.outer(expect, expect) / 64
    assert f.dtype == torch.float32 and f.shape == (4, 4)
    assert torch.allclose(f, expect) and abs(f.sum().item() - 1) < 1e-6

    f8 = setup_filter([1, 2, 3, 4, 4, 3, 2, 1])
    assert f8.shape == (8,) and abs(f8.sum().item() - 1) < 1e-6
    assert setup_filter([1, 3, 3, 1], separable=True).shape == (4,)
    assert setup_filter([1, 2, 3, 4, 4, 3, 2, 1], separable=False).shape == (8, 8)
    assert torch.allclose(setup_filter(torch.tensor([1.0, 3, 3, 1])), expect)
    assert torch.allclose(setup_filter(expect * 5), expect)  # a 2-D filter is normalised as is
    assert torch.equal(setup_filter([2.0, 1.0], normalize=False), torch.tensor([[4.0, 2], [2, 1]]))

    # gain: a 2-D filter sums to gain; a 1-D one to sqrt(gain), so that its separable 2-D
    # response sums to gain.
    assert abs(setup_filter([1, 3, 3, 1], gain=4).sum().item() - 4) < 1e-5
    f1 = setup_filter([1, 3, 3, 1], gain=4, separable=True)
    assert abs(f1.sum().item() - 2) < 1e-6
    assert abs(torch.outer(f1, f1).sum().item() - 4) < 1e-5

    taps = [1.0, 2, 5, 3]
    assert torch.equal(
        setup_filter(taps, flip_filter=True, separable=True),
        setup_filter(taps[::-1], separable=True),
    )
    assert torch.allclose(setup_filter(taps, flip_filter=True), setup_filter(taps).flip([0, 1]))
    assert torch.equal(setup_filter(None), torch.ones(1, 1))
    assert setup_filter([1, 3, 3, 1], device="meta").device.type == "meta"
    with pytest.raises(ValueError, match="sum to 0"):
        setup_filter([1, -1])
    with pytest.raises(ValueError, match="separable=True needs a 1-D filter"):
        setup_filter(torch.ones(2, 2), separable=True)
    with pytest.raises(ValueError, match="non-empty 1-D or 2-D"):
        setup_filter(torch.ones(2, 2, 2))


@pytest.mark.parametrize("device", DEVICES)
def test_helpers_match_stylegan_padding(device):
    """The helpers are upfirdn2d with StyleGAN2's centring padding for [1, 3, 3, 1]: up 2 pads
    [2, 1, 2, 1] with gain 4, down 2 pads [1, 1, 1, 1], the blur pads [2, 1, 2, 1]."""
    f = setup_filter([1, 3, 3, 1], device=device)
    x = make_x((2, 3, 8, 6), device, torch.float32)
    cases = [
        (upsample2d(x, f), dict(up=2, padding=[2, 1, 2, 1], gain=4)),
        (upsample2d(x, f, padding=1, gain=0.5), dict(up=2, padding=[3, 2, 3, 2], gain=2)),
        (downsample2d(x, f), dict(down=2, padding=[1, 1, 1, 1])),
        (downsample2d(x, f, padding=[1, 0]), dict(down=2, padding=[2, 2, 1, 1])),
        (filter2d(x, f), dict(padding=[2, 1, 2, 1])),
        (
            filter2d(x, f, flip_filter=True, gain=3),
            dict(padding=[2, 1, 2, 1], flip_filter=True, gain=3),
        ),
    ]
    for y, kwargs in cases:
        assert rel_error(y, reference64(x, f, **kwargs)) < 1e-5, kwargs


def partition_of_unity(taps, factor):
    """Whether every polyphase component of the 1-D taps for `factor` has the same sum: then
    upsampling by `factor` keeps a constant image constant."""
    sums = [sum(taps[p::factor]) for p in range(factor)]
    return max(sums) - min(sums) < 1e-9


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "taps",
    [[1, 3, 3, 1], [1, 2, 1], [1, 2, 3, 4, 4, 3, 2, 1], [1, 1], [1, 2, 3, 2, 1], [1] * 6],
    ids=str,
)
def test_helpers_sizes_and_constant_images(device, taps):
    """upsample2d: exactly up x larger and the mean kept; downsample2d: exactly down x smaller;
    filter2d: the same size; a constant image stays constant away from the borders."""
    f = setup_filter(taps, device=device)
    fw, fh = filter_size(f)
    c = 0.5 + torch.rand(()).item()
    x = torch.full((2, 3, 24, 36), c, device=device)
    m = max(fw, fh)  # border width affected by the zero padding
    constant_checked = 0
    for up in (2, [3, 2], [1, 3]):
        ux, uy = parse_scaling(up)
        y = upsample2d(x, f, up=up)
        assert y.shape == (2, 3, 24 * uy, 36 * ux)
        if partition_of_unity(taps, ux) and partition_of_unity(taps, uy):
            interior = y[:, :, m:-m, m:-m]
            assert torch.allclose(interior, torch.full_like(interior, c), rtol=1e-5), up
            constant_checked += 1
    assert constant_checked >= 1
    for down in (2, [3, 2]):
        dx, dy = parse_scaling(down)
        y = downsample2d(x, f, down=down)
        assert y.shape == (2, 3, 24 // dy, 36 // dx)
        interior = y[:, :, m // dy + 1 : -(m // dy + 1), m // dx + 1 : -(m // dx + 1)]
        assert interior.numel() > 0
        assert torch.allclose(interior, torch.full_like(interior, c), rtol=1e-5), down
    y = filter2d(x, f)
    assert y.shape == x.shape
    interior = y[:, :, m:-m, m:-m]
    assert torch.allclose(interior, torch.full_like(interior, c), rtol=1e-5)
    # Padding widens every helper's output by the padding (in output pixels for up and blur, in
    # input pixels for down).
    assert upsample2d(x, f, padding=[1, 2, 3, 0]).shape == (2, 3, 51, 75)
    assert downsample2d(x, f, padding=[2, 4, 2, 0]).shape == (2, 3, 13, 21)
    assert filter2d(x, f, padding=[1, 3, 2, 0]).shape == (2, 3, 26, 40)


def test_impl_selects_native_kernel_or_reference():
    class RecordOps(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    x = make_x((2, 3, 6, 7), "cpu", torch.float32)
    f = make_filter("1d4")
    with RecordOps() as native:
        y_native = upfirdn2d(x, f, up=2, padding=1)
    with RecordOps() as ref:
        y_ref = upfirdn2d(x, f, up=2, padding=1, impl="ref")
    assert native.ops == ["fastgan.upfirdn2d.default"]
    assert "fastgan.upfirdn2d.default" not in ref.ops
    assert torch.equal(y_ref, upfirdn2d_ref(x, f, up=2, padding=1))
    assert rel_error(y_native, y_ref) < 1e-6


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x_shape, kwargs, error, match",
    [
        ((2, 3, 4), {}, ValueError, r"expected x of shape \[N, C, H, W\], got shape \[2, 3, 4\]"),
        (None, dict(f=torch.ones(2, 2, 2)), ValueError, r"expected f to be a non-empty 1-D"),
        (None, dict(f=torch.ones(0)), ValueError, r"expected f to be a non-empty 1-D"),
        (
            None,
            dict(f=torch.ones(4, dtype=torch.float64)),
            TypeError,
            "expected f of dtype torch.float32",
        ),
        (None, dict(f=torch.ones(4, device="meta")), ValueError, "expected f on cpu"),
        (None, dict(f=torch.ones(4, requires_grad=True)), ValueError, "f requires grad"),
        (None, dict(f=[1.0, 3.0, 3.0, 1.0]), TypeError, "expected f to be a torch.Tensor"),
        (None, dict(up=0), ValueError, "expected up >= 1"),
        (None, dict(up=[2, 0]), ValueError, "expected up >= 1"),
        (None, dict(down=0), ValueError, "expected down >= 1"),
        (None, dict(up=1.5), TypeError, "expected up to be an int or a pair"),
        (None, dict(down=[1, 2, 3]), TypeError, "expected down to be an int or a pair"),
        (None, dict(padding=[1, 2, 3]), TypeError, r"expected padding to be an int, \[x, y\]"),
        (None, dict(padding=1.0), TypeError, "expected padding"),
        (None, dict(padding=-10), ValueError, "the output would be empty"),
        (None, dict(padding=[0, 0, -3, 0]), ValueError, "the output would be empty"),
        (None, dict(flip_filter=1), TypeError, "expected flip_filter to be a bool"),
        (None, dict(gain="2"), TypeError, "expected gain to be a number"),
        (None, dict(impl="cuda"), ValueError, "expected impl in"),
    ],
)
def test_bad_input_python(x_shape, kwargs, error, match):
    x = torch.randn(x_shape or (2, 3, 4, 4))
    kwargs = {"f": torch.ones(4), **kwargs}
    with pytest.raises(error, match=match):
        upfirdn2d(x, **kwargs)
    if kwargs.get("impl") is None:
        with pytest.raises(error, match=match):
            upfirdn2d_ref(x, **kwargs)


@pytest.mark.parametrize(
    "dtype", [torch.int32, torch.int64, torch.bool, torch.complex64, torch.float8_e4m3fn]
)
def test_bad_dtype(dtype):
    x = torch.ones(2, 3, 4, 4, dtype=dtype)
    f = torch.ones(2)
    for fn in (upfirdn2d, upsample2d, downsample2d, filter2d):
        with pytest.raises(TypeError, match=f"floating-point dtype.*got {dtype}"):
            fn(x, f)
    with pytest.raises(TypeError, match=r"expected x to be a torch\.Tensor"):
        upfirdn2d([[1.0]], f)


def test_helpers_bad_input():
    x = torch.randn(2, 3, 8, 8)
    f = setup_filter([1, 3, 3, 1])
    with pytest.raises(ValueError, match="upsample2d: expected up >= 1"):
        upsample2d(x, f, up=0)
    with pytest.raises(ValueError, match="downsample2d: expected down >= 1"):
        downsample2d(x, f, down=0)
    with pytest.raises(TypeError, match="filter2d: expected padding"):
        filter2d(x, f, padding=[1, 2, 3])
    with pytest.raises(ValueError, match="upsample2d: f requires grad"):
        upsample2d(x, f.clone().requires_grad_(True))
    with pytest.raises(ValueError, match="the output would be empty"):
        downsample2d(x, f, padding=-4)


def test_bad_input_reaches_cpp_checks():
    """torch.ops.fastgan.upfirdn2d directly skips the Python checks; the C++ checks still name
    the problem."""
    op = torch.ops.fastgan.upfirdn2d
    x, f = torch.randn(2, 3, 4, 4), torch.ones(4)
    with pytest.raises(RuntimeError, match=r"the output would be empty: x of 4x4"):
        op(x, f, [1, 1], [1, 1], [-10, -10, -10, -10], False, 1.0)
    with pytest.raises(RuntimeError, match="the output would be empty"):
        op(x, torch.ones(5, 5), [1, 1], [1, 1], [0, 0, 0, 0], False, 1.0)
    with pytest.raises(RuntimeError, match=r"expected x of shape \[N, C, H, W\]"):
        op(torch.randn(3, 4, 4), f, [1, 1], [1, 1], [0, 0, 0, 0], False, 1.0)
    with pytest.raises(RuntimeError, match="expected f of dtype float32"):
        op(x, f.double(), [1, 1], [1, 1], [0, 0, 0, 0], False, 1.0)
    with pytest.raises(RuntimeError, match="expected f to be a non-empty"):
        op(x, torch.ones(1, 1, 1), [1, 1], [1, 1], [0, 0, 0, 0], False, 1.0)
    with pytest.raises(RuntimeError, match=r"expected up = \[x, y\] with both >= 1"):
        op(x, f, [0, 1], [1, 1], [0, 0, 0, 0], False, 1.0)
    with pytest.raises(RuntimeError, match=r"expected down = \[x, y\] with both >= 1"):
        op(x, f, [1, 1], [1, -2], [0, 0, 0, 0], False, 1.0)
    with pytest.raises(RuntimeError, match="floating-point dtype"):
        op(x.int(), f, [1, 1], [1, 1], [0, 0, 0, 0], False, 1.0)
