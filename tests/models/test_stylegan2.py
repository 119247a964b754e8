"""StyleGAN2 generator and discriminator: shapes, structure, the reference twin (outputs, first
and second-order gradients of the R1 and path-length paths), truncation, w_avg, style mixing,
low precision, channels_last and bad arguments."""

import copy
import math

import pytest
import torch

from fastgan import _native
from fastgan.models import StyleGAN2Discriminator, StyleGAN2Generator
from fastgan.nn import set_impl
from fastgan.ops import bias_act_ref, conv2d_resample_ref, setup_filter
from tests.conftest import rel_error
from tests.models.common import (
    OpNamespaces,
    assert_close,
    assert_matches_reference,
    perturb,
    twin,
)

Z_DIM = W_DIM = 8
C_DIM = 3
BATCH = 4
# Tiny channels: 16 at 8x8, 8 at 16x16, 4 at 32x32, 2 at 64x64 (and 16 at 4x4).
SMALL = dict(channel_base=128, channel_max=16)


def make_g(resolution=16, c_dim=0, **kwargs):
    args = dict(z_dim=Z_DIM, w_dim=W_DIM, mapping_layers=2, **SMALL) | kwargs
    return StyleGAN2Generator(c_dim=c_dim, img_resolution=resolution, **args)


def make_d(resolution=16, c_dim=0, **kwargs):
    args = dict(mapping_layers=2, **SMALL) | kwargs
    return StyleGAN2Discriminator(c_dim=c_dim, img_resolution=resolution, **args)


def labels(n=BATCH, c_dim=C_DIM, dtype=torch.float32):
    return torch.eye(c_dim, dtype=dtype)[torch.randint(c_dim, (n,))]


# --- shapes and structure ----------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [4, 8, 16, 32, 64, 128, 256])
@pytest.mark.parametrize("c_dim", [0, C_DIM], ids=["unconditional", "conditional"])
def test_shapes(resolution, c_dim):
    large = resolution > 64  # tiny channels and fewer calls, to stay fast
    small = dict(channel_base=4 * resolution, channel_max=16) if large else {}
    G, D = make_g(resolution, c_dim, **small), make_d(resolution, c_dim, **small)
    n = 2 if large else BATCH
    z = torch.randn(n, Z_DIM)
    c = labels(n) if c_dim else None
    assert G.num_ws == 2 * int(math.log2(resolution)) - 2
    ws = G.mapping(z, c)
    assert ws.shape == (n, G.num_ws, W_DIM)
    with torch.no_grad():
        for noise_mode in ("const",) if large else ("random", "const", "none"):
            img = G.synthesis(ws, noise_mode=noise_mode)
            assert img.shape == (n, 3, resolution, resolution) and img.dtype == torch.float32
            assert torch.isfinite(img).all()
    img = G(z, c)
    assert img.shape == (n, 3, resolution, resolution)
    logits = D(img, c)
    assert logits.shape == (n, 1) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


def test_noise_modes():
    G = perturb(make_g(16))
    ws = G.mapping(torch.randn(BATCH, Z_DIM))
    with torch.no_grad():
        const = G.synthesis(ws, noise_mode="const")
        assert torch.equal(G.synthesis(ws, noise_mode="const"), const)
        assert not torch.equal(G.synthesis(ws), G.synthesis(ws)), "'random' is the default"
        none = G.synthesis(ws, noise_mode="none")
        assert rel_error(none, const) > 1e-4
        for p in G.parameters():
            if p.ndim == 0:  # the noise strengths
                p.zero_()
        assert rel_error(G.synthesis(ws, noise_mode="random"), none) < 1e-6


def test_img_channels_and_batch_sizes():
    G, D = make_g(8, img_channels=1), make_d(8, img_channels=1)
    for n in (1, 2, 8):  # mbstd groups of min(4, N)
        img = G(torch.randn(n, Z_DIM))
        assert img.shape == (n, 1, 8, 8) and D(img).shape == (n, 1)


