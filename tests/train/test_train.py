"""The trainer end to end on the CPU: a short run's outputs, exact resume, signals, corrupt and
mismatched checkpoints, non-finite losses, torchrun with two processes, and the CLI."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fastgan.train import Trainer, TrainingError, diff_augment, make_config
from fastgan.utils.checkpoint import CheckpointError, load_checkpoint
from fastgan.utils.tensorboard import read_events
from tests.train.torchrun import torchrun_train

# A small, fast network: 16x16 digits, 16 channels, a regularisation step every second iteration,
# and the whole StyleGAN2 schedule (the tiny preset turns path length and style mixing off).
SMALL = dict(
    pl_weight=2.0,
    style_mixing=0.9,
    channel_base=256,
    channel_max=16,
    batch=16,
    tick=0.032,
    snap=0.064,
    pl_interval=2,
    r1_interval=2,
)


def run(outdir, **overrides):
    config = make_config("tiny", outdir=str(outdir), **{**SMALL, **overrides})
    return Trainer(config, progress=False).run()


def test_short_run_writes_every_output(tmp_path):
    summary = run(tmp_path, kimg=0.128, metrics=["fid", "acc", "modes"], metrics_num=64)
    out = Path(summary["run_dir"])
    config = json.loads((out / "config.json").read_text())
    assert config["data"] == "digits" and config["cond"] is True
    ticks = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(ticks) == 4 and ticks[-1]["kimg"] == pytest.approx(0.128)
    for tick in ticks:
        for key in ("loss_G", "loss_D", "sec_per_kimg", "img_per_sec"):
            assert torch.isfinite(torch.tensor(tick[key])), (key, tick)
    assert any("penalty_r1" in t for t in ticks) and any("penalty_pl" in t for t in ticks)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["kimg"] for m in metrics] == [0.0, 0.064, 0.128]
    assert all(torch.isfinite(torch.tensor(m["fid"])) and 0 <= m["accuracy"] <= 1 for m in metrics)
    grids = sorted(p.name for p in out.glob("samples-*.png"))
    assert grids == ["samples-000000064.png", "samples-000000128.png", "samples-init.png"]
    from PIL import Image

    with Image.open(out / "samples-init.png") as grid:  # 10 rows (classes) of 8 at 16 px
        assert grid.size[0] > 8 * 16 and grid.size[1] > 10 * 16
    events = read_events(next(out.glob("events.out.tfevents.*")))
    scalars = {tag for e in events for tag in e.get("scalars", {})}
    assert {"loss/loss_G", "loss/loss_D", "metrics/fid"} <= scalars
    assert any(e.get("images") for e in events)
    snapshots = sorted(p.name for p in out.glob("snapshot-*.pt"))
    assert snapshots == ["snapshot-000000064.pt", "snapshot-000000128.pt"]
    snap = load_checkpoint(out / snapshots[-1])
    assert snap["cur_nimg"] == 128 and set(snap) >= {"G", "D", "G_ema", "opt_G", "opt_D", "rng"}


def test_resume_matches_an_uninterrupted_run(tmp_path):
    whole = run(tmp_path / "a", kimg=0.128, metrics=["fid"], metrics_num=32)
    first = run(tmp_path / "b", kimg=0.064, metrics=["fid"], metrics_num=32)
    snapshot = Path(first["run_dir"]) / "snapshot-000000064.pt"
    config = make_config(
        "tiny", outdir=str(tmp_path / "b"), **SMALL, kimg=0.128, metrics=["fid"], metrics_num=32
    )
    resumed = Trainer(config, run_dir=first["run_dir"], resume=snapshot, progress=False).run()
    a = load_checkpoint(Path(whole["run_dir"]) / "snapshot-000000128.pt")
    b = load_checkpoint(Path(resumed["run_dir"]) / "snapshot-000000128.pt")
    for key in ("G", "D", "G_ema"):
        for name, tensor in a[key].items():
            assert (tensor.float() - b[key][name].float()).abs().max() <= 1e-6, (key, name)
    assert a["pl_mean"] == pytest.approx(b["pl_mean"].item(), abs=1e-6)


def test_corrupt_or_mismatched_checkpoint_is_a_clear_error_and_overwrites_nothing(tmp_path):
    first = run(tmp_path, kimg=0.064, metrics=[])
    out = Path(first["run_dir"])
    snapshot = out / "snapshot-000000064.pt"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = out / "snapshot-000000999.pt"
    bad.write_bytes(snapshot.read_bytes()[:1000])  # truncated
    config = make_config("tiny", outdir=str(tmp_path), **SMALL, kimg=0.128, metrics=[])
    with pytest.raises(CheckpointError, match=r"snapshot-000000999\.pt"):
        Trainer(config, run_dir=out, resume=bad)
    bad.unlink()
    other = make_config("tiny", outdir=str(tmp_path), **{**SMALL, "channel_max": 8}, metrics=[])
    with pytest.raises(CheckpointError, match="channel_max"):
        Trainer(other, run_dir=out, resume=snapshot)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before


def test_non_finite_losses_are_skipped_then_stop_training(tmp_path, monkeypatch):
    import fastgan.train.loop as loop

    calls = {"n": 0}
    real_loss = loop.discriminator_loss

    def sometimes_nan(*args, **kwargs):
        calls["n"] += 1
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] in (2, 3) else loss

    monkeypatch.setattr(loop, "discriminator_loss", sometimes_nan)
    summary = run(tmp_path / "a", kimg=0.064, metrics=[])
    assert summary["skipped_steps"] == 2
    snap = load_checkpoint(Path(summary["run_dir"]) / "snapshot-000000064.pt")
    assert all(torch.isfinite(t).all() for t in snap["D"].values() if t.is_floating_point())

    monkeypatch.setattr(
        loop, "discriminator_loss", lambda *a, **k: real_loss(*a, **k) * float("nan")
    )
    with pytest.raises(TrainingError, match="10 non-finite losses in a row"):
        run(tmp_path / "b", kimg=1.0, snap=1.0, metrics=[])  # 10 iterations: before a snapshot
    assert not list((tmp_path / "b").glob("*/snapshot-*.pt"))


def test_non_finite_weights_are_never_snapshotted(tmp_path):
    config = make_config("tiny", outdir=str(tmp_path), **SMALL, kimg=0.016, metrics=[])
    trainer = Trainer(config, run_dir=tmp_path / "run", progress=False)
    trainer.run_dir.mkdir()
    assert trainer.snapshot() is not None  # finite weights are written
    with torch.no_grad():
        next(trainer.D.parameters()).view(-1)[0] = float("inf")
    before = sorted(p.name for p in trainer.run_dir.iterdir())
    assert trainer.snapshot() is None
    assert sorted(p.name for p in trainer.run_dir.iterdir()) == before


def test_diff_augment_is_differentiable_and_changes_images():
    x = torch.rand(6, 3, 16, 16, requires_grad=True)
    y = diff_augment(x, "color,translation,cutout")
    assert y.shape == x.shape and not torch.equal(y, x)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    with pytest.raises(ValueError, match="policy names"):
        diff_augment(x, "rotate")


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(res=24), "--res a power of two"),
        (dict(loss="lsgan"), "--loss in"),
        (dict(diffaugment="rotate"), "--diffaugment"),
        (dict(batch=0), "--batch >= 1"),
    ],
)
def test_bad_settings_are_clear_errors(overrides, match):
    with pytest.raises(ValueError, match=match):
        make_config("tiny", **overrides)


def fastgan_cmd(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "fastgan", *args],
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def test_cli_train_then_generate(tmp_path):
    result = fastgan_cmd(
        "train",
        "--outdir",
        str(tmp_path),
        "--kimg",
        "0.064",
        "--snap",
        "0.064",
        "--tick",
        "0.032",
        "--metrics",
        "none",
        "--batch",
        "16",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sample grids" in result.stdout and "snapshot" in result.stdout
    snapshot = next(tmp_path.glob("*/snapshot-*.pt"))
    grid = tmp_path / "grid.png"
    result = fastgan_cmd(
        "generate",
        "--ckpt",
        str(snapshot),
        "--seeds",
        "0-7",
        "--class",
        "all",
        "--out",
        str(grid),
        "--per-seed",
        str(tmp_path / "each"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert grid.exists() and len(list((tmp_path / "each").glob("*.png"))) == 80
    report = tmp_path / "metrics.json"
    result = fastgan_cmd(
        "metrics", "--ckpt", str(snapshot), "--num", "100", "--metrics", "fid,acc,modes",
        "--extractor", "digits", "--real", "digits", "--quiet", "--json", str(report),
        "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads(report.read_text())["metrics"]
    assert values["fid"] > 0 and 0 <= values["accuracy"] <= 1 and values["modes_covered"] >= 1
    assert "class accuracy" in result.stdout
    result = fastgan_cmd("generate", "--ckpt", str(snapshot), "--seeds", "0-3")
    assert result.returncode == 1 and "--class K" in result.stderr
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    result = fastgan_cmd("generate", "--ckpt", str(tmp_path / "junk.pt"))
    assert result.returncode == 1 and "junk.pt" in result.stderr


@pytest.mark.slow
def test_sigterm_saves_a_snapshot_and_exits_cleanly(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fastgan",
            "train",
            "--outdir",
            str(tmp_path),
            "--kimg",
            "100",
            "--metrics",
            "none",
            "--batch",
            "16",
            "--tick",
            "0.032",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while not list(tmp_path.glob("*/log.jsonl")) and time.time() < deadline:
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    assert "SIGTERM received" in err and "--resume latest" in out
    snapshots = list(tmp_path.glob("*/snapshot-*.pt"))
    assert len(snapshots) == 1 and load_checkpoint(snapshots[0])["cur_nimg"] > 0


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    result = torchrun_train(
        29561,
        *("--outdir", str(tmp_path), "--kimg", "0.064", "--snap", "0.032", "--tick", "0.032"),
        *("--metrics", "fid", "--metrics-num", "64", "--batch", "16", "--quiet"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = next(tmp_path.glob("*-digits-tiny-cond"))
    # Rank 0 alone writes: one log line per tick, one metrics record per evaluation.
    assert len((out / "log.jsonl").read_text().splitlines()) == 2
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    # Snapshots are taken only after the processes' weights were checked to be identical.
    assert len(list(out.glob("snapshot-*.pt"))) == 2
