"""fastgan.compat.nvidia: each module against fastgan's references (and, where NVIDIA's semantics
differ from fastgan's, against those semantics written out from their documented definition),
gradients to second order, and bad input."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastgan.compat.nvidia import bias_act, conv2d_resample, fma, upfirdn2d
from fastgan.ops import bias_act_ref, conv2d_resample_ref, upfirdn2d_ref
from fastgan.ops import setup_filter as fastgan_setup_filter
from fastgan.ops.bias_act import ACTIVATIONS
from tests.conftest import TOLERANCE, rel_error

IMPLS = ["cuda", "ref"]
DTYPES = [torch.float32, torch.float64]
FORMATS = [torch.contiguous_format, torch.channels_last]


def rand(shape, dtype=torch.float64, memory_format=torch.contiguous_format):
    return torch.randn(shape, dtype=torch.float64).to(dtype).to(memory_format=memory_format)


def rand_filter(shape):
    # Asymmetric positive taps, so that a wrong flip or transpose shows.
    return (torch.rand(shape, dtype=torch.float64) + 0.1).float()


def check_close(out, ref, dtype):
    assert out.dtype == dtype
    err = rel_error(out, ref)
    assert err < TOLERANCE[dtype], err


# ---- bias_act -----------------------------------------------------------------------------------


def test_activation_funcs_table():
    assert list(bias_act.activation_funcs) == [
        "linear",
        "relu",
        "lrelu",
        "tanh",
        "sigmoid",
        "elu",
        "selu",
        "softplus",
        "swish",
    ]
    x = rand([7, 5])
    for name, spec in bias_act.activation_funcs.items():
        assert spec.def_gain == ACTIVATIONS[name].gain == spec["def_gain"]
        assert spec.def_alpha == (0.2 if name == "lrelu" else 0)
        assert spec.has_2nd_grad == (name not in ("linear", "relu", "lrelu"))
        alpha = 0.3 if name == "lrelu" else None
        ref = bias_act_ref(x, act=name, alpha=alpha, gain=1)
        assert torch.equal(spec.func(x, alpha=spec.def_alpha if alpha is None else alpha), ref)
    assert [s.cuda_idx for s in bias_act.activation_funcs.values()] == list(range(1, 10))
    with pytest.raises(AttributeError):
        bias_act.activation_funcs["lrelu"].no_such_field  # noqa: B018


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", list(bias_act.activation_funcs))
def test_bias_act_matches_reference(impl, dtype, act):
    for shape, dim, fmt in [
        ([3, 6], 1, torch.contiguous_format),
        ([2, 5, 4, 3], 1, torch.channels_last),
        ([2, 5, 4, 3], 3, torch.contiguous_format),
    ]:
        x = rand(shape, dtype, fmt)
        b = rand([shape[dim]], dtype)
        for kwargs in [{}, {"alpha": 0.1, "gain": np.float32(1.3), "clamp": 0.7}]:
            out = bias_act.bias_act(x, b, dim=dim, act=act, impl=impl, **kwargs)
            ref = bias_act_ref(
                x.double(), b.double(), dim=dim, act=act, **{k: float(v) for k, v in kwargs.items()}
            )
            check_close(out, ref, dtype)
            assert out.is_contiguous(memory_format=fmt)
    # No bias, NVIDIA's defaults (act='linear', gain 1): the identity.
    x = rand([2, 3, 4, 4], dtype)
    assert torch.equal(bias_act.bias_act(x, impl=impl), x)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("act", ["lrelu", "tanh", "swish"])
def test_bias_act_gradients(impl, act):
    x = rand([2, 3, 4]).requires_grad_()
    b = rand([3]).requires_grad_()
    # Keep lrelu's inputs off its kink, where finite differences disagree with the derivative.
    with torch.no_grad():
        x += 0.2 * torch.sign(x + b[:, None])

    def fn(x, b):
        return bias_act.bias_act(x, b, act=act, gain=1.3, clamp=2.5, impl=impl)

    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b), fast_mode=True)


def test_bias_act_bad_input():
    x = rand([2, 3, 4, 4], torch.float32)
    with pytest.raises(ValueError, match="impl"):
        bias_act.bias_act(x, impl="native")
    with pytest.raises(ValueError, match="impl"):
        bias_act.bias_act(x, impl="auto")
    with pytest.raises(ValueError, match="act"):
        bias_act.bias_act(x, act="gelu")
    with pytest.raises(ValueError, match="clamp >= 0"):
        bias_act.bias_act(x, clamp=-1)
    with pytest.raises(TypeError, match="gain"):
        bias_act.bias_act(x, gain="2")
    with pytest.raises(ValueError, match="b of shape"):
        bias_act.bias_act(x, torch.zeros(4), act="lrelu")


# ---- upfirdn2d ----------------------------------------------------------------------------------

FILTERS = {"1d4": (4,), "1d8": (8,), "2d3x5": (3, 5), "none": None}


def make_filter(kind):
    shape = FILTERS[kind]
    return None if shape is None else rand_filter(shape)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype,fmt", list(itertools.product(DTYPES, FORMATS)))
def test_upfirdn2d_matches_reference(impl, dtype, fmt):
    x = rand([2, 3, 7, 9], dtype, fmt)
    cases = [
        ("1d4", 1, 1, 0, False, 1),
        ("1d8", 2, 1, [3, 4], True, 1.5),
        ("2d3x5", [1, 3], 2, [-1, 3, 2, -2], False, np.float64(2.0)),
        ("2d3x5", 2, [2, 1], 1, True, 1),
        ("none", 3, 2, 0, False, 0.5),
        ("1d4", 1, 3, [np.int64(2), 1], False, 1),
    ]
    for kind, up, down, padding, flip, gain in cases:
        f = make_filter(kind)
        out = upfirdn2d.upfirdn2d(x, f, up, down, padding, flip, gain, impl=impl)
        ref = upfirdn2d_ref(
            x.double(),
            f,
            up=up,
            down=down,
            padding=[int(p) for p in padding] if isinstance(padding, list) else padding,
            flip_filter=flip,
            gain=float(gain),
        )
        check_close(out, ref, dtype)
        if impl == "cuda":  # the native kernel keeps the layout (the reference need not)
            assert out.is_contiguous(memory_format=fmt)


def test_upfirdn2d_filter_convention():
    # flip_filter=False is a true convolution: an impulse reproduces the filter itself.
    x = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    x[0, 0, 2, 2] = 1
    f = rand_filter((3, 3))
    out = upfirdn2d.upfirdn2d(x, f, padding=1)
    assert torch.allclose(out[0, 0, 1:4, 1:4], f.double())
    out = upfirdn2d.upfirdn2d(x, f, padding=1, flip_filter=True)
    assert torch.allclose(out[0, 0, 1:4, 1:4], f.double().flip([0, 1]))


def test_setup_filter_nvidia_semantics():
    taps = [1.0, 3.0, 3.0, 1.0]
    f = upfirdn2d.setup_filter(taps)
    assert f.shape == (4, 4) and f.dtype == torch.float32 and f.device.type == "cpu"
    t = torch.tensor(taps)
    assert torch.allclose(f, torch.outer(t, t) / 64)
    # 8 taps or more stay 1-D (separable) by default; separable=True keeps a short one 1-D.
    assert upfirdn2d.setup_filter(torch.rand(8) + 0.1).ndim == 1
    assert upfirdn2d.setup_filter(taps, separable=True).shape == (4,)
    assert upfirdn2d.setup_filter(torch.rand(8) + 0.1, separable=False).ndim == 2
    # Flip, gain (spread over the dimensions), no normalisation, None.
    r = torch.rand(5) + 0.1
    g = upfirdn2d.setup_filter(r, normalize=False, flip_filter=True, gain=4, separable=True)
    assert torch.allclose(g, r.flip(0) * 2)
    g = upfirdn2d.setup_filter(r, normalize=False, gain=4)
    assert torch.allclose(g, torch.outer(r, r) * 4)
    assert torch.equal(upfirdn2d.setup_filter(None), torch.ones(1, 1))
    # The same as fastgan's own for every combination.
    for sep, norm, flip in itertools.product([None, True, False], [True, False], [True, False]):
        a = upfirdn2d.setup_filter(r, normalize=norm, flip_filter=flip, gain=2, separable=sep)
        b = fastgan_setup_filter(r, normalize=norm, flip_filter=flip, gain=2, separable=sep)
        assert torch.equal(a, b)
    # A filter that requires grad is taken as its values.
    assert not upfirdn2d.setup_filter(r.clone().requires_grad_()).requires_grad


def nvidia_resample_padding(kind, f, factor, padding):
    """The padding NVIDIA's upsample2d / downsample2d / filter2d pass to upfirdn2d."""
    px0, px1, py0, py1 = padding
    fw, fh = (1, 1) if f is None else (f.shape[-1], f.shape[0])
    if kind == "up":
        return [
            px0 + (fw + factor - 1) // 2,
            px1 + (fw - factor) // 2,
            py0 + (fh + factor - 1) // 2,
            py1 + (fh - factor) // 2,
        ]
    if kind == "down":
        return [
            px0 + (fw - factor + 1) // 2,
            px1 + (fw - factor) // 2,
            py0 + (fh - factor + 1) // 2,
            py1 + (fh - factor) // 2,
        ]
    return [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype,fmt", [(torch.float32, FORMATS[1]), (torch.float64, FORMATS[0])])
@pytest.mark.parametrize("kind", ["1d4", "1d8", "2d3x5", "none"])
def test_resampling_helpers(impl, dtype, fmt, kind):
    x = rand([2, 3, 8, 6], dtype, fmt)
    f = make_filter(kind)
    xd = x.double()
    for padding in ([0, 0, 0, 0], [1, 2, -1, 0]):
        out = upfirdn2d.upsample2d(x, f, padding=padding, gain=1.5, impl=impl)
        ref = upfirdn2d_ref(
            xd, f, up=2, padding=nvidia_resample_padding("up", f, 2, padding), gain=1.5 * 4
        )
        check_close(out, ref, dtype)
        out = upfirdn2d.downsample2d(x, f, padding=padding, flip_filter=True, impl=impl)
        ref = upfirdn2d_ref(
            xd, f, down=2, padding=nvidia_resample_padding("down", f, 2, padding), flip_filter=True
        )
        check_close(out, ref, dtype)
        out = upfirdn2d.filter2d(x, f, padding=padding, gain=0.5, impl=impl)
        ref = upfirdn2d_ref(xd, f, padding=nvidia_resample_padding("same", f, 1, padding), gain=0.5)
        check_close(out, ref, dtype)
    assert upfirdn2d.upsample2d(x, f, impl=impl).shape[2:] == (16, 12)
    assert upfirdn2d.downsample2d(x, f, impl=impl).shape[2:] == (4, 3)
    assert upfirdn2d.filter2d(x, f, impl=impl).shape[2:] == (8, 6)


def test_upsample2d_keeps_a_constant():
    # A normalised filter and the up**2 gain keep a constant image constant away from the border.
    x = torch.full([1, 2, 6, 6], 1.7, dtype=torch.float64)
    for taps in ([1, 3, 3, 1], [1, 2, 1], [1, 1]):
        out = upfirdn2d.upsample2d(x, upfirdn2d.setup_filter(taps))
        assert torch.allclose(out[..., 3:-3, 3:-3], torch.tensor(1.7, dtype=torch.float64))


def test_private_helpers():
    assert upfirdn2d._parse_padding(1) == (1, 1, 1, 1)
    assert upfirdn2d._parse_padding([1, 2]) == (1, 1, 2, 2)
    assert upfirdn2d._parse_padding([1, 2, 3, 4]) == (1, 2, 3, 4)
    assert upfirdn2d._parse_scaling([2, 3]) == (2, 3)
    assert upfirdn2d._get_filter_size(None) == (1, 1)
    assert upfirdn2d._get_filter_size(torch.zeros(3, 5)) == (5, 3)
    assert upfirdn2d._get_filter_size(torch.zeros(4)) == (4, 4)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        upfirdn2d._get_filter_size(torch.zeros(1, 2, 3))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", ["1d4", "2d3x5"])
def test_upfirdn2d_gradients(impl, kind):
    x = rand([1, 1, 3, 4]).requires_grad_()
    f = make_filter(kind)

    def fn(x):
        return upfirdn2d.upfirdn2d(
            x, f, up=2, down=[1, 2], padding=[2, 1, 0, 3], gain=1.5, impl=impl
        )

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,), fast_mode=True)

    def helpers(x):
        return upfirdn2d.downsample2d(upfirdn2d.upsample2d(x, f, impl=impl), f, impl=impl)

    assert torch.autograd.gradgradcheck(helpers, (x,), fast_mode=True)


