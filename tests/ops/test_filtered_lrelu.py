"""filtered_lrelu: the reference against a naive composition written from the definition, the
native kernels (CPU, and the CUDA code through DEVICES / cuda_param) against the float64
reference in every dtype and layout, gradients of every order, the linear map's adjoint,
opcheck, torch.compile, the output size formula, and bad input."""

import math
import random
import warnings

import pytest
import torch
import torch.nn.functional as F

from fastgan.ops import filtered_lrelu, filtered_lrelu_ref
from fastgan.ops.filtered_lrelu import output_size
from fastgan.ops.upfirdn2d import filter_size, parse_padding
from tests.conftest import DEVICES, TOLERANCE, rel_error


def make_filter(spec):
    """spec: None, an int n (a random 1-D filter of n taps) or (fh, fw) (a random 2-D filter);
    asymmetric taps, so that a wrong flip or transpose shows."""
    if spec is None:
        return None
    shape = (spec,) if isinstance(spec, int) else spec
    return (torch.rand(shape, dtype=torch.float64) + 0.1).float()


def naive(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter):
    """The definition step by step in float64: zero insertion, F.pad (negative crops), a full 2-D
    convolution (a 1-D filter becomes its outer product), leaky ReLU * gain, clamp, a full 2-D
    convolution and every down-th sample by slicing."""
    x = x.double()
    N, C, H, W = x.shape
    if b is not None:
        x = x + b.double().view(1, -1, 1, 1)
    z = torch.zeros(N, C, H * up, W * up, dtype=torch.float64)
    z[:, :, ::up, ::up] = x
    px0, px1, py0, py1 = parse_padding(padding)
    z = F.pad(z, [px0, px1, py0, py1])

    def conv(t, f, scale):
        if f is None:
            return t * scale
        f = f.double()
        f2 = torch.outer(f, f) if f.ndim == 1 else f
        if not flip_filter:
            f2 = f2.flip([0, 1])  # conv2d correlates; a convolution flips the filter
        w = (f2 * scale)[None, None].expand(C, 1, *f2.shape)
        return F.conv2d(t, w, groups=C)

    z = conv(z, fu, up * up)
    z = torch.where(z >= 0, z, z * slope) * gain
    if clamp is not None:
        z = z.clamp(-clamp, clamp)
    z = conv(z, fd, 1.0)
    return z[:, :, ::down, ::down]


