"""Progress: log lines (stats, ETA, rate limit), terminal redraws, disable, format_duration."""

import io

import pytest
import torch

from fastgan.utils.progress import Progress, format_duration


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "seconds, expected",
    [
        (0, "0s"),
        (12, "12s"),
        (12.4, "12s"),
        (59.6, "1m 00s"),
        (185, "3m 05s"),
        (3600 + 2 * 60 + 59, "1h 02m"),
        (3725, "1h 02m"),
        (2 * 86400 + 3 * 3600 + 59, "2d 03h"),
    ],
)
def test_format_duration(seconds, expected):
    assert format_duration(seconds) == expected


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_format_duration_bad_input(bad):
    with pytest.raises(ValueError, match="seconds: expected a finite number >= 0"):
        format_duration(bad)


def test_log_lines_have_stats_and_eta_and_are_rate_limited():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(10, unit="kimg", desc="train", file=out, log_interval=5.0, clock=clock)
    clock.now += 1
    progress.update(1, loss_G=0.693147, loss_D=torch.tensor(1.25), phase="Dreg")
    lines = out.getvalue().splitlines()
    assert lines == [
        "train: 1/10 kimg (10%) | 1 kimg/s | elapsed 1s | ETA 9s | "
        "loss_G=0.6931 loss_D=1.25 phase=Dreg"
    ]
    for _ in range(4):  # 4 more seconds: under the 5 s interval, nothing printed
        clock.now += 1
        progress.update(0.5, loss_G=0.5)
    assert len(out.getvalue().splitlines()) == 1
    clock.now += 1  # 5 s after the last line: printed
    progress.update(0.5)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1] == "train: 3.50/10 kimg (35%) | 0.583 kimg/s | elapsed 6s | ETA 11s | " + (
        "loss_G=0.5 loss_D=1.25 phase=Dreg"
    )
    assert "\r" not in out.getvalue()
    clock.now += 60
    progress.close()
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[2].startswith("train: 3.50/10 kimg (35%)")
    assert "done in 1m 06s" in lines[2] and "ETA" not in lines[2]


def test_terminal_redraws_one_line(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out, clock = FakeTerminal(), FakeClock()
    with Progress(4, unit="img", file=out, min_interval=0.5, clock=clock) as progress:
        clock.now += 1
        progress.update(1, loss=2.0)
        clock.now += 0.1  # under min_interval: no redraw
        progress.update(1)
        clock.now += 0.5
        progress.update(1)
        progress.write("a message")
        clock.now += 0.1  # the last step redraws at once
        progress.update(1)
    text = out.getvalue()
    assert text.count("\n") == 2  # the message and the final line
    draws = [part for part in text.split("\r") if part.strip()]
    assert draws[0].startswith(" 25%|#####...............| 1/4 img | 1 img/s | elapsed 1s")
    assert "ETA 3s | loss=2" in draws[0]
    assert draws[1].startswith(" 75%|###############.....| 3/4 img")
    assert "a message\n" in text
    assert draws[-1].startswith("100%|####################| 4/4 img") and draws[-1].endswith("\n")
    assert "done in 2s" in draws[-1]


@pytest.mark.parametrize("columns", [40, 200])
def test_terminal_line_fits_the_width_and_hides_the_previous_one(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    out, clock = FakeTerminal(), FakeClock()
    progress = Progress(10, file=out, min_interval=0, clock=clock)
    clock.now += 1
    progress.update(1, a_long_statistic_name=1.0)
    progress.postfix.clear()
    clock.now += 1
    progress.update(1)
    first, second = out.getvalue().split("\r")[1:]
    first_line = progress.format_line() + " | a_long_statistic_name=1"
    assert len(first) == min(columns - 1, len(first_line))
    # The shorter second line is padded with spaces over the end of the first.
    assert len(second) == len(first)
    assert second.rstrip(" ") == progress.format_line()[: columns - 1].rstrip(" ")


def test_disabled_prints_nothing():
    out, clock = io.StringIO(), FakeClock()
    with Progress(5, file=out, disable=True, clock=clock) as progress:
        for _ in range(5):
            clock.now += 100
            progress.update(1, loss=1.0)
        progress.write("hidden")
    assert out.getvalue() == ""
    assert progress.n == 5 and progress.postfix == {"loss": 1.0}


def test_unknown_total_and_initial():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(None, unit="it", file=out, clock=clock)
    clock.now += 2
    progress.update(4)
    assert out.getvalue() == "4 it | 2 it/s | elapsed 2s\n"
    resumed = Progress(200, file=io.StringIO(), initial=120, clock=clock)
    clock.now += 10
    resumed.update(20)
    assert resumed.rate == 2.0  # only what happened since the bar started counts
    assert "140/200 kimg (70%)" in resumed.format_line() and "ETA 30s" in resumed.format_line()


def test_bad_arguments():
    with pytest.raises(ValueError, match="total: expected a finite number > 0 or None, got 0"):
        Progress(0)
    with pytest.raises(ValueError, match="min_interval: expected a number >= 0, got -1"):
        Progress(1, min_interval=-1)
    progress = Progress(1, file=io.StringIO())
    with pytest.raises(ValueError, match="n: expected a finite number, got nan"):
        progress.update(float("nan"))
