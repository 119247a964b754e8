"""Gradient penalties: values against direct autograd computations on small networks, and the
second-order gradients (with respect to the network's parameters) against the reference ops."""

import math

import pytest
import torch
from torch import nn

from fastgan.losses import path_length_penalty, r1_penalty, r2_penalty, wgan_gp_penalty
from tests.conftest import rel_error


def small_discriminator():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(8, 4, 3, stride=2, padding=1),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 1),
    ).double()


def parameter_gradients(loss, params):
    """Gradients of loss with respect to params; zeros where a parameter does not reach it (the
    last layers' biases do not change the input gradient of a piecewise-linear network)."""
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)]


def direct_squared_norm(outputs, inputs):
    (g,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return g.square().flatten(1).sum(1)


@pytest.mark.parametrize("penalty", [r1_penalty, r2_penalty])
def test_r1_r2_values_and_parameter_gradients(penalty):
    net = small_discriminator()
    images = torch.randn(5, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    value = penalty(net(images), images)
    expected = direct_squared_norm(net(images), images)
    assert value.shape == (5,) and rel_error(value, expected) < 1e-12
    params = list(net.parameters())
    got = parameter_gradients(penalty(net(images), images).sum(), params)
    ref = parameter_gradients(penalty(net(images), images, impl="ref").sum(), params)
    for g, r in zip(got, ref, strict=True):
        assert rel_error(g, r) < 1e-12
    assert any(g.abs().sum() > 0 for g in got)


def test_wgan_gp_of_an_affine_critic_is_analytic():
    """D(x) = <w, x> + b has gradient w everywhere: the penalty is (||w|| - center)²."""
    w = torch.randn(3, 4, 4, dtype=torch.float64)

    def critic(x):
        return (x * w).flatten(1).sum(1) + 0.5

    real = torch.randn(6, 3, 4, 4, dtype=torch.float64)
    fake = torch.randn(6, 3, 4, 4, dtype=torch.float64)
    for center in (1.0, 0.0, 2.5):
        value = wgan_gp_penalty(critic, real, fake, center=center)
        expected = torch.full((6,), (w.norm().item() - center) ** 2, dtype=torch.float64)
        assert torch.allclose(value, expected, rtol=1e-9, atol=1e-12)


def test_wgan_gp_parameter_gradients_match_reference():
    net = small_discriminator()
    real = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    fake = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    params = list(net.parameters())
    torch.manual_seed(3)
    got = parameter_gradients(wgan_gp_penalty(net, real, fake).sum(), params)
    torch.manual_seed(3)
    ref = parameter_gradients(wgan_gp_penalty(net, real, fake, impl="ref").sum(), params)
    for g, r in zip(got, ref, strict=True):
        assert rel_error(g, r) < 1e-10
    assert not real.requires_grad and not fake.requires_grad  # inputs untouched


def test_path_length_penalty_value_and_mean():
    synthesis = nn.Sequential(nn.Linear(6, 3 * 4 * 4), nn.Tanh()).double()
    ws = torch.randn(5, 2, 6, dtype=torch.float64, requires_grad=True)
    images = synthesis(ws.mean(1)).reshape(5, 3, 4, 4)
    pl_mean = torch.tensor(0.3, dtype=torch.float64)
    torch.manual_seed(7)
    penalty, new_mean = path_length_penalty(images, ws, pl_mean, decay=0.1)
    torch.manual_seed(7)
    noise = torch.randn_like(images) / math.sqrt(16)
    (g,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
    lengths = g.square().sum(2).mean(1).sqrt()
    expected_mean = 0.3 + 0.1 * (lengths.mean().item() - 0.3)
    assert math.isclose(new_mean.item(), expected_mean, rel_tol=1e-12)
    assert rel_error(penalty, (lengths - expected_mean).square()) < 1e-12
    assert pl_mean.item() == 0.3  # not modified in place
    params = list(synthesis.parameters())
    assert all(p is not None for p in torch.autograd.grad(penalty.sum(), params))


def test_bad_input():
    net = small_discriminator()
    images = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match="require grad"):
        r1_penalty(net(images), images)
    with pytest.raises(ValueError, match="one shape"):
        wgan_gp_penalty(net, images, images[:1])
    with pytest.raises(ValueError, match="ws of shape"):
        path_length_penalty(images, torch.randn(3, 6), torch.tensor(0.0))
