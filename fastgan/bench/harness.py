"""Side-by-side timing of a fused op against its eager reference and torch.compile(reference).

Used by `fastgan bench` and by the pytest-benchmark suites in benchmarks/. Every row is measured
in one run: the median of many timed calls after warm-up, the implementations interleaved call
by call (CUDA events on the GPU, with the inputs rotated so that L2 does not serve them); the
speed-ups are medians of the ratios within a round; for memory-bound ops the bytes moved, GB/s
and the % of the device's copy bandwidth measured at start.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch

IMPLS = ("fused", "eager", "compiled")


@dataclass
class Case:
    """One benchmark row: the same computation in three implementations.

    `make_inputs()` returns a fresh input set; `impls[name](inputs)` runs one call. `bytes_moved`
    is the minimum traffic of the fused op (each input read once, each output written once), or
    None for ops that are not memory-bound.
    """

    op: str
    mode: str  # "fwd" or "fwd+bwd"
    shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device
    make_inputs: Callable[[], tuple]
    impls: dict[str, Callable[[tuple], object]]
    bytes_moved: int | None = None
    params: str = ""
    measure_memory: bool = False
    check_output: bool = True  # compare the fused output with the eager one first
    items_per_call: int | None = None  # images per call, for a throughput (img/s)
    # Caps on the warm-up and timed calls, for cases whose one call is already many steps (a
    # training case's call is 16 iterations): the run's --warmup / --runs apply when smaller.
    # torch.compile's first call (the compile) is never timed, whatever the cap.
    max_warmup: int | None = None
    max_runs: int | None = None


@dataclass
class Timing:
    median_ms: float
    p25_ms: float
    p75_ms: float
    runs: int


@dataclass
class Row:
    op: str
    mode: str
    shape: list[int]
    dtype: str
    params: str
    timings: dict[str, Timing] = field(default_factory=dict)
    speedup_vs_eager: float | None = None
    speedup_vs_compiled: float | None = None
    bytes_moved: int | None = None
    fused_gbps: float | None = None
    copy_gbps: float | None = None  # the measured copy bandwidth that fused_pct_of_copy is of
    fused_pct_of_copy: float | None = None
    rel_error_vs_eager: float | None = None
    peak_memory_mib: dict[str, float] | None = None
    items_per_sec: dict[str, float] | None = None


def compile_reference(fn: Callable) -> Callable:
    """torch.compile(fn) with static shapes, for the "compiled" column.

    A benchmark compiles one reference at every shape of the ladder, forward and backward: more
    graphs per function than dynamo's default recompile limit (8), past which it would silently
    run the reference eagerly and the column would time the wrong thing.
    """
    import torch._dynamo.config as dynamo_config

    dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 64)
    return torch.compile(fn, dynamic=False)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warm_up(
    fn: Callable[[tuple], object],
    input_sets: Sequence[tuple],
    device: torch.device,
    warmup: int,
    max_seconds: float,
    min_warmup: int = 1,
    warm: tuple[int, float] = (0, 0.0),
) -> None:
    """Untimed calls of `fn`: at least `min_warmup` in all (the first call of torch.compile
    compiles), counting the `warm` = (calls, seconds) already made on these inputs, and more,
    up to `warmup`, while they have taken under half of `max_seconds`."""
    done, spent = warm
    warm_start = time.perf_counter() - spent
    while done < warmup and (
        done < min_warmup or time.perf_counter() - warm_start < max_seconds / 2
    ):
        fn(input_sets[done % len(input_sets)])
        synchronize(device)
        done += 1


def _timed_call(fn: Callable[[tuple], object], inputs: tuple, device: torch.device) -> float:
    """One call of `fn`, in ms: CUDA events on the GPU, the wall clock on the CPU."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(inputs)
        end.record()
        end.synchronize()
        return start.elapsed_time(end)
    t0 = time.perf_counter()
    fn(inputs)
    return (time.perf_counter() - t0) * 1e3


def _timing(times: list[float]) -> Timing:
    """Median and quartiles: the median of three or more calls drops one slow straggler."""
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return Timing(statistics.median(times), q[0], q[2], len(times))


