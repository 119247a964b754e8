"""End to end with the digits classifier: compute_metrics on tensors and files, the real-statistics
cache, evaluate_generator (conditional, unconditional, torch.distributed), bad input."""

import json
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fastgan.data import load_digits
from fastgan.metrics import (
    FeatureExtractor,
    compute_metrics,
    evaluate_generator,
    feature_statistics,
    load_extractor,
    load_image_set,
    parse_metrics,
)
from fastgan.metrics.cache import cache_path
from fastgan.metrics.images import TensorImages

# Large batches: few, large ops (the extraction dominates the time of these tests).
OPTIONS = dict(extractor="digits", device="cpu", progress=False, batch=512)


@pytest.fixture(scope="module")
def digits():
    return load_digits(32)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """A cache directory for the tests that do not test the cache: real features extracted once."""
    return tmp_path_factory.mktemp("cache")


def first_of_each_class(images, labels):
    return torch.stack([images[labels == c][0] for c in range(10)])


def test_real_against_itself_and_against_noise(digits, shared_cache):
    images, labels = digits
    fake = images[::3]
    results = compute_metrics(
        fake,
        "digits",
        "fid,kid,is,pr,acc,modes",
        fake_labels=labels[::3],
        cache_dir=shared_cache,
        kid_subset_size=200,
        kid_subsets=20,
        **OPTIONS,
    )
    assert results["num_fake"] == 599 and results["num_real"] == 1797
    assert results["extractor"] == "digits"
    assert 0 <= results["fid"] < 5 and abs(results["kid"]) < 0.5
    assert results["precision"] > 0.95 and results["recall"] > 0.8
    assert results["accuracy"] > 0.99 and results["modes_covered"] == 10
    assert results["is"] > 7 and results["class_entropy"] > 0.99 * np.log(10)
    assert sum(results["class_histogram"]) == 599
    noise = torch.rand(300, 1, 32, 32) * 2 - 1
    bad = compute_metrics(
        noise, "digits", "fid,kid,pr,modes", cache_dir=shared_cache, kid_subset_size=200, **OPTIONS
    )
    assert bad["fid"] > 20 * max(results["fid"], 1) and bad["kid"] > 10 * abs(results["kid"])
    assert bad["precision"] < 0.05 and bad["recall"] < 0.05
    assert bad["modes_covered"] < 10 or bad["class_entropy"] < results["class_entropy"]


def test_cache_is_written_once_reused_and_extended(digits, tmp_path, monkeypatch):
    images, _ = digits
    fake = images[:200]
    extracted = []
    original = FeatureExtractor.extract

    def counting_extract(self, batches, total, description="", progress=True):
        extracted.append(description)
        return original(self, batches, total, description, progress)

    monkeypatch.setattr(FeatureExtractor, "extract", counting_extract)
    first = compute_metrics(fake, "digits", "fid", cache_dir=tmp_path, **OPTIONS)
    entries = [f for f in os.listdir(tmp_path) if f.endswith(".pt")]
    assert len(entries) == 1 and entries[0].startswith("real-digits-")
    entry = torch.load(tmp_path / entries[0], weights_only=True)
    assert set(entry) == {"mu", "sigma", "num"} and entry["mu"].dtype == torch.float64
    assert extracted == ["fake images", "real images"]

    again = compute_metrics(fake, "digits", "fid", cache_dir=tmp_path, **OPTIONS)
    assert again == first and extracted.count("real images") == 1
    # KID needs the features: extracted once more and kept
    with_kid = compute_metrics(
        fake, "digits", "fid,kid", cache_dir=tmp_path, kid_subset_size=100, **OPTIONS
    )
    assert with_kid["fid"] == first["fid"] and extracted.count("real images") == 2
    entry = torch.load(tmp_path / entries[0], weights_only=True)
    assert entry["features"].shape == (1797, 128) and entry["features"].dtype == torch.float32
    compute_metrics(fake, "digits", "kid,pr", cache_dir=tmp_path, kid_subset_size=100, **OPTIONS)
    assert extracted.count("real images") == 2
    uncached = compute_metrics(
        fake, "digits", "fid,kid", use_cache=False, kid_subset_size=100, **OPTIONS
    )
    assert uncached["fid"] == pytest.approx(first["fid"], rel=1e-9)
    assert uncached["kid"] == pytest.approx(with_kid["kid"], rel=1e-9)
    assert not [f for f in os.listdir(tmp_path) if not f.endswith(".pt")]  # no temporary files


