"""Checkpoints: round trip, atomic saves, NaN refused, clear errors, snapshots, RNG state."""

import io
import os
import random
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

from fastgan.utils.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    resolve_resume,
    rng_state,
    save_checkpoint,
    set_rng_state,
    snapshot_path,
)


def _state() -> dict:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    return {
        "G": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "kimg": 120,
        "best_fid": float("inf"),
        "config": {"resolution": 32, "name": "digits", "betas": (0.0, 0.99), "tags": ["a", None]},
        "half": torch.randn(2, 2).half(),
        "dtype": torch.bfloat16,
    }


def _assert_equal(a, b):
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict)), (a, b)
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _assert_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_equal(x, y)
    else:
        assert a == b


def test_round_trip(tmp_path):
    state = _state()
    path = tmp_path / "snapshot-000120.pt"
    save_checkpoint(path, state)
    assert "format" not in state  # the caller's dict is not changed
    loaded = load_checkpoint(path)
    _assert_equal(loaded, state)
    assert os.listdir(tmp_path) == ["snapshot-000120.pt"]
    # A plain weights_only load sees the format key.
    assert torch.load(path, weights_only=True)["format"] == CHECKPOINT_FORMAT


def test_failed_save_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "snapshot-000010.pt"
    save_checkpoint(path, {"w": torch.ones(3)})
    before = path.read_bytes()
    real_save = torch.save

    def save_then_fail(obj, file, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])  # half reaches the disk
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", save_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, {"w": torch.zeros(1000)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["snapshot-000010.pt"]
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(3))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_tensor_refused(tmp_path, bad):
    weights = torch.randn(4, 4)
    weights[2, 1] = bad
    state = {"G": {"layers": [{"bias": torch.zeros(4)}, {"weight": weights}]}, "kimg": 3}
    path = tmp_path / "snapshot-000003.pt"
    with pytest.raises(ValueError, match=r"state\['G'\]\['layers'\]\[1\]\['weight'\] holds 1 non"):
        save_checkpoint(path, state)
    assert os.listdir(tmp_path) == []
    # Integer tensors cannot hold NaN; a finite state saves.
    weights[2, 1] = 0.0
    save_checkpoint(path, state)


def test_unloadable_values_refused(tmp_path):
    path = tmp_path / "x.pt"
    with pytest.raises(TypeError, match=r"state\['ema'\] is a numpy.ndarray.*torch.from_numpy"):
        save_checkpoint(path, {"ema": np.zeros(3)})
    with pytest.raises(TypeError, match=r"state\['step'\] is a numpy.int64"):
        save_checkpoint(path, {"step": np.int64(3)})
    with pytest.raises(TypeError, match=r"state\['model'\] is a torch.nn.modules.linear.Linear"):
        save_checkpoint(path, {"model": torch.nn.Linear(2, 2)})
    with pytest.raises(ValueError, match=r"state: the key 'format' is reserved"):
        save_checkpoint(path, {"format": "mine"})
    with pytest.raises(TypeError, match="state: expected a dict, got list"):
        save_checkpoint(path, [torch.zeros(1)])
    assert os.listdir(tmp_path) == []
    save_checkpoint(
        path, {"od": OrderedDict(a=torch.zeros(1)), "s": {1, 2}, "size": torch.Size([2])}
    )
    assert load_checkpoint(path)["size"] == torch.Size([2])


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt'?: no such file"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(tmp_path)
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"w": torch.randn(256, 256)})
    data = good.read_bytes()
    for name, content in [
        ("half.pt", data[: len(data) // 2]),
        ("head.pt", data[:100]),
        ("empty.pt", b""),
        ("garbage.pt", bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8))),
        ("text.pt", b"hello, world\n"),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match=rf"{name}'?: not a readable torch checkpoint"):
            load_checkpoint(path)


def test_error_is_clean(tmp_path):
    """The CheckpointError does not chain the reader's pickle/zip traceback."""
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x80\x02garbage")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert isinstance(info.value, ValueError)


