"""atomic_write: all or nothing, no temporary left behind, the mode a plain open would give."""

import os
import stat

import pytest

from fastgan.utils.atomic import atomic_write


def test_writes_and_replaces(tmp_path):
    path = tmp_path / "file.bin"
    with atomic_write(path) as file:
        file.write(b"first")
    with atomic_write(str(path), sync_directory=True) as file:
        file.write(b"second")
    assert path.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["file.bin"]


def test_exception_inside_the_block_keeps_the_old_file(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")
    with pytest.raises(KeyError), atomic_write(path) as file:
        file.write(b"new, half written")
        raise KeyError("interrupted")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.bin"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_mode_follows_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with atomic_write(tmp_path / "file.bin") as file:
            file.write(b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "file.bin").st_mode) == 0o666 & ~umask


def test_missing_directory(tmp_path):
    with (
        pytest.raises(FileNotFoundError, match=r"the directory of path .*missing"),
        atomic_write(tmp_path / "missing" / "file.bin"),
    ):
        pass
