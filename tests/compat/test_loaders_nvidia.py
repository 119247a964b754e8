"""`fastgan.models.load_nvidia_pickle`: StyleGAN2-ADA pickles in NVIDIA's persistence format
(written by the test from the restated networks of tests/compat/nvidia_net.py) load into fastgan's
models with equal outputs; malicious, truncated and unsupported pickles are refused."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess

import numpy as np
import pytest
import torch

from fastgan.models import StyleGAN2Discriminator, StyleGAN2Generator, load_nvidia_pickle
from fastgan.models.nvidia_pickle import (
    ForeignNetworkError,
    UnsafePickleError,
    UnsupportedNetworkError,
    read_nvidia_pickle,
)
from tests.compat import nvidia_net
from tests.compat._nvidia_pickle_writer import nvidia_pickle_bytes

CONFIGS = {
    "uncond16": dict(
        G=dict(
            z_dim=32,
            c_dim=0,
            w_dim=24,
            img_resolution=16,
            img_channels=3,
            mapping_kwargs=dict(num_layers=2),
            synthesis_kwargs=dict(channel_base=256, channel_max=32, conv_clamp=256),
        ),
        D=dict(
            c_dim=0,
            img_resolution=16,
            img_channels=3,
            channel_base=256,
            channel_max=32,
            conv_clamp=256,
            epilogue_kwargs=dict(mbstd_group_size=2, mbstd_num_channels=1),
        ),
    ),
    "cond32": dict(
        G=dict(
            z_dim=16,
            c_dim=5,
            w_dim=16,
            img_resolution=32,
            img_channels=1,
            mapping_kwargs=dict(num_layers=3),
            synthesis_kwargs=dict(channel_base=128, channel_max=16, conv_clamp=None),
        ),
        D=dict(
            c_dim=5,
            img_resolution=32,
            img_channels=1,
            channel_base=128,
            channel_max=16,
            cmap_dim=8,
            mapping_kwargs=dict(num_layers=2),
            epilogue_kwargs=dict(mbstd_group_size=4, mbstd_num_channels=2),
        ),
    ),
}


def _randomize(net: torch.nn.Module, gen: torch.Generator) -> torch.nn.Module:
    """Fresh N(0, 1)-ish values in every parameter and buffer but the FIR filters."""
    with torch.no_grad():
        for name, t in [*net.named_parameters(), *net.named_buffers()]:
            if not name.endswith("resample_filter"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.5 + 0.1)
    return net.eval()


def _networks(config: str, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    cfg = CONFIGS[config]
    G = _randomize(nvidia_net.Generator(**cfg["G"]), gen)
    G_ema = _randomize(nvidia_net.Generator(**cfg["G"]), gen)
    D = _randomize(nvidia_net.Discriminator(**cfg["D"]), gen)
    return {"G": G, "D": D, "G_ema": G_ema}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def _write(tmp_path, networks, name="network-snapshot.pkl", **kwargs):
    path = tmp_path / name
    path.write_bytes(nvidia_pickle_bytes(networks, **kwargs))
    return path


@pytest.mark.parametrize("config", list(CONFIGS))
def test_loaded_networks_match_the_originals(tmp_path, config):
    nets = _networks(config)
    path = _write(tmp_path, nets, init_kwargs={"G": CONFIGS[config]["G"]})
    loaded = load_nvidia_pickle(path)
    assert set(loaded) == {"G", "G_ema", "D"}
    assert isinstance(loaded["G_ema"], StyleGAN2Generator)
    assert isinstance(loaded["D"], StyleGAN2Discriminator)
    G0, G1 = nets["G_ema"], loaded["G_ema"]
    gen = torch.Generator().manual_seed(1)
    n = 4
    z = torch.randn(n, G0.z_dim, generator=gen)
    c = None
    if G0.c_dim:
        c = torch.nn.functional.one_hot(torch.randint(G0.c_dim, (n,), generator=gen), G0.c_dim)
        c = c.float()
    with torch.no_grad(), nvidia_net.use_impl("ref"):
        for psi, cutoff in ((1.0, None), (0.6, 3)):
            want = G0(z, c, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const")
            got = G1(z, c, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const")
            assert got.shape == want.shape
            assert _rel(got, want) <= 1e-4, (psi, cutoff, _rel(got, want))
        # The truncation moved the images (w_avg was carried over and used).
        assert _rel(got, G1(z, c, noise_mode="const")) > 1e-3
        # G (not the EMA) is loaded too, with its own weights; without noise it differs.
        want = nets["G"](z, c, noise_mode="const")
        assert _rel(loaded["G"](z, c, noise_mode="const"), want) <= 1e-4
        assert _rel(loaded["G"](z, c, noise_mode="none"), want) > 1e-3
        img = torch.randn(n, G0.img_channels, G0.img_resolution, G0.img_resolution, generator=gen)
        want_logits = nets["D"](img, c)
        got_logits = loaded["D"](img, c)
    assert got_logits.shape == want_logits.shape == (n, 1)
    assert _rel(got_logits, want_logits) <= 1e-4


@pytest.mark.parametrize("config", list(CONFIGS))
def test_every_tensor_is_mapped(tmp_path, config):
    nets = _networks(config, seed=3)
    loaded = load_nvidia_pickle(_write(tmp_path, nets))
    for key, net in nets.items():
        source = {k: v for k, v in net.state_dict().items() if not k.endswith("resample_filter")}
        target = loaded[key].state_dict()
        if key == "D" and net.c_dim:
            # NVIDIA's label mapping has no w_avg; fastgan's (never used) is zero.
            assert not target.pop("mapping.w_avg").any()
        assert sum(t.numel() for t in source.values()) == sum(t.numel() for t in target.values())
        assert len(source) == len(target)
        # Every value of the file appears in the loaded model (flipped for the up=2 convs).
        values = sorted(torch.cat([t.flatten() for t in source.values()]).tolist())
        loaded_values = sorted(torch.cat([t.flatten() for t in target.values()]).tolist())
        assert values == loaded_values


def test_upsampling_weights_are_flipped(tmp_path):
    nets = _networks("uncond16", seed=5)
    loaded = load_nvidia_pickle(_write(tmp_path, nets))
    w_nvidia = nets["G_ema"].synthesis.b8.conv0.weight
    w_fastgan = loaded["G_ema"].synthesis_network.blocks[1].conv0.conv.weight
    assert torch.equal(w_fastgan, w_nvidia.flip([2, 3]))
    assert torch.equal(
        loaded["G_ema"].synthesis_network.blocks[1].conv1.conv.weight,
        nets["G_ema"].synthesis.b8.conv1.weight,
    )


def test_reads_numpy_values_and_the_records(tmp_path):
    nets = _networks("uncond16")
    extra = {"np_scalar": np.float32(1.25), "np_array": np.arange(6, dtype=np.int64).reshape(2, 3)}
    data = read_nvidia_pickle(_write(tmp_path, nets, extra=extra))
    assert data["np_scalar"] == 1.25
    assert torch.equal(data["np_array"].tensor, torch.arange(6).reshape(2, 3))
    G = data["G_ema"]
    assert G.class_name == "Generator" and "class SynthesisLayer" in G.module_src
    assert data["training_set_kwargs"]["path"] == "data.zip"
    assert isinstance(G.attr("synthesis").__class__, type)


class _Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _evil_payloads(marker: str):
    return {
        "os.system": _Evil(os.system, f"touch {marker}"),
        "builtins.eval": _Evil(builtins.eval, f"open({marker!r}, 'w').close()"),
        "builtins.exec": _Evil(builtins.exec, f"open({marker!r}, 'w').close()"),
        "subprocess.Popen": _Evil(subprocess.Popen, ["touch", marker]),
    }


@pytest.mark.parametrize(
    "payload", ["os.system", "builtins.eval", "builtins.exec", "subprocess.Popen"]
)
def test_malicious_pickles_are_refused_before_running(tmp_path, payload):
    marker = str(tmp_path / f"pwned-{payload}")
    evil = _evil_payloads(marker)[payload]
    # Alone, and hidden inside an otherwise valid network pickle.
    bare = tmp_path / "bare.pkl"
    bare.write_bytes(pickle.dumps(evil, protocol=4))
    nested = _write(tmp_path, _networks("uncond16"), extra={"metadata": [1, {"x": evil}]})
    for path in (bare, nested):
        with pytest.raises(UnsafePickleError, match="refused to load") as info:
            load_nvidia_pickle(path)
        assert isinstance(info.value, ValueError) and isinstance(info.value, pickle.UnpicklingError)
        assert not os.path.exists(marker)


def test_truncated_and_foreign_files_are_refused(tmp_path):
    raw = nvidia_pickle_bytes(_networks("uncond16"))
    for cut in (len(raw) // 2, len(raw) - 3, 20):
        path = tmp_path / f"cut{cut}.pkl"
        path.write_bytes(raw[:cut])
        with pytest.raises(ForeignNetworkError, match="truncated or corrupt"):
            load_nvidia_pickle(path)
    text = tmp_path / "notes.pkl"
    text.write_text("not a pickle at all\n")
    with pytest.raises(ForeignNetworkError, match="not an NVIDIA network pickle"):
        load_nvidia_pickle(text)
    with pytest.raises(ForeignNetworkError, match="no such file"):
        load_nvidia_pickle(tmp_path / "missing.pkl")
    torch_file = tmp_path / "state.pt"
    torch.save({"a": torch.ones(1)}, torch_file)
    with pytest.raises(ForeignNetworkError, match="not an NVIDIA network pickle"):
        load_nvidia_pickle(torch_file)
    listed = tmp_path / "list.pkl"
    listed.write_bytes(pickle.dumps([1, 2], protocol=4))
    with pytest.raises(ForeignNetworkError, match="expected a pickled dict"):
        load_nvidia_pickle(listed)


def test_unsupported_architectures_are_named(tmp_path):
    cfg = CONFIGS["uncond16"]
    torch.manual_seed(0)
    for arch in ("resnet", "orig"):
        G = nvidia_net.Generator(
            **{
                **cfg["G"],
                "synthesis_kwargs": {**cfg["G"]["synthesis_kwargs"], "architecture": arch},
            }
        )
        with pytest.raises(UnsupportedNetworkError, match=f"architecture '{arch}'.*'skip'"):
            load_nvidia_pickle(_write(tmp_path, {"G_ema": G.eval()}))
    for arch in ("skip", "orig"):
        D = nvidia_net.Discriminator(**{**cfg["D"], "architecture": arch})
        with pytest.raises(UnsupportedNetworkError, match=f"architecture '{arch}'.*'resnet'"):
            load_nvidia_pickle(_write(tmp_path, {"D": D.eval()}))


def test_a_stylegan2_generator_with_an_input_layer_is_refused(tmp_path):
    """A SynthesisNetwork with an 'input' module is StyleGAN3's (loaded by the StyleGAN3 path,
    tests/compat/test_loaders_nvidia_sg3.py); a StyleGAN2 one grafted with it is refused."""
    torch.manual_seed(0)
    G = nvidia_net.Generator(**CONFIGS["uncond16"]["G"])
    G.synthesis.input = nvidia_net.FullyConnectedLayer(4, 4)
    with pytest.raises(UnsupportedNetworkError, match=r"StyleGAN3"):
        load_nvidia_pickle(
            _write(tmp_path, {"G_ema": G.eval()}, init_kwargs={"G_ema": CONFIGS["uncond16"]["G"]})
        )


def test_a_pickle_without_networks_is_refused(tmp_path):
    path = tmp_path / "empty.pkl"
    path.write_bytes(pickle.dumps({"augment_pipe": None}, protocol=4))
    with pytest.raises(ForeignNetworkError, match="expected a dict with G, G_ema or D"):
        load_nvidia_pickle(path)