def test_cache_key_follows_content_and_environment(digits, tmp_path, monkeypatch):
    images, labels = digits
    extractor = load_extractor("digits", device="cpu")
    full = TensorImages(images, labels)
    changed = images.clone()
    changed[0, 0, 0, 0] = 0.5
    assert cache_path(full, extractor, str(tmp_path)) == cache_path(
        TensorImages(images.clone()), extractor, str(tmp_path)
    )
    assert cache_path(full, extractor, str(tmp_path)) != cache_path(
        TensorImages(changed), extractor, str(tmp_path)
    )
    monkeypatch.setenv("FASTGAN_CACHE", str(tmp_path / "from_env"))
    compute_metrics(images[:50], "digits", "fid", **OPTIONS)
    assert len(os.listdir(tmp_path / "from_env")) == 1


def test_unreadable_cache_entry_is_recomputed(digits, tmp_path):
    images, _ = digits
    first = compute_metrics(images[:100], "digits", "fid", cache_dir=tmp_path, **OPTIONS)
    (entry,) = os.listdir(tmp_path)
    (tmp_path / entry).write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="unreadable cache entry"):
        again = compute_metrics(images[:100], "digits", "fid", cache_dir=tmp_path, **OPTIONS)
    assert again["fid"] == pytest.approx(first["fid"], rel=1e-9)


def test_image_files_and_statistics_files(digits, tmp_path, shared_cache):
    images, labels = digits
    uint8 = ((images[:120] + 1) * 127.5).round().to(torch.uint8)
    np.savez(tmp_path / "nhwc.npz", images=uint8.permute(0, 2, 3, 1).numpy(), labels=labels[:120])
    np.savez(tmp_path / "grey.npz", uint8[:, 0].numpy())
    torch.save({"images": uint8, "labels": labels[:120]}, tmp_path / "dict.pt")
    torch.save(images[:120], tmp_path / "tensor.pt")
    sets = {name: load_image_set(tmp_path / name) for name in os.listdir(tmp_path)}
    for name, image_set in sets.items():
        assert len(image_set) == 120 and image_set.resolution == (32, 32), name
        (batch,) = list(image_set.batches(200))
        assert batch.shape == (120, 1, 32, 32), name
    assert torch.equal(sets["nhwc.npz"].labels, labels[:120]) and sets["grey.npz"].labels is None
    results = compute_metrics(
        tmp_path / "nhwc.npz", "digits", "acc,fid", cache_dir=shared_cache, **OPTIONS
    )
    assert results["accuracy"] > 0.99
    # A .npz of mu and sigma (as published statistics files) serves FID only.
    features, _ = load_extractor("digits", device="cpu").extract([images], len(images))
    mu, sigma = feature_statistics(features)
    np.savez(tmp_path / "stats.npz", mu=mu.numpy(), sigma=sigma.numpy())
    from_stats = compute_metrics(tmp_path / "nhwc.npz", tmp_path / "stats.npz", "fid", **OPTIONS)
    assert from_stats["fid"] == pytest.approx(results["fid"], rel=1e-6)
    assert "num_real" not in from_stats
    with pytest.raises(ValueError, match="holds only mu and sigma"):
        compute_metrics(tmp_path / "nhwc.npz", tmp_path / "stats.npz", "fid,kid", **OPTIONS)


