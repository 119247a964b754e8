"""`fastgan train --cfg stylegan3-t | stylegan3-r`: the presets build StyleGAN3's generator with
StyleGAN2's discriminator and StyleGAN3's defaults, D's input blur fades out, a few steps train
and snapshot, and `fastgan generate` reads the snapshot."""

from __future__ import annotations

import pytest
import torch

from fastgan.cli import main
from fastgan.models import StyleGAN2Discriminator, StyleGAN3Generator
from fastgan.train import Trainer, make_config
from fastgan.train.config import blur_sigma_at

SMALL = dict(
    res=16,
    batch=4,
    z_dim=8,
    w_dim=8,
    channel_base=64,
    channel_max=8,
    sg3_layers=3,
    metrics=[],
    tick=0.004,
)


@pytest.mark.parametrize("cfg", ["stylegan3-t", "stylegan3-r"])
def test_preset_builds_stylegan3_and_trains(tmp_path, cfg):
    config = make_config(cfg, outdir=str(tmp_path), kimg=0.008, snap=0.008, **SMALL)
    assert config.arch == cfg and config.pl_weight == 0 and config.style_mixing == 0
    assert config.blur_sigma > 0 and config.mapping_layers == 2
    trainer = Trainer(config, run_dir=tmp_path / "run", progress=False)
    assert isinstance(trainer.G, StyleGAN3Generator)
    assert isinstance(trainer.D, StyleGAN2Discriminator)
    radial = cfg == "stylegan3-r"
    kernels = [
        layer.conv.weight.shape[-1]
        for layer in trainer.G.modules()
        if hasattr(layer, "conv") and not getattr(layer, "is_torgb", True)
    ]
    assert len(kernels) == config.sg3_layers  # the synthesis layers before ToRGB
    assert set(kernels) == {1 if radial else 3}
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    result = trainer.run()
    after = trainer.G.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    snapshots = sorted((tmp_path / "run").glob("snapshot-*.pt"))
    assert snapshots and result["run_dir"]
    out = tmp_path / "grid.png"
    assert main(
        [
            "generate",
            "--ckpt",
            str(snapshots[-1]),
            "--seeds",
            "0-3",
            "--class",
            "1",
            "--out",
            str(out),
        ]
    ) in (0, None)
    assert out.stat().st_size > 0


def test_blur_sigma_fades_linearly_to_zero():
    config = make_config("stylegan3-t", blur_sigma=2.0, blur_fade_kimg=10.0)
    assert blur_sigma_at(config, 0) == 2.0
    assert blur_sigma_at(config, 5000) == pytest.approx(1.0)
    assert blur_sigma_at(config, 10000) == 0.0 and blur_sigma_at(config, 20000) == 0.0
    assert blur_sigma_at(make_config("tiny"), 0) == 0.0


def test_blur_of_d_input_smooths_and_keeps_size(tmp_path):
    config = make_config("stylegan3-t", outdir=str(tmp_path), **SMALL)
    trainer = Trainer(config, run_dir=tmp_path / "run", progress=False)
    x = torch.randn(2, 1, 16, 16)
    y = trainer._augment(x)
    assert y.shape == x.shape
    # a low-pass: the high-frequency energy (differences of neighbours) drops
    assert y.diff(dim=-1).square().mean() < 0.5 * x.diff(dim=-1).square().mean()
    trainer.cur_nimg = int(config.blur_fade_kimg * 1000)
    assert torch.equal(trainer._augment(x), x)


def test_bad_stylegan3_settings_are_clear_errors():
    with pytest.raises(ValueError, match="sg3-layers"):
        make_config("stylegan3-t", sg3_layers=0)
    with pytest.raises(ValueError, match="blur"):
        make_config("stylegan3-t", blur_sigma=-1.0)
