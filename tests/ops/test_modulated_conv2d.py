"""modulated_conv2d: both strategies against a naive per-sample reference, every dtype, float16
safety, gradients, demodulation() and bad input."""

import itertools

import pytest
import torch

from fastgan.ops import conv2d_resample, modulated_conv2d, setup_filter
from fastgan.ops.modulated_conv2d import demodulation, modulated_conv
from tests.conftest import DEVICES, TOLERANCE, rel_error

N, IN, OUT, H, W = 2, 3, 4, 7, 6  # odd sizes


def naive(
    x,
    weight,
    styles,
    noise=None,
    up=1,
    down=1,
    padding=0,
    f=None,
    demodulate=True,
    flip_weight=True,
):
    """StyleGAN2's definition, one sample at a time with the reference conv2d_resample."""
    ys = []
    for n in range(x.shape[0]):
        w = weight * styles[n][None, :, None, None]
        if demodulate:
            w = w / (w.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt()
        ys.append(
            conv2d_resample(x[n : n + 1], w, f, up, down, padding, 1, flip_weight, impl="ref")
        )
    y = torch.cat(ys)
    return y if noise is None else y + noise


def to64(t):
    return None if t is None else t.detach().double().cpu()


def naive64(x, weight, styles, noise=None, f=None, **kwargs):
    """The naive reference in float64 on the CPU, from inputs of any dtype and device."""
    f = None if f is None else f.cpu()
    return naive(to64(x), to64(weight), to64(styles), to64(noise), f=f, **kwargs)


def make_inputs(device, dtype, k=3, up=1, down=1, noise=None, shape=(N, IN, H, W), out=OUT):
    """(x, weight, styles, noise); noise is None, 'N1' ([N, 1, H', W']) or 'NO' ([N, O, H', W'])."""
    n, i, h, w = shape

    def rand(*size):
        return torch.randn(size, dtype=torch.float64).to(device, dtype)

    nz = None
    if noise is not None:
        nz = rand(n, 1 if noise == "N1" else out, h * up // down, w * up // down)
    return rand(n, i, h, w), rand(out, i, k, k), rand(n, i), nz


def configs():
    """(up, down, demodulate, kernel, noise); never up and down together."""
    for up, down, demod, k, noise in itertools.product(
        [1, 2], [1, 2], [True, False], [1, 3], [None, "N1", "NO"]
    ):
        if not (up > 1 and down > 1):
            yield up, down, demod, k, noise


def filter_for(up, down, device="cpu"):
    return setup_filter([1, 3, 3, 1], device=device) if up > 1 or down > 1 else None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "input_scaling"])
