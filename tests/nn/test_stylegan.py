"""fastgan.nn StyleGAN2 layers: equal to the same layer on the reference ops (outputs and every
gradient, train and eval), second order through a stack, compile, initialisation, state_dict,
low precision and bad arguments."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastgan.nn import EqualLinear, MappingNetwork, ModulatedConv2d, StyledConv, ToRGB, set_impl
from fastgan.ops import bias_act_ref, conv2d_resample
from tests.conftest import DEVICES, TOLERANCE, rel_error

W_DIM = 8
BATCH = 3


def perturb(layer, scale=0.3):
    """Random non-default values for every parameter (a zero noise strength or bias would hide
    their paths); the layers' initial values are tested separately."""
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(torch.randn_like(p) * scale)
    return layer


def twin(layer):
    """The same layer, with the same weights, on the reference ops."""
    return set_impl(copy.deepcopy(layer), "ref")


def run(layer, inputs, call, seed):
    """Output and gradients of <output, v> (v random, drawn from `seed`) w.r.t. every input and
    every parameter."""
    inputs = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    y = call(layer, *inputs)
    v = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    leaves = [t for t in inputs if t.requires_grad] + list(layer.parameters())
    grads = torch.autograd.grad((y * v.to(y)).sum(), leaves, allow_unused=True)
    names = [f"input{i}" for i, t in enumerate(inputs) if t.requires_grad]
    names += [name for name, _ in layer.named_parameters()]
    return y, dict(zip(names, grads, strict=True))


def assert_matches_reference(layer, inputs, call, where="", unused=()):
    """Output and every gradient equal the reference twin's; `unused` names the parameters that
    take no part (no gradient in either)."""
    tol = TOLERANCE[torch.float32]
    seed = int(torch.randint(2**31, ()))  # one fresh v for both
    y, grads = run(layer, inputs, call, seed)
    y_ref, grads_ref = run(twin(layer), inputs, call, seed)
    assert y.shape == y_ref.shape and y.dtype == y_ref.dtype
    assert rel_error(y, y_ref) < tol, f"{where} output: {rel_error(y, y_ref):.3g}"
    for name, g in grads.items():
        r = grads_ref[name]
        if name in unused:
            assert g is None and r is None, f"{where} {name}: unexpected gradient"
            continue
        assert g is not None and r is not None, f"{where} {name}: no gradient"
        assert rel_error(g, r) < tol, f"{where} grad {name}: {rel_error(g, r):.3g}"


# --- each layer against its reference twin -----------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(activation="lrelu"),
        dict(activation="swish", bias=False),
        dict(activation="linear", bias=False),
        dict(activation="gelu", lr_multiplier=0.01, bias_init=0.5),
        dict(lr_multiplier=0.1, bias_init=1.0),
    ],
    ids=["linear", "lrelu", "swish-nobias", "linear-nobias", "gelu-lr0.01", "linear-lr0.1"],
)
def test_equal_linear_matches_reference_and_formula(device, kwargs):
    layer = perturb(EqualLinear(7, 5, **kwargs)).to(device)
    for shape in ((BATCH, 7), (2, 4, 7)):  # 2-D (addmm) and 3-D inputs
        x = torch.randn(shape, device=device)
        assert_matches_reference(layer, [x], lambda m, x: m(x), where=f"{shape}")
        lr = kwargs.get("lr_multiplier", 1.0)
        assert layer.weight_gain == lr / math.sqrt(7) and layer.bias_gain == lr
        b = None if layer.bias is None else layer.bias * lr
        expect = bias_act_ref(
            F.linear(x, layer.weight * layer.weight_gain),
            b,
            dim=x.ndim - 1,
            act=kwargs.get("activation", "linear"),
        )
        assert rel_error(layer(x), expect) < 1e-6


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("c_dim", [0, 5], ids=["unconditional", "labels"])
def test_mapping_network_matches_reference(device, c_dim):
    net = perturb(MappingNetwork(6, c_dim, W_DIM, num_ws=4, num_layers=3), 0.1).to(device)
    net.w_avg.copy_(torch.randn(W_DIM))
    z = torch.randn(BATCH, 6, device=device)
    inputs = [z] + ([torch.randn(BATCH, c_dim, device=device)] if c_dim else [])
    for psi, cutoff in ((1.0, None), (0.7, None), (0.5, 2)):

        def call(m, z, *c, psi=psi, cutoff=cutoff):
            return m(z, *c, psi=psi, cutoff=cutoff)

        assert_matches_reference(net, inputs, call, where=f"psi={psi} cutoff={cutoff}")
    with torch.no_grad():
        w = net(*inputs)
        assert w.shape == (BATCH, 4, W_DIM)
        assert torch.equal(w[:, 0], w[:, 3])  # num_ws copies of the same w
        for psi, cutoff in ((0.7, None), (0.5, 2), (0.0, 1)):
            t = net(*inputs, psi=psi, cutoff=cutoff)
            cut = 4 if cutoff is None else cutoff
            expect = net.w_avg + psi * (w[:, :cut] - net.w_avg)
            assert rel_error(t[:, :cut], expect) < 1e-6, f"psi={psi} cutoff={cutoff}"
            assert torch.equal(t[:, cut:], w[:, cut:])


