"""CycleGAN: shapes, the reference ops, the cycle and identity losses, the image pool's rule,
bad input."""

from __future__ import annotations

import pytest
import torch

from fastgan.models.cyclegan import (
    CycleGAN,
    ImagePool,
    PatchDiscriminator,
    ResNetGenerator,
    cycle_loss,
    lsgan_loss,
)


@pytest.mark.parametrize("resample", ["stride", "fir"])
def test_generator_shapes(resample):
    G = ResNetGenerator(1, 3, width=4, n_blocks=2, resample=resample)
    y = G(torch.randn(2, 1, 16, 16))
    assert y.shape == (2, 3, 16, 16)
    assert y.abs().max() <= 1


@pytest.mark.parametrize("n_layers,res,patches", [(1, 8, 2), (2, 16, 2), (3, 32, 2)])
def test_patch_discriminator_shapes(n_layers, res, patches):
    D = PatchDiscriminator(3, width=4, n_layers=n_layers)
    assert D(torch.randn(2, 3, res, res)).shape == (2, 1, patches, patches)


@pytest.mark.parametrize("resample", ["stride", "fir"])
def test_reference_ops_give_the_same_model(resample):
    torch.manual_seed(0)
    fused = CycleGAN(3, 3, 16, width=4, n_blocks=2, resample=resample)
    torch.manual_seed(0)
    ref = CycleGAN(3, 3, 16, width=4, n_blocks=2, resample=resample, impl="ref")
    a, b = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    loss, terms = fused.generator_loss(a, b)
    loss_ref, terms_ref = ref.generator_loss(a, b)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(terms["fake_b"], terms_ref["fake_b"], rtol=1e-4, atol=1e-5)
    loss.backward()
    loss_ref.backward()
    for (name, p), p_ref in zip(fused.G.named_parameters(), ref.G.parameters(), strict=True):
        torch.testing.assert_close(p.grad, p_ref.grad, rtol=1e-3, atol=1e-5, msg=name)


def test_generator_loss_terms():
    torch.manual_seed(1)
    model = CycleGAN(3, 3, 16, width=4, n_blocks=1)
    a, b = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    loss, terms = model.generator_loss(a, b)
    G, D = model.G, model.D
    with torch.no_grad():
        cyc = (G(G(a, "a2b"), "b2a") - a).abs().mean() + (G(G(b, "b2a"), "a2b") - b).abs().mean()
        idt = (G(b, "a2b") - b).abs().mean() + (G(a, "b2a") - a).abs().mean()
        gan = ((D(G(a, "a2b"), "b") - 1) ** 2).mean() + ((D(G(b, "b2a"), "a") - 1) ** 2).mean()
    torch.testing.assert_close(terms["loss_cycle"], cyc)
    torch.testing.assert_close(terms["loss_identity"], idt)
    torch.testing.assert_close(loss.detach(), gan + 10 * cyc + 5 * idt)
    x, y = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    assert cycle_loss(x, y).item() == pytest.approx((x - y).abs().mean().item())
    assert lsgan_loss(x, 1.0).item() == pytest.approx(((x - 1) ** 2).mean().item())
    assert cycle_loss(x, x).item() == 0


def test_image_pool_rule():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.randn(4, 1, 2, 2)
    assert torch.equal(pool.query(first), first)  # filling: returned as they come
    seen = list(first)
    swapped, kept, n = 0, 0, 400
    for _ in range(n // 4):
        new = torch.randn(4, 1, 2, 2)
        before = [t.clone() for t in pool.images]
        out = pool.query(new)
        for i in range(4):
            if torch.equal(out[i], new[i]):
                kept += 1
            else:
                # a swapped-out image was stored before this call, and the new one is stored now
                assert any(torch.equal(out[i], t) for t in before + [new[j] for j in range(i)])
                assert any(torch.equal(new[i], t) for t in pool.images) or i < 3
                swapped += 1
        seen += list(new)
        assert len(pool.images) == 4
    assert 0.4 < swapped / n < 0.6  # the 50% rule
    # state round trip
    other = ImagePool(4)
    other.load_state_dict(pool.state_dict())
    assert all(torch.equal(x, y) for x, y in zip(other.images, pool.images, strict=True))
    assert torch.equal(ImagePool(0).query(first), first)
    with pytest.raises(ValueError, match="size"):
        ImagePool(3).load_state_dict(pool.state_dict())


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="resample"):
        ResNetGenerator(resample="nearest")
    with pytest.raises(ValueError, match="divisible by 4"):
        ResNetGenerator(3, 3, width=4, n_blocks=1)(torch.randn(1, 3, 10, 10))
    with pytest.raises(ValueError, match="x"):
        ResNetGenerator(1, 3, width=4, n_blocks=1)(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="at least 16x16"):
        PatchDiscriminator(3, 4, n_layers=3)(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="identity"):
        CycleGAN(1, 3, 16)
    with pytest.raises(ValueError, match="direction"):
        CycleGAN(3, 3, 16, width=4, n_blocks=1).G(torch.randn(1, 3, 16, 16), "a2c")
