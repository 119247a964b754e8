"""`fastgan metrics` end to end on tiny inputs: table and JSON, and clear errors (exit status 2)."""

import json

import numpy as np
import torch

from fastgan.cli import main
from fastgan.data import load_digits


def write_fake(path, count=120):
    images, labels = load_digits(16)
    uint8 = ((images[-count:] + 1) * 127.5).round().to(torch.uint8)
    np.savez_compressed(path, images=uint8.numpy(), labels=labels[-count:].numpy())


def test_digits_metrics_table_and_json(tmp_path, capsys):
    write_fake(tmp_path / "fake.npz")
    out = tmp_path / "metrics.json"
    args = ["metrics", "--real", "digits", "--fake", str(tmp_path / "fake.npz")]
    args += ["--extractor", "digits", "--metrics", "fid,kid,is,pr,acc,modes", "--device", "cpu"]
    args += ["--kid-subset-size", "50", "--kid-subsets", "10", "--is-splits", "4", "--batch", "500"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--json", str(out)]
    assert main(args) == 0
    captured = capsys.readouterr()
    for label in ("FID", "KID", "Inception Score", "precision", "recall", "class accuracy"):
        assert label in captured.out
    assert "120 fake images" in captured.out and "1797 real" in captured.out
    assert "fake images (digits)" in captured.err and "120/120" in captured.err  # progress
    document = json.loads(out.read_text())
    metrics = document["metrics"]
    assert set(metrics) == {
        "fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "accuracy",
        "modes_covered", "class_entropy", "class_histogram",
    }  # fmt: skip
    assert metrics["accuracy"] > 0.97 and metrics["modes_covered"] == 10
    assert 0 <= metrics["fid"] < 20 and 0 < metrics["precision"] <= 1
    assert document["num_fake"] == 120 and document["num_real"] == 1797
    assert document["extractor"] == "digits" and document["environment"]["torch"]
    # quiet: no progress; the cached real statistics give the same numbers
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert json.loads(out.read_text())["metrics"] == metrics


def test_errors_exit_2_with_a_message(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FASTGAN_INCEPTION_WEIGHTS", raising=False)
    write_fake(tmp_path / "fake.npz", count=20)
    fake = ["--fake", str(tmp_path / "fake.npz"), "--device", "cpu", "--quiet"]
    cases = [
        (["--extractor", "inception"], "pt_inception-2015-12-05-6726825d.pth"),
        (["--extractor", "digits", "--metrics", "fid,psnr"], "got psnr"),
        (["--extractor", "digits", "--real", str(tmp_path / "none")], "does not exist"),
    ]
    for extra, expected in cases:
        assert main(["metrics", *fake, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("fastgan metrics: ") and expected in err, err
    assert main(["metrics", "--ckpt", str(tmp_path / "G.pt"), "--extractor", "digits"]) == 2
    assert "--ckpt" in capsys.readouterr().err
