"""`fastgan train --model progan|cyclegan`: exact resume for each model after a few steps, the
CLI (train, generate, translate), the CycleGAN sample grid, torchrun with two processes, bad
options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fastgan.cli import main
from fastgan.train import Trainer, make_config
from fastgan.train.cyclegan_loop import CycleGANTrainer, lr_factor
from fastgan.utils.checkpoint import load_checkpoint
from tests.train.torchrun import torchrun_train

PROGAN = dict(
    arch="progan",
    data="digits",
    res=8,
    batch=8,
    channel_base=64,
    channel_max=8,
    z_dim=8,
    progan_kimg=0.008,
    tick=0.016,
)
CYCLEGAN = dict(arch="cyclegan", res=8, batch=4, width=2, gen_blocks=1, pool_size=3, tick=0.008)


def _config(out, kimg, snap, **settings):
    return make_config("tiny", outdir=str(out), kimg=kimg, snap=snap, **settings)


@pytest.mark.parametrize(
    "cls,settings,half,whole",
    [(Trainer, PROGAN, 24, 48), (CycleGANTrainer, CYCLEGAN, 4, 8)],
    ids=["progan", "cyclegan"],
)
def test_resume_matches_an_uninterrupted_run(tmp_path, cls, settings, half, whole):
    """A run of `whole` images against one stopped (snapshot) after `half` and resumed; the
    learning-rate schedule of CycleGAN depends on the total, so both runs are set to `whole`."""
    kw = dict(metrics=[], **settings)
    a = cls(_config(tmp_path / "a", whole / 1000, whole / 1000, **kw), progress=False).run()
    first = cls(_config(tmp_path / "b", whole / 1000, whole / 1000, **kw), progress=False)
    first.run_dir = tmp_path / "b"
    first.run_dir.mkdir()
    while first.cur_nimg < half:
        first.train_step()
    snap = first.snapshot()
    config = _config(tmp_path / "b", whole / 1000, whole / 1000, **kw)
    resumed = cls(config, run_dir=first.run_dir, resume=snap, progress=False)
    assert resumed.step == first.step
    resumed.run()
    sa = load_checkpoint(Path(a["run_dir"]) / f"snapshot-{whole:09d}.pt")
    sb = load_checkpoint(first.run_dir / f"snapshot-{whole:09d}.pt")
    for key in ("G", "D", "G_ema"):
        for name, t in sa[key].items():
            assert torch.equal(t, sb[key][name]), (key, name)
    if cls is CycleGANTrainer:
        assert sa["pool_a"]["images"].shape[0] == 3
        assert torch.equal(sa["pool_a"]["images"], sb["pool_a"]["images"])
        assert torch.equal(sa["pool_b"]["images"], sb["pool_b"]["images"])
    else:
        # 48 images with 8-image phases: past the last fade-in, at the full resolution
        assert int(sa["G"]["level"]) == 1 and float(sa["G"]["alpha"]) == 1.0


def test_cyclegan_translate_metric(tmp_path):
    config = _config(tmp_path, 0.004, 1, **{**CYCLEGAN, "metrics": ["translate"]})
    results = CycleGANTrainer(config, progress=False).evaluate()
    assert set(results) == {"cycle_error_a", "cycle_error_b", "acc_a2b", "acc_b2a"}
    assert all(0 <= v <= 2 for v in results.values())


def test_progan_grows_during_training(tmp_path):
    config = _config(tmp_path, 0.04, 1, metrics=[], **PROGAN)
    t = Trainer(config, progress=False)
    seen = []
    for _ in range(5):
        t.train_step()
        seen.append(t.G.growth())
    # phases of 8 images, batch 8: level 0, then the fade-in of level 1 from the second step
    assert seen[0] == (0, 1.0) and seen[1] == (1, 0.0) and seen[3] == (1, 1.0)
    assert t.G_ema.growth() == t.G.growth()


def test_cyclegan_lr_decay_and_grid(tmp_path):
    assert lr_factor(0, 100) == 1 and lr_factor(49, 100) == 1
    assert lr_factor(75, 100) == pytest.approx(0.5) and lr_factor(100, 100) == 0
    config = _config(tmp_path, 0.008, 1, metrics=[], **CYCLEGAN)
    t = CycleGANTrainer(config, progress=False)
    grid = t.sample_grid()
    assert grid.shape == (48, 3, 8, 8)
    torch.testing.assert_close(grid[:8], t.grid_z.clamp(-1, 1))
    torch.testing.assert_close(grid[8:16], t.G_ema(t.grid_z, "a2b"))
    stats = t.train_step()
    assert {"loss_cycle", "loss_identity", "loss_D_a", "loss_D_b"} <= set(stats)


def test_cli_progan_train_and_generate(tmp_path, capsys):
    args = [
        "train",
        "--model",
        "progan",
        "--res",
        "8",
        "--batch",
        "8",
        "--kimg",
        "0.032",
        "--snap",
        "0.032",
        "--metrics",
        "none",
        "--outdir",
        str(tmp_path),
        "--quiet",
    ]
    assert main(args) == 0
    (snap,) = tmp_path.glob("*/snapshot-*.pt")
    out = tmp_path / "grid.png"
    assert (
        main(
            ["generate", "--ckpt", str(snap), "--seeds", "0-3", "--class", "all", "--out", str(out)]
        )
        == 0
    )
    assert Image.open(out).size[0] > 8


def test_cli_cyclegan_train_and_translate(tmp_path, capsys):
    for domain, value in (("a", 40), ("b", 200)):
        d = tmp_path / domain
        d.mkdir()
        for i in range(8):
            rgb = np.random.default_rng(i).integers(0, value, (12, 12, 3), dtype=np.uint8)
            Image.fromarray(rgb).save(d / f"{i}.png")
    args = [
        "train",
        "--model",
        "cyclegan",
        "--data-a",
        str(tmp_path / "a"),
        "--data-b",
        str(tmp_path / "b"),
        "--res",
        "8",
        "--batch",
        "4",
        "--kimg",
        "0.008",
        "--snap",
        "0.008",
        "--outdir",
        str(tmp_path / "runs"),
        "--quiet",
        "--width",
        "2",
        "--gen-blocks",
        "1",
        "--resample",
        "fir",
        "--pool-size",
        "2",
    ]
    assert main(args) == 0
    (config,) = (tmp_path / "runs").glob("*/config.json")
    saved = json.loads(config.read_text())
    assert (saved["width"], saved["gen_blocks"], saved["resample"], saved["pool_size"]) == (
        2,
        1,
        "fir",
        2,
    )
    (snap,) = (tmp_path / "runs").glob("*/snapshot-*.pt")
    grids = list((tmp_path / "runs").glob("*/samples-000000008.png"))
    assert grids and Image.open(grids[0]).size[1] > 6 * 8  # six rows
    out = tmp_path / "translated"
    assert (
        main(
            [
                "translate",
                "--ckpt",
                str(snap),
                "--input",
                str(tmp_path / "b"),
                "--out",
                str(out),
                "--direction",
                "b2a",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [f"{i}.png" for i in range(8)]
    assert Image.open(out / "0.png").size == (8, 8)
    # a file that is not an image, and an empty folder
    assert (
        main(
            ["translate", "--ckpt", str(snap), "--input", str(tmp_path / "none"), "--out", str(out)]
        )
        == 1
    )
    assert "--input" in capsys.readouterr().err


def test_bad_options_are_clear_errors(tmp_path, capsys):
    args = ["train", "--model", "cyclegan", "--data", "digits", "--outdir", str(tmp_path)]
    assert main(args) == 1
    assert "digits-colour" in capsys.readouterr().err
    args = ["train", "--model", "cyclegan", "--data-a", str(tmp_path), "--outdir", str(tmp_path)]
    assert main(args) == 1
    assert "--data-b" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(
    "model,extra",
    [
        ("progan", ["--res", "8", "--progan-kimg", "0.016", "--metrics", "fid"]),
        (
            "cyclegan",
            ["--data", "digits-colour", "--res", "8", "--width", "2", "--gen-blocks", "1"],
        ),
    ],
)
def test_torchrun_two_processes(tmp_path, model, extra):
    """Two processes of `torchrun` train either model: rank 0 alone writes the logs, metrics
    and snapshots, which the trainer takes only after checking both ranks hold the same
    weights; ProGAN's growth state travels in the snapshot."""
    result = torchrun_train(
        {"progan": 29571, "cyclegan": 29572}[model],
        *("--model", model, "--outdir", str(tmp_path), "--batch", "8", "--kimg", "0.064"),
        *("--snap", "0.032", "--tick", "0.032", "--metrics-num", "64", "--quiet", *extra),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (out,) = tmp_path.iterdir()
    assert len((out / "log.jsonl").read_text().splitlines()) == 2
    # an evaluation at the start and at each of the two snapshots
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    snapshots = sorted(out.glob("snapshot-*.pt"))
    assert [s.name for s in snapshots] == ["snapshot-000000032.pt", "snapshot-000000064.pt"]
    last = load_checkpoint(snapshots[-1])
    assert last["cur_nimg"] == 64
    if model == "progan":
        # 16-image phases: level 0, the fade-in and stable phase of 8x8, full size by 48 images
        assert int(last["G"]["level"]) == 1 and float(last["G"]["alpha"]) == 1.0