def test_float64_matches_naive_reference(device, fused):
    checked = 0
    for up, down, demod, k, noise in configs():
        f = filter_for(up, down, device)
        x, w, s, nz = make_inputs(device, torch.float64, k, up, down, noise)
        kwargs = dict(up=up, down=down, padding=k // 2, demodulate=demod)
        for flip_weight in (True, False) if k == 3 else (True,):
            y = modulated_conv2d(
                x,
                w,
                s,
                nz,
                **kwargs,
                resample_filter=f,
                flip_weight=flip_weight,
                fused_modconv=fused,
            )
            ref = naive64(x, w, s, nz, f, flip_weight=flip_weight, **kwargs)
            err = rel_error(y, ref)
            assert err < 1e-10, f"up={up} down={down} demod={demod} k={k} noise={noise}: {err:.3g}"
            checked += 1
    assert checked == 18 + 18 * 2  # kernel 1; kernel 3 with both flip_weight


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "input_scaling"])
def test_low_precision_matches_float64_reference(device, dtype, fused):
    """Against the float64 reference of the same (rounded) inputs, with the conftest bounds: the
    bfloat16 error is the rounding of the per-sample weights and of the output (~3e-3)."""
    for up, down, demod, k, noise in configs():
        if k == 1 and noise == "NO":
            continue  # keep the runtime down; the float64 test covers every combination
        f = filter_for(up, down, device)
        x, w, s, nz = make_inputs(device, dtype, k, up, down, noise)
        for fmt in (torch.contiguous_format, torch.channels_last):
            kwargs = dict(up=up, down=down, padding=k // 2, demodulate=demod)
            y = modulated_conv2d(
                x.to(memory_format=fmt), w, s, nz, **kwargs, resample_filter=f, fused_modconv=fused
            )
            assert y.dtype == dtype and y.device == x.device
            err = rel_error(y, naive64(x, w, s, nz, f, **kwargs))
            where = f"up={up} down={down} demod={demod} k={k} noise={noise} {fmt}"
            assert err < TOLERANCE[dtype], f"{where}: {err:.3g}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "input_scaling"])
def test_float16_large_weights_and_styles_stay_finite(device, fused):
    """weight * 100 and styles * 100: their products (~1e4 per term, ~1e9 summed) overflow
    float16 unless normalised first; demodulation cancels the scale."""
    for up, down in ((1, 1), (2, 1), (1, 2)):
        f = filter_for(up, down, device)
        x, w, s, nz = make_inputs(device, torch.float16, 3, up, down, "N1", shape=(N, 16, H, W))
        w, s = w * 100, s * 100
        kwargs = dict(up=up, down=down, padding=1)
        y = modulated_conv2d(x, w, s, nz, **kwargs, resample_filter=f, fused_modconv=fused)
        assert torch.isfinite(y).all(), f"up={up} down={down}"
        err = rel_error(y, naive64(x, w, s, nz, f, **kwargs))
        assert err < TOLERANCE[torch.float16], f"up={up} down={down}: {err:.3g}"


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "input_scaling"])
@pytest.mark.parametrize("case", ["zero_style_row", "zero_filter"])
def test_float16_zero_style_row_or_filter(fused, case):
    x, w, s, _ = make_inputs("cpu", torch.float32)
    if case == "zero_style_row":
        s[1] = 0  # every style of sample 1 is zero: y[1] = 0
        zero = (1, slice(None))
    else:
        w[2] = 0  # output channel 2 has an all-zero filter: y[:, 2] = 0
        zero = (slice(None), 2)
    y32 = modulated_conv2d(x, w, s, padding=1, fused_modconv=fused)
    assert y32[zero].abs().max() == 0 and torch.isfinite(y32).all()
    y16 = modulated_conv2d(x.half(), w.half(), s.half(), padding=1, fused_modconv=fused)
    assert torch.isfinite(y16).all(), f"{torch.isnan(y16).sum().item()} NaN of {y16.numel()}"
    assert rel_error(y16, y32) < TOLERANCE[torch.float16]


def test_modulated_conv_returns_scale_only_for_input_scaling():
    x, w, s, _ = make_inputs("cpu", torch.float64)
    y, scale = modulated_conv(x, w, s, padding=1, fused_modconv=True)
    assert scale is None
    y2, scale2 = modulated_conv(x, w, s, padding=1, fused_modconv=False)
    assert scale2.shape == (N, OUT) and scale2.dtype == x.dtype
    assert rel_error(y2 * scale2[:, :, None, None], y) < 1e-12
    assert rel_error(scale2, demodulation(w, s)) < 1e-15
    _, no_scale = modulated_conv(x, w, s, padding=1, demodulate=False, fused_modconv=False)
    assert no_scale is None


@pytest.mark.parametrize("device", DEVICES)
def test_impl_ref_equals_native(device):
    for up, down in ((1, 1), (2, 1), (1, 2)):
        f = filter_for(up, down, device)
        x, w, s, nz = make_inputs(device, torch.float32, 3, up, down, "N1")
        for fused in (True, False):
            kwargs = dict(up=up, down=down, padding=1, resample_filter=f, fused_modconv=fused)
            native = modulated_conv2d(x, w, s, nz, **kwargs, impl="native")
            ref = modulated_conv2d(x, w, s, nz, **kwargs, impl="ref")
            assert rel_error(native, ref) < 1e-6


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "input_scaling"])
@pytest.mark.parametrize("up, down", [(1, 1), (2, 1), (1, 2)])
def test_gradcheck_and_gradgradcheck_float64(fused, up, down):
    f = filter_for(up, down)
    x, w, s, nz = make_inputs("cpu", torch.float64, 3, up, down, "N1", shape=(2, 2, 4, 4), out=3)
    inputs = [t.requires_grad_(True) for t in (x, w, s, nz)]

    def fn(x, w, s, nz):
        return modulated_conv2d(
            x, w, s, nz, up=up, down=down, padding=1, resample_filter=f, fused_modconv=fused
        )

    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "input_scaling"])
