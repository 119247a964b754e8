"""`atomic_write`: replace a file in one step, so that readers see the old file or the new one,
never a half-written one (a crash or a full disk mid-write leaves the previous file intact)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["atomic_write", "fsync_directory", "write_text_atomically"]


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """fsync a directory, so that a rename inside it survives a power loss. A no-op where
    directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        # Some file systems (and Windows) do not support fsync on a directory.
        pass
    finally:
        os.close(fd)


def _new_file_mode() -> int:
    """The mode ``open`` would give a new file (0o666 less the umask): mkstemp creates 0o600."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere the umask can only be read by setting it; set it straight back.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], sync_directory: bool = False) -> Iterator[BinaryIO]:
    """Open a temporary file next to `path` for binary writing; when the block ends without an
    exception, flush and fsync it and ``os.replace`` it onto `path` (then fsync the directory if
    `sync_directory`). On an exception the temporary file is removed and `path` is untouched.

    The temporary file lies in the same directory (a rename is atomic only within one file
    system) and is named ``.<name>.<random>.tmp``, so that globs for ``<prefix>*<suffix>`` skip it.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"atomic_write: the directory of path {path!r} does not exist")
    fd, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(fd, "wb") as file:
            if hasattr(os, "fchmod"):
                os.fchmod(file.fileno(), _new_file_mode())
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    if sync_directory:
        fsync_directory(directory)


def write_text_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `path` through :func:`atomic_write`: a reader sees the old file or
    the whole new one, never a part."""
    with atomic_write(path) as file:
        file.write(text.encode("utf-8"))