def test_not_a_fastgan_checkpoint(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(
        CheckpointError, match=r"other\.pt'?: not a fastgan checkpoint \(no 'format'"
    ):
        load_checkpoint(path)
    torch.save([torch.zeros(2)], path)
    with pytest.raises(CheckpointError, match="holds a list, not a dict"):
        load_checkpoint(path)
    torch.save({"format": "fastgan-checkpoint-v9"}, path)
    with pytest.raises(CheckpointError, match="'fastgan-checkpoint-v9' is not supported"):
        load_checkpoint(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.txt", "not torch")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        load_checkpoint(path)
    # Arbitrary pickled objects are refused by weights_only=True and reported the same way.
    torch.save({"model": torch.nn.Linear(2, 2), "format": CHECKPOINT_FORMAT}, path)
    with pytest.raises(CheckpointError, match="weights_only=True refuses"):
        load_checkpoint(path)


def _touch_snapshots(run_dir, kimgs):
    for kimg in kimgs:
        save_checkpoint(snapshot_path(run_dir, kimg), {"kimg": kimg})


def test_snapshot_path(tmp_path):
    assert snapshot_path(tmp_path, 120) == tmp_path / "snapshot-000120.pt"
    assert snapshot_path(str(tmp_path), 1234567).name == "snapshot-1234567.pt"
    with pytest.raises(ValueError, match="kimg: expected an int >= 0, got -1"):
        snapshot_path(tmp_path, -1)


def test_list_and_prune(tmp_path):
    _touch_snapshots(tmp_path, [40, 1000, 0, 120, 80])
    (tmp_path / "snapshot-best.pt").write_bytes(b"keep me")
    (tmp_path / "snapshot-9.pt").write_bytes(b"short name")
    (tmp_path / "other-000500.pt").write_bytes(b"")
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == [
        "snapshot-000000.pt",
        "snapshot-9.pt",
        "snapshot-000040.pt",
        "snapshot-000080.pt",
        "snapshot-000120.pt",
        "snapshot-001000.pt",
    ]
    deleted = prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in deleted] == names[:4]
    assert sorted(os.listdir(tmp_path)) == [
        "other-000500.pt",
        "snapshot-000120.pt",
        "snapshot-001000.pt",
        "snapshot-best.pt",
    ]
    assert prune_checkpoints(tmp_path, keep=5) == []
    assert [p.name for p in list_checkpoints(tmp_path, "other-*.pt")] == ["other-000500.pt"]
    with pytest.raises(ValueError, match="keep: expected an int >= 1, got 0"):
        prune_checkpoints(tmp_path, keep=0)
    with pytest.raises(CheckpointError, match="run_dir: expected an existing directory"):
        list_checkpoints(tmp_path / "missing")


def test_resolve_resume(tmp_path):
    with pytest.raises(CheckpointError, match=r"resume 'latest': no snapshots matching"):
        resolve_resume("latest", tmp_path)
    _touch_snapshots(tmp_path, [200, 1200, 400])
    latest = resolve_resume("latest", tmp_path)
    assert latest.name == "snapshot-001200.pt"
    assert load_checkpoint(latest) == {"kimg": 1200}
    explicit = tmp_path / "snapshot-000200.pt"
    assert resolve_resume(str(explicit), tmp_path / "elsewhere") == explicit
    with pytest.raises(CheckpointError, match=r"snapshot-000300\.pt'? does not exist"):
        resolve_resume(tmp_path / "snapshot-000300.pt", tmp_path)
    with pytest.raises(ValueError, match="spec: expected 'latest' or a checkpoint path"):
        resolve_resume("", tmp_path)


def _draw() -> tuple:
    return (
        torch.rand(5),
        torch.randn(3),
        np.random.rand(4),
        np.random.randn(3),
        [random.random() for _ in range(4)],
        random.gauss(0.0, 1.0),
    )


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    torch.manual_seed(random.randrange(2**31))
    np.random.seed(random.randrange(2**31))
    # Leave a cached Gaussian in numpy's and Python's generators: it is part of the state.
    np.random.randn(1)
    random.gauss(0.0, 1.0)
    path = tmp_path / "rng.pt"
    save_checkpoint(path, {"rng": rng_state()})
    expected = _draw()
    _draw()  # move every generator on
    set_rng_state(load_checkpoint(path)["rng"])
    again = _draw()
    assert torch.equal(again[0], expected[0]) and torch.equal(again[1], expected[1])
    np.testing.assert_array_equal(again[2], expected[2])
    np.testing.assert_array_equal(again[3], expected[3])
    assert again[4] == expected[4] and again[5] == expected[5]


def test_set_rng_state_bad_input():
    with pytest.raises(ValueError, match=r"missing keys \['numpy', 'python'\]"):
        set_rng_state({"torch": torch.get_rng_state(), "cuda": []})