def test_folder_of_images(digits, tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    images, _ = digits
    uint8 = ((images[:30] + 1) * 127.5).round().to(torch.uint8)
    (tmp_path / "sub").mkdir()
    for i, image in enumerate(uint8):
        folder = tmp_path / "sub" if i % 2 else tmp_path
        image_module.fromarray(image[0].numpy(), mode="L").save(folder / f"{i:03d}.png")
    folder_set = load_image_set(tmp_path)
    assert len(folder_set) == 30 and folder_set.resolution == (32, 32)
    batches = list(folder_set.batches(8))
    assert [b.shape[0] for b in batches] == [8, 8, 8, 6] and batches[0].shape[1] == 3
    # sorted by relative path: 000.png, 002.png, ..., then sub/001.png, ...
    assert torch.equal(batches[0][1, 0], uint8[2, 0])
    assert folder_set.content_sha256() == load_image_set(tmp_path).content_sha256()


def class_generator(digits):
    images, labels = digits
    firsts = first_of_each_class(images, labels)

    def generate_fn(batch_size, labels):
        assert labels is not None and labels.shape == (batch_size,)
        return firsts[labels.cpu()]

    return generate_fn


def test_evaluate_generator_conditional_and_unconditional(digits, shared_cache):
    images, _ = digits
    results = evaluate_generator(
        class_generator(digits),
        95,
        "digits",
        "acc,modes,is",
        "digits",
        batch=16,
        class_labels=10,
        device="cpu",
        progress=False,
        is_splits=5,
    )
    assert results["accuracy"] == 1.0 and results["modes_covered"] == 10
    assert results["class_histogram"] == [10, 10, 10, 10, 10, 9, 9, 9, 9, 9]
    labels = torch.tensor([3] * 40)
    single = evaluate_generator(
        class_generator(digits),
        40,
        metrics="acc,modes",
        extractor="digits",
        class_labels=labels,
        device="cpu",
        progress=False,
    )
    assert single["modes_covered"] == 1 and single["class_entropy"] == 0.0

    generator = torch.Generator().manual_seed(0)

    def unconditional(batch_size, labels):
        assert labels is None
        return images[torch.randint(len(images), (batch_size,), generator=generator)]

    results = evaluate_generator(
        unconditional,
        300,
        "digits",
        "fid,pr",
        "digits",
        batch=64,
        cache_dir=shared_cache,
        device="cpu",
        progress=False,
    )
    assert results["num_fake"] == 300 and results["fid"] < 5 and results["precision"] > 0.95


def test_evaluate_generator_bad_input(digits):
    images, _ = digits
    with pytest.raises(ValueError, match=r"shape \[8, 1 or 3, H, W\], got shape \[8, 32, 32\]"):
        evaluate_generator(lambda n, _: images[:n, 0], 8, metrics="is", is_splits=1, **OPTIONS)
    with pytest.raises(TypeError, match=r"floating-point images in \[-1, 1\], got torch\.uint8"):
        evaluate_generator(
            lambda n, _: torch.zeros(n, 1, 8, 8, dtype=torch.uint8), 8, metrics="is", **OPTIONS
        )
    with pytest.raises(ValueError, match=r"class_labels.*got shape \[5\]"):
        evaluate_generator(
            lambda n, _: images[:n], 8, metrics="acc", class_labels=[1] * 5, **OPTIONS
        )
    with pytest.raises(ValueError, match="num to be an int >= 2, got 1"):
        evaluate_generator(lambda n, _: images[:n], 1, **OPTIONS)


def test_bad_metric_names_and_missing_labels(digits):
    images, _ = digits
    with pytest.raises(
        ValueError, match="expected metrics from fid, kid, is, pr, acc, modes, got bogus"
    ):
        parse_metrics("fid,bogus")
    assert parse_metrics(" FID, kid,fid ") == ("fid", "kid")
    with pytest.raises(ValueError, match="requested class of each fake image for 'acc'"):
        compute_metrics(images[:20], "digits", "acc", **OPTIONS)
    with pytest.raises(ValueError, match=r"floating-point images.*in \[-1, 1\].*got values in"):
        compute_metrics(images[:20] * 3, "digits", "is", **OPTIONS)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        compute_metrics("/nonexistent/fake.npz", "digits", "is", **OPTIONS)
    with pytest.raises(ValueError, match="load_extractor: expected name in"):
        compute_metrics(images[:20], "digits", "is", extractor="vgg", device="cpu")


def _distributed_worker(rank, world, init_file, out_dir, cache_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        digits = load_digits(32)
        results = evaluate_generator(
            class_generator(digits),
            51,
            "digits",
            "fid,acc,modes",
            "digits",
            batch=8,
            class_labels=10,
            device="cpu",
            progress=False,
            cache_dir=cache_dir,
        )
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(results, f)
    finally:
        dist.destroy_process_group()


def test_evaluate_generator_under_torch_distributed(digits, tmp_path, shared_cache):
    mp.spawn(
        _distributed_worker,
        args=(2, str(tmp_path / "init"), str(tmp_path), str(shared_cache)),
        nprocs=2,
        join=True,
    )
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    assert json.loads((tmp_path / "rank1.json").read_text()) is None
    single = evaluate_generator(
        class_generator(digits),
        51,
        "digits",
        "fid,acc,modes",
        "digits",
        batch=8,
        class_labels=10,
        device="cpu",
        progress=False,
        cache_dir=shared_cache,
    )
    assert rank0["num_fake"] == 51 and rank0["class_histogram"] == single["class_histogram"]
    assert rank0["accuracy"] == single["accuracy"] == 1.0
    assert rank0["fid"] == pytest.approx(single["fid"], rel=1e-5)
