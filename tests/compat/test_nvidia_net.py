"""The NVIDIA-layout StyleGAN2 fixture (tests/compat/nvidia_net.py) on fastgan.compat.nvidia:
impl='ref' and impl='cuda' give the same images, logits, G and D gradients and R1 penalty; the
module tree, parameter storage and the maths of its layers are NVIDIA's."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastgan.ops import upfirdn2d_ref
from tests.compat.nvidia_net import (
    Discriminator,
    Generator,
    MappingNetwork,
    SynthesisLayer,
    use_impl,
)
from tests.conftest import rel_error

Z_DIM = W_DIM = 32
RES = 16
NET = dict(channel_base=256, channel_max=32)  # 32 channels at 4 and 8, 16 at 16


def make_nets(c_dim=5, conv_clamp=None):
    G = Generator(
        z_dim=Z_DIM,
        c_dim=c_dim,
        w_dim=W_DIM,
        img_resolution=RES,
        img_channels=3,
        mapping_kwargs=dict(num_layers=4),
        synthesis_kwargs=dict(conv_clamp=conv_clamp, **NET),
    )
    D = Discriminator(c_dim=c_dim, img_resolution=RES, img_channels=3, conv_clamp=conv_clamp, **NET)
    # Away from the initial values that hide terms (noise strengths and biases of 0, w_avg of 0).
    with torch.no_grad():
        for net in (G, D):
            for name, p in net.named_parameters():
                if name.endswith(("noise_strength", "bias")):
                    p.add_(0.3 * torch.randn_like(p))
        G.mapping.w_avg.normal_()
    return G, D


def labels(n, c_dim):
    return F.one_hot(torch.randint(c_dim, [n]), c_dim).float() if c_dim else None


# ---- structure ----------------------------------------------------------------------------------


def test_module_tree_and_storage():
    G, D = make_nets(c_dim=5)
    g = dict(G.named_parameters()) | dict(G.named_buffers())
    assert G.num_ws == G.synthesis.num_ws == 6  # 2 per block, the toRGB sharing the next w
    assert g["mapping.fc0.weight"].shape == (W_DIM, Z_DIM + W_DIM)  # z and the embedded c
    assert g["mapping.embed.weight"].shape == (W_DIM, 5)
    assert g["mapping.w_avg"].shape == (W_DIM,)
    assert g["synthesis.b4.const"].shape == (32, 4, 4)
    assert g["synthesis.b4.conv1.affine.weight"].shape == (32, W_DIM)
    assert g["synthesis.b8.conv0.weight"].shape == (32, 32, 3, 3)
    assert g["synthesis.b16.conv0.weight"].shape == (16, 32, 3, 3)
    assert g["synthesis.b16.conv1.noise_const"].shape == (RES, RES)
    assert g["synthesis.b16.conv1.noise_strength"].shape == ()
    assert g["synthesis.b16.torgb.weight"].shape == (3, 16, 1, 1)
    assert "synthesis.b4.conv0.weight" not in g and "synthesis.b8.skip.weight" not in g
    f = torch.tensor([1.0, 3, 3, 1])
    assert torch.allclose(g["synthesis.b8.resample_filter"], torch.outer(f, f) / 64)
    d = dict(D.named_parameters()) | dict(D.named_buffers())
    for name, shape in [
        ("b16.fromrgb.weight", (16, 3, 1, 1)),
        ("b16.conv0.weight", (16, 16, 3, 3)),
        ("b16.conv1.weight", (32, 16, 3, 3)),
        ("b16.skip.weight", (32, 16, 1, 1)),
        ("b8.conv1.weight", (32, 32, 3, 3)),
        ("b4.conv.weight", (32, 33, 3, 3)),  # + 1 minibatch-stddev channel
        ("b4.fc.weight", (32, 32 * 16)),
        ("b4.out.weight", (32, 32)),  # cmap_dim = the 4x4 channels when conditional
        ("mapping.embed.weight", (32, 5)),
        ("mapping.fc0.weight", (32, 32)),
        ("b16.conv0.resample_filter", (4, 4)),
    ]:
        assert d[name].shape == shape, name
    assert "b8.fromrgb.weight" not in d and "b16.skip.bias" not in d and "mapping.w_avg" not in d
    assert D.b4.mbstd.group_size == 4 and D.b4.mbstd.num_channels == 1
    # Raw N(0, 1) storage, scaled at run time; mapping weights stored / lr_multiplier (0.01).
    assert 0.7 < G.synthesis.b8.conv0.weight.std() < 1.3
    assert 70 < G.mapping.fc1.weight.std() < 130
    assert G.mapping.fc1.weight_gain == pytest.approx(0.01 / np.sqrt(W_DIM))
    assert G.mapping.fc1.bias_gain == 0.01
    assert D.b16.conv0.weight_gain == pytest.approx(1 / np.sqrt(16 * 9))
    # Affine layers start at bias 1 (styles around 1).
    fresh = Generator(Z_DIM, 0, W_DIM, RES, 3, synthesis_kwargs=NET)
    assert torch.equal(fresh.synthesis.b8.conv0.affine.bias, torch.ones(32))
    assert "mapping.embed.weight" not in dict(fresh.named_parameters())


def test_frozen_discriminator_layers_are_buffers():
    D = Discriminator(
        c_dim=0, img_resolution=RES, img_channels=3, block_kwargs={"freeze_layers": 2}, **NET
    )
    params = dict(D.named_parameters())
    buffers = dict(D.named_buffers())
    assert "b16.fromrgb.weight" in buffers and "b16.conv0.weight" in buffers
    assert "b16.conv1.weight" in params and "b8.conv0.weight" in params


# ---- ref vs cuda --------------------------------------------------------------------------------


def train_step(G, D, state, z, c, real, impl, seed, **g_kwargs):
    """Generator and discriminator losses with R1 from the same weights; returns the image,
    logits, gradients of G and D, and the penalty."""
    G.load_state_dict(state[0])
    D.load_state_dict(state[1])
    with use_impl(impl):
        torch.manual_seed(seed)  # the same 'random' noise in both runs
        img = G(z, c, **g_kwargs)
        logits = D(img, c)
        G.zero_grad(set_to_none=True)
        F.softplus(-logits).mean().backward()
        g_grads = {n: p.grad.clone() for n, p in G.named_parameters() if p.grad is not None}
        D.zero_grad(set_to_none=True)
        real = real.detach().requires_grad_()
        real_logits = D(real, c)
        (r1_grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
        penalty = r1_grad.square().sum([1, 2, 3]).mean()
        (F.softplus(real_logits).mean() + penalty).backward()
        d_grads = {n: p.grad.clone() for n, p in D.named_parameters()}
    return img.detach(), logits.detach(), g_grads, d_grads, penalty.detach()


def total_error(a, b):
    return rel_error(torch.cat([a[k].flatten() for k in b]), torch.cat([b[k].flatten() for k in b]))


@pytest.mark.parametrize(
    "training,c_dim,conv_clamp,noise_mode",
    [
        (True, 5, None, "random"),
        (False, 5, 1.0, "const"),
        (True, 0, 1.0, "none"),
        (False, 0, None, "random"),
    ],
)
def test_ref_and_cuda_agree(training, c_dim, conv_clamp, noise_mode):
    G, D = make_nets(c_dim, conv_clamp)
    G.train(training)
    D.train(training)
    state = (copy.deepcopy(G.state_dict()), copy.deepcopy(D.state_dict()))
    z = torch.randn(4, Z_DIM)
    c = labels(4, c_dim)
    real = torch.randn(4, 3, RES, RES)
    kwargs = dict(noise_mode=noise_mode, truncation_psi=0.7, truncation_cutoff=3)
    ref = train_step(G, D, state, z, c, real, "ref", 7, **kwargs)
    out = train_step(G, D, state, z, c, real, "cuda", 7, **kwargs)
    # Measured over 40 seeds: images <= 3.1e-7, logits <= 1.7e-6, all of G's gradients together
    # <= 9.2e-7 and D's <= 5.9e-7, the penalty <= 1.3e-7. A single noise_strength gradient (a
    # scalar summed from products with random noise) loses more to cancellation: up to 1.3e-5.
    assert rel_error(out[0], ref[0]) < 2e-6
    assert rel_error(out[1], ref[1]) < 5e-6
    assert total_error(out[2], ref[2]) < 2e-6
    assert max(rel_error(out[2][k], ref[2][k]) for k in ref[2]) < 1e-3
    assert total_error(out[3], ref[3]) < 2e-6
    assert max(rel_error(out[3][k], ref[3][k]) for k in ref[3]) < 2e-5
    assert rel_error(out[4], ref[4]) < 2e-6
    assert out[0].shape == (4, 3, RES, RES) and out[1].shape == (4, 1)
    # Every parameter of G gets a gradient (noise strengths only when there is noise).
    expected_g = {n for n, _ in G.named_parameters()}
    if noise_mode == "none":
        expected_g = {n for n in expected_g if not n.endswith("noise_strength")}
    assert set(out[2]) == set(ref[2]) == expected_g
    assert all(g.abs().sum() > 0 for g in out[2].values())
    assert all(g.abs().sum() > 0 for g in out[3].values())
    # The generator's w_avg moved in training mode only, identically in both runs.
    moved = not torch.equal(G.mapping.w_avg, state[0]["mapping.w_avg"])
    assert moved == training


@pytest.mark.parametrize("impl", ["cuda", "ref"])
def test_fused_and_unfused_modconv_agree(impl):
    G, _ = make_nets(c_dim=0)
    z = torch.randn(3, Z_DIM)
    with use_impl(impl):
        fused = G(z, None, noise_mode="const", fused_modconv=True)
        unfused = G(z, None, noise_mode="const", fused_modconv=False)
    assert rel_error(unfused, fused) < 1e-5


def test_upsampling_layer_maths():
    """SynthesisLayer(up=2) in stock PyTorch: modulate and demodulate per sample, zero-insert and
    filter ([1, 3, 3, 1], gain 4, centred), convolve with the weight flipped (a true convolution,
    as NVIDIA's up=2 layers apply it), noise, bias, lrelu * sqrt(2), clamp."""
    layer = SynthesisLayer(8, 6, w_dim=W_DIM, resolution=8, up=2, conv_clamp=0.8)
    with torch.no_grad():
        layer.noise_strength.fill_(0.4)
        layer.bias.normal_()
    x = torch.randn(2, 8, 4, 4)
    w = torch.randn(2, W_DIM)
    with use_impl("cuda"):
        out = layer(x, w, noise_mode="const", fused_modconv=True)
        out_unfused = layer(x, w, noise_mode="const", fused_modconv=False)
    xd, wd = x.double(), w.double()
    styles = wd @ (layer.affine.weight.double() * layer.affine.weight_gain).t()
    styles = styles + layer.affine.bias.double()
    f = layer.resample_filter

    def expected(flip):
        convs = []
        for n in range(2):
            wn = layer.weight.double() * styles[n].reshape(1, -1, 1, 1)
            wn = wn * wn.square().sum([1, 2, 3], keepdim=True).add(1e-8).rsqrt()
            up = upfirdn2d_ref(xd[n : n + 1], f, up=2, padding=[3, 2, 3, 2], gain=4)  # 19 x 19
            convs.append(F.conv2d(up, wn.flip([2, 3]) if flip else wn))
        y = torch.cat(convs) + layer.noise_const.double() * layer.noise_strength.double()
        y = F.leaky_relu(y + layer.bias.double().reshape(1, -1, 1, 1), 0.2) * np.sqrt(2)
        return y.clamp(-0.8, 0.8)

    y = expected(flip=True)
    assert rel_error(out, y) < 1e-5
    assert rel_error(out_unfused, y) < 1e-5
    # Not flipping the weight (a correlation) would be another layer.
    assert rel_error(out, expected(flip=False)) > 1e-2


# ---- mapping, truncation, noise, conditioning ---------------------------------------------------


def test_mapping_w_avg_and_truncation():
    m = MappingNetwork(z_dim=Z_DIM, c_dim=3, w_dim=W_DIM, num_ws=5, num_layers=2)
    with torch.no_grad():
        m.w_avg.normal_()
    z, c = torch.randn(6, Z_DIM), labels(6, 3)
    m.eval()
    w = m(z, c)
    assert w.shape == (6, 5, W_DIM) and torch.equal(w[:, 0], w[:, 4])
    before = m.w_avg.clone()
    m.train()
    m(z, c, skip_w_avg_update=True)
    assert torch.equal(m.w_avg, before)
    m(z, c)
    expected = w[:, 0].mean(0) + 0.995 * (before - w[:, 0].mean(0))
    assert torch.allclose(m.w_avg, expected, atol=1e-5)
    m.eval()
    avg = m.w_avg
    assert torch.allclose(m(z, c, truncation_psi=0), avg.expand(6, 5, W_DIM))
    t = m(z, c, truncation_psi=0.5, truncation_cutoff=2)
    assert torch.allclose(t[:, :2], avg + 0.5 * (w[:, :2] - avg), atol=1e-5)
    assert torch.equal(t[:, 2:], w[:, 2:])
    # D's mapping (no z, no w_avg) cannot truncate.
    d_map = MappingNetwork(z_dim=0, c_dim=3, w_dim=8, num_ws=None, w_avg_beta=None)
    assert d_map(None, c).shape == (6, 8)
    with pytest.raises(ValueError, match="w_avg"):
        d_map(None, c, truncation_psi=0.5)


def test_noise_modes():
    G, _ = make_nets(c_dim=0)
    G.eval()
    z = torch.randn(2, Z_DIM)
    none_a, none_b = G(z, None, noise_mode="none"), G(z, None, noise_mode="none")
    const_a, const_b = G(z, None, noise_mode="const"), G(z, None, noise_mode="const")
    rand_a, rand_b = G(z, None, noise_mode="random"), G(z, None, noise_mode="random")
    assert torch.equal(none_a, none_b) and torch.equal(const_a, const_b)
    assert not torch.allclose(none_a, const_a) and not torch.allclose(rand_a, rand_b)
    # truncation_psi=0: every sample is the average image.
    trunc = G(z, None, truncation_psi=0, noise_mode="const")
    assert torch.allclose(trunc[0], trunc[1], atol=1e-6)
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, None, noise_mode="fixed")


