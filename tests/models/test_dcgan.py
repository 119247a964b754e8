"""DCGAN generator and discriminator: shapes, structure and initialisation, the reference twin
(outputs, gradients, the R1 path), conditioning, minibatch discrimination, low precision,
channels_last and bad arguments."""

import copy

import pytest
import torch
from torch import nn

from fastgan.models import DCGANDiscriminator, DCGANGenerator
from fastgan.nn import BiasAct, MinibatchDiscrimination
from tests.conftest import rel_error
from tests.models.common import OpNamespaces, assert_close, assert_matches_reference, twin

Z_DIM = 8
C_DIM = 3
BATCH = 4


def make_g(resolution=16, c_dim=0, **kwargs):
    args = dict(z_dim=Z_DIM, base_channels=4, c_embed_dim=5) | kwargs
    return DCGANGenerator(c_dim=c_dim, img_resolution=resolution, **args)


def make_d(resolution=16, c_dim=0, **kwargs):
    return DCGANDiscriminator(c_dim=c_dim, img_resolution=resolution, base_channels=4, **kwargs)


def labels(n=BATCH, dtype=torch.float32):
    return torch.eye(C_DIM, dtype=dtype)[torch.randint(C_DIM, (n,))]


@pytest.mark.parametrize("resolution", [8, 16, 32, 64, 128])
@pytest.mark.parametrize("c_dim", [0, C_DIM], ids=["unconditional", "conditional"])
def test_shapes(resolution, c_dim):
    G, D = make_g(resolution, c_dim), make_d(resolution, c_dim, mbdisc_kernels=3)
    c = labels() if c_dim else None
    img = G(torch.randn(BATCH, Z_DIM), c)
    assert img.shape == (BATCH, 3, resolution, resolution) and img.dtype == torch.float32
    assert img.abs().max() <= 1, "tanh output"
    logits = D(img, c)
    assert logits.shape == (BATCH, 1) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