def time_interleaved(
    fns: dict[str, Callable[[tuple], object]],
    input_sets: Sequence[tuple],
    device: torch.device,
    runs: int,
    max_seconds: float,
    min_runs: int = 5,
    probes: dict[str, PeakMemory] | None = None,
) -> dict[str, list[float]]:
    """The times (ms) of each of `fns` (already warmed up), timed in rounds of one call each:
    `times[name][r]` is `name`'s call in round r.

    Interleaving makes a slow spell of the machine (another process, a clock change) fall on
    every implementation alike, instead of on whichever one was being timed in a block; the
    order within a round rotates so that none always runs after the same neighbour. The rounds
    stop after `runs`, or after at least `min_runs` once `max_seconds` per implementation have
    been spent. `probes[name]`, when given, measures the peak memory of `name`'s first timed
    call, outside its timed window.
    """
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    budget = max_seconds * len(names)
    budget_start = time.perf_counter()
    for r in range(runs):
        inputs = input_sets[r % len(input_sets)]
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            probe = probes.get(name) if probes and r == 0 else None
            if probe is not None:
                probe.start()
            times[name].append(_timed_call(fns[name], inputs, device))
            if probe is not None:
                probe.stop()
        if r + 1 >= min_runs and time.perf_counter() - budget_start > budget:
            break
    return times


def paired_speedup(times: dict[str, list[float]], other: str) -> float | None:
    """How many times faster "fused" is than `other`: the median over rounds of `other`'s time
    over fused's in the same round (None without `other`)."""
    if other not in times:
        return None
    return statistics.median(o / f for o, f in zip(times[other], times["fused"], strict=True))


def time_calls(
    fn: Callable[[tuple], object],
    input_sets: Sequence[tuple],
    device: torch.device,
    warmup: int,
    runs: int,
    max_seconds: float,
    min_runs: int = 5,
) -> Timing:
    """Median time of `fn` over `runs` calls (or at least `min_runs` within `max_seconds`) after
    the warm-up of :func:`warm_up`, rotating through `input_sets`."""
    warm_up(fn, input_sets, device, warmup, max_seconds)
    return _timing(
        time_interleaved({"fn": fn}, input_sets, device, runs, max_seconds, min_runs)["fn"]
    )