def test_upfirdn2d_bad_input():
    x = rand([1, 2, 6, 6], torch.float32)
    f = upfirdn2d.setup_filter([1, 3, 3, 1])
    with pytest.raises(ValueError, match="impl"):
        upfirdn2d.upfirdn2d(x, f, impl="native")
    for fn in (upfirdn2d.upsample2d, upfirdn2d.downsample2d, upfirdn2d.filter2d):
        with pytest.raises(ValueError, match="impl"):
            fn(x, f, impl="gpu")
    with pytest.raises(ValueError, match="requires grad"):
        upfirdn2d.upfirdn2d(x, f.clone().requires_grad_(), up=2)
    with pytest.raises(TypeError, match="padding"):
        upfirdn2d.upfirdn2d(x, f, padding=[1, 2, 3])
    with pytest.raises(TypeError, match=r"dtype torch\.float32"):
        upfirdn2d.upfirdn2d(x, f.double())
    with pytest.raises(ValueError, match="empty"):
        upfirdn2d.upfirdn2d(x, f, padding=-4)
    with pytest.raises(ValueError, match=r"shape \[N, C, H, W\]"):
        upfirdn2d.upfirdn2d(x[0], f)
    with pytest.raises(ValueError, match="sum to 0"):
        upfirdn2d.setup_filter([1.0, -1.0])


