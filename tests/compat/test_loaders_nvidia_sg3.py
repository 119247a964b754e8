"""`fastgan.models.load_nvidia_pickle` with StyleGAN3 generators (T and R): pickles in NVIDIA's
persistence format written from the NVIDIA-layout fixture of tests/compat/nvidia_sg3_net.py load
into fastgan's StyleGAN3Generator with equal outputs; broken records are refused by name."""

from __future__ import annotations

import math

import pytest
import torch

from fastgan.models import load_nvidia_pickle
from fastgan.models.nvidia_pickle import ForeignNetworkError, UnsupportedNetworkError
from fastgan.models.stylegan3 import StyleGAN3Generator
from tests.compat import nvidia_sg3_net
from tests.compat._nvidia_pickle_writer import nvidia_pickle_bytes

_COMMON = dict(w_dim=16, img_channels=3, mapping_kwargs=dict(num_layers=2))
CONFIGS = {
    "t_uncond16": dict(
        z_dim=12,
        c_dim=0,
        img_resolution=16,
        channel_base=1024,
        channel_max=32,
        num_layers=4,
        num_critical=2,
        margin_size=2,
        **_COMMON,
    ),
    "t_cond32": dict(
        z_dim=8,
        c_dim=10,
        img_resolution=32,
        channel_base=2048,
        channel_max=24,
        num_layers=5,
        num_critical=2,
        margin_size=4,
        conv_clamp=None,
        **_COMMON,
    ),
    "r_uncond16": dict(
        z_dim=12,
        c_dim=0,
        img_resolution=16,
        channel_base=2048,
        channel_max=64,
        num_layers=4,
        num_critical=2,
        margin_size=2,
        conv_kernel=1,
        use_radial_filters=True,
        **_COMMON,
    ),
    "r_cond16": dict(
        z_dim=8,
        c_dim=10,
        img_resolution=16,
        channel_base=2048,
        channel_max=48,
        num_layers=4,
        num_critical=2,
        margin_size=3,
        conv_kernel=1,
        use_radial_filters=True,
        **_COMMON,
    ),
}


def _randomize(G: nvidia_sg3_net.Generator, gen: torch.Generator) -> nvidia_sg3_net.Generator:
    """Random weights and affine biases, a non-trivial magnitude_ema and w_avg, a rotated and
    translated input transform, and slightly perturbed filters (so that a loader which designs
    its own filters instead of copying the file's gives other images)."""
    with torch.no_grad():
        for name, t in G.named_parameters():
            if name.endswith("affine.bias"):
                t.add_(torch.randn(t.shape, generator=gen) * 0.3)
            elif name.endswith("affine.weight") and name.startswith("synthesis.input"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) / (100 if "mapping" in name else 1))
        for name, t in G.named_buffers():
            if name.endswith("magnitude_ema"):
                t.copy_(torch.rand([], generator=gen) * 2 + 0.2)
            elif name.endswith("w_avg"):
                t.copy_(torch.randn(t.shape, generator=gen))
            elif name.endswith("_filter"):
                t.mul_(1 + 0.2 * torch.rand(t.shape, generator=gen))
        angle, (tx, ty) = 0.4, (0.15, -0.25)
        transform = torch.tensor(
            [
                [math.cos(angle), -math.sin(angle), tx],
                [math.sin(angle), math.cos(angle), ty],
                [0.0, 0.0, 1.0],
            ]
        )
        G.synthesis.input.transform.copy_(transform)
    return G.eval()


def _fixture(config: str, seed: int = 0) -> nvidia_sg3_net.Generator:
    torch.manual_seed(seed)
    G = nvidia_sg3_net.Generator(**CONFIGS[config])
    return _randomize(G, torch.Generator().manual_seed(seed + 100))


def _write(tmp_path, networks, init_kwargs=None, name="sg3.pkl"):
    path = tmp_path / name
    path.write_bytes(nvidia_pickle_bytes(networks, init_kwargs=init_kwargs))
    return path


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def _inputs(G, n=3, seed=1):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=gen)
    c = None
    if G.c_dim:
        c = torch.nn.functional.one_hot(torch.randint(G.c_dim, (n,), generator=gen), G.c_dim)
        c = c.float()
    return z, c


