"""`fastgan bench plot RESULTS.json [...] --out DIR`: PNG charts of `fastgan bench --json` files.

- speedup.png: speed-up of the fused op over the eager reference and over torch.compile per
  row (log scale, 1x marked);
- bandwidth.png: the memory-bound rows' % of the device's measured copy bandwidth (on a CPU, of
  a copy that moves as many bytes), or their GB/s for files without a copy bandwidth;
- train.png: training img/s per resolution (the `train` rows), one line per implementation.

matplotlib is optional (`pip install matplotlib`); figures are drawn with the Agg backend
through matplotlib's object API, so no display and no global pyplot state is involved.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from fastgan.bench.harness import IMPLS, ResultsFileError, load_results, row_label

__all__ = ["main", "plot_bandwidth", "plot_results", "plot_speedup", "plot_train"]

PROG = "fastgan bench plot"

# A labelled row: (label, row dict, environment of its file).
Entry = tuple[str, dict, dict]


def _figure(rows: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 1.6 + 0.42 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _devices(entries: Sequence[Entry]) -> str:
    return ", ".join(dict.fromkeys(str(env.get("device_name", "?")) for _, _, env in entries))


def plot_speedup(entries: Sequence[Entry], path: str) -> bool:
    """Horizontal bars of eager / fused and compiled / fused median time per row, drawn from 1x
    on a log scale; False (nothing written) when no row has a speed-up."""
    entries = [
        e for e in entries if e[1].get("speedup_vs_eager") or e[1].get("speedup_vs_compiled")
    ]
    if not entries:
        return False
    fig = _figure(round(1.4 * len(entries)))
    ax = fig.add_subplot()
    n = len(entries)
    values: list[float] = [1.0]
    for offset, key, name, color in (
        (0.2, "speedup_vs_eager", "vs eager reference", "tab:blue"),
        (-0.2, "speedup_vs_compiled", "vs torch.compile(reference)", "tab:orange"),
    ):
        points = [(i, e[1][key]) for i, e in enumerate(entries) if e[1].get(key)]
        if not points:
            continue
        y = [n - 1 - i + offset for i, _ in points]
        v = [s for _, s in points]
        values += v
        # Bars start at 1x, so a slow-down points left and a speed-up right.
        bars = ax.barh(y, [s - 1 for s in v], left=1, height=0.4, color=color, label=name)
        ax.bar_label(bars, labels=[f"{s:.2f}x" for s in v], padding=3, fontsize=8)
    ax.set_xscale("log")
    low, high = min(values) / 1.6, max(values) * 1.6
    ax.set_xlim(low, high)
    # Ticks at 1-2-5 steps written as 0.5x, 1x, 2x (not as powers of ten).
    ticks = [m * 10.0**e for e in range(-4, 5) for m in (1, 2, 5) if low <= m * 10.0**e <= high]
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    ax.set_xticks([], minor=True)
    ax.axvline(1, color="black", linewidth=1)
    ax.set_yticks(range(n), [e[0] for e in reversed(entries)], fontsize=8)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("speed-up of the fused op (x, log scale; > 1: fused is faster)")
    ax.set_title(f"fastgan fused ops: speed-up ({_devices(entries)})")
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.savefig(path, dpi=110)
    return True


def plot_bandwidth(entries: Sequence[Entry], path: str) -> str | None:
    """Roofline-style bars: % of the measured copy bandwidth per memory-bound row, or GB/s where
    no row has a copy bandwidth (files from before CPU runs measured one). Returns what was
    plotted ("pct" or "gbps"), or None (nothing written) when no row has either."""
    pct = [e for e in entries if e[1].get("fused_pct_of_copy") is not None]
    gbps = [e for e in entries if e[1].get("fused_gbps") is not None]
    if not pct and not gbps:
        return None
    kind, chosen, key = ("pct", pct, "fused_pct_of_copy") if pct else ("gbps", gbps, "fused_gbps")
    fig = _figure(len(chosen))
    ax = fig.add_subplot()
    n = len(chosen)
    values = [e[1][key] for e in chosen]
    bars = ax.barh([n - 1 - i for i in range(n)], values, height=0.6, color="tab:green")
    fmt = "{:.0f}%" if kind == "pct" else "{:.3g} GB/s"
    ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=8)
    ax.set_yticks(range(n), [e[0] for e in reversed(chosen)], fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    if kind == "pct":
        ax.axvline(100, color="black", linewidth=1, linestyle="--", label="copy bandwidth")
        ax.set_xlim(0, max(110, max(values) * 1.15))
        ax.set_xlabel(
            "fused op's bytes read + written per second, % of the measured copy bandwidth\n"
            "(CPU: of a copy moving as many bytes, from the caches to DRAM)"
        )
        ax.set_title(f"Memory-bound kernels: % of copy bandwidth ({_devices(chosen)})", fontsize=10)
        ax.legend(loc="best", fontsize=8)
    else:
        ax.set_xlim(0, max(values) * 1.25)
        ax.set_xlabel("fused op's bytes read + written per second (GB/s)")
        ax.set_title(
            f"Memory-bound kernels: GB/s ({_devices(chosen)})\n"
            "no copy bandwidth in the file, so GB/s instead of % of copy bandwidth",
            fontsize=10,
        )
    fig.savefig(path, dpi=110)
    return kind


def plot_train(entries: Sequence[Entry], path: str, prefixes: Sequence[str] = ()) -> bool:
    """img/s per training resolution (shape[2] of the `train` rows), one line per implementation
    (and per file / dtype when there are several); False (nothing written) without train rows."""
    train = [e for e in entries if e[1]["op"] == "train" and e[1].get("items_per_sec")]
    if not train:
        return False
    dtypes = {e[1]["dtype"] for e in train}
    lines: dict[str, list[tuple[int, float]]] = {}
    for label, row, _ in train:
        source = next((p for p in prefixes if label.startswith(p + ":")), "")
        for impl in IMPLS:
            if impl in row["items_per_sec"]:
                name = impl + (f" {row['dtype']}" if len(dtypes) > 1 else "")
                name += f" ({source})" if source else ""
                lines.setdefault(name, []).append(
                    (int(row["shape"][2]), row["items_per_sec"][impl])
                )
    fig = _figure(8)
    ax = fig.add_subplot()
    for name, points in lines.items():
        points.sort()
        ax.plot([r for r, _ in points], [v for _, v in points], marker="o", label=name)
    resolutions = sorted({r for points in lines.values() for r, _ in points})
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(resolutions, [str(r) for r in resolutions])
    ax.set_xlabel("resolution (pixels)")
    ax.set_ylabel("training throughput (img/s, log scale)")
    ax.set_title(f"Training iterations: img/s per resolution ({_devices(train)})")
    ax.legend(fontsize=8)
    ax.grid(which="both", alpha=0.3)
    fig.savefig(path, dpi=110)
    return True


def plot_results(paths: Sequence[str], out_dir: str) -> tuple[list[str], list[str]]:
    """Reads bench files and writes the charts into out_dir: (paths written, notes on what was
    skipped). Raises ResultsFileError for an unreadable file, ImportError without matplotlib."""
    import matplotlib  # noqa: F401  (fails early, before any file is read)

    files = [(p, load_results(p)) for p in paths]
    prefixes = []
    if len(files) > 1:
        stems = [os.path.splitext(os.path.basename(p))[0] for p, _ in files]
        # Distinct names for the rows of different files, even where base names repeat.
        prefixes = (
            stems if len(set(stems)) == len(stems) else [str(i + 1) for i in range(len(files))]
        )
    entries: list[Entry] = []
    for i, (_, data) in enumerate(files):
        for row in data["rows"]:
            label = row_label(row)
            entries.append(
                ((f"{prefixes[i]}:" if prefixes else "") + label, row, data["environment"])
            )
    os.makedirs(out_dir, exist_ok=True)
    written, notes = [], []
    path = os.path.join(out_dir, "speedup.png")
    if plot_speedup(entries, path):
        written.append(path)
    else:
        notes.append("speedup.png skipped: no row has a speed-up (eager or compiled timings)")
    path = os.path.join(out_dir, "bandwidth.png")
    kind = plot_bandwidth(entries, path)
    if kind:
        written.append(path)
        if kind == "gbps":
            notes.append("bandwidth.png shows GB/s: no row has a % of copy bandwidth")
    else:
        notes.append("bandwidth.png skipped: no row has GB/s or % of copy (no memory-bound op)")
    path = os.path.join(out_dir, "train.png")
    if plot_train(entries, path, prefixes):
        written.append(path)
    else:
        notes.append("train.png skipped: no train rows (run `fastgan bench train`)")
    return written, notes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Draws PNG charts of `fastgan bench --json` files (needs matplotlib): speedup.png "
            "(fused vs eager and vs torch.compile per row), bandwidth.png (% of copy bandwidth "
            "per memory-bound row, or GB/s without one), train.png (img/s per resolution of the "
            "train rows). Several files are drawn together, their rows prefixed by file name."
        ),
    )
    parser.add_argument(
        "files", nargs="+", metavar="RESULTS.json", help="fastgan bench --json files"
    )
    parser.add_argument(
        "--out", default="plots", metavar="DIR", help="output folder (default plots)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`fastgan bench plot`; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        written, notes = plot_results(args.files, args.out)
    except ImportError:
        print(
            f"{PROG}: matplotlib is needed to draw the charts and is not installed: "
            "pip install matplotlib",
            file=sys.stderr,
        )
        return 2
    except ResultsFileError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    for note in notes:
        print(note)
    for path in written:
        print(f"wrote {path}")
    return 0