def test_mapping_network_update_emas():
    net = MappingNetwork(6, 0, W_DIM, num_ws=2, num_layers=2, w_avg_beta=0.9)
    z = torch.randn(BATCH, 6)
    before = net.w_avg.clone()
    with torch.no_grad():
        w = net(z)[:, 0]
        assert torch.equal(net.w_avg, before), "update_emas=False must leave w_avg alone"
        net(z, update_emas=True)
    assert not torch.equal(net.w_avg, before)
    assert rel_error(net.w_avg, 0.9 * before + 0.1 * w.mean(dim=0)) < 1e-6
    twin_net = twin(net)
    with torch.no_grad():
        twin_net(z, update_emas=True)
        net(z, update_emas=True)
    assert rel_error(net.w_avg, twin_net.w_avg) < 1e-6


def test_mapping_network_normalises_inputs_and_checks_shapes():
    net = MappingNetwork(6, 3, W_DIM, num_ws=1, num_layers=1)
    z, c = torch.randn(2, 6), torch.randn(2, 3)
    with torch.no_grad():
        # Second moments normalised: scaling z and c changes nothing but the effect of the 1e-8
        # epsilon (relative 1e-8 / mean square) and float32 rounding.
        assert rel_error(net(z * 10, c * 10), net(z, c)) < 1e-4
    with pytest.raises(ValueError, match=r"expected c of shape \[N, 3\]"):
        net(z)
    with pytest.raises(ValueError, match=r"expected z of shape \[N, 6\]"):
        net(torch.randn(2, 5), c)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "up, down, demodulate",
    [(1, 1, True), (2, 1, True), (1, 2, True), (1, 1, False), (2, 1, False)],
)
def test_modulated_conv2d_layer_matches_reference(device, up, down, demodulate):
    layer = perturb(ModulatedConv2d(4, 5, 3, W_DIM, demodulate=demodulate, up=up, down=down))
    layer = layer.to(device)
    x, w = torch.randn(BATCH, 4, 8, 8, device=device), torch.randn(BATCH, W_DIM, device=device)
    for training in (True, False):  # input scaling / per-sample weights
        layer.train(training)
        assert_matches_reference(layer, [x, w], lambda m, x, w: m(x, w), where=f"train={training}")
    y = layer(x, w)
    assert y.shape == (BATCH, 5, 8 * up // down, 8 * up // down)
    # The two strategies agree with each other, whatever the mode.
    assert rel_error(layer(x, w, fused_modconv=True), layer(x, w, fused_modconv=False)) < 1e-5


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("noise_mode", ["const", "none"])
def test_styled_conv_matches_reference(device, up, noise_mode):
    layer = perturb(StyledConv(4, 6, W_DIM, resolution=8, up=up, conv_clamp=1.5)).to(device)
    x = torch.randn(BATCH, 4, 8 // up, 8 // up, device=device)
    w = torch.randn(BATCH, W_DIM, device=device)
    for training in (True, False):
        layer.train(training)
        for gain in (1.0, 0.5):

            def call(m, x, w, gain=gain):
                return m(x, w, noise_mode=noise_mode, gain=gain)

            where = f"train={training} gain={gain}"
            unused = ("noise_strength",) if noise_mode == "none" else ()
            assert_matches_reference(layer, [x, w], call, where=where, unused=unused)
    # noise_mode 'none' and a zero strength give the same result; 'const' differs.
    with torch.no_grad():
        y_none = layer(x, w, noise_mode="none")
        layer.noise_strength.zero_()
        assert rel_error(layer(x, w, noise_mode="const"), y_none) < 1e-6


@pytest.mark.parametrize("up", [1, 2])
def test_styled_conv_equals_stylegan2_formula(up):
    """An independent composition: per-sample modulated, demodulated weights; conv2d_resample
    reference; + const noise * strength + bias; lrelu * sqrt(2) * gain; clamp * gain."""
    layer = perturb(StyledConv(4, 6, W_DIM, resolution=8, up=up, conv_clamp=1.0)).double()
    x = torch.randn(BATCH, 4, 8 // up, 8 // up, dtype=torch.float64)
    w = torch.randn(BATCH, W_DIM, dtype=torch.float64)
    gain = 0.7
    with torch.no_grad():
        styles = w @ (layer.conv.affine.weight / math.sqrt(W_DIM)).t() + layer.conv.affine.bias
        f = layer.conv.resample_filter if up > 1 else None
        ys = []
        for n in range(BATCH):
            wn = layer.conv.weight * styles[n][None, :, None, None]
            wn = wn / (wn.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt()
            ys.append(conv2d_resample(x[n : n + 1], wn, f, up=up, padding=1, impl="ref"))
        z = torch.cat(ys) + layer.noise_const * layer.noise_strength
        z = z + layer.bias[None, :, None, None]
        expect = (F.leaky_relu(z, 0.2) * math.sqrt(2) * gain).clamp(-gain, gain)
        assert (expect.abs() == gain).any() and (expect.abs() < gain).any()
        for training in (True, False):
            y = layer.train(training)(x, w, noise_mode="const", gain=gain)
            assert rel_error(y, expect) < 1e-12, f"train={training}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("up", [1, 2])
def test_styled_conv_random_noise(device, up):
    layer = perturb(StyledConv(4, 6, W_DIM, resolution=8, up=up)).to(device)
    x = torch.randn(BATCH, 4, 8 // up, 8 // up, device=device, requires_grad=True)
    w = torch.randn(BATCH, W_DIM, device=device)
    y1, y2 = layer(x, w), layer(x, w, noise_mode="random")
    assert y1.shape == (BATCH, 6, 8, 8) and torch.isfinite(y1).all()
    assert not torch.equal(y1, y2), "'random' (the default) draws fresh noise on every call"
    y1.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(layer.noise_strength.grad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("conv_clamp", [None, 0.4])
def test_to_rgb_matches_reference(device, conv_clamp):
    layer = perturb(ToRGB(6, 3, W_DIM, conv_clamp=conv_clamp)).to(device)
    x, w = torch.randn(BATCH, 6, 5, 7, device=device), torch.randn(BATCH, W_DIM, device=device)
    for training in (True, False):
        layer.train(training)
        assert_matches_reference(layer, [x, w], lambda m, x, w: m(x, w), where=f"train={training}")
    with torch.no_grad():
        y = layer(x, w)
        # A 1x1 modulated conv without demodulation, styles scaled by 1/sqrt(in * k * k).
        styles = layer.conv.affine(w) / math.sqrt(6)
        expect = torch.einsum("oi,ni,nihw->nohw", layer.conv.weight[:, :, 0, 0], styles, x)
        expect = expect + layer.bias[None, :, None, None]
        if conv_clamp is not None:
            expect = expect.clamp(-conv_clamp, conv_clamp)
            assert (expect.abs() == conv_clamp).any()
        assert rel_error(y, expect) < 1e-6


# --- second order, compile ---------------------------------------------------------------------


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(
            [
                StyledConv(3, 4, W_DIM, resolution=4),
                StyledConv(4, 4, W_DIM, resolution=8, up=2, conv_clamp=2.0),
                StyledConv(4, 3, W_DIM, resolution=8, activation="swish"),
            ]
        )

    def forward(self, x, w):
        for layer in self.layers:
            x = layer(x, w, noise_mode="const")
        return x


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_second_order_through_stack_matches_reference(training):
    """Path-length regularisation: d/dparams |d<y, v>/dw|² through three StyledConv layers."""
    stack = perturb(Stack()).double().train(training)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    w0 = torch.randn(2, W_DIM, dtype=torch.float64)
    v = torch.randn(2, 3, 8, 8, dtype=torch.float64)

    def penalty_grads(model):
        model.zero_grad()
        w = w0.clone().requires_grad_(True)
        y = model(x, w)
        (g,) = torch.autograd.grad((y * v).sum(), w, create_graph=True)
        g.square().sum().backward()
        return g.detach(), {name: p.grad for name, p in model.named_parameters()}

    g, grads = penalty_grads(stack)
    g_ref, grads_ref = penalty_grads(twin(stack))
    assert rel_error(g, g_ref) < 1e-12
    for name, p in grads.items():
        r = grads_ref[name]
        assert p is not None and r is not None, name
        if r.abs().max() == 0:
            assert p.abs().max() == 0, name
        else:
            assert rel_error(p, r) < 1e-10, f"{name}: {rel_error(p, r):.3g}"
    assert grads["layers.0.conv.affine.weight"].abs().max() > 0


@pytest.mark.parametrize("device", DEVICES)
def test_compile_styled_conv_fullgraph(device):
    """Forward and backward compiled with no graph break (fullgraph raises on one), train mode
    (input scaling) with inductor, eval mode (per-sample weights) with aot_eager."""
    layer = perturb(StyledConv(4, 6, W_DIM, resolution=8, up=2, conv_clamp=2.0)).to(device)
    x = torch.randn(2, 4, 4, 4, device=device)
    w = torch.randn(2, W_DIM, device=device)

    def fn(x, w):
        return layer(x, w, noise_mode="const")

    torch._dynamo.reset()
    for training, backend in ((True, "inductor"), (False, "aot_eager")):
        layer.train(training)
        compiled = torch.compile(fn, fullgraph=True, backend=backend)
        outs = []
        for f in (compiled, fn):
            layer.zero_grad()
            xx, ww = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
            y = f(xx, ww)
            y.square().sum().backward()
            outs.append([y, xx.grad, ww.grad] + [p.grad for p in layer.parameters()])
        for k, (a, e) in enumerate(zip(*outs, strict=True)):
            assert rel_error(a, e) < 1e-5, f"train={training}: output/grad {k}"
    torch._dynamo.reset()


def test_no_graph_break_explained():
    layer = perturb(StyledConv(4, 6, W_DIM, resolution=4))
    x, w = torch.randn(2, 4, 4, 4), torch.randn(2, W_DIM)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(lambda x, w: layer(x, w, noise_mode="const"))(x, w)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
    torch._dynamo.reset()


# --- initialisation, state_dict, dtypes, arguments ---------------------------------------------


def test_stylegan2_initialisation():
    # Statistical checks: 120000 and 18432 draws, bounds ~10 standard errors wide.
    lin = EqualLinear(400, 300, lr_multiplier=0.01, bias_init=0.5)
    assert lin.weight_gain == 0.01 / math.sqrt(400) and lin.bias_gain == 0.01
    assert abs(lin.weight.std().item() * 0.01 - 1) < 0.02  # N(0, 1) / lr_multiplier
    assert abs(lin.weight.mean().item() * 0.01) < 0.02
    assert torch.allclose(lin.bias * lin.bias_gain, torch.full([300], 0.5))  # effective bias

    mod = ModulatedConv2d(64, 32, 3, W_DIM)
    assert torch.equal(mod.affine.bias, torch.ones(64)), "affine bias initialised to 1"
    assert mod.affine.weight_gain == 1 / math.sqrt(W_DIM)
    assert abs(mod.weight.std().item() - 1) < 0.05 and mod.padding == 1
    assert mod.resample_filter.dtype == torch.float32
    assert torch.allclose(mod.resample_filter.sum(), torch.tensor(1.0))

    conv = StyledConv(16, 8, W_DIM, resolution=16)
    assert conv.noise_strength.shape == () and conv.noise_strength.item() == 0
    assert torch.equal(conv.bias, torch.zeros(8))
    assert conv.noise_const.shape == (16, 16) and conv.noise_const.std() > 0.5
    assert torch.equal(conv.conv.affine.bias, torch.ones(16))

    rgb = ToRGB(16, 3, W_DIM, kernel_size=1)
    assert rgb.weight_gain == 1 / math.sqrt(16) and not rgb.conv.demodulate
    assert torch.equal(rgb.bias, torch.zeros(3))

    net = MappingNetwork(8, 0, W_DIM, num_ws=2, num_layers=2)
    assert torch.equal(net.w_avg, torch.zeros(W_DIM))
    assert all(layer.weight_gain == 0.01 / math.sqrt(8) for layer in net.layers)
    assert all(layer.activation == "lrelu" for layer in net.layers)


def test_state_dict_round_trip():
    for make, inputs, call in (
        (
            lambda: StyledConv(4, 6, W_DIM, resolution=8, up=2),
            [torch.randn(2, 4, 4, 4), torch.randn(2, W_DIM)],
            lambda m, x, w: m(x, w, noise_mode="const"),
        ),
        (
            lambda: ToRGB(4, 3, W_DIM),
            [torch.randn(2, 4, 5, 5), torch.randn(2, W_DIM)],
            lambda m, x, w: m(x, w),
        ),
        (
            lambda: MappingNetwork(6, 2, W_DIM, num_ws=2, num_layers=2),
            [torch.randn(2, 6), torch.randn(2, 2)],
            lambda m, z, c: m(z, c, psi=0.5),
        ),
    ):
        layer = perturb(make())
        if isinstance(layer, MappingNetwork):
            layer.w_avg.copy_(torch.randn(W_DIM))
        state = layer.state_dict()
        assert not any("resample_filter" in k for k in state), "the FIR filter is not persistent"
        fresh = make()
        fresh.load_state_dict(state)
        with torch.no_grad():
            assert torch.equal(call(fresh, *inputs), call(layer, *inputs))
    keys = set(StyledConv(4, 6, W_DIM, resolution=8).state_dict())
    assert keys == {
        "bias",
        "noise_strength",
        "noise_const",
        "conv.weight",
        "conv.affine.weight",
        "conv.affine.bias",
    }


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_low_precision_styled_conv_runs_and_is_finite(dtype):
    layer = perturb(StyledConv(8, 8, W_DIM, resolution=8, up=2, conv_clamp=256))
    x, w = torch.randn(2, 8, 4, 4), torch.randn(2, W_DIM)
    with torch.no_grad():
        ref_out = layer.eval()(x, w, noise_mode="const")
    low = copy.deepcopy(layer).to(dtype)
    assert low.conv.weight.dtype == dtype and low.conv.resample_filter.dtype == torch.float32
    for training in (True, False):
        low.train(training)
        for noise_mode in ("const", "random", "none"):
            y = low(x.to(dtype), w.to(dtype), noise_mode=noise_mode)
            assert y.dtype == dtype and y.shape == (2, 8, 8, 8) and torch.isfinite(y).all()
        y = low(x.to(dtype), w.to(dtype), noise_mode="const")
        # Against float32 inputs: the rounding of x, w, every parameter and every intermediate
        # (styles, per-sample weights, convolution) adds up; worst seen over 100 seeds: 9e-4
        # (float16), 7e-3 (bfloat16). Twice the one-op bound.
        assert rel_error(y, ref_out) < 2 * TOLERANCE[dtype]
    rgb = perturb(ToRGB(8, 3, W_DIM)).to(dtype)
    assert torch.isfinite(rgb(x.to(dtype), w.to(dtype))).all()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: EqualLinear(4, 3, activation="leaky"), "unknown activation 'leaky'"),
        (lambda: StyledConv(4, 3, W_DIM, 8, activation="leaky"), "unknown activation 'leaky'"),
        (lambda: EqualLinear(4, 3, impl="cuda"), "expected impl in"),
        (lambda: ModulatedConv2d(4, 3, 3, W_DIM, impl="fast"), "expected impl in"),
        (lambda: StyledConv(4, 3, W_DIM, 8, impl="fast"), "expected impl in"),
        (lambda: ToRGB(4, 3, W_DIM, impl="fast"), "expected impl in"),
        (lambda: MappingNetwork(4, 0, W_DIM, 2, impl="fast"), "expected impl in"),
        (lambda: ModulatedConv2d(4, 3, 3, W_DIM, up=3), r"expected up, down in \(1, 2\)"),
        (lambda: ModulatedConv2d(4, 3, 3, W_DIM, down=4), r"expected up, down in \(1, 2\)"),
        (lambda: ModulatedConv2d(4, 3, 3, W_DIM, up=2, down=2), "not both 2"),
        (lambda: StyledConv(4, 3, W_DIM, 8, up=3), r"expected up, down in \(1, 2\)"),
        (lambda: EqualLinear(0, 3), "expected in_features, out_features >= 1"),
        (lambda: MappingNetwork(0, 0, W_DIM, 2), "z_dim \\+ c_dim >= 1"),
        (lambda: set_impl(nn.Sequential(EqualLinear(2, 2)), "fast"), "expected impl in"),
    ],
)
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_forward_arguments():
    layer = StyledConv(4, 6, W_DIM, resolution=8)
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, W_DIM)
    with pytest.raises(ValueError, match=r"expected noise_mode in .*got 'fixed'"):
        layer(x, w, noise_mode="fixed")
    with pytest.raises(ValueError, match="built for 8x8 outputs, got 4x4"):
        layer(torch.randn(2, 4, 4, 4), w)


def test_set_impl_switches_every_layer():
    model = nn.Sequential(
        MappingNetwork(4, 0, W_DIM, 2, num_layers=2), StyledConv(4, 4, W_DIM, 4), ToRGB(4, 3, 8)
    )
    assert set_impl(model, "ref") is model
    impls = {m.impl for m in model.modules() if hasattr(m, "impl")}
    assert impls == {"ref"}
    assert (
        len([m for m in model.modules() if hasattr(m, "impl")]) == 2 + 3 + 3
    )  # mapping layers; StyledConv, ToRGB: self, conv, affine