def test_gradients_match_naive_reference(fused):
    """First and second order (the path-length pattern) against the naive reference."""
    f = filter_for(2, 1)
    x, w, s, nz = make_inputs("cpu", torch.float64, 3, 2, 1, "NO")
    v = torch.randn(N, OUT, 2 * H, 2 * W, dtype=torch.float64)
    results = []
    for fn in (
        lambda *t: modulated_conv2d(*t, up=2, padding=1, resample_filter=f, fused_modconv=fused),
        lambda *t: naive(*t, up=2, padding=1, f=f),
    ):
        inputs = [t.clone().requires_grad_(True) for t in (x, w, s, nz)]
        first = torch.autograd.grad((fn(*inputs) * v).sum(), inputs, create_graph=True)
        # d/d(x, weight, styles) of |d loss / d styles|² (the first order is linear in x).
        second = torch.autograd.grad(first[2].square().sum(), inputs[:3])
        results.append(list(first) + list(second))
    for k, (a, e) in enumerate(zip(*results, strict=True)):
        assert rel_error(a, e) < 1e-10, k


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16], ids=str)
def test_demodulation_equals_direct_formula(dtype):
    w = torch.randn(5, 4, 3, 3, dtype=torch.float64)
    s = torch.randn(3, 4, dtype=torch.float64)
    d = demodulation(w.to(dtype), s.to(dtype))
    assert d.shape == (3, 5)
    assert d.dtype == torch.promote_types(dtype, torch.float32)
    ww, ss = to64(w.to(dtype)), to64(s.to(dtype))
    direct = torch.empty(3, 5, dtype=torch.float64)
    for n, o in itertools.product(range(3), range(5)):
        direct[n, o] = 1 / ((ww[o] * ss[n][:, None, None]).square().sum() + 1e-8).sqrt()
    tol = 1e-14 if dtype == torch.float64 else 1e-6
    assert rel_error(d, direct) < tol


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(weight=torch.randn(OUT, IN + 1, 3, 3)), ValueError, r"\[out_channels, 3 \(x's"),
        (dict(weight=torch.randn(OUT, IN, 3)), ValueError, "expected weight of shape"),
        (dict(styles=torch.randn(N, IN + 1)), ValueError, r"expected styles of shape \[2, 3\]"),
        (dict(styles=torch.randn(N + 1, IN)), ValueError, r"expected styles of shape \[2, 3\]"),
        (dict(styles=torch.randn(IN)), ValueError, r"expected styles of shape \[2, 3\]"),
        (dict(x=torch.randn(IN, H, W)), ValueError, r"expected x of shape \[N, C, H, W\]"),
        (
            dict(weight=torch.randn(OUT, IN, 3, 3, dtype=torch.float64)),
            TypeError,
            "expected weight of dtype torch.float32",
        ),
        (
            dict(styles=torch.randn(N, IN, dtype=torch.float16)),
            TypeError,
            "expected styles of dtype torch.float32",
        ),
        (
            dict(noise=torch.randn(N, 1, H, W, dtype=torch.float64)),
            TypeError,
            "expected noise of dtype torch.float32",
        ),
        (dict(styles=torch.randn(N, IN, device="meta")), ValueError, "expected styles on cpu"),
        (dict(noise=torch.randn(N, 2, H, W)), ValueError, "expected noise broadcastable"),
        (dict(noise=torch.randn(N, 1, H + 1, W)), ValueError, "expected noise broadcastable"),
        (dict(weight=[[1.0]]), TypeError, r"expected weight to be a torch\.Tensor"),
    ],
)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "input_scaling"])
def test_bad_input(kwargs, error, match, fused):
    args = dict(x=torch.randn(N, IN, H, W), weight=torch.randn(OUT, IN, 3, 3))
    args.update(styles=torch.randn(N, IN), padding=1, fused_modconv=fused)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        modulated_conv2d(**args)