def test_generator_structure():
    G = make_g(32, C_DIM, channel_base=256, channel_max=32)
    channels = {4: 32, 8: 32, 16: 16, 32: 8}  # min(256 // r, 32)
    assert G.synthesis_network.const.shape == (32, 4, 4)
    assert [b.resolution for b in G.synthesis_network.blocks] == [4, 8, 16, 32]
    for block in G.synthesis_network.blocks:
        r = block.resolution
        assert block.conv1.conv.out_channels == channels[r] and block.conv1.conv.up == 1
        assert block.torgb.conv.out_channels == 3 and block.torgb.conv.kernel_size == 1
        if r == 4:
            assert block.conv0 is None and block.upsample is None
        else:
            assert block.conv0.conv.in_channels == channels[r // 2]
            assert block.conv0.conv.up == 2 and block.conv0.conv.kernel_size == 3
            assert torch.equal(block.upsample.filter, setup_filter([1, 3, 3, 1]))
    mapping = G.mapping_network
    assert len(mapping.layers) == 2 and mapping.c_dim == C_DIM and mapping.w_avg_beta == 0.995
    assert G.num_ws == mapping.num_ws == 1 + 2 * 3 + 1

    # Parameters, counted by hand: per StyledConv (in, out) the affine w_dim * in + in, the
    # weight out * in * 9, bias out, noise strength 1; per ToRGB(in) affine, 3 * in, 3.
    def styled(cin, cout):
        return W_DIM * cin + cin + cout * cin * 9 + cout + 1

    def torgb(cin):
        return W_DIM * cin + cin + 3 * cin + 3

    expect = 32 * 16 + styled(32, 32) + torgb(32)
    for r in (8, 16, 32):
        expect += styled(channels[r // 2], channels[r]) + styled(channels[r], channels[r])
        expect += torgb(channels[r])
    expect += (C_DIM * W_DIM + W_DIM) + (2 * W_DIM * W_DIM + W_DIM) + (W_DIM * W_DIM + W_DIM)
    assert sum(p.numel() for p in G.parameters()) == expect


def test_discriminator_structure():
    D = make_d(32, C_DIM, channel_base=256, channel_max=32, mbdisc_kernels=5, mbdisc_kernel_dim=3)
    channels = {4: 32, 8: 32, 16: 16, 32: 8}
    assert D.fromrgb.kernel_size == 1 and D.fromrgb.out_channels == 8
    assert [b.resolution for b in D.blocks] == [32, 16, 8]
    for block in D.blocks:
        r = block.resolution
        assert (block.conv0.in_channels, block.conv0.out_channels) == (channels[r], channels[r])
        assert (block.conv1.out_channels, block.conv1.down, block.conv1.kernel_size) == (
            channels[r // 2],
            2,
            3,
        )
        assert block.skip.bias is None and block.skip.kernel_size == 1 and block.skip.down == 2
        assert block.skip.activation == "linear" and block.conv1.activation == "lrelu"
    epilogue = D.epilogue
    assert epilogue.conv.in_channels == 32 + 1  # one mbstd channel
    assert epilogue.mbdisc.in_features == 32 * 16 and epilogue.mbdisc.num_kernels == 5
    assert epilogue.fc.in_features == 32 * 16 + 5 and epilogue.fc.out_features == 32
    assert epilogue.out.out_features == D.cmap_dim == 32
    assert D.mapping.w_dim == 32 and D.mapping.c_dim == C_DIM
    uncond = make_d(32)
    assert uncond.mapping is None and uncond.epilogue.out.out_features == 1


def test_discriminator_block_formula():
    """A residual block against an independent composition of the reference ops:
    (skip(x) + conv1(conv0(x))) / sqrt(2), each conv with equalised weights."""
    D = perturb(make_d(16)).double()
    block = D.blocks[0]
    x = torch.randn(2, block.conv0.in_channels, 16, 16, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1]).double()

    def conv(layer, x, down):
        w = layer.weight / math.sqrt(layer.weight[0].numel())
        if down == 1:
            return conv2d_resample_ref(x, w, padding=layer.weight.shape[-1] // 2)
        # Blur with the 4-tap filter (padded to keep the size + 1), then a strided convolution.
        k = layer.weight.shape[-1]
        pad = k // 2 + 1
        blurred = torch.nn.functional.conv2d(
            torch.nn.functional.pad(x, [pad, pad, pad, pad]).flatten(0, 1)[:, None], f[None, None]
        ).view(x.shape[0], x.shape[1], x.shape[2] + 2 * pad - 3, -1)
        return torch.nn.functional.conv2d(blurred, w, stride=2)

    with torch.no_grad():
        h = bias_act_ref(conv(block.conv0, x, 1), block.conv0.bias, act="lrelu")
        h = bias_act_ref(conv(block.conv1, h, 2), block.conv1.bias, act="lrelu")
        expect = (conv(block.skip, x, 2) + h) * math.sqrt(0.5)
        assert rel_error(block(x), expect) < 1e-12


# --- the reference twin ------------------------------------------------------------------------


@pytest.mark.parametrize("c_dim", [0, C_DIM], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_generator_matches_reference(c_dim, training):
    G = perturb(make_g(16, c_dim)).double().train(training)
    G.mapping_network.w_avg.copy_(torch.randn(W_DIM))
    z = torch.randn(BATCH, Z_DIM, dtype=torch.float64)
    inputs = [z] + ([labels(dtype=torch.float64)] if c_dim else [])

    def call(m, z, *c):
        return m(z, *c, truncation_psi=0.7, noise_mode="const", update_emas=False)

    assert_matches_reference(G, inputs, call, where=f"train={training}")


@pytest.mark.parametrize("c_dim", [0, C_DIM], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("mbdisc_kernels", [0, 4], ids=["plain", "mbdisc"])
def test_discriminator_matches_reference(c_dim, mbdisc_kernels):
    D = perturb(make_d(16, c_dim, mbdisc_kernels=mbdisc_kernels, mbdisc_kernel_dim=3)).double()
    img = torch.randn(BATCH, 3, 16, 16, dtype=torch.float64)
    inputs = [img] + ([labels(dtype=torch.float64)] if c_dim else [])
    assert_matches_reference(D, inputs, lambda m, *args: m(*args))


def test_impl_ref_runs_no_fastgan_op_and_equals_set_impl():
    G, D = perturb(make_g(8, C_DIM)), perturb(make_d(8, C_DIM, mbdisc_kernels=2))
    z, c, img = torch.randn(BATCH, Z_DIM), labels(), torch.randn(BATCH, 3, 8, 8)
    for model, ref_built, args in (
        (G, make_g(8, C_DIM, impl="ref"), (z, c)),
        (D, make_d(8, C_DIM, mbdisc_kernels=2, impl="ref"), (img, c)),
    ):
        ref_built.load_state_dict(model.state_dict())
        assert {m.impl for m in ref_built.modules() if hasattr(m, "impl")} == {"ref"}
        assert {m.impl for m in twin(model).modules() if hasattr(m, "impl")} == {"ref"}
        kwargs = dict(noise_mode="const") if model is G else {}
        for ref in (ref_built, twin(model)):
            with OpNamespaces() as ops:
                out = ref(*args, **kwargs)
                out.sum().backward()
            assert "fastgan" not in ops.namespaces
            assert rel_error(out, model(*args, **kwargs)) < 1e-5
        if _native.has_kernel("bias_act", "cpu"):
            with OpNamespaces() as ops:
                model(*args, **kwargs)
            assert "fastgan" in ops.namespaces


@pytest.mark.parametrize("mbdisc_kernels", [0, 4], ids=["plain", "mbdisc"])
def test_r1_path_matches_reference(mbdisc_kernels):
    """R1: grad of D's logits w.r.t. the images (create_graph), |grad|² backpropagated to D's
    parameters; native ops against the reference twin, float64."""
    D = perturb(make_d(16, C_DIM, mbdisc_kernels=mbdisc_kernels, mbdisc_kernel_dim=3)).double()
    img = torch.randn(BATCH, 3, 16, 16, dtype=torch.float64)
    c = labels(dtype=torch.float64)

    def r1(model):
        model.zero_grad()
        x = img.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(x, c).sum(), x, create_graph=True)
        g.square().sum().backward()
        return {"grad_img": g.detach()} | {n: p.grad for n, p in model.named_parameters()}

    grads, grads_ref = r1(D), r1(twin(D))
    assert_close(grads, grads_ref, 1e-10, "R1")
    assert grads["fromrgb.weight"].abs().max() > 0 and grads["blocks.0.conv0.weight"].abs().max()
    assert grads["mapping.embed.weight"].abs().max() > 0


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_path_length_path_matches_reference(training):
    """Path length: grad of <G.synthesis(ws), noise> w.r.t. ws (create_graph), the penalty
    backpropagated to G's parameters; native against reference, float64, both modulation
    strategies (input scaling while training, per-sample weights in eval)."""
    G = perturb(make_g(16, C_DIM)).double().train(training)
    z, c = torch.randn(BATCH, Z_DIM, dtype=torch.float64), labels(dtype=torch.float64)
    noise = torch.randn(BATCH, 3, 16, 16, dtype=torch.float64) / 16

    def path_length(model):
        model.zero_grad()
        ws = model.mapping(z, c, update_emas=False)
        ws_leaf = ws.detach().requires_grad_(True)
        img = model.synthesis(ws_leaf, noise_mode="const")
        (g,) = torch.autograd.grad((img * noise).sum(), ws_leaf, create_graph=True)
        lengths = g.square().sum(dim=2).mean(dim=1).sqrt()
        (lengths - 0.1).square().mean().backward()
        return {"grad_ws": g.detach()} | {n: p.grad for n, p in model.named_parameters()}

    grads, grads_ref = path_length(G), path_length(twin(G))
    assert_close(grads, grads_ref, 1e-10, "path length")
    for name in ("synthesis_network.blocks.0.conv1.conv.affine.weight", "synthesis_network.const"):
        assert grads[name].abs().max() > 0, name


# --- truncation, w_avg, style mixing -----------------------------------------------------------


def test_truncation():
    G = perturb(make_g(16, C_DIM)).eval()
    G.mapping_network.w_avg.copy_(torch.randn(W_DIM))
    z, c = torch.randn(BATCH, Z_DIM), labels()
    with torch.no_grad():
        ws = G.mapping(z, c)
        at_avg = G.mapping(z, c, truncation_psi=0.0)
        assert torch.equal(at_avg, G.w_avg.expand(BATCH, G.num_ws, W_DIM))
        img = G(z, c, truncation_psi=0.0, noise_mode="const")
        for n in range(1, BATCH):  # every sample is the image of w_avg
            assert rel_error(img[n], img[0]) < 1e-6
        assert rel_error(G(z, c, noise_mode="const")[1], img[0]) > 1e-3
        half = G.mapping(z, c, truncation_psi=0.5, truncation_cutoff=3)
        assert rel_error(half[:, :3], G.w_avg + 0.5 * (ws[:, :3] - G.w_avg)) < 1e-6
        assert torch.equal(half[:, 3:], ws[:, 3:])


def test_w_avg_tracks_w_while_training():
    G = make_g(8)
    z = torch.randn(BATCH, Z_DIM)
    with torch.no_grad():
        w = G.mapping(z, update_emas=False)[:, 0]
        assert torch.equal(G.w_avg, torch.zeros(W_DIM)), "w_avg starts at 0"
        G.train()(z)
        assert rel_error(G.w_avg, 0.005 * w.mean(dim=0)) < 1e-6, "beta 0.995"
        before = G.w_avg.clone()
        G.eval()(z)
        G.train()(z, update_emas=False)
        G.train().mapping(z, style_mixing_prob=1.0, update_emas=False)
        assert torch.equal(G.w_avg, before), "eval mode and update_emas=False leave w_avg alone"
        G.eval().mapping(z, update_emas=True)
        assert rel_error(G.w_avg, 0.995 * before + 0.005 * w.mean(dim=0)) < 1e-6
    assert "mapping_network.w_avg" in G.state_dict()


def test_style_mixing():
    G = perturb(make_g(16, C_DIM)).eval()  # num_ws = 6
    z, c = torch.randn(BATCH, Z_DIM), labels()
    with torch.no_grad():
        ws = G.mapping(z, c)
        assert torch.equal(G.mapping(z, c, style_mixing_prob=0.0), ws)
        cutoffs = set()
        for _ in range(200):
            mixed = G.mapping(z, c, style_mixing_prob=1.0)
            same = (mixed == ws).all(dim=2).all(dim=0)
            cutoff = int(same.logical_not().nonzero()[0])
            assert same[:cutoff].all() and not same[cutoff:].any()
            # From the cutoff on, one w of the second z, the same for every layer.
            assert torch.equal(
                mixed[:, cutoff:], mixed[:, cutoff : cutoff + 1].expand_as(mixed[:, cutoff:])
            )
            cutoffs.add(cutoff)
        assert cutoffs == set(range(1, G.num_ws)), "cutoff uniform over [1, num_ws)"
        mixed_count = sum(
            not torch.equal(G.mapping(z, c, style_mixing_prob=0.5), ws) for _ in range(400)
        )
        assert 130 < mixed_count < 270  # Binomial(400, 0.5): 7 standard deviations
        img = G(z, c, noise_mode="const")
        assert torch.equal(G(z, c, noise_mode="const"), img)
        assert rel_error(G(z, c, noise_mode="const", style_mixing_prob=1.0), img) > 1e-4


# --- precision and memory format ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("input_dtype", ["float32", "low"])
def test_autocast(dtype, input_dtype):
    G, D = perturb(make_g(16, C_DIM), 0.05), perturb(make_d(16, C_DIM, mbdisc_kernels=4), 0.05)
    z, c, real = torch.randn(BATCH, Z_DIM), labels(), torch.randn(BATCH, 3, 16, 16)
    with torch.no_grad():
        img32, logits32 = G(z, c, noise_mode="const"), D(real, c)
    cast = (lambda t: t.to(dtype)) if input_dtype == "low" else (lambda t: t)
    for training in (True, False):  # input scaling / per-sample weights
        G.train(training)
        with torch.autocast("cpu", dtype=dtype):
            img = G(cast(z), cast(c), noise_mode="const", update_emas=False)
            logits = D(cast(real), cast(c))
            fake_logits = D(img, c)
        assert img.dtype == torch.float32 and logits.dtype == torch.float32
        assert torch.isfinite(img).all() and torch.isfinite(fake_logits).all()
        # Worst seen over 50 seeds (float32 inputs): bfloat16 2.6e-2, float16 4.3e-3.
        bound = 1e-1 if dtype == torch.bfloat16 else 2e-2
        assert rel_error(img, img32) < bound and rel_error(logits, logits32) < bound
        (fake_logits.sum() + logits.sum()).backward()
        for model in (G, D):
            for name, p in model.named_parameters():
                assert p.grad is not None and torch.isfinite(p.grad).all(), name
            model.zero_grad()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_low_precision_models(dtype):
    """The whole model in 16 bits (no autocast): images and logits in float32."""
    G, D = make_g(16, C_DIM).to(dtype), make_d(16, C_DIM, mbdisc_kernels=2).to(dtype)
    z, c = torch.randn(BATCH, Z_DIM, dtype=dtype), labels(dtype=dtype)
    img = G(z, c)
    assert img.dtype == torch.float32 and torch.isfinite(img).all()
    logits = D(img.to(dtype), c)
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_channels_last():
    G, D = perturb(make_g(16, C_DIM)), perturb(make_d(16, C_DIM, mbdisc_kernels=2))
    z, c = torch.randn(BATCH, Z_DIM), labels()
    img = G(z, c, noise_mode="const")
    G_cl = copy.deepcopy(G).to(memory_format=torch.channels_last)
    D_cl = copy.deepcopy(D).to(memory_format=torch.channels_last)
    for training in (True, False):
        G.train(training), G_cl.train(training)
        out = G_cl(z, c, noise_mode="const", update_emas=False)
        assert rel_error(out, G(z, c, noise_mode="const", update_emas=False)) < 1e-5
    img_cl = img.detach().to(memory_format=torch.channels_last).requires_grad_(True)
    expect = D(img.detach(), c)
    for model in (D, D_cl):
        logits = model(img_cl, c)
        assert rel_error(logits, expect) < 1e-5
        (g,) = torch.autograd.grad(logits.sum(), img_cl)
        assert torch.isfinite(g).all() and g.abs().max() > 0


# --- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: make_g(48), r"img_resolution to be a power of two >= 4, got 48"),
        (lambda: make_d(48), r"img_resolution to be a power of two >= 4, got 48"),
        (lambda: make_g(2), r"power of two >= 4, got 2"),
        (lambda: make_d(16.0), r"power of two >= 4, got 16.0"),
        (lambda: make_g(16, channel_base=8), r"channel_base >= img_resolution \(16\)"),
        (lambda: make_g(16, c_dim=-1), r"expected c_dim to be an int >= 0, got -1"),
        (lambda: make_g(16, conv_clamp=0), r"expected conv_clamp > 0 or None, got 0"),
        (lambda: make_g(16, impl="fast"), r"expected impl in"),
        (lambda: make_d(16, impl="fast"), r"expected impl in"),
        (lambda: make_d(16, mbdisc_kernels=-2), r"mbdisc_kernels to be an int >= 0, got -2"),
        (lambda: make_d(16, mbstd_num_channels=3), r"mbstd_num_channels to divide the 16"),
    ],
)
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_forward_arguments():
    G, D = make_g(16, C_DIM), make_d(16, C_DIM)
    z, c, img = torch.randn(2, Z_DIM), labels(2), torch.randn(2, 3, 16, 16)
    cases = [
        (lambda: G(z), r"expected c \(c_dim=3\) to be a tensor of shape \[2, 3\], got None"),
        (lambda: D(img), r"expected c \(c_dim=3\) to be a tensor of shape \[2, 3\], got None"),
        (
            lambda: G(z, labels(2, 4)),
            r"expected c \(c_dim=3\) of shape \[2, 3\], got shape \[2, 4\]",
        ),
        (lambda: G(z, labels(3)), r"of shape \[2, 3\], got shape \[3, 3\]"),
        (lambda: D(img, labels(2)[0]), r"of shape \[2, 3\], got shape \[3\]"),
        (lambda: make_g(16)(z, c), r"built with c_dim=0 \(unconditional\).*got \[2, 3\]"),
        (lambda: make_d(16)(img, c), r"built with c_dim=0 \(unconditional\).*got \[2, 3\]"),
        (lambda: G(torch.randn(2, 5), c), r"expected z of shape \[N, 8\], got shape \[2, 5\]"),
        (lambda: G(None, c), r"expected z to be a tensor of shape \[N, 8\], got None"),
        (
            lambda: D(torch.randn(2, 3, 8, 8), c),
            r"img of shape \[N, 3, 16, 16\], got shape \[2, 3, 8, 8\]",
        ),
        (
            lambda: G.synthesis(torch.randn(2, 5, W_DIM)),
            r"ws of shape \[N, 6, 8\], got shape \[2, 5, 8\]",
        ),
        (lambda: G(z, c, noise_mode="fixed"), r"expected noise_mode in .*got 'fixed'"),
        (
            lambda: G(z, c, truncation_cutoff=7),
            r"truncation_cutoff None or an int in \[0, 6\].*got 7",
        ),
        (lambda: G(z, c, style_mixing_prob=1.5), r"style_mixing_prob in \[0, 1\], got 1.5"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    with pytest.raises(TypeError, match=r"expected c \(c_dim=3\) of a floating-point dtype"):
        G(z, torch.ones(2, 3, dtype=torch.long))
    # An unconditional model also takes an empty label tensor.
    assert make_g(8)(z, torch.zeros(2, 0)).shape == (2, 3, 8, 8)


def test_set_impl_round_trip():
    G = make_g(8)
    assert set_impl(G, "ref") is G
    assert {m.impl for m in G.modules() if hasattr(m, "impl")} == {"ref"}
    set_impl(G, "auto")
    assert {m.impl for m in G.modules() if hasattr(m, "impl")} == {"auto"}