# ---- conv2d_resample ----------------------------------------------------------------------------


def nvidia_up_down_definition(x, w, f, up, down, padding, groups, flip_weight, flip_filter):
    """NVIDIA's conv2d_resample for up > 1 and down > 1, from its generic definition: pad for
    both steps, upsample with f (gain up**2), convolve, then downsample with f again."""
    fw, fh = (1, 1) if f is None else (f.shape[-1], f.shape[0])
    px0, px1, py0, py1 = padding
    px0 += (fw + up - 1) // 2 + (fw - down + 1) // 2
    px1 += (fw - up) // 2 + (fw - down) // 2
    py0 += (fh + up - 1) // 2 + (fh - down + 1) // 2
    py1 += (fh - up) // 2 + (fh - down) // 2
    x = upfirdn2d_ref(
        x, f, up=up, padding=[px0, px1, py0, py1], flip_filter=flip_filter, gain=up**2
    )
    x = F.conv2d(x, w if flip_weight else w.flip([2, 3]), groups=groups)
    return upfirdn2d_ref(x, f, down=down, flip_filter=flip_filter)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype,fmt", list(itertools.product(DTYPES, FORMATS)))
def test_conv2d_resample_matches_reference(impl, dtype, fmt):
    x = rand([2, 4, 6, 7], dtype, fmt)
    cases = [
        # up, down, kernel, filter, padding, groups, flip_weight, flip_filter
        (1, 1, 3, "none", 1, 1, True, False),
        (1, 1, 3, "1d4", [1, 0, 2, 1], 2, False, False),
        (2, 1, 3, "1d4", 1, 1, False, False),
        (2, 1, 1, "2d3x5", 0, 2, True, True),
        (1, 2, 3, "2d3x5", 1, 1, True, False),
        (1, 2, 1, "1d8", [0, 1], 4, False, True),
        (3, 1, 2, "none", 0, 1, True, False),
    ]
    for up, down, k, kind, padding, groups, flip_w, flip_f in cases:
        w = rand([8, 4 // groups, k, k], dtype)
        f = make_filter(kind)
        out = conv2d_resample.conv2d_resample(
            x, w, f, up, down, padding, groups, flip_w, flip_f, impl=impl
        )
        ref = conv2d_resample_ref(
            x.double(), w.double(), f, up, down, padding, groups, flip_w, flip_f
        )
        check_close(out, ref, dtype)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_resample_up_and_down(impl, dtype):
    x = rand([2, 4, 5, 6], dtype)
    for k, kind, padding, flip_w, flip_f in [
        (3, "1d4", [1, 1, 1, 1], False, False),
        (1, "2d3x5", [0, 2, 1, 0], True, True),
        (3, "none", [1, 1, 1, 1], True, False),
    ]:
        w = rand([3, 4, k, k], dtype)
        f = make_filter(kind)
        out = conv2d_resample.conv2d_resample(
            x,
            w,
            f,
            up=2,
            down=2,
            padding=padding,
            flip_weight=flip_w,
            flip_filter=flip_f,
            impl=impl,
        )
        ref = nvidia_up_down_definition(x.double(), w.double(), f, 2, 2, padding, 1, flip_w, flip_f)
        check_close(out, ref, dtype)
        if f is not None:
            # fastgan's own conv2d_resample filters once: the compat module must differ from it.
            single = conv2d_resample_ref(
                x.double(), w.double(), f, 2, 2, padding, 1, flip_w, flip_f
            )
            assert single.shape != ref.shape or rel_error(single, ref) > 1e-3


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_conv2d_resample_gradients(impl, up, down):
    x = rand([2, 1, 3, 3]).requires_grad_()
    w = rand([2, 1, 3, 3]).requires_grad_()
    f = upfirdn2d.setup_filter([1, 3, 3, 1])

    def fn(x, w):
        return conv2d_resample.conv2d_resample(
            x, w, f, up=up, down=down, padding=1, flip_weight=up == 1, impl=impl
        )

    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradgradcheck(fn, (x, w), fast_mode=True)


def test_conv2d_resample_bad_input():
    x = rand([1, 4, 6, 6], torch.float32)
    w = rand([2, 4, 3, 3], torch.float32)
    f = upfirdn2d.setup_filter([1, 3, 3, 1])
    with pytest.raises(ValueError, match="impl"):
        conv2d_resample.conv2d_resample(x, w, f, up=2, impl="native")
    with pytest.raises(TypeError, match="dtype"):
        conv2d_resample.conv2d_resample(x, w.double(), f)
    with pytest.raises(ValueError, match="up"):
        conv2d_resample.conv2d_resample(x, w, f, up=0)
    with pytest.raises(ValueError, match="groups"):
        conv2d_resample.conv2d_resample(x, w, f, groups=3)
    with pytest.raises(TypeError, match=r"f to be a torch\.Tensor"):
        conv2d_resample.conv2d_resample(x, w, [1, 3, 3, 1], up=2, down=2)
    with pytest.raises(TypeError, match="flip_weight"):
        conv2d_resample.conv2d_resample(x, w, f, up=2, down=2, flip_weight=1)


# ---- fma ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shapes",
    [
        ([2, 3, 4, 4], [2, 3, 1, 1], [2, 3, 4, 4]),
        ([2, 3, 4, 4], [2, 3, 1, 1], [1, 1, 4, 4]),
        ([1, 1, 4, 4], [2, 3, 1, 1], [3, 1, 1]),
        ([5], [5], [1]),
    ],
)
def test_fma(shapes):
    a, b, c = (rand(s).requires_grad_() for s in shapes)
    out = fma.fma(a, b, c)
    assert torch.allclose(out, a * b + c, rtol=1e-14, atol=1e-14)
    assert out.shape == torch.broadcast_shapes(*shapes)
    assert torch.autograd.gradcheck(fma.fma, (a, b, c))
    assert torch.autograd.gradgradcheck(fma.fma, (a, b, c), fast_mode=True)
    for dtype in DTYPES:
        a, b, c = (rand(s, dtype) for s in shapes)
        check_close(fma.fma(a, b, c), a.double() * b.double() + c.double(), dtype)


def test_fma_bad_input():
    with pytest.raises(ValueError, match="broadcast"):
        fma.fma(torch.zeros(2, 3), torch.zeros(4), torch.zeros(1))
    with pytest.raises(TypeError, match=r"c to be a torch\.Tensor"):
        fma.fma(torch.zeros(2), torch.zeros(2), 1.0)
