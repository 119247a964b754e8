"""`fastgan.models.load_rosinality_checkpoint`: checkpoints laid out like rosinality's
stylegan2-pytorch (state dict names and shapes, blur kernel buffers, noise buffers, latent_avg,
an ``args`` Namespace) load into fastgan's models with the outputs that its layer maths gives.

The reference below is this test's own statement of that maths (from the StyleGAN2 paper and the
documented semantics of the repository's layers): EqualLinear with lr_mul and FusedLeakyReLU
(lrelu(x + b, 0.2) * √2), the modulated convolution with scale 1/√fan_in and demodulation, the
upsampling path as a stride-2 transposed convolution followed by a blur of the kernel buffer with
padding (1, 1), upfirdn2d (zero insertion, padding, a true convolution with the kernel,
subsampling), ToRGB's skip upsampled with padding (2, 1), the residual discriminator blocks with
blur-then-stride-2 convolutions and the minibatch stddev over groups of 4.
"""

from __future__ import annotations

import argparse
import math

import pytest
import torch
import torch.nn.functional as F

from fastgan.models import StyleGAN2Discriminator, StyleGAN2Generator, load_rosinality_checkpoint
from fastgan.models._foreign import ForeignNetworkError, UnsupportedNetworkError, fit_channels

SQRT2 = math.sqrt(2)

# ---- the reference maths ------------------------------------------------------------------------


def make_kernel(k) -> torch.Tensor:
    k = torch.tensor(k, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn(x, kernel, up=1, down=1, pad=(0, 0)):
    n, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros(n, c, h * up, w * up)
        y[:, :, ::up, ::up] = x
        x = y
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    weight = kernel.flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, weight, groups=c)[:, :, ::down, ::down]


def fused_lrelu(x, bias):
    shape = [1, -1] + [1] * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), 0.2) * SQRT2


def equal_linear(x, sd, p, lr_mul=1.0, activate=False):
    weight, bias = sd[f"{p}.weight"], sd[f"{p}.bias"]
    scale = lr_mul / math.sqrt(weight.shape[1])
    if activate:
        return fused_lrelu(F.linear(x, weight * scale), bias * lr_mul)
    return F.linear(x, weight * scale, bias * lr_mul)