def test_conditioning():
    G, D = make_nets(c_dim=4)
    G.eval()
    D.eval()
    z = torch.randn(4, Z_DIM)
    c0, c1 = (
        F.one_hot(torch.tensor([0, 1, 2, 3]), 4).float(),
        F.one_hot(torch.tensor([3, 2, 1, 0]), 4).float(),
    )
    assert not torch.allclose(G(z, c0, noise_mode="const"), G(z, c1, noise_mode="const"))
    img = torch.randn(4, 3, RES, RES)
    assert not torch.allclose(D(img, c0), D(img, c1))
    _, D0 = make_nets(c_dim=0)
    assert D0(img, None).shape == (4, 1) and not hasattr(D0, "mapping")


def test_bad_input():
    G, D = make_nets(c_dim=5)
    with pytest.raises(ValueError, match="z"):
        G(torch.randn(2, Z_DIM + 1), labels(2, 5))
    with pytest.raises(ValueError, match="c"):
        G(torch.randn(2, Z_DIM), labels(2, 4))
    with pytest.raises(ValueError, match="img"):
        D(torch.randn(2, 3, 8, 8), labels(2, 5))
    with pytest.raises(ValueError, match="power of 2"):
        Generator(Z_DIM, 0, W_DIM, 12, 3)
    with pytest.raises(ValueError, match="architecture"):
        Discriminator(c_dim=0, img_resolution=RES, img_channels=3, architecture="dense", **NET)
    with pytest.raises(ValueError, match="use_impl"), use_impl("native"):
        pass
