"""filtered_lrelu: the reference against a naive composition written from the definition, the
output size formula, and bad input."""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from fastgan.ops import filtered_lrelu, filtered_lrelu_ref
from fastgan.ops.filtered_lrelu import output_size
from fastgan.ops.upfirdn2d import filter_size, parse_padding
from tests.conftest import rel_error


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
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
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