def modulated_conv(x, sd, p, style, demodulate=True, upsample=False):
    weight = sd[f"{p}.conv.weight"]
    _, out_ch, in_ch, k, _ = weight.shape
    b, _, h, w = x.shape
    s = equal_linear(style, sd, f"{p}.conv.modulation").view(b, 1, in_ch, 1, 1)
    weight = weight * s / math.sqrt(in_ch * k * k)
    if demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(b, out_ch, 1, 1, 1)
    x = x.reshape(1, b * in_ch, h, w)
    if upsample:
        weight = weight.transpose(1, 2).reshape(b * in_ch, out_ch, k, k)
        y = F.conv_transpose2d(x, weight, stride=2, groups=b)
        y = y.view(b, out_ch, *y.shape[2:])
        return upfirdn(y, sd[f"{p}.conv.blur.kernel"], pad=(1, 1))
    y = F.conv2d(x, weight.reshape(b * out_ch, in_ch, k, k), padding=k // 2, groups=b)
    return y.view(b, out_ch, h, w)


def styled_conv(x, sd, p, style, noise, upsample=False):
    y = modulated_conv(x, sd, p, style, upsample=upsample)
    y = y + sd[f"{p}.noise.weight"] * noise
    return fused_lrelu(y, sd[f"{p}.activate.bias"])


def to_rgb(x, sd, p, style, skip):
    y = modulated_conv(x, sd, p, style, demodulate=False) + sd[f"{p}.bias"]
    if skip is not None:
        y = y + upfirdn(skip, sd[f"{p}.upsample.kernel"], up=2, pad=(2, 1))
    return y


def reference_mapping(sd, z, n_mlp, lr_mlp=0.01):
    x = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
    for i in range(1, n_mlp + 1):
        x = equal_linear(x, sd, f"style.{i}", lr_mul=lr_mlp, activate=True)
    return x


def reference_generator(sd, w, num_rgbs):
    """Images for w [N, style_dim] (one style for every layer) with the constant noises."""
    noises = [sd[f"noises.noise_{k}"] for k in range(2 * num_rgbs + 1)]
    x = sd["input.input"].repeat(w.shape[0], 1, 1, 1)
    x = styled_conv(x, sd, "conv1", w, noises[0])
    skip = to_rgb(x, sd, "to_rgb1", w, None)
    for i in range(num_rgbs):
        x = styled_conv(x, sd, f"convs.{2 * i}", w, noises[2 * i + 1], upsample=True)
        x = styled_conv(x, sd, f"convs.{2 * i + 1}", w, noises[2 * i + 2])
        skip = to_rgb(x, sd, f"to_rgbs.{i}", w, skip)
    return skip


def conv_layer(x, sd, p, k, down=False, activate=True):
    i = 0
    if down:
        pp = 2 + (k - 1)
        x = upfirdn(x, sd[f"{p}.0.kernel"], pad=((pp + 1) // 2, pp // 2))
        i = 1
    weight = sd[f"{p}.{i}.weight"]
    scale = 1 / math.sqrt(weight.shape[1] * k * k)
    x = F.conv2d(x, weight * scale, stride=2 if down else 1, padding=0 if down else k // 2)
    return fused_lrelu(x, sd[f"{p}.{i + 1}.bias"]) if activate else x


def reference_discriminator(sd, img, num_blocks):
    x = conv_layer(img, sd, "convs.0", 1)
    for i in range(1, num_blocks + 1):
        y = conv_layer(conv_layer(x, sd, f"convs.{i}.conv1", 3), sd, f"convs.{i}.conv2", 3, True)
        skip = conv_layer(x, sd, f"convs.{i}.skip", 1, down=True, activate=False)
        x = (y + skip) / SQRT2
    b, c, h, w = x.shape
    g = min(b, 4)
    s = x.view(g, -1, 1, c, h, w)
    s = torch.sqrt(s.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
    x = torch.cat([x, s.repeat(g, 1, h, w)], 1)
    x = conv_layer(x, sd, "final_conv", 3).view(b, -1)
    x = equal_linear(x, sd, "final_linear.0", activate=True)
    return equal_linear(x, sd, "final_linear.1")


# ---- random checkpoints laid out like rosinality's ----------------------------------------------


def _randn(gen, *shape, scale=0.5, shift=0.0):
    return torch.randn(*shape, generator=gen) * scale + shift


def make_generator_state(gen, channels, style_dim, n_mlp, lr_mlp=0.01):
    sizes = sorted(channels)
    sd = {}
    for i in range(1, n_mlp + 1):
        sd[f"style.{i}.weight"] = _randn(gen, style_dim, style_dim, scale=1.0) / lr_mlp
        sd[f"style.{i}.bias"] = _randn(gen, style_dim, scale=0.1)
    sd["input.input"] = _randn(gen, 1, channels[4], 4, 4, scale=1.0)

    def styled(p, cin, cout, r, up):
        sd[f"{p}.conv.weight"] = _randn(gen, 1, cout, cin, 3, 3, scale=1.0)
        sd[f"{p}.conv.modulation.weight"] = _randn(gen, cin, style_dim, scale=1.0)
        sd[f"{p}.conv.modulation.bias"] = _randn(gen, cin, scale=0.2, shift=1.0)
        if up:
            sd[f"{p}.conv.blur.kernel"] = make_kernel([1, 3, 3, 1]) * 4
        sd[f"{p}.noise.weight"] = _randn(gen, 1, scale=0.3)
        sd[f"{p}.activate.bias"] = _randn(gen, cout, scale=0.2)

    def rgb(p, cin, up):
        sd[f"{p}.conv.weight"] = _randn(gen, 1, 3, cin, 1, 1, scale=1.0)
        sd[f"{p}.conv.modulation.weight"] = _randn(gen, cin, style_dim, scale=1.0)
        sd[f"{p}.conv.modulation.bias"] = _randn(gen, cin, scale=0.2, shift=1.0)
        sd[f"{p}.bias"] = _randn(gen, 1, 3, 1, 1, scale=0.2)
        if up:
            sd[f"{p}.upsample.kernel"] = make_kernel([1, 3, 3, 1]) * 4

    styled("conv1", channels[4], channels[4], 4, False)
    rgb("to_rgb1", channels[4], False)
    for i, r in enumerate(sizes[1:]):
        styled(f"convs.{2 * i}", channels[r // 2], channels[r], r, True)
        styled(f"convs.{2 * i + 1}", channels[r], channels[r], r, False)
        rgb(f"to_rgbs.{i}", channels[r], True)
    k = 0
    for r in sizes:
        for _ in range(1 if r == 4 else 2):
            sd[f"noises.noise_{k}"] = _randn(gen, 1, 1, r, r, scale=1.0)
            k += 1
    return sd


def make_discriminator_state(gen, channels):
    sizes = sorted(channels, reverse=True)
    R = sizes[0]
    sd = {"convs.0.0.weight": _randn(gen, channels[R], 3, 1, 1, scale=1.0)}
    sd["convs.0.1.bias"] = _randn(gen, channels[R], scale=0.2)
    for i, r in enumerate(sizes[:-1], start=1):
        cin, cout = channels[r], channels[r // 2]
        p = f"convs.{i}."
        sd[p + "conv1.0.weight"] = _randn(gen, cin, cin, 3, 3, scale=1.0)
        sd[p + "conv1.1.bias"] = _randn(gen, cin, scale=0.2)
        sd[p + "conv2.0.kernel"] = make_kernel([1, 3, 3, 1])
        sd[p + "conv2.1.weight"] = _randn(gen, cout, cin, 3, 3, scale=1.0)
        sd[p + "conv2.2.bias"] = _randn(gen, cout, scale=0.2)
        sd[p + "skip.0.kernel"] = make_kernel([1, 3, 3, 1])
        sd[p + "skip.1.weight"] = _randn(gen, cout, cin, 1, 1, scale=1.0)
    c4 = channels[4]
    sd["final_conv.0.weight"] = _randn(gen, c4, c4 + 1, 3, 3, scale=1.0)
    sd["final_conv.1.bias"] = _randn(gen, c4, scale=0.2)
    sd["final_linear.0.weight"] = _randn(gen, c4, c4 * 16, scale=1.0)
    sd["final_linear.0.bias"] = _randn(gen, c4, scale=0.2)
    sd["final_linear.1.weight"] = _randn(gen, 1, c4, scale=1.0)
    sd["final_linear.1.bias"] = _randn(gen, 1, scale=0.2)
    return sd


# Real checkpoints have 512 channels up to 32x32 and 256·m, 128·m, ... above (m the channel
# multiplier); these follow the same rule scaled down, to keep the test fast.
CONFIGS = {
    "16px": dict(channels={4: 32, 8: 32, 16: 16}, style_dim=24, n_mlp=2),
    "32px": dict(channels={4: 16, 8: 16, 16: 8, 32: 4}, style_dim=16, n_mlp=3),
}


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def write_checkpoint(path, gen, config, train_style=True, latent_avg=True):
    cfg = CONFIGS[config]
    g_ema = make_generator_state(gen, cfg["channels"], cfg["style_dim"], cfg["n_mlp"])
    data = {"g_ema": g_ema}
    if latent_avg:
        data["latent_avg"] = _randn(gen, cfg["style_dim"], scale=0.3)
    if train_style:  # train.py's checkpoint (with its argparse Namespace)
        data["g"] = make_generator_state(gen, cfg["channels"], cfg["style_dim"], cfg["n_mlp"])
        data["d"] = make_discriminator_state(gen, cfg["channels"])
        data["args"] = argparse.Namespace(size=max(cfg["channels"]), n_mlp=cfg["n_mlp"])
        data["ada_aug_p"] = 0.25
    torch.save(data, path)
    return data


# ---- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", list(CONFIGS))
def test_loaded_networks_match_the_reference_maths(tmp_path, config):
    gen = torch.Generator().manual_seed(7)
    path = tmp_path / "040000.pt"
    data = write_checkpoint(path, gen, config)
    loaded = load_rosinality_checkpoint(path)
    assert set(loaded) == {"G_ema", "G", "D"}
    assert isinstance(loaded["G_ema"], StyleGAN2Generator)
    assert isinstance(loaded["D"], StyleGAN2Discriminator)
    cfg = CONFIGS[config]
    num_rgbs = len(cfg["channels"]) - 1
    z = torch.randn(4, cfg["style_dim"], generator=gen)
    with torch.no_grad():
        for key, G in (("g_ema", loaded["G_ema"]), ("g", loaded["G"])):
            sd = data[key]
            w = reference_mapping(sd, z, cfg["n_mlp"])
            want = reference_generator(sd, w, num_rgbs)
            got = G(z, noise_mode="const")
            assert got.shape == want.shape
            assert _rel(got, want) <= 1e-4, (key, _rel(got, want))
        # Truncation towards latent_avg, as rosinality's truncation / truncation_latent.
        avg = data["latent_avg"]
        w = reference_mapping(data["g_ema"], z, cfg["n_mlp"])
        want = reference_generator(data["g_ema"], avg + 0.6 * (w - avg), num_rgbs)
        got = loaded["G_ema"](z, truncation_psi=0.6, noise_mode="const")
        assert _rel(got, want) <= 1e-4
        assert _rel(got, reference_generator(data["g_ema"], w, num_rgbs)) > 1e-3
        img = torch.randn(4, 3, max(cfg["channels"]), max(cfg["channels"]), generator=gen)
        want = reference_discriminator(data["d"], img, num_rgbs)
        got = loaded["D"](img)
    assert got.shape == want.shape == (4, 1)
    assert _rel(got, want) <= 1e-4


def test_every_tensor_is_mapped_and_upsampling_weights_flipped(tmp_path):
    gen = torch.Generator().manual_seed(11)
    path = tmp_path / "ckpt.pt"
    data = write_checkpoint(path, gen, "16px")
    loaded = load_rosinality_checkpoint(path)
    for key, name in (("g_ema", "G_ema"), ("d", "D")):
        source = {k: v for k, v in data[key].items() if not k.endswith(".kernel")}
        target = loaded[name].state_dict()
        if name == "G_ema":
            assert torch.equal(target.pop("mapping_network.w_avg"), data["latent_avg"])
        assert len(source) == len(target)
        values = sorted(torch.cat([t.flatten() for t in source.values()]).tolist())
        assert values == sorted(torch.cat([t.flatten() for t in target.values()]).tolist())
    w = loaded["G_ema"].synthesis_network.blocks[1].conv0.conv.weight
    assert torch.equal(w, data["g_ema"]["convs.0.conv.weight"][0].flip([2, 3]))


def test_without_latent_avg_w_avg_is_the_mean_w(tmp_path):
    gen = torch.Generator().manual_seed(3)
    path = tmp_path / "converted.pt"
    data = write_checkpoint(path, gen, "16px", train_style=False, latent_avg=False)
    loaded = load_rosinality_checkpoint(path)
    assert set(loaded) == {"G_ema"}
    z = torch.randn(20000, CONFIGS["16px"]["style_dim"], generator=gen)
    with torch.no_grad():
        mean_w = reference_mapping(data["g_ema"], z, CONFIGS["16px"]["n_mlp"]).mean(0)
    w_avg = loaded["G_ema"].w_avg
    assert _rel(w_avg, mean_w) < 0.05


def test_channel_layouts_of_real_checkpoints_fit():
    def layout(size, m):
        table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * m, 128: 128 * m, 256: 64 * m}
        table.update({512: 32 * m, 1024: 16 * m})
        return {r: c for r, c in table.items() if r <= size}

    assert fit_channels(layout(256, 2), "x") == (32768, 512)
    assert fit_channels(layout(1024, 2), "x") == (32768, 512)
    assert fit_channels(layout(256, 1), "x") == (16384, 512)
    with pytest.raises(UnsupportedNetworkError, match="channels per resolution"):
        fit_channels(layout(256, 4), "x")  # 1024 channels at 64x64 but 512 at 32x32


def test_bad_files_are_refused(tmp_path):
    gen = torch.Generator().manual_seed(5)
    path = tmp_path / "ckpt.pt"
    write_checkpoint(path, gen, "16px")
    raw = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ForeignNetworkError, match="truncated or corrupt"):
        load_rosinality_checkpoint(cut)
    other = tmp_path / "other.pt"
    torch.save({"model": {"a": torch.ones(2)}}, other)
    with pytest.raises(ForeignNetworkError, match="not a rosinality stylegan2-pytorch"):
        load_rosinality_checkpoint(other)
    broken = tmp_path / "broken.pt"
    with torch.serialization.safe_globals([argparse.Namespace]):
        data = torch.load(path, weights_only=True)
    del data["g_ema"]["convs.1.noise.weight"]
    torch.save(data, broken)
    with pytest.raises(UnsupportedNetworkError, match=r"convs\.1\.noise\.weight"):
        load_rosinality_checkpoint(broken)
    with pytest.raises(ForeignNetworkError, match="no such file"):
        load_rosinality_checkpoint(tmp_path / "missing.pt")


class _Payload:
    def __reduce__(self):
        import os

        return os.system, ("true",)


def test_unsafe_objects_are_refused_by_weights_only(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "extra": _Payload()}, path)
    with pytest.raises(ForeignNetworkError, match="weights_only"):
        load_rosinality_checkpoint(path)