def copy_bandwidth_gbps(
    device: torch.device, nbytes: int = 1 << 30, runs: int = 20, max_seconds: float = 10.0
) -> float:
    """Measured copy bandwidth of an `nbytes` buffer on `device`, counting bytes read plus bytes
    written."""
    src = torch.empty(max(1, nbytes // 4), dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    timing = time_calls(
        lambda _: dst.copy_(src), [()], device, warmup=3, runs=runs, max_seconds=max_seconds
    )
    return 2 * src.numel() * 4 / (timing.median_ms * 1e-3) / 1e9


# Bytes moved (read + written) per copy at which `fastgan bench` measures a CPU's copy bandwidth:
# 64 KiB to 1 GiB, from the caches to DRAM.
CPU_COPY_SIZES = tuple(1 << k for k in range(16, 31, 2))


def copy_bandwidth_by_size(
    device: torch.device, sizes: Sequence[int] = CPU_COPY_SIZES
) -> dict[int, float]:
    """The copy bandwidth (read + write, GB/s) per number of bytes a copy moves: on a CPU the
    limit of a memory-bound kernel depends on whether its data fits in a cache."""
    return {
        size: copy_bandwidth_gbps(device, size // 2, runs=200, max_seconds=0.5) for size in sizes
    }


def copy_limit(copy_gbps: float | dict[int, float] | None, bytes_moved: int) -> float | None:
    """The copy bandwidth a kernel moving `bytes_moved` bytes is compared with: the single
    figure (GPU: one large copy, with the inputs rotated past L2), or the figure measured at the
    nearest size on a log scale (CPU)."""
    if not copy_gbps or isinstance(copy_gbps, float | int):
        return copy_gbps or None
    nearest = min(copy_gbps, key=lambda size: abs(math.log(size / bytes_moved)))
    return copy_gbps[nearest]


def input_sets_for(case: Case) -> list[tuple]:
    """Enough input sets that rotating through them defeats the GPU's L2 (one set on the CPU)."""
    first = case.make_inputs()
    if case.device.type != "cuda":
        return [first]
    per_set = sum(t.numel() * t.element_size() for t in first if isinstance(t, torch.Tensor))
    l2 = torch.cuda.get_device_properties(case.device).L2_cache_size
    count = min(8, max(1, math.ceil(2 * l2 / max(per_set, 1))))
    return [first] + [case.make_inputs() for _ in range(count - 1)]


def _tensors(out: object) -> list[torch.Tensor]:
    return [out] if isinstance(out, torch.Tensor) else [t for t in out if t is not None]


def relative_error(out: object, ref: object) -> float:
    """max over output tensors of ||out - ref|| / ||ref||, in float64."""
    errors = []
    for o, r in zip(_tensors(out), _tensors(ref), strict=True):
        o, r = o.detach().double(), r.detach().double()
        errors.append(((o - r).norm() / r.norm().clamp_min(1e-30)).item())
    return max(errors)


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


class PeakMemory:
    """The memory one call takes at its peak beyond what was in use before it, in MiB, measured
    between `start()` and `stop()`: from the caching allocator's statistics on the GPU; on the
    CPU (Linux) from the process's peak resident set size, reset first through
    /proc/self/clear_refs. `mib` stays None where neither is available."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mib: float | None = None
        self._before: float | None = None

    def start(self) -> None:
        synchronize(self.device)
        self._before = None
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._before = torch.cuda.memory_allocated(self.device) / 2**20
            return
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets the peak resident set size (VmHWM) to the current one
            self._before = _status_mib("VmRSS")
        except (OSError, StopIteration):
            pass

    def stop(self) -> None:
        synchronize(self.device)
        if self._before is None:
            return
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            peak = _status_mib("VmHWM")
        self.mib = max(0.0, peak - self._before)


def run_case(
    case: Case,
    warmup: int = 5,
    runs: int = 50,
    max_seconds: float = 5.0,
    copy_gbps: float | dict[int, float] | None = None,
) -> Row:
    """Times every implementation of `case` side by side; checks the fused output first.
    `copy_gbps`: the device's measured copy bandwidth, one figure or one per bytes moved (see
    :func:`copy_limit`), for the % of copy of memory-bound rows."""
    input_sets = input_sets_for(case)
    row = Row(
        case.op,
        case.mode,
        list(case.shape),
        str(case.dtype).removeprefix("torch."),
        case.params,
        bytes_moved=case.bytes_moved,
    )
    # The output check's call of fused and eager on the first input set is their first warm-up
    # call.
    warm = {name: (0, 0.0) for name in case.impls}
    if "eager" in case.impls and case.check_output:
        outputs = {}
        for name in ("fused", "eager"):
            t0 = time.perf_counter()
            outputs[name] = case.impls[name](input_sets[0])
            synchronize(case.device)
            warm[name] = (1, time.perf_counter() - t0)
        row.rel_error_vs_eager = relative_error(outputs["fused"], outputs["eager"])
        del outputs
    names = [name for name in IMPLS if name in case.impls]
    for name in names:
        warmup_cap = warmup if case.max_warmup is None else min(warmup, case.max_warmup)
        if name == "compiled":
            warmup_cap = max(warmup_cap, 1)
        # Calls slower than the budget: one warm-up call (the compile, for torch.compile) and
        # three timed ones, so that `bench all` stays within minutes on a small CPU.
        warm_up(case.impls[name], input_sets, case.device, warmup_cap, max_seconds, 1, warm[name])
    probes = {name: PeakMemory(case.device) for name in names} if case.measure_memory else None
    times = time_interleaved(
        {name: case.impls[name] for name in names},
        input_sets,
        case.device,
        min(runs, case.max_runs or runs),
        max_seconds,
        min_runs=3,
        probes=probes,
    )
    row.timings = {name: _timing(t) for name, t in times.items()}
    if probes is not None:
        peaks = {name: p.mib for name, p in probes.items() if p.mib is not None}
        row.peak_memory_mib = peaks or None
    fused = row.timings["fused"].median_ms
    if case.items_per_call:
        row.items_per_sec = {
            name: case.items_per_call / (t.median_ms * 1e-3) for name, t in row.timings.items()
        }
    # A speed-up is the median over rounds of the ratio of two calls made in the same round, so
    # that a slow spell of the machine (which makes the times bimodal on a shared CPU) cancels.
    row.speedup_vs_eager = paired_speedup(times, "eager")
    row.speedup_vs_compiled = paired_speedup(times, "compiled")
    if case.bytes_moved:
        row.fused_gbps = case.bytes_moved / (fused * 1e-3) / 1e9
        row.copy_gbps = copy_limit(copy_gbps, case.bytes_moved)
        if row.copy_gbps:
            row.fused_pct_of_copy = 100 * row.fused_gbps / row.copy_gbps
    return row


def environment(
    device: torch.device, copy_gbps: float | dict[int, float] | None
) -> dict[str, object]:
    """Device, versions and date of a run, stored with its results. `copy_gbps` is the measured
    copy bandwidth: one figure, or one per bytes moved (CPU), of which the largest copy's is also
    stored as the device's figure."""
    by_size = copy_gbps if isinstance(copy_gbps, dict) else None
    if by_size:
        copy_gbps = by_size[max(by_size)]
    from fastgan import __version__, _native

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                name = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
        except (OSError, StopIteration):
            pass
    return {
        "device": str(device),
        "device_name": name,
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "fastgan": __version__,
        "fastgan_build": _native.build_info(),
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "copy_bandwidth_gbps": copy_gbps,
        "copy_bandwidth_gbps_by_bytes": (
            {str(size): gbps for size, gbps in by_size.items()} if by_size else None
        ),
    }


def row_to_dict(row: Row) -> dict[str, object]:
    return asdict(row)


def format_table(rows: Sequence[Row], markdown: bool = False) -> str:
    """The rows as a fixed-width terminal table, or as a Markdown table."""
    header = [
        "op",
        "pass",
        "shape",
        "dtype",
        "params",
        "fused ms",
        "IQR %",
        "eager ms",
        "compiled ms",
        "x eager",
        "x compiled",
        "GB/s",
        "% copy",
        "peak MiB f/e/c",
        "img/s f/e/c",
    ]

    def ms(row: Row, impl: str) -> str:
        t = row.timings.get(impl)
        return f"{t.median_ms:.3f}" if t else "-"

    def spread(row: Row, impl: str) -> str:
        # The interquartile range of the timed calls, in % of their median.
        t = row.timings.get(impl)
        return f"{100 * (t.p75_ms - t.p25_ms) / t.median_ms:.0f}" if t and t.median_ms else "-"

    def num(v: float | None, fmt: str) -> str:
        return format(v, fmt) if v is not None else "-"

    def per_impl(values: dict[str, float] | None, fmt: str) -> str:
        if not values:
            return "-"
        return "/".join(num(values.get(impl), fmt) for impl in IMPLS)

    lines = [
        [
            row.op,
            row.mode,
            "x".join(map(str, row.shape)),
            row.dtype,
            row.params,
            ms(row, "fused"),
            spread(row, "fused"),
            ms(row, "eager"),
            ms(row, "compiled"),
            num(row.speedup_vs_eager, ".2f"),
            num(row.speedup_vs_compiled, ".2f"),
            num(row.fused_gbps, ".1f"),
            num(row.fused_pct_of_copy, ".1f"),
            per_impl(row.peak_memory_mib, ".0f"),
            per_impl(row.items_per_sec, ".1f"),
        ]
        for row in rows
    ]
    return text_table(header, lines, left=5, markdown=markdown)


class ResultsFileError(ValueError):
    """A file that is not readable as the JSON that `fastgan bench --json` writes."""


def load_results(path: str) -> dict[str, object]:
    """Reads a `fastgan bench --json` file: {"environment", "command", "rows"}; checks that every
    row has the fields that name it (op, mode, shape, dtype, params) and a fused median time.
    Raises ResultsFileError naming the file, what was expected and what came."""

    def fail(what: str) -> ResultsFileError:
        return ResultsFileError(f"{path}: {what}")

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise fail("no such file") from None
    except IsADirectoryError:
        raise fail("expected a JSON file, got a directory") from None
    except UnicodeDecodeError:
        raise fail("expected a JSON file, got binary data") from None
    except json.JSONDecodeError as e:
        raise fail(
            f"expected JSON, got a parse error at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None
    except OSError as e:
        raise fail(f"cannot read it ({e.strerror})") from None
    expected = 'a `fastgan bench --json` file (an object with "environment" and "rows")'
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        json_types = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        got = (
            f"an object with keys {sorted(data)}"
            if isinstance(data, dict)
            else json_types.get(type(data), "a number")
        )
        raise fail(f"expected {expected}, got {got}")
    if not isinstance(data.get("environment"), dict):
        raise fail(f"expected {expected}, got no environment object")
    for i, row in enumerate(data["rows"]):
        missing = (
            [k for k in ("op", "mode", "shape", "dtype", "params", "timings") if k not in row]
            if isinstance(row, dict)
            else ["(not an object)"]
        )
        if not missing:
            fused = row["timings"].get("fused") if isinstance(row["timings"], dict) else None
            if not isinstance(fused, dict) or not isinstance(fused.get("median_ms"), int | float):
                missing = ["timings.fused.median_ms"]
        if missing:
            raise fail(f"row {i}: expected the fields of a bench row, missing {', '.join(missing)}")
    return data


def row_key(row: dict) -> tuple[str, str, str, str, str]:
    """What identifies a row across runs: (op, mode, shape, dtype, params)."""
    shape = (
        "x".join(map(str, row["shape"])) if isinstance(row["shape"], list) else str(row["shape"])
    )
    return (str(row["op"]), str(row["mode"]), shape, str(row["dtype"]), str(row["params"]))


def row_label(row: dict) -> str:
    """op/mode/shape/dtype[/params], for tables and plots."""
    return "/".join(part for part in row_key(row) if part)


def text_table(
    header: Sequence[str], lines: Sequence[Sequence[str]], left: int = 1, markdown: bool = False
) -> str:
    """A fixed-width table (the first `left` columns aligned left, the rest right), or Markdown."""
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max([len(h), *(len(line[i]) for line in lines)]) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" if i < left else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(
        [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
        + [fmt.format(*line) for line in lines]
    )
