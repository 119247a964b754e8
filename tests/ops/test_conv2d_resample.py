"""conv2d_resample: the fast composition against the naive one, gradients, compile, bad input."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from fastgan.ops import conv2d_resample, conv2d_resample_ref, setup_filter
from tests.conftest import DEVICES, TOLERANCE, rel_error

SHAPE = (2, 4, 7, 9)  # odd sizes
OUT_CHANNELS = 6


def make_filter(kind, device="cpu"):
    if kind == "none":
        return None
    # 4 taps, asymmetric so that a wrong flip of the filter shows (2-D 4x4 outer product).
    return setup_filter(torch.rand(4, dtype=torch.float64).float() + 0.1, device=device)


def make_inputs(device, dtype, k, groups, shape=SHAPE, out_channels=OUT_CHANNELS):
    x = torch.randn(shape, dtype=torch.float64).to(device, dtype)
    w = torch.randn(out_channels, shape[1] // groups, k, k, dtype=torch.float64).to(device, dtype)
    return x, w


def configs():
    """(up, down, k, padding, groups, flip_weight, flip_filter, filter kind)."""
    return itertools.product(
        [1, 2],
        [1, 2],
        [1, 3],
        [0, 1, [2, 0, 1, 3]],
        [1, 2],
        [True, False],
        [False, True],
        ["4tap", "none"],
    )


def reference64(x, w, f, **kwargs):
    return conv2d_resample_ref(
        x.detach().double().cpu(),
        w.detach().double().cpu(),
        None if f is None else f.cpu(),
        **kwargs,
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_matches_reference(device, dtype):
    tol = 1e-10 if dtype == torch.float64 else TOLERANCE[dtype]
    checked = 0
    for up, down, k, padding, groups, flip_weight, flip_filter, kind in configs():
        f = make_filter(kind, device)
        x, w = make_inputs(device, dtype, k, groups)
        kwargs = dict(
            up=up,
            down=down,
            padding=padding,
            groups=groups,
            flip_weight=flip_weight,
            flip_filter=flip_filter,
        )
        where = f"up={up} down={down} k={k} padding={padding} groups={groups} " + str(kwargs)
        try:
            ref = reference64(x, w, f, **kwargs)
        except ValueError:  # an empty output: the fast path must refuse it too
            with pytest.raises(ValueError, match="the output would be empty"):
                conv2d_resample(x, w, f, **kwargs)
            continue
        y = conv2d_resample(x, w, f, **kwargs)
        assert y.dtype == dtype and y.device == x.device, where
        assert y.shape == ref.shape, where
        err = rel_error(y, ref)
        assert err < tol, f"{where}: {err:.3g}"
        checked += 1
    assert checked >= 350


@pytest.mark.parametrize("device", DEVICES)
def test_one_by_one_kernel_both_orders(device):
    """A 1x1 kernel runs on whichever side of the resampling is cheaper: both orders agree with
    the reference (many output channels: resample first; few: convolve first)."""
    f = make_filter("4tap", device)
    for up, down, cin, cout in [(2, 1, 4, 20), (2, 1, 8, 2), (1, 2, 8, 1), (1, 2, 2, 8)]:
        x, w = make_inputs(device, torch.float64, 1, 1, shape=(2, cin, 6, 5), out_channels=cout)
        for padding in (0, [1, 2, 0, 1]):
            y = conv2d_resample(x, w, f, up=up, down=down, padding=padding)
            ref = reference64(x, w, f, up=up, down=down, padding=padding)
            assert rel_error(y, ref) < 1e-10, (up, down, cin, cout, padding)


def test_reference_definition():
    """The reference is the composition spelled out in the docstring."""
    x, w = make_inputs("cpu", torch.float64, 3, 1)
    assert torch.allclose(conv2d_resample_ref(x, w, padding=1), F.conv2d(x, w, padding=1))
    assert torch.allclose(
        conv2d_resample_ref(x, w, padding=1, flip_weight=False),
        F.conv2d(x, w.flip([2, 3]), padding=1),
    )
    # Without a filter (1x1), up = 2 is zero insertion with gain 4, centred like upsample2d:
    # one more leading pixel of padding, the trailing inserted zero cropped; down = 2 is a
    # strided convolution.
    stuffed = torch.zeros(2, 4, 14, 18, dtype=torch.float64)
    stuffed[:, :, ::2, ::2] = x * 4
    y = conv2d_resample_ref(x, w, up=2, padding=1)
    assert y.shape == (2, OUT_CHANNELS, 14, 18)
    assert torch.allclose(y, F.conv2d(F.pad(stuffed, [2, 0, 2, 0]), w))
    assert torch.allclose(
        conv2d_resample_ref(x, w, down=2, padding=1),
        F.conv2d(F.pad(x, [1, 0, 1, 0]), w, stride=2),  # (fw - down) // 2 = -1 trailing
    )


@pytest.mark.parametrize("device", DEVICES)
def test_stylegan_shapes(device):
    f = setup_filter([1, 3, 3, 1], device=device)
    x, w = make_inputs(device, torch.float32, 3, 1, shape=(2, 4, 8, 10))
    assert conv2d_resample(x, w, f, up=2, padding=1).shape == (2, OUT_CHANNELS, 16, 20)
    assert conv2d_resample(x, w, f, down=2, padding=1).shape == (2, OUT_CHANNELS, 4, 5)
    assert conv2d_resample(x, w, f, padding=1).shape == (2, OUT_CHANNELS, 8, 10)
    x1, w1 = make_inputs(device, torch.float32, 1, 1, shape=(2, 4, 8, 10))
    assert conv2d_resample(x1, w1, f, up=2).shape == (2, OUT_CHANNELS, 16, 20)
    assert conv2d_resample(x1, w1, f, down=2).shape == (2, OUT_CHANNELS, 4, 5)
    # channels_last inputs work and match the reference.
    xc = x.to(memory_format=torch.channels_last)
    for up, down in ((2, 1), (1, 2)):
        y = conv2d_resample(xc, w, f, up=up, down=down, padding=1)
        assert rel_error(y, reference64(x, w, f, up=up, down=down, padding=1)) < 1e-5


@pytest.mark.parametrize("up, down", [(2, 1), (1, 2)])
@pytest.mark.parametrize("groups", [1, 2])
def test_gradcheck_and_gradgradcheck_float64(up, down, groups):
    f = make_filter("4tap")
    x, w = make_inputs("cpu", torch.float64, 3, groups, shape=(1, 2, 4, 5), out_channels=2)
    x.requires_grad_(True)
    w.requires_grad_(True)

    def fn(x, w):
        return conv2d_resample(
            x, w, f, up=up, down=down, padding=1, groups=groups, flip_weight=False
        )

    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradgradcheck(fn, (x, w))


@pytest.mark.parametrize("device", DEVICES)
def test_gradients_match_reference(device):
    f = make_filter("4tap", device)
    for up, down, k in ((2, 1, 3), (1, 2, 3), (2, 1, 1), (2, 2, 3)):
        x, w = make_inputs(device, torch.float32, k, 2)
        x.requires_grad_(True)
        w.requires_grad_(True)
        y = conv2d_resample(x, w, f, up=up, down=down, padding=1, groups=2)
        g = torch.randn_like(y)
        gx, gw = torch.autograd.grad(y, (x, w), g)
        x64 = x.detach().double().cpu().requires_grad_(True)
        w64 = w.detach().double().cpu().requires_grad_(True)
        y64 = conv2d_resample_ref(x64, w64, f.cpu(), up=up, down=down, padding=1, groups=2)
        rx, rw = torch.autograd.grad(y64, (x64, w64), g.double().cpu())
        assert rel_error(gx, rx) < 1e-5 and rel_error(gw, rw) < 1e-5, (up, down, k)


@pytest.mark.parametrize("device", DEVICES)
def test_compile_fullgraph_forward(device):
    f = setup_filter([1, 3, 3, 1], device=device)

    def block(x, w1, w2):
        y = conv2d_resample(x, w1, f, up=2, padding=1)
        return conv2d_resample(torch.nn.functional.leaky_relu(y, 0.2), w2, f, down=2, padding=1)

    torch._dynamo.reset()
    compiled = torch.compile(block, fullgraph=True)
    x, w1 = make_inputs(device, torch.float32, 3, 1)
    _, w2 = make_inputs(device, torch.float32, 3, 1, shape=(2, OUT_CHANNELS, 1, 1))
    y = compiled(x, w1, w2)
    assert y.shape == (2, OUT_CHANNELS, 7, 9)
    assert rel_error(y, block(x, w1, w2)) < 1e-5
    torch._dynamo.reset()


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda x, w: dict(w=w[0]), ValueError, r"expected w of shape \[out_channels, in_channels"),
        (lambda x, w: dict(w=w, groups=3), ValueError, r"expected w of shape \[out_channels \("),
        (lambda x, w: dict(w=w[:, :2], groups=1), ValueError, "expected w of shape"),
        (lambda x, w: dict(w=w[:5], groups=2), ValueError, "a multiple of groups=2"),
        (lambda x, w: dict(w=w, up=0), ValueError, "expected up to be an int >= 1"),
        (lambda x, w: dict(w=w, down=0), ValueError, "expected down to be an int >= 1"),
        (lambda x, w: dict(w=w, up=1.5), ValueError, "expected up to be an int >= 1"),
        (lambda x, w: dict(w=w, groups=0), ValueError, "expected groups to be an int >= 1"),
        (lambda x, w: dict(w=w.double()), TypeError, "expected w of dtype torch.float32"),
        (lambda x, w: dict(w=w.to("meta")), ValueError, "expected w on cpu"),
        (lambda x, w: dict(w=w.tolist()), TypeError, "expected w to be a torch.Tensor"),
        (lambda x, w: dict(w=w, flip_weight=0), TypeError, "expected flip_weight to be a bool"),
        (lambda x, w: dict(w=w, padding=[1, 2, 3]), TypeError, "expected padding"),
        (lambda x, w: dict(w=w, padding=-4), ValueError, "the output would be empty"),
        (
            lambda x, w: dict(w=w, f=torch.ones(4, dtype=torch.float64), up=2),
            TypeError,
            "expected f of dtype torch.float32",
        ),
    ],
)
def test_bad_input(make, error, match):
    x, w = make_inputs("cpu", torch.float32, 3, 1, shape=(2, 4, 6, 6))
    kwargs = make(x, w)
    with pytest.raises(error, match=match):
        conv2d_resample(x, **kwargs)
    with pytest.raises(error, match=match):
        conv2d_resample_ref(x, **kwargs)


@pytest.mark.parametrize("fn", [conv2d_resample, conv2d_resample_ref])
@pytest.mark.parametrize("up, down", [(1, 2), (2, 1)])
def test_empty_output_after_filter_and_kernel(fn, up, down):
    """The image survives the filter or the kernel alone, but not both: x 3x3, f 4x4 (down) or
    x 1x5 upsampled to 2x10, f 6x6 (up), with a 3x3 / 4x4 kernel."""
    if down > 1:
        x, w, f = torch.randn(1, 1, 3, 3), torch.randn(1, 1, 3, 3), setup_filter([1, 3, 3, 1])
    else:
        x, w, f = torch.randn(1, 1, 1, 5), torch.randn(1, 1, 4, 4), setup_filter([1] * 6)
    # conv2d_resample's own check, naming the caller's sizes (not an inner upfirdn2d's).
    with pytest.raises(ValueError, match="conv2d_resample: the output would be empty"):
        fn(x, w, f, up=up, down=down)


def test_unused_filter_does_not_limit_the_size():
    x, w = (
        torch.randn(1, 2, 3, 3, dtype=torch.float64),
        torch.randn(4, 2, 1, 1, dtype=torch.float64),
    )
    f = setup_filter([1] * 8)  # 8 taps, larger than the 3x3 image; unused for up = down = 1
    y = conv2d_resample(x, w, f)
    assert torch.allclose(y, conv2d_resample(x, w, None))


def test_bad_x():
    w = torch.randn(6, 4, 3, 3)
    with pytest.raises(ValueError, match=r"expected x of shape \[N, C, H, W\]"):
        conv2d_resample(torch.randn(4, 6, 6), w)
    with pytest.raises(TypeError, match="floating-point dtype"):
        conv2d_resample(torch.ones(2, 4, 6, 6, dtype=torch.int64), w)