@pytest.mark.parametrize("config", list(CONFIGS))
def test_loaded_generator_matches_the_fixture(tmp_path, config):
    G0 = _fixture(config)
    G_train = _fixture(config, seed=7)
    kwargs = CONFIGS[config]
    path = _write(tmp_path, {"G": G_train, "G_ema": G0}, {"G": kwargs, "G_ema": kwargs})
    loaded = load_nvidia_pickle(path)
    assert set(loaded) == {"G", "G_ema"}
    G1 = loaded["G_ema"]
    assert isinstance(G1, StyleGAN3Generator) and G1.num_ws == G0.num_ws
    z, c = _inputs(G0, n=2)
    with torch.no_grad():
        images = {}
        for psi, cutoff in ((1.0, None), (0.7, 2) if config == "t_cond32" else (0.7, None)):
            want = G0(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
            got = G1(z, c, truncation_psi=psi, truncation_cutoff=cutoff, force_fp32=True)
            assert got.shape == want.shape == (2, 3, G0.img_resolution, G0.img_resolution)
            assert _rel(got, want) <= 1e-4, (psi, cutoff, _rel(got, want))
            images[psi] = want
        # Truncation moved the images (w_avg was carried over and used).
        assert _rel(images[0.7], images[1.0]) > 1e-3
        if config == "t_uncond16":  # G (not the EMA) has its own weights
            want = G_train(z, c)
            assert _rel(loaded["G"](z, c, force_fp32=True), want) <= 1e-4
            assert _rel(want, images[1.0]) > 1e-2


def test_every_tensor_is_mapped_and_the_filters_are_the_files(tmp_path):
    G0 = _fixture("r_uncond16", seed=3)
    G1 = load_nvidia_pickle(_write(tmp_path, {"G_ema": G0}, {"G_ema": CONFIGS["r_uncond16"]}))[
        "G_ema"
    ]
    source = G0.state_dict()
    filters = {k: v for k, v in source.items() if k.endswith("_filter")}
    source = {k: v for k, v in source.items() if not k.endswith("_filter")}
    target = G1.state_dict()  # fastgan's filters are non-persistent buffers
    assert len(source) == len(target)
    values = sorted(torch.cat([t.flatten() for t in source.values()]).tolist())
    assert values == sorted(torch.cat([t.flatten() for t in target.values()]).tolist())
    assert any(f.ndim == 2 for f in filters.values())  # R's radial down filters
    for i, name in enumerate(G0.synthesis.layer_names):
        for buf in ("up_filter", "down_filter"):
            want = filters.get(f"synthesis.{name}.{buf}")
            got = getattr(G1.layers[i], buf)
            assert (want is None) == (got is None)
            if want is not None:
                assert torch.equal(got, want)


def test_designed_filters_would_not_match(tmp_path):
    """The fixture's filters are perturbed: fastgan's own designed filters give other images, so
    the equality of the loaded model depends on copying the file's filters."""
    G0 = _fixture("t_uncond16")
    path = _write(tmp_path, {"G_ema": G0}, {"G_ema": CONFIGS["t_uncond16"]})
    G1 = load_nvidia_pickle(path)["G_ema"]
    kwargs = {k: v for k, v in CONFIGS["t_uncond16"].items() if k != "mapping_kwargs"}
    fresh = StyleGAN3Generator(mapping_layers=2, num_fp16_res=4, **kwargs).eval()
    fresh.load_state_dict(G1.state_dict())
    z, c = _inputs(G0)
    with torch.no_grad():
        want = G0(z, c)
        assert _rel(G1(z, c, force_fp32=True), want) <= 1e-4
        assert _rel(fresh(z, c, force_fp32=True), want) > 1e-3


def test_broken_records_are_named(tmp_path):
    kwargs = CONFIGS["t_uncond16"]
    # A filter of the wrong length.
    G = _fixture("t_uncond16")
    layer = getattr(G.synthesis, G.synthesis.layer_names[0])
    layer.up_filter = torch.ones(layer.up_filter.numel() + 2)
    with pytest.raises(ForeignNetworkError, match=rf"{G.synthesis.layer_names[0]}\.up_filter"):
        load_nvidia_pickle(_write(tmp_path, {"G_ema": G}, {"G_ema": kwargs}))
    # A weight of the wrong shape.
    G = _fixture("t_uncond16")
    layer = getattr(G.synthesis, G.synthesis.layer_names[1])
    layer.weight = torch.nn.Parameter(torch.randn(*layer.weight.shape[:2], 5, 5))
    with pytest.raises(UnsupportedNetworkError, match=r"L1_.*weight has shape \[.*5, 5\]"):
        load_nvidia_pickle(_write(tmp_path, {"G_ema": G}, {"G_ema": kwargs}))
    # A missing tensor.
    G = _fixture("t_uncond16")
    del G.synthesis.input._buffers["freqs"]
    with pytest.raises(ForeignNetworkError, match=r"missing tensor synthesis\.input\.freqs"):
        load_nvidia_pickle(_write(tmp_path, {"G_ema": G}, {"G_ema": kwargs}))
    # A tensor fastgan has no place for.
    G = _fixture("t_uncond16")
    G.synthesis.input.register_buffer("extra", torch.ones(2))
    with pytest.raises(UnsupportedNetworkError, match=r"no place for.*input\.extra"):
        load_nvidia_pickle(_write(tmp_path, {"G_ema": G}, {"G_ema": kwargs}))
    # Init kwargs that disagree with the tensors (another channel_max).
    G = _fixture("t_uncond16")
    with pytest.raises(UnsupportedNetworkError, match="where the configuration gives"):
        load_nvidia_pickle(_write(tmp_path, {"G_ema": G}, {"G_ema": {**kwargs, "channel_max": 16}}))


@pytest.mark.parametrize("radial", [False, True])
def test_convert_and_generate_take_a_stylegan3_pickle(tmp_path, capsys, radial):
    """`fastgan convert` / `generate --ckpt` with an SG3 pickle whose options a fastgan snapshot
    records (NVIDIA's defaults but for the sizes, filters as designed)."""
    from fastgan.cli import main
    from fastgan.train.generate import load_generator

    kwargs = dict(
        z_dim=8, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, num_layers=4,
        mapping_kwargs=dict(num_layers=2),
        channel_base=4096 if radial else 2048, channel_max=64 if radial else 32,
    )  # fmt: skip
    if radial:
        kwargs.update(conv_kernel=1, use_radial_filters=True)
    torch.manual_seed(4)
    G0 = nvidia_sg3_net.Generator(**kwargs).eval()
    path = _write(tmp_path, {"G_ema": G0}, {"G_ema": kwargs})
    out = tmp_path / "model.pt"
    assert main(["convert", str(path), "--out", str(out), "--quiet"]) == 0
    G, snapshot = load_generator(out, "cpu")
    assert isinstance(G, StyleGAN3Generator)
    assert snapshot["config"]["arch"] == ("stylegan3-r" if radial else "stylegan3-t")
    z, c = _inputs(G0, n=2)
    with torch.no_grad():
        assert _rel(G(z, c, truncation_psi=0.7), G0(z, c, truncation_psi=0.7)) <= 1e-4
    grid = tmp_path / "grid.png"
    assert main(["generate", "--ckpt", str(path), "--seeds", "0-1",
                 "--out", str(grid), "--device", "cpu"]) == 0  # fmt: skip
    assert grid.stat().st_size > 0
    capsys.readouterr()
    # Perturbed filters cannot be recorded by a snapshot's configuration: refused by name.
    with torch.no_grad():
        getattr(G0.synthesis, G0.synthesis.layer_names[0]).up_filter.mul_(1.1)
    path = _write(tmp_path, {"G_ema": G0}, {"G_ema": kwargs}, name="perturbed.pkl")
    assert main(["convert", str(path), "--out", str(tmp_path / "p.pt"), "--quiet"]) == 1
    assert "use load_nvidia_pickle directly" in capsys.readouterr().err
