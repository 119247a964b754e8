"""GAN losses: values against hand-computed cases, reductions, gradients, bad input."""

import math

import pytest
import torch

from fastgan.losses import LOSSES, discriminator_loss, generator_loss


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


REAL = [1.5, -0.5, 0.25]
FAKE = [-2.0, 0.75, 0.0]

# Per-sample values computed by hand from the formulas of fastgan/losses.py's table.
EXPECTED_D = {
    "logistic": [softplus(-r) + softplus(f) for r, f in zip(REAL, FAKE, strict=True)],
    "hinge": [max(0, 1 - r) + max(0, 1 + f) for r, f in zip(REAL, FAKE, strict=True)],
    "wgan": [f - r for r, f in zip(REAL, FAKE, strict=True)],
    "rpgan": [softplus(f - r) for r, f in zip(REAL, FAKE, strict=True)],
}
EXPECTED_G = {
    "logistic": [softplus(-f) for f in FAKE],
    "hinge": [-f for f in FAKE],
    "wgan": [-f for f in FAKE],
    "rpgan": [softplus(r - f) for r, f in zip(REAL, FAKE, strict=True)],
}


@pytest.mark.parametrize("kind", LOSSES)
def test_values_match_hand_computed(kind):
    real = torch.tensor(REAL, dtype=torch.float64)
    fake = torch.tensor(FAKE, dtype=torch.float64)
    d = discriminator_loss(real, fake, kind, reduction="none")
    g = generator_loss(fake, real, kind, reduction="none")
    assert torch.allclose(d, torch.tensor(EXPECTED_D[kind], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(g, torch.tensor(EXPECTED_G[kind], dtype=torch.float64), atol=1e-12)
    assert math.isclose(discriminator_loss(real, fake, kind).item(), sum(EXPECTED_D[kind]) / 3)
    assert math.isclose(
        generator_loss(fake[:, None], real[:, None], kind, reduction="sum").item(),
        sum(EXPECTED_G[kind]),
    )


def test_logistic_is_the_binary_cross_entropy():
    real, fake = torch.randn(7), torch.randn(7)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(real, torch.ones(7)) + bce(fake, torch.zeros(7))
    assert torch.allclose(discriminator_loss(real, fake), expected, atol=1e-6)
    assert torch.allclose(generator_loss(fake), bce(fake, torch.ones(7)), atol=1e-6)


def test_unpaired_batches_add_the_means():
    real, fake = torch.randn(4), torch.randn(6)
    loss = discriminator_loss(real, fake, "hinge")
    expected = torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()
    assert torch.allclose(loss, expected)
    with pytest.raises(ValueError, match="one batch size"):
        discriminator_loss(real, fake, "hinge", reduction="none")
    with pytest.raises(ValueError, match="same shape"):
        discriminator_loss(real, fake, "rpgan")


def test_gradients_flow_to_the_logits():
    real = torch.randn(5, requires_grad=True)
    fake = torch.randn(5, requires_grad=True)
    for kind in LOSSES:
        (gr, gf) = torch.autograd.grad(discriminator_loss(real, fake, kind), (real, fake))
        assert (gr <= 0).all() and (gf >= 0).all(), kind  # D pushes real up and fake down


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: discriminator_loss(torch.randn(3), torch.randn(3), "lsgan"), ValueError, "kind"),
        (lambda: generator_loss(torch.randn(3), reduction="avg"), ValueError, "reduction"),
        (lambda: generator_loss(torch.randn(3), kind="rpgan"), ValueError, "needs real_logits"),
        (lambda: generator_loss(torch.randn(3, 2)), ValueError, r"shape \[N\] or \[N, 1\]"),
        (lambda: generator_loss(torch.ones(3, dtype=torch.long)), TypeError, "floating-point"),
        (lambda: discriminator_loss([1.0], torch.randn(1)), TypeError, "real_logits"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
