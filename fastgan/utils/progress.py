"""`Progress`: a progress bar for training loops, without tqdm.

On a terminal it is one line redrawn in place with ``\\r`` (at most every `min_interval` seconds):

    train:  45%|#########...........| 4.5/10 kimg | 1.23 kimg/s | elapsed 3s | ETA 4s | loss_G=0.693

Written to a file or a pipe (a log), it prints a plain line at most every `log_interval` seconds,
so that logs stay readable:

    train: 4.5/10 kimg (45%) | 1.23 kimg/s | elapsed 3s | ETA 4s | loss_G=0.693

The rate is the average since the bar was created; `close` prints the final line.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

import torch

__all__ = ["Progress", "format_duration"]

_BAR_WIDTH = 20


def format_duration(seconds: float) -> str:
    """A duration rounded to the second, in its two largest units: ``'2d 03h'``, ``'1h 02m'``,
    ``'3m 05s'``, ``'12s'``."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"seconds: expected a number, got {type(seconds).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds: expected a finite number >= 0, got {seconds!r}")
    days, rest = divmod(round(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _format_amount(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _format_stat(value: Any) -> str:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _is_tty(file: TextIO) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """A progress bar over `total` units (None: unknown, no bar or ETA) starting at `initial`.

    `update(n, **stats)` adds n units and sets short stats shown after the bar (the latest value
    of each key is kept in `postfix`). A terminal `file` (default sys.stderr) gets one line
    redrawn at most every `min_interval` seconds; any other file a plain line at most every
    `log_interval` seconds. `close()` prints the final line; `disable=True` prints nothing.
    `clock` (default time.monotonic) measures time.
    """

    def __init__(
        self,
        total: float | None,
        unit: str = "kimg",
        desc: str = "",
        file: TextIO | None = None,
        min_interval: float = 0.5,
        log_interval: float = 10.0,
        initial: float = 0.0,
        disable: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total is not None and (
            isinstance(total, bool)
            or not isinstance(total, (int, float))
            or not math.isfinite(total)
            or total <= 0
        ):
            raise ValueError(f"total: expected a finite number > 0 or None, got {total!r}")
        for name, value in (("min_interval", min_interval), ("log_interval", log_interval)):
            if not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
        if not isinstance(initial, (int, float)) or not math.isfinite(initial):
            raise ValueError(f"initial: expected a finite number, got {initial!r}")
        self.total = total
        self.unit = unit
        self.desc = desc
        self.file = sys.stderr if file is None else file
        self.min_interval = float(min_interval)
        self.log_interval = float(log_interval)
        self.initial = initial
        self.n = initial
        self.postfix: dict[str, Any] = {}
        self.disable = disable
        self.closed = False
        self._clock = clock
        self._start = clock()
        self._last_output: float | None = None
        self._tty = not disable and _is_tty(self.file)
        self._drawn_width = 0

    @property
    def elapsed(self) -> float:
        """Seconds since the bar was created."""
        return max(self._clock() - self._start, 0.0)

    @property
    def rate(self) -> float | None:
        """Average units per second since the bar was created; None before any progress."""
        elapsed, done = self.elapsed, self.n - self.initial
        return done / elapsed if elapsed > 0 and done > 0 else None

    def update(self, n: float = 1, **stats: Any) -> None:
        """Add `n` units of progress and set the given stats; redraw or print if it is time."""
        if isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n):
            raise ValueError(f"n: expected a finite number, got {n!r}")
        self.n += n
        self.postfix.update(stats)
        if self.disable or self.closed:
            return
        now = self._clock()
        interval = self.min_interval if self._tty else self.log_interval
        finished = self.total is not None and self.n >= self.total and self._tty
        if self._last_output is None or now - self._last_output >= interval or finished:
            self._emit(self.format_line())
            self._last_output = now

    def format_line(self, final: bool = False) -> str:
        """The line the bar shows now (the final form says how long it took instead of the
        ETA)."""
        parts = []
        amount = _format_amount(self.n)
        if self.total is None:
            parts.append(f"{amount} {self.unit}")
        else:
            fraction = min(max(self.n / self.total, 0.0), 1.0)
            total = _format_amount(self.total)
            if self._tty:
                filled = int(fraction * _BAR_WIDTH)
                bar = "#" * filled + "." * (_BAR_WIDTH - filled)
                parts.append(f"{fraction * 100:3.0f}%|{bar}| {amount}/{total} {self.unit}")
            else:
                parts.append(f"{amount}/{total} {self.unit} ({fraction * 100:.0f}%)")
        rate = self.rate
        parts.append(f"{rate:.3g} {self.unit}/s" if rate is not None else f"? {self.unit}/s")
        elapsed = format_duration(self.elapsed)
        if final:
            parts.append(f"done in {elapsed}")
        else:
            parts.append(f"elapsed {elapsed}")
            if self.total is not None:
                left = self.total - self.n
                if left <= 0:
                    parts.append("ETA 0s")
                elif rate is not None:
                    parts.append(f"ETA {format_duration(left / rate)}")
                else:
                    parts.append("ETA ?")
        if self.postfix:
            parts.append(" ".join(f"{k}={_format_stat(v)}" for k, v in self.postfix.items()))
        line = " | ".join(parts)
        return f"{self.desc}: {line}" if self.desc else line

    def _emit(self, line: str, end: str = "") -> None:
        if self._tty:
            width = max(shutil.get_terminal_size((100, 20)).columns - 1, 10)
            line = line[:width]
            # Pad with spaces so that a shorter line hides the end of the longer one before it.
            self.file.write("\r" + line + " " * max(self._drawn_width - len(line), 0) + end)
            self._drawn_width = 0 if end else len(line)
        else:
            self.file.write(line + "\n")
        self.file.flush()

    def write(self, message: str) -> None:
        """Print a message on its own line without breaking the bar (redrawn below it)."""
        if self.disable:
            return
        if self._tty and self._drawn_width:
            self.file.write("\r" + " " * self._drawn_width + "\r")
            self._drawn_width = 0
        self.file.write(message + "\n")
        if self._tty and not self.closed and self._last_output is not None:
            self._emit(self.format_line())
        else:
            self.file.flush()

    def close(self) -> None:
        """Print the final line (ending the redrawn line on a terminal). Later calls do
        nothing."""
        if self.closed:
            return
        self.closed = True
        if not self.disable:
            self._emit(self.format_line(final=True), end="\n")

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
