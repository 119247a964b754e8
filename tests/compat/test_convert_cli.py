"""`fastgan convert` and `--ckpt` with NVIDIA pickles and rosinality checkpoints: converted
snapshots load with weights_only=True and give the loaders' images; generate / metrics take the
original files directly; failures leave an existing --out untouched."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from fastgan.cli import main
from fastgan.models import load_nvidia_pickle, load_rosinality_checkpoint
from fastgan.train.generate import generate_fn_from_checkpoint, load_generator
from tests.compat._nvidia_pickle_writer import nvidia_pickle_bytes
from tests.compat.test_loaders_nvidia import _networks
from tests.compat.test_loaders_rosinality import write_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("convert")
    (d / "uncond.pkl").write_bytes(nvidia_pickle_bytes(_networks("uncond16")))
    (d / "cond.pkl").write_bytes(nvidia_pickle_bytes(_networks("cond32")))
    write_checkpoint(d / "rosinality.pt", torch.Generator().manual_seed(2), "16px")
    return d


def _images(G, z, c=None):
    with torch.no_grad():
        return G(z, c, truncation_psi=0.7, noise_mode="const")


@pytest.mark.parametrize(
    "name, loader",
    [("uncond.pkl", load_nvidia_pickle), ("rosinality.pt", load_rosinality_checkpoint)],
)
def test_convert_writes_a_fastgan_snapshot(files, tmp_path, capsys, name, loader):
    out = tmp_path / "model.pt"
    assert main(["convert", str(files / name), "--out", str(out), "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    raw = torch.load(out, weights_only=True)
    assert raw["format"] == "fastgan-checkpoint-v1"
    assert {"config", "G_ema", "G", "D", "img_channels", "c_dim"} <= set(raw)
    G, snapshot = load_generator(out, "cpu")
    assert snapshot["converted_from"]["kind"] == (
        "nvidia-pickle" if name.endswith("pkl") else "rosinality"
    )
    want = loader(files / name)["G_ema"]
    z = torch.randn(3, G.z_dim)
    assert torch.allclose(_images(G, z), _images(want, z), rtol=0, atol=1e-5)
    # --ckpt takes the original file too, with the same images.
    G2, _ = load_generator(files / name, "cpu")
    assert torch.equal(_images(G2, z), _images(G, z))


def test_generate_and_metrics_take_a_pickle(files, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    assert main(["generate", "--ckpt", str(files / "uncond.pkl"), "--seeds", "0-3",
                 "--out", str(grid), "--device", "cpu"]) == 0  # fmt: skip
    assert grid.stat().st_size > 0
    # Conditional: --class is asked for, as for fastgan's own snapshots.
    cond = str(files / "cond.pkl")
    assert main(["generate", "--ckpt", cond, "--seeds", "0-1", "--out", str(grid)]) == 1
    assert "--class" in capsys.readouterr().err
    assert main(["generate", "--ckpt", cond, "--seeds", "0-1", "--class", "4",
                 "--out", str(grid), "--device", "cpu"]) == 0  # fmt: skip
    # What `fastgan metrics --ckpt` draws from.
    generate, num_classes = generate_fn_from_checkpoint(cond, "cpu")
    assert num_classes == 5
    images = generate(4, torch.tensor([0, 1, 2, 3]))
    assert images.shape == (4, 1, 32, 32) and torch.isfinite(images).all()


def test_failures_leave_an_existing_output_untouched(files, tmp_path, capsys):
    out = tmp_path / "model.pt"
    out.write_bytes(b"the user's earlier file")
    raw = (files / "uncond.pkl").read_bytes()
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(raw[: len(raw) // 2])
    assert main(["convert", str(truncated), "--out", str(out), "--quiet"]) == 1
    assert "truncated or corrupt" in capsys.readouterr().err
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"G_ema": Evil()}, protocol=4))
    assert main(["convert", str(evil), "--out", str(out), "--quiet"]) == 1
    assert "refused to load" in capsys.readouterr().err
    assert not marker.exists()
    not_a_network = tmp_path / "weights.pt"
    torch.save({"model": {"w": torch.ones(2)}}, not_a_network)
    assert main(["convert", str(not_a_network), "--out", str(out), "--quiet"]) == 1
    assert "not a fastgan snapshot, NVIDIA StyleGAN2-ADA pickle or rosinality" in (
        capsys.readouterr().err
    )
    assert out.read_bytes() == b"the user's earlier file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "evil.pkl",
        "model.pt",
        "truncated.pkl",
        "weights.pt",
    ]


def test_bad_arguments(files, tmp_path, capsys):
    src = str(files / "uncond.pkl")
    assert main(["convert", src, "--out", str(tmp_path / "m.safetensors")]) == 1
    assert "use --out NAME.pt" in capsys.readouterr().err
    assert main(["convert", src, "--out", str(tmp_path / "missing" / "m.pt")]) == 1
    assert "does not exist" in capsys.readouterr().err
    converted = tmp_path / "m.pt"
    assert main(["convert", src, "--out", str(converted), "--quiet"]) == 0
    assert main(["convert", str(converted), "--out", str(tmp_path / "n.pt"), "--quiet"]) == 1
    assert "already a fastgan snapshot" in capsys.readouterr().err
    assert main(["generate", "--ckpt", str(tmp_path / "none.pkl"), "--out", ""]) == 1
    assert "no such file" in capsys.readouterr().err
