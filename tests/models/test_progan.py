"""ProGAN: shapes at every level, fade-in continuity at a resolution switch, the growth
schedule, the reference ops, bad input."""

from __future__ import annotations

import pytest
import torch

from fastgan.models.progan import ProGANDiscriminator, ProGANGenerator, pixel_norm, progan_growth

SMALL = dict(img_resolution=16, channel_base=128, channel_max=16)


def _pair(c_dim=0, impl="auto", channels=3, seed=0):
    torch.manual_seed(seed)
    G = ProGANGenerator(z_dim=8, c_dim=c_dim, img_channels=channels, impl=impl, **SMALL)
    D = ProGANDiscriminator(c_dim=c_dim, img_channels=channels, mbstd_group=2, impl=impl, **SMALL)
    return G, D


@pytest.mark.parametrize("level,alpha", [(0, 1.0), (1, 0.3), (2, 0.7), (2, 1.0)])
def test_shapes_at_every_level(level, alpha):
    G, D = _pair(c_dim=4)
    G.set_growth(level, alpha)
    D.set_growth(level, alpha)
    z, c = torch.randn(4, 8), torch.eye(4)
    img = G(z, c)
    assert img.shape == (4, 3, 16, 16)
    # The output is the level's resolution upsampled: constant on (16 / res)-sized blocks.
    block = 2 ** (2 - level)
    if block > 1:
        assert torch.equal(
            img, img[:, :, ::block, ::block].repeat_interleave(block, 2).repeat_interleave(block, 3)
        )
    logits = D(img, c)
    assert logits.shape == (4, 1) and torch.isfinite(logits).all()


@pytest.mark.parametrize("level", [0, 1])
def test_fade_in_is_continuous_at_a_switch(level):
    """Level k fully grown and level k+1 at alpha = 0 give the same images and logits."""
    G, D = _pair(c_dim=3)
    z, c = torch.randn(6, 8), torch.eye(3).repeat(2, 1)
    x = torch.randn(6, 3, 16, 16)
    G.set_growth(level, 1.0)
    D.set_growth(level, 1.0)
    before_img, before_logits = G(z, c), D(x, c)
    G.set_growth(level + 1, 0.0)
    D.set_growth(level + 1, 0.0)
    after_img, after_logits = G(z, c), D(x, c)
    torch.testing.assert_close(after_img, before_img, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(after_logits, before_logits, rtol=1e-5, atol=1e-5)
    # ... and a small alpha moves them only a little, a full one a lot.
    G.set_growth(level + 1, 1.0)
    assert (G(z, c) - before_img).abs().max() > 1e-3


def test_growth_schedule():
    assert progan_growth(0, 10, 2) == (0, 1.0)
    assert progan_growth(9_999, 10, 2) == (0, 1.0)
    assert progan_growth(10_000, 10, 2) == (1, 0.0)
    assert progan_growth(15_000, 10, 2) == pytest.approx((1, 0.5))
    assert progan_growth(25_000, 10, 2) == (1, 1.0)
    assert progan_growth(35_000, 10, 2) == pytest.approx((2, 0.5))
    assert progan_growth(10**7, 10, 2) == (2, 1.0)
    with pytest.raises(ValueError, match="phase_kimg"):
        progan_growth(0, 0, 2)


def test_pixel_norm_gives_unit_mean_square():
    x = torch.randn(3, 7, 4, 4) * 5
    assert torch.allclose(pixel_norm(x).square().mean(1), torch.ones(3, 4, 4), atol=1e-5)


@pytest.mark.parametrize("level,alpha", [(1, 0.4), (2, 1.0)])
def test_reference_ops_give_the_same_networks(level, alpha):
    G, D = _pair(c_dim=2, impl="auto")
    G_ref, D_ref = _pair(c_dim=2, impl="ref")
    for m in (G, D, G_ref, D_ref):
        m.set_growth(level, alpha)
    z, c = torch.randn(4, 8), torch.eye(2).repeat(2, 1)
    torch.testing.assert_close(G(z, c), G_ref(z, c), rtol=1e-4, atol=1e-5)
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    out, out_ref = D(x, c), D_ref(x_ref, c)
    torch.testing.assert_close(out, out_ref, rtol=1e-4, atol=1e-5)
    out.sum().backward()
    out_ref.sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-5)


def test_growth_is_in_the_state_dict():
    G, _ = _pair()
    G.set_growth(1, 0.25)
    G2, _ = _pair(seed=1)
    G2.load_state_dict(G.state_dict())
    assert G2.growth() == (1, 0.25)


def test_bad_input_is_a_clear_error():
    G, D = _pair()
    with pytest.raises(ValueError, match="level"):
        G.set_growth(3)
    with pytest.raises(ValueError, match="alpha"):
        D.set_growth(1, 1.5)
    with pytest.raises(ValueError, match="z"):
        G(torch.randn(2, 9))
    with pytest.raises(ValueError, match="img"):
        D(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="img_resolution"):
        ProGANGenerator(img_resolution=12)