CASES = [
    # (shape, fu, fd, up, down, padding, clamp, with bias, flip)
    ((2, 3, 7, 9), 4, 4, 2, 2, [3, 2, 3, 2], None, True, False),
    ((1, 2, 6, 5), 12, 12, 2, 2, 10, 0.7, True, False),
    ((2, 2, 5, 6), (3, 5), (4, 2), 1, 1, [1, -1, 2, 0], None, False, True),
    ((1, 3, 4, 4), 24, 12, 4, 2, [11, 12, 13, 10], 0.5, True, False),
    ((1, 2, 8, 7), None, 6, 1, 4, [-1, 3, 2, 4], None, True, True),
    ((1, 2, 5, 5), 8, None, 4, 1, [0, 3, 4, -2], 1.0, False, False),
    ((2, 1, 9, 4), 1, 5, 3, 3, 2, None, True, False),
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_reference_matches_naive(case):
    shape, fu, fd, up, down, padding, clamp, with_bias, flip = case
    x = torch.randn(shape, dtype=torch.float64)
    fu, fd = make_filter(fu), make_filter(fd)
    b = torch.randn(shape[1], dtype=torch.float64) if with_bias else None
    kwargs = dict(up=up, down=down, padding=padding, clamp=clamp, flip_filter=flip)
    y = filtered_lrelu_ref(x, fu, fd, b, gain=1.3, slope=0.15, **kwargs)
    expected = naive(x, fu, fd, b, gain=1.3, slope=0.15, **kwargs)
    oh, ow = output_size(
        shape[2:], filter_size(fu), filter_size(fd), up, down, parse_padding(padding)
    )
    assert y.shape == (shape[0], shape[1], oh, ow) == expected.shape
    assert rel_error(y, expected) < 1e-12
    if clamp is not None:
        assert y.abs().max() <= clamp * (1 + 1e-12) * _filter_l1(fd)


def _filter_l1(f):
    if f is None:
        return 1.0
    f = f.double()
    return (f.abs().sum() ** 2 if f.ndim == 1 else f.abs().sum()).item()


def test_defaults_are_stylegan3s():
    """gain sqrt(2), slope 0.2, no clamp, no padding, identity filters: an lrelu with gain."""
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    expected = torch.where(x >= 0, x, 0.2 * x) * math.sqrt(2)
    assert rel_error(filtered_lrelu_ref(x), expected) < 1e-15


def test_public_function_matches_reference():
    x = torch.randn(2, 3, 6, 7)
    fu, fd = make_filter(6), make_filter(6)
    b = torch.randn(3)
    kwargs = dict(up=2, down=2, padding=[5, 4, 5, 4], clamp=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no native kernel yet: the fallback warns
        y = filtered_lrelu(x, fu, fd, b, **kwargs)
    assert rel_error(y, filtered_lrelu_ref(x.double(), fu, fd, b.double(), **kwargs)) < 1e-5
    assert rel_error(filtered_lrelu(x, fu, fd, b, impl="ref", **kwargs), y) < 1e-5


def test_reference_gradients():
    x = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    fu, fd = make_filter(4), make_filter((3, 2))
    torch.autograd.gradcheck(
        lambda x, b: filtered_lrelu_ref(
            x, fu, fd, b, up=2, down=2, padding=[2, 1, 1, 2], clamp=0.8
        ),
        (x, b),
    )


BAD = [
    (dict(x=torch.randn(3, 4, 5)), ValueError, "expected x of shape"),
    (dict(x=torch.randint(0, 3, (1, 2, 4, 4))), TypeError, "floating-point"),
    (dict(fu=torch.rand(2, 2, 2)), ValueError, "fu to be a non-empty"),
    (dict(fd=torch.rand(3).double()), TypeError, "fd of dtype torch.float32"),
    (dict(fu=torch.rand(33)), ValueError, "at most 32 taps"),
    (dict(fu=torch.rand(3).requires_grad_()), ValueError, "fu requires grad"),
    (dict(b=torch.randn(3)), ValueError, "expected b of shape \\[2\\]"),
    (dict(b=torch.randn(2).double()), TypeError, "b of dtype"),
    (dict(up=0), ValueError, "up in \\[1, 4\\]"),
    (dict(down=5), ValueError, "down in \\[1, 4\\]"),
    (dict(up=2.0), TypeError, "up to be an int"),
    (dict(padding=[1, 2, 3]), TypeError, "padding"),
    (dict(clamp=-1.0), ValueError, "clamp to be None or a finite number >= 0"),
    (dict(gain="2"), TypeError, "gain"),
    (dict(flip_filter=1), TypeError, "flip_filter to be a bool"),
    (dict(padding=-3), ValueError, "output would be empty"),
    (dict(impl="fast"), ValueError, "impl"),
]


@pytest.mark.parametrize("kwargs,error,match", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input(kwargs, error, match):
    args = dict(x=torch.randn(1, 2, 4, 4))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        filtered_lrelu(**args)
    if "impl" not in kwargs:
        with pytest.raises(error, match=match):
            filtered_lrelu_ref(**args)


# --- native kernels ------------------------------------------------------------------------------

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
FORMATS = [torch.contiguous_format, torch.channels_last]
# (shape, fu, fd, up, down, padding, clamp, with bias, flip): StyleGAN3's layers (12-tap filters
# at up 2 / down 2, 24 taps at up 4) and the corners: identity filters, 2-D filters, odd and
# negative paddings, up 4 / down 4, down 3, a single tap.
NATIVE_CASES = [
    ((2, 3, 6, 7), 12, 12, 2, 2, [11, 10, 11, 10], None, True, False),
    ((1, 2, 5, 6), 24, 12, 4, 2, [13, 10, 12, 11], 0.6, True, False),
    ((2, 2, 7, 5), 6, 6, 1, 1, [5, 4, 5, 4], 0.4, False, False),
    ((1, 3, 6, 6), (3, 5), (4, 2), 2, 1, [1, -1, 2, 0], None, True, True),
    ((2, 2, 9, 8), None, 8, 1, 4, [-1, 3, 2, 4], None, True, False),
    ((1, 2, 4, 5), 7, None, 4, 1, [0, 3, 4, -2], 1.0, False, True),
    ((2, 1, 8, 9), 1, 5, 3, 3, 2, 0.8, True, False),
    ((1, 2, 5, 4), 16, (12, 9), 4, 4, [15, 14, 13, 16], None, True, False),
]
NATIVE_IDS = [str(i) for i in range(len(NATIVE_CASES))]


def native_inputs(case, device, dtype, fmt=torch.contiguous_format):
    shape, fu, fd, up, down, padding, clamp, with_bias, flip = case
    x = torch.randn(shape, dtype=torch.float64).to(device, dtype).to(memory_format=fmt)
    fu, fd = make_filter(fu), make_filter(fd)
    fu = fu.to(device) if fu is not None else None
    fd = fd.to(device) if fd is not None else None
    b = torch.randn(shape[1], dtype=torch.float64).to(device, dtype) if with_bias else None
    kwargs = dict(up=up, down=down, padding=padding, clamp=clamp, flip_filter=flip, gain=1.3)
    return x, fu, fd, b, kwargs


def reference64(x, fu, fd, b, **kwargs):
    def cpu(t):
        return None if t is None else t.detach().cpu()

    b64 = None if b is None else b.detach().double().cpu()
    return filtered_lrelu_ref(x.detach().double().cpu(), cpu(fu), cpu(fd), b64, **kwargs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("fmt", FORMATS, ids=["contiguous", "channels_last"])
def test_forward_matches_reference(device, dtype, fmt):
    tol = 1e-10 if dtype == torch.float64 else TOLERANCE[dtype]
    for i, case in enumerate(NATIVE_CASES):
        x, fu, fd, b, kwargs = native_inputs(case, device, dtype, fmt)
        y = filtered_lrelu(x, fu, fd, b, impl="native", **kwargs)
        ref = reference64(x, fu, fd, b, **kwargs)
        assert y.dtype == dtype and y.shape == ref.shape, i
        assert y.is_contiguous(memory_format=fmt), f"case {i}: strides {y.stride()}"
        err = rel_error(y, ref)
        assert err < tol, f"case {i}: {err:.3g}"


@pytest.mark.parametrize("device", DEVICES)
def test_forward_sampled_configurations(device):
    """Random configurations: up and down in 1..4, 1-D and 2-D filters of 1..24 taps, paddings
    from negative to large, clamp and bias on or off, in float64 and float32."""
    rng = random.Random(torch.randint(0, 2**31, ()).item())
    checked = 0
    while checked < 12:
        up, down = rng.choice([1, 2, 4]), rng.choice([1, 2, 3, 4])
        fu = rng.randint(1, 24) if rng.random() < 0.7 else (rng.randint(1, 6), rng.randint(1, 6))
        fd = rng.randint(1, 24) if rng.random() < 0.7 else (rng.randint(1, 6), rng.randint(1, 6))
        padding = [rng.randint(-2, 12) for _ in range(4)]
        H, W = rng.randint(1, 7), rng.randint(1, 7)
        case = ((1, 2, H, W), fu, fd, up, down, padding, rng.choice([None, 0.5]), True, False)
        x, fu_t, fd_t, b, kwargs = native_inputs(case, device, torch.float64)
        oh, ow = output_size((H, W), filter_size(fu_t), filter_size(fd_t), up, down, padding)
        if oh < 1 or ow < 1:
            continue
        y = filtered_lrelu(x, fu_t, fd_t, b, impl="native", **kwargs)
        assert rel_error(y, reference64(x, fu_t, fd_t, b, **kwargs)) < 1e-10, case
        y32 = filtered_lrelu(x.float(), fu_t, fd_t, b.float(), impl="native", **kwargs)
        assert rel_error(y32, reference64(x.float(), fu_t, fd_t, b, **kwargs)) < 1e-5, case
        checked += 1


@pytest.mark.parametrize("device", DEVICES)
def test_forward_larger_and_strided_inputs(device):
    """Sizes spanning several tiles and planes, and inputs neither contiguous nor channels_last."""
    base = torch.randn(3, 4, 21, 37, device=device)
    fu, fd = make_filter(12).to(device), make_filter(12).to(device)
    b = torch.randn(4, device=device)
    for x in (base, base.transpose(2, 3), base[:, :, 1::2, 3:], base[1:, 1:]):
        kwargs = dict(up=2, down=2, padding=[11, 10, 10, 11], clamp=0.7)
        bb = b[: x.shape[1]].contiguous()
        y = filtered_lrelu(x, fu, fd, bb, impl="native", **kwargs)
        assert rel_error(y, reference64(x, fu, fd, bb, **kwargs)) < 1e-5, tuple(x.stride())


def native_grads(case, device, dtype, fmt=torch.contiguous_format):
    x, fu, fd, b, kwargs = native_inputs(case, device, dtype, fmt)
    x.requires_grad_(True)
    if b is not None:
        b.requires_grad_(True)
    return x, fu, fd, b, kwargs


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fmt", FORMATS, ids=["contiguous", "channels_last"])
def test_backward_matches_reference(device, fmt):
    for i, case in enumerate(NATIVE_CASES):
        x, fu, fd, b, kwargs = native_grads(case, device, torch.float64, fmt)
        y = filtered_lrelu(x, fu, fd, b, impl="native", **kwargs)
        g = torch.randn_like(y)
        inputs = (x,) if b is None else (x, b)
        grads = torch.autograd.grad(y, inputs, g)
        ref = filtered_lrelu_ref(x, fu, fd, b, **kwargs)
        ref_grads = torch.autograd.grad(ref, inputs, g)
        for got, want in zip(grads, ref_grads, strict=True):
            assert rel_error(got, want) < 1e-10, f"case {i}"
        assert grads[0].is_contiguous(memory_format=fmt), f"case {i}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", [NATIVE_CASES[i] for i in (0, 3, 6)], ids=["12tap", "2d", "d3"])
def test_gradcheck_and_gradgradcheck(device, case):
    shape = (1, 2, 3, 4)
    case = (shape, *case[1:])
    x, fu, fd, b, kwargs = native_grads(case, device, torch.float64)

    def fn(x, b):
        return filtered_lrelu(x, fu, fd, b, impl="native", **kwargs)

    inputs = (x,) if b is None else (x, b)
    fn1 = (lambda x: fn(x, None)) if b is None else fn
    assert torch.autograd.gradcheck(fn1, inputs)
    assert torch.autograd.gradgradcheck(fn1, inputs)


@pytest.mark.parametrize("device", DEVICES)
def test_r1_style_higher_orders(device):
    """R1 differentiates grad_x; the third order (through the linear map twice) too."""
    x, fu, fd, b, kwargs = native_grads(NATIVE_CASES[0], device, torch.float64)
    outs = []
    for impl in ("native", "ref"):
        y = filtered_lrelu(x, fu, fd, b, impl=impl, **kwargs)
        (gx,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
        (ggx,) = torch.autograd.grad(gx.square().sum(), x, create_graph=True)
        (gggx,) = torch.autograd.grad((ggx * gx).sum(), x)
        outs.append((gx, ggx, gggx))
    for got, want in zip(*outs, strict=True):
        assert rel_error(got, want) < 1e-10


@pytest.mark.parametrize("device", DEVICES)
def test_linear_map_and_its_adjoint(device):
    """<D(M U v), g> = <v, U^T(M D^T g)> with the mask of one forward."""
    for case in NATIVE_CASES:
        x, fu, fd, b, kwargs = native_inputs(case, device, torch.float64)
        up, down, padding = kwargs["up"], kwargs["down"], list(parse_padding(kwargs["padding"]))
        clamp = -1.0 if kwargs["clamp"] is None else kwargs["clamp"]
        args = (fu, fd, up, down, padding, 1.3, 0.2)
        flip = kwargs["flip_filter"]
        y, mask = torch.ops.fastgan.filtered_lrelu(
            x, fu, fd, b, up, down, padding, 1.3, 0.2, clamp, flip, True
        )
        assert mask.dtype == torch.int8 and set(mask.unique().tolist()) <= {0, 1, 2}
        v, g = torch.randn_like(x), torch.randn_like(y)
        fwd = torch.ops.fastgan.filtered_lrelu_linear(v, mask, *args, flip, False)
        adj = torch.ops.fastgan.filtered_lrelu_linear(g, mask, *args, flip, True)
        assert fwd.shape == y.shape and adj.shape == x.shape
        lhs, rhs = (fwd * g).sum().item(), (v * adj).sum().item()
        assert abs(lhs - rhs) <= 1e-10 * (abs(lhs) + 1e-3), case
        if kwargs["clamp"] is None:
            # Without clamp, the linear map with the forward's own mask is the forward.
            xb = x if b is None else x + b.view(1, -1, 1, 1)
            same = torch.ops.fastgan.filtered_lrelu_linear(xb, mask, *args, flip, False)
            assert rel_error(same, y) < 1e-12


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fmt", FORMATS, ids=["contiguous", "channels_last"])
def test_opcheck(device, fmt):
    # One case per layout (opcheck runs each call many ways): separable 12 taps, 2-D filters.
    for case in [NATIVE_CASES[0] if fmt == torch.contiguous_format else NATIVE_CASES[3]]:
        x, fu, fd, b, kwargs = native_grads(case, device, torch.float32, fmt)
        padding = list(parse_padding(kwargs["padding"]))
        up, down, flip = kwargs["up"], kwargs["down"], kwargs["flip_filter"]
        clamp = -1.0 if kwargs["clamp"] is None else kwargs["clamp"]
        args = (x, fu, fd, b, up, down, padding, 1.3, 0.2, clamp, flip, True)
        torch.library.opcheck(torch.ops.fastgan.filtered_lrelu.default, args)
        y, mask = torch.ops.fastgan.filtered_lrelu(*args)
        g = torch.randn_like(y).requires_grad_(True)
        for v, transpose in ((g, True), (x, False)):
            largs = (v, mask, fu, fd, up, down, padding, 1.3, 0.2, flip, transpose)
            torch.library.opcheck(torch.ops.fastgan.filtered_lrelu_linear.default, largs)


@pytest.mark.parametrize("device", DEVICES)
def test_compile_fullgraph_forward_and_backward(device):
    x, fu, fd, b, kwargs = native_grads(NATIVE_CASES[1], device, torch.float32)

    def layer(x, b):
        return filtered_lrelu(x, fu, fd, b, **kwargs).square() * 2

    torch._dynamo.reset()
    compiled = torch.compile(layer, fullgraph=True)
    y = compiled(x, b)
    gx, gb = torch.autograd.grad(y.sum(), (x, b))
    y_ref = layer(x, b)
    rx, rb = torch.autograd.grad(y_ref.sum(), (x, b))
    assert rel_error(y, y_ref) < 1e-6 and rel_error(gx, rx) < 1e-6 and rel_error(gb, rb) < 1e-6
    torch._dynamo.reset()


@pytest.mark.parametrize("device", DEVICES)
def test_native_bad_input(device):
    """The C++ checks, for callers of torch.ops.fastgan directly."""
    x = torch.randn(1, 2, 4, 4, device=device)
    op = torch.ops.fastgan.filtered_lrelu
    with pytest.raises(RuntimeError, match="up in \\[1, 4\\]"):
        op(x, None, None, None, 5, 1, [0, 0, 0, 0], 1.0, 0.2, -1.0, False, False)
    with pytest.raises(RuntimeError, match="expected b of shape \\[2\\]"):
        op(
            x,
            None,
            None,
            torch.randn(3, device=device),
            1,
            1,
            [0] * 4,
            1.0,
            0.2,
            -1.0,
            False,
            False,
        )
    with pytest.raises(RuntimeError, match="fu of dtype float32"):
        op(
            x,
            torch.rand(3, device=device).double(),
            None,
            None,
            1,
            1,
            [0] * 4,
            1.0,
            0.2,
            -1.0,
            False,
            False,
        )
    with pytest.raises(RuntimeError, match="output would be empty"):
        op(x, None, None, None, 1, 1, [-4] * 4, 1.0, 0.2, -1.0, False, False)
    mask = torch.zeros(1, 2, 3, 3, dtype=torch.int8, device=device)
    with pytest.raises(RuntimeError, match="does not match"):
        torch.ops.fastgan.filtered_lrelu_linear(
            x, mask, None, None, 2, 1, [0] * 4, 1.0, 0.2, False, False
        )


@pytest.mark.parametrize("device", DEVICES)
def test_backward_without_saved_mask_is_refused(device):
    x = torch.randn(1, 2, 4, 4, device=device, requires_grad=True)
    y, _ = torch.ops.fastgan.filtered_lrelu(
        x, None, None, None, 1, 1, [0] * 4, 1.0, 0.2, -1.0, False, False
    )
    with pytest.raises(RuntimeError, match="save_mask=False"):
        y.sum().backward()
