"""A progress bar for feature extraction: tqdm when it is installed, else a line on stderr."""

from __future__ import annotations

import sys
import time

try:
    from tqdm import tqdm
except ImportError:
    tqdm = None

# Without tqdm, on a non-terminal stderr: one line at most this often (seconds).
_LINE_INTERVAL = 10.0


class Progress:
    """Counts items done out of `total` under a description; silent when not `enabled`."""

    def __init__(self, total: int, description: str, enabled: bool = True) -> None:
        self.total, self.description, self.done = total, description, 0
        self.enabled = enabled
        self._bar = None
        self._start = self._last = time.monotonic()
        self._terminal = sys.stderr.isatty()
        if enabled and tqdm is not None:
            self._bar = tqdm(total=total, desc=description, unit="img", file=sys.stderr)

    def update(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(count)
            return
        now = time.monotonic()
        if self.done >= self.total or now - self._last >= (
            0.5 if self._terminal else _LINE_INTERVAL
        ):
            self._last = now
            rate = self.done / max(now - self._start, 1e-9)
            line = f"{self.description}: {self.done}/{self.total} ({rate:.0f} img/s)"
            if self._terminal:
                print(f"\r{line}", end="", file=sys.stderr, flush=True)
            else:
                print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        elif self._terminal:
            print(file=sys.stderr, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