def test_structure_and_initialisation():
    G = DCGANGenerator(z_dim=100, img_resolution=64, base_channels=32)
    D = DCGANDiscriminator(img_resolution=64, base_channels=32)
    # Channels double towards 4x4 from base_channels at R/2: 256, 128, 64, 32 (Radford et al.).
    g_convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in g_convs] == [
        (100, 256),
        (256, 128),
        (128, 64),
        (64, 32),
        (32, 3),
    ]
    assert [m.stride for m in g_convs] == [(1, 1)] + [(2, 2)] * 4
    assert all(m.bias is None for m in g_convs), "the bias is in BiasAct (or BatchNorm)"
    g_acts = [m for m in G.modules() if isinstance(m, BiasAct)]
    assert [m.activation for m in g_acts] == ["relu"] * 4 + ["tanh"]
    assert all(m.gain == 1.0 for m in g_acts[:4]) and g_acts[-1].bias.shape == (3,)
    assert len([m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]) == 4, "not on output"

    d_convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels) for m in d_convs] == [
        (3, 32),
        (32, 64),
        (64, 128),
        (128, 256),
    ]
    assert all(m.stride == (2, 2) and m.kernel_size == (4, 4) for m in d_convs)
    layers = list(D.layers)
    assert not isinstance(layers[1], nn.BatchNorm2d), "no BatchNorm on the first layer"
    assert len([m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]) == 3
    d_acts = [m for m in D.modules() if isinstance(m, BiasAct)]
    assert all(m.activation == "lrelu" and m.alpha == 0.2 and m.gain == 1.0 for m in d_acts)
    assert D.out.in_features == 256 * 16 and D.mbdisc is None

    # N(0, 0.02) weights, N(1, 0.02) BatchNorm scales (statistics over 100k+ draws).
    weights = torch.cat([m.weight.flatten() for m in g_convs + d_convs])
    assert abs(weights.std().item() - 0.02) < 0.001 and abs(weights.mean().item()) < 0.001
    bn = torch.cat([m.weight for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1) < 0.01 and 0.01 < bn.std().item() < 0.03


@pytest.mark.parametrize("c_dim", [0, C_DIM], ids=["unconditional", "conditional"])
def test_matches_reference(c_dim):
    G, D = make_g(16, c_dim).double(), make_d(16, c_dim, mbdisc_kernels=3).double()
    with torch.no_grad():  # non-zero biases, so that their paths count
        for p in [*G.parameters(), *D.parameters()]:
            p.add_(torch.randn_like(p) * 0.02)
    c = [labels(dtype=torch.float64)] if c_dim else []
    z = torch.randn(BATCH, Z_DIM, dtype=torch.float64)
    img = torch.randn(BATCH, 3, 16, 16, dtype=torch.float64)
    for training in (True, False):  # batch statistics / running statistics
        G.train(training), D.train(training)
        assert_matches_reference(G, [z, *c], lambda m, *a: m(*a), where=f"G train={training}")
        assert_matches_reference(D, [img, *c], lambda m, *a: m(*a), where=f"D train={training}")
    for model, args in ((G, (z, *c)), (D, (img, *c))):
        with OpNamespaces() as ops:
            twin(model)(*args).sum().backward()
        assert "fastgan" not in ops.namespaces
        built = type(model)(**_config(model), impl="ref").double().train(model.training)
        built.load_state_dict(model.state_dict())
        assert {m.impl for m in built.modules() if hasattr(m, "impl")} == {"ref"}
        assert rel_error(built(*args), model(*args)) < 1e-12


def _config(model):
    if isinstance(model, DCGANGenerator):
        return dict(
            z_dim=Z_DIM, c_dim=model.c_dim, img_resolution=16, base_channels=4, c_embed_dim=5
        )
    return dict(c_dim=model.c_dim, img_resolution=16, base_channels=4, mbdisc_kernels=3)


def test_r1_path_matches_reference():
    D = make_d(16, C_DIM, mbdisc_kernels=3).double()
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
    assert grads["layers.0.weight"].abs().max() > 0 and grads["embed.weight"].abs().max() > 0


def test_conditioning_and_minibatch_discrimination():
    G, D = make_g(16, C_DIM).eval(), make_d(16, C_DIM, mbdisc_kernels=3).eval()
    z, img = torch.randn(BATCH, Z_DIM), torch.randn(BATCH, 3, 16, 16)
    c = torch.eye(C_DIM)[[0, 1, 2, 0]]
    other = torch.eye(C_DIM)[[1, 2, 0, 1]]
    with torch.no_grad():
        assert rel_error(G(z, other), G(z, c)) > 1e-3
        assert rel_error(D(img, other), D(img, c)) > 1e-3
        # Projection: logits = out(h) + <embed(c), h>; with a zero embedding the label is ignored.
        D.embed.weight.zero_()
        assert torch.equal(D(img, other), D(img, c))
        # Minibatch discrimination: a sample's logit depends on the rest of the batch (a
        # duplicate of it is at distance 0, adding exp(0) = 1 to its similarities).
        assert isinstance(D.mbdisc, MinibatchDiscrimination) and D.out.in_features == 8 * 16 + 3
        duplicated = torch.cat([img[:1], img[:3]])
        # Its 3 of the 131 features feeding the logit move the logit by about 1e-3 relative (8.8e-4
        # for one seed); without the dependency the two logits would be bitwise equal.
        assert rel_error(D(duplicated, c)[:1], D(img, c)[:1]) > 1e-5
        plain = make_d(16, C_DIM).eval()
        assert torch.equal(plain(duplicated, c)[:1], plain(img, c)[:1])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_autocast_and_channels_last(dtype):
    G, D = make_g(16, C_DIM), make_d(16, C_DIM, mbdisc_kernels=3)
    z, c = torch.randn(BATCH, Z_DIM), labels()
    for training in (True, False):  # batch statistics / running statistics
        G.train(training), D.train(training)
        with torch.no_grad():
            img32 = G(z, c)
            logits32 = D(img32, c)
        with torch.autocast("cpu", dtype=dtype):
            img = G(z, c)
            logits = D(img, c)
        assert logits.dtype == torch.float32
        # Worst seen over 50 seeds: bfloat16 1.5e-2, float16 2.9e-3.
        bound = 6e-2 if dtype == torch.bfloat16 else 1e-2
        assert rel_error(img, img32) < bound and rel_error(logits, logits32) < bound
        logits.sum().backward()
        for model in (G, D):
            for name, p in model.named_parameters():
                assert p.grad is not None and torch.isfinite(p.grad).all(), name
            model.zero_grad()
    G_cl = copy.deepcopy(G).to(memory_format=torch.channels_last)
    D_cl = copy.deepcopy(D).to(memory_format=torch.channels_last)
    with torch.no_grad():
        img = G(z, c)
        assert rel_error(G_cl(z, c), img) < 1e-5
        img_cl = img.to(memory_format=torch.channels_last)
        assert rel_error(D_cl(img_cl, c), D(img, c)) < 1e-5
        assert rel_error(D(img_cl, c), D(img, c)) < 1e-5


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: make_g(48), r"img_resolution to be a power of two >= 8, got 48"),
        (lambda: make_d(4), r"img_resolution to be a power of two >= 8, got 4"),
        (lambda: make_g(16, base_channels=0), r"base_channels to be an int >= 1, got 0"),
        (lambda: make_d(16, mbdisc_kernels=-1), r"mbdisc_kernels to be an int >= 0, got -1"),
        (lambda: make_g(16, impl="fast"), r"expected impl in"),
    ],
)
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_forward_arguments():
    G, D = make_g(16, C_DIM), make_d(16, C_DIM)
    z, img = torch.randn(2, Z_DIM), torch.randn(2, 3, 16, 16)
    for call, match in (
        (lambda: G(z), r"expected c \(c_dim=3\) to be a tensor of shape \[2, 3\], got None"),
        (lambda: D(img), r"expected c \(c_dim=3\) to be a tensor of shape \[2, 3\], got None"),
        (lambda: D(img, torch.zeros(2, 5)), r"of shape \[2, 3\], got shape \[2, 5\]"),
        (lambda: make_g(16)(z, labels(2)), r"built with c_dim=0"),
        (lambda: G(torch.randn(2, 4), labels(2)), r"z of shape \[N, 8\], got shape \[2, 4\]"),
        (lambda: D(torch.randn(2, 3, 8, 8), labels(2)), r"img of shape \[N, 3, 16, 16\]"),
    ):
        with pytest.raises(ValueError, match=match):
            call()
