"""`fastgan bench` JSON, `fastgan bench compare`, `fastgan bench plot` and `fastgan profile`,
on tiny CPU shapes."""

import copy
import json
import sys
import time

import pytest
import torch

from fastgan.bench.compare import compare_results
from fastgan.bench.harness import load_results
from fastgan.bench.profile import op_category, profile_training
from fastgan.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory) -> str:
    """One small `fastgan bench --json` run, shared by the tests of this module."""
    path = tmp_path_factory.mktemp("bench") / "A.json"
    args = ["bench", "bias_act", "r1", "--device", "cpu", "--shape", "2x4x8x8"]
    assert main([*args, "--runs", "3", "--warmup", "1", "--json", str(path)]) == 0
    return str(path)


def write_json(path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert len(data) > 5000, f"{path} is only {len(data)} bytes"


def timing(ms: float) -> dict:
    return {"median_ms": ms, "p25_ms": ms, "p75_ms": ms, "runs": 5}


def test_bench_json_schema(bench_json):
    data = json.loads(open(bench_json).read())
    assert {"device", "device_name", "torch", "date"} <= set(data["environment"])
    assert data["environment"]["device"] == "cpu"
    assert isinstance(data["command"], str)
    rows = data["rows"]
    assert [(r["op"], r["mode"]) for r in rows] == [
        ("bias_act", "fwd"),
        ("bias_act", "fwd+bwd"),
        ("r1", "fwd"),
        ("r1", "fwd+bwd"),
    ]
    for row in rows:
        assert row["shape"] == [2, 4, 8, 8] and row["dtype"] == "float32"
        assert isinstance(row["params"], str)
        assert set(row["timings"]) == {"fused", "eager", "compiled"}
        for t in row["timings"].values():
            assert set(t) == {"median_ms", "p25_ms", "p75_ms", "runs"}
            assert t["median_ms"] > 0 and t["runs"] >= 1
        assert row["speedup_vs_eager"] > 0
        # Memory-bound: GB/s and % of the copy bandwidth measured at the same bytes moved.
        assert row["bytes_moved"] > 0 and row["fused_gbps"] > 0 and row["copy_gbps"] > 0
        assert row["fused_pct_of_copy"] == pytest.approx(100 * row["fused_gbps"] / row["copy_gbps"])
    by_bytes = data["environment"]["copy_bandwidth_gbps_by_bytes"]
    assert [int(b) for b in by_bytes] == [1 << k for k in range(16, 31, 2)]
    assert all(v > 0 for v in by_bytes.values())
    assert data["environment"]["copy_bandwidth_gbps"] == by_bytes[str(1 << 30)]
    assert load_results(bench_json)["rows"] == rows


def test_copy_limit_picks_the_nearest_size():
    from fastgan.bench.harness import copy_limit

    curve = {1 << 16: 100.0, 1 << 20: 50.0, 1 << 30: 10.0}
    assert copy_limit(curve, 1 << 15) == 100.0
    assert copy_limit(curve, 3 << 18) == 50.0  # 768 KiB: nearer 1 MiB than 64 KiB on a log scale
    assert copy_limit(curve, 1 << 40) == 10.0
    assert copy_limit(123.0, 1 << 20) == 123.0  # one figure (GPU)
    assert copy_limit(None, 1 << 20) is None


def test_compare_with_itself(bench_json, capsys):
    data = load_results(bench_json)
    comparison = compare_results(data, data)
    assert len(comparison.matched) == 4 and not comparison.only_a and not comparison.only_b
    for m in comparison.matched:
        assert m.ratio("fused") == m.ratio("eager") == m.ratio("compiled") == 1.0
    assert main(["bench", "compare", bench_json, bench_json, "--fail-if-slower", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("1.000") == 12 and "bias_act" in out and "fwd+bwd" in out


def test_compare_fails_on_a_slower_row(bench_json, tmp_path, capsys):
    data = load_results(bench_json)
    slower = copy.deepcopy(data)
    for row in slower["rows"]:
        row["timings"]["fused"]["median_ms"] *= 3
    slower["rows"][-1]["shape"] = [9, 9]  # a row only in B (and its original only in A)
    b = write_json(tmp_path / "B.json", slower)
    assert main(["bench", "compare", bench_json, b]) == 0  # no gate, no failure
    out = capsys.readouterr().out
    assert "3.000" in out and "only in" in out and "r1/fwd+bwd/9x9/float32" in out
    assert main(["bench", "compare", bench_json, b, "--fail-if-slower", "10"]) == 1
    err = capsys.readouterr().err
    assert "3 row(s) more than 10% slower" in err
    assert "bias_act/fwd/2x4x8x8/float32" in err and "+200.0%" in err
    assert main(["bench", "compare", bench_json, b, "--fail-if-slower", "250"]) == 0


def test_compare_bad_input(bench_json, tmp_path, capsys):
    bad = {
        "missing.json": None,
        "text.json": "not json {",
        "list.json": "[1, 2]",
        "norows.json": json.dumps({"environment": {}, "results": []}),
        "badrow.json": json.dumps({"environment": {}, "rows": [{"op": "bias_act"}]}),
    }
    for name, text in bad.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        assert main(["bench", "compare", bench_json, str(path)]) == 2, name
        err = capsys.readouterr().err
        assert f"fastgan bench compare: {path}:" in err, err
    with pytest.raises(SystemExit) as exc:
        main(["bench", "compare", bench_json, bench_json, "--fail-if-slower", "-5"])
    assert exc.value.code == 2
    assert "--fail-if-slower" in capsys.readouterr().err


def test_bench_still_takes_op_names_and_help_names_subcommands(capsys):
    assert main(["bench", "no_such_op"]) == 2
    assert "compare and plot" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "fastgan bench compare" in out and "fastgan bench plot" in out


def test_plot_writes_pngs(bench_json, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "plots"
    assert main(["bench", "plot", bench_json, "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert_png(out_dir / "speedup.png")
    assert_png(out_dir / "bandwidth.png")  # % of the copy bandwidth at each row's size
    assert "shows GB/s" not in out and "train.png skipped" in out
    assert not (out_dir / "train.png").exists()
    assert f"wrote {out_dir / 'speedup.png'}" in out


def test_plot_gbps_without_copy_bandwidth(bench_json, tmp_path, capsys):
    """A file whose rows have GB/s but no % of copy (an older CPU run) gets a GB/s chart."""
    pytest.importorskip("matplotlib")
    data = json.loads(open(bench_json).read())
    for row in data["rows"]:
        row["fused_pct_of_copy"] = row["copy_gbps"] = None
    path = write_json(tmp_path / "old.json", data)
    assert main(["bench", "plot", path, "--out", str(tmp_path / "plots")]) == 0
    assert "bandwidth.png shows GB/s" in capsys.readouterr().out
    assert_png(tmp_path / "plots" / "bandwidth.png")


def test_plot_train_rows_and_copy_bandwidth(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rows = [
        {
            "op": "bias_act",
            "mode": "fwd",
            "shape": [16, 128, 256, 256],
            "dtype": "bfloat16",
            "params": "lrelu",
            "timings": {"fused": timing(1.0), "eager": timing(3.0), "compiled": timing(1.5)},
            "speedup_vs_eager": 3.0,
            "speedup_vs_compiled": 1.5,
            "fused_gbps": 2900.0,
            "fused_pct_of_copy": 87.0,
        }
    ]
    for res, (fused, eager, compiled) in {16: (900, 300, 500), 64: (200, 80, 150)}.items():
        rows.append(
            {
                "op": "train",
                "mode": "iteration",
                "shape": [32, 3, res, res],
                "dtype": "float32",
                "params": "paper256,16 it",
                "timings": {"fused": timing(1.0), "eager": timing(3.0), "compiled": timing(2.0)},
                "speedup_vs_eager": 3.0,
                "speedup_vs_compiled": 2.0,
                "items_per_sec": {"fused": fused, "eager": eager, "compiled": compiled},
            }
        )
    env = {"device": "cuda", "device_name": "test GPU", "torch": "x", "date": "x"}
    path = write_json(tmp_path / "gpu.json", {"environment": env, "command": "", "rows": rows})
    out_dir = tmp_path / "plots"
    assert main(["bench", "plot", path, "--out", str(out_dir)]) == 0
    for name in ("speedup.png", "bandwidth.png", "train.png"):
        assert_png(out_dir / name)
    assert "skipped" not in capsys.readouterr().out


def test_plot_errors(tmp_path, monkeypatch, capsys):
    assert main(["bench", "plot", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: no such file" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["bench", "plot", str(tmp_path / "missing.json")]) == 2
    assert "pip install matplotlib" in capsys.readouterr().err


def test_op_category():
    assert op_category("fastgan::bias_act") == "fastgan"
    assert op_category("GeneratedBackwardFor_fastgan_upfirdn2d_default") == "fastgan"
    for name in (
        "aten::conv2d",
        "aten::mkldnn_convolution",
        "aten::cudnn_convolution",
        "autograd::engine::evaluate_function: ConvolutionBackward0",
    ):
        assert op_category(name) == "convolution", name
    for name in ("aten::mm", "aten::_convert_indices_from_coo_to_csr", "train_step"):
        assert op_category(name) is None, name


@pytest.fixture
def one_thread():
    """One intra-op thread: on a 2-core machine shared with other jobs, two OpenMP threads make
    these tiny training steps 100x slower (they wait on each other), one does not."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_profile_tiny_preset(tmp_path, capsys, one_thread):
    pytest.importorskip("PIL")  # the training code's image utilities
    out_dir = tmp_path / "profile"
    args = ["--cfg", "tiny", "--batch", "4", "--res", "8", "--steps", "2", "--warmup", "1"]
    assert main(["profile", *args, "--device", "cpu", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "fastgan::bias_act" in out and "convolutions" in out
    trace = (out_dir / "trace.json").read_text()
    assert '"fastgan::bias_act"' in trace and '"train_step"' in trace
    json.loads(trace)
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["basis"] == "self CPU time" and summary["run"]["steps"] == 2
    ops = {r["name"]: r for r in summary["fastgan_ops"]}
    assert {"fastgan::bias_act", "fastgan::styled_bias_act", "fastgan::upfirdn2d"} <= set(ops)
    assert all(r["calls"] > 0 and r["total_ms"] > 0 for r in ops.values())
    split = summary["split"]
    assert split["fastgan"]["ms"] > 0 and split["convolution"]["ms"] > 0
    assert sum(v["share"] for v in split.values()) == pytest.approx(1.0)
    # Self times: the top rows never add up to more than the profiled time.
    assert sum(r["share"] for r in summary["top"]) <= 1.0 + 1e-9
    assert "| fastgan::bias_act |" in (out_dir / "summary.md").read_text()


def test_profile_bad_settings(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["profile", "--steps", "0"])
    assert exc.value.code == 2 and "--steps: expected an integer >= 1" in capsys.readouterr().err
    assert main(["profile", "--res", "6", "--device", "cpu", "--out", str(tmp_path)]) == 2
    assert "expected --res a power of two" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--warmup"):
        profile_training(warmup=-1, out=tmp_path)


def test_summarize_cuda_counts_kernels_once():
    """On CUDA the shares come from kernel time: the GPU-side mirror of record_function (a user
    annotation spanning every kernel) is left out, and each kernel's time goes to the outermost
    fastgan or convolution op that launched it."""
    from types import SimpleNamespace

    from fastgan.bench.profile import summarize

    cpu, cuda = torch.autograd.DeviceType.CPU, torch.autograd.DeviceType.CUDA

    def cpu_event(name, parent, own_kernel_us, total_kernel_us, cpu_us):
        return SimpleNamespace(
            name=name,
            key=name,
            count=1,
            cpu_parent=parent,
            device_type=cpu,
            is_async=False,
            is_user_annotation=False,
            self_device_time_total=own_kernel_us,
            device_time_total=total_kernel_us,
            self_cpu_time_total=cpu_us,
            cpu_time_total=cpu_us,
        )

    step = cpu_event("train_step", None, 0, 35, 100)
    bias_act = cpu_event("fastgan::bias_act", step, 5, 5, 10)
    conv = cpu_event("aten::conv2d", step, 0, 20, 10)
    cudnn = cpu_event("aten::cudnn_convolution", conv, 20, 20, 10)
    mm = cpu_event("aten::mm", step, 10, 10, 10)
    kernels = [
        SimpleNamespace(
            key=name,
            count=1,
            device_type=cuda,
            is_user_annotation=annotation,
            self_device_time_total=us,
            device_time_total=us,
            self_cpu_time_total=0,
            cpu_time_total=0,
        )
        for name, us, annotation in (
            ("bias_act_kernel", 5, False),
            ("sm90_xmma_fprop", 20, False),
            ("gemm", 10, False),
            ("train_step", 35, True),
        )
    ]
    cpu_events = [step, bias_act, conv, cudnn, mm]
    prof = SimpleNamespace(key_averages=lambda: cpu_events + kernels, events=lambda: cpu_events)
    summary = summarize(prof, "cuda", top=10)
    assert summary["basis"] == "self CUDA time"
    assert summary["profiled_ms"] == pytest.approx(0.035)
    assert [r["name"] for r in summary["top"]] == ["sm90_xmma_fprop", "gemm", "bias_act_kernel"]
    shares = {k: v["share"] for k, v in summary["split"].items()}
    assert shares == pytest.approx({"fastgan": 5 / 35, "convolution": 20 / 35, "other": 10 / 35})
    [op] = summary["fastgan_ops"]
    assert op["name"] == "fastgan::bias_act" and op["total_ms"] == pytest.approx(0.005)


def test_default_shapes_are_stylegan2_feature_maps_per_resolution():
    from fastgan.bench.cases import CASES, DEFAULT_SHAPES, ladder_shapes

    # StyleGAN2's channels min(512, channel_base / R): the paper's network on the GPU (4 to
    # 1024), its 256x256 configuration at batch 4 on the CPU (4 to 128).
    assert DEFAULT_SHAPES["cuda"][0] == (32, 512, 4, 4)
    assert DEFAULT_SHAPES["cuda"][-1] == (32, 32, 1024, 1024)
    assert [s[2] for s in DEFAULT_SHAPES["cpu"]] == [4, 8, 16, 32, 64, 128]
    assert DEFAULT_SHAPES["cpu"][-1] == (4, 128, 128, 128)
    assert ladder_shapes("cpu", min_resolution=64) == [(4, 256, 64, 64), (4, 128, 128, 128)]
    # Every op runs at every resolution of its ladder, forward and forward + backward.
    device = torch.device("cpu")
    shapes = {c.shape for c in CASES["bias_act"](device, torch.float32)}
    assert shapes == set(DEFAULT_SHAPES["cpu"])
    modes = [c.mode for c in CASES["upfirdn2d"](device, torch.float32)]
    assert modes.count("fwd") == modes.count("fwd+bwd") == 3 * 5  # up, down, blur at 8..128


class CountingCall:
    """A call that counts how often it ran and takes `seconds` each time."""

    def __init__(self, seconds: float = 0.0):
        self.seconds, self.calls = seconds, 0

    def __call__(self, inputs):
        self.calls += 1
        if self.seconds:
            time.sleep(self.seconds)


def test_warm_up_counts_earlier_calls_and_budget():
    from fastgan.bench.harness import time_calls, warm_up

    cpu = torch.device("cpu")
    # Calls already made (the output check) count: a slow call gets no more warm-up.
    fn = CountingCall(0.02)
    warm_up(fn, [()], cpu, warmup=5, max_seconds=0.01, warm=(1, 0.02))
    assert fn.calls == 0
    # Without earlier calls, at least min_warmup untimed calls, even past the budget.
    fn = CountingCall(0.02)
    warm_up(fn, [()], cpu, warmup=5, max_seconds=0.01, min_warmup=2)
    assert fn.calls == 2
    # A fast call warms up to the cap of `warmup` calls.
    fn = CountingCall()
    warm_up(fn, [()], cpu, warmup=4, max_seconds=10.0)
    assert fn.calls == 4
    # time_calls: that warm-up, then `runs` timed calls, or at least min_runs within the budget.
    fn = CountingCall()
    t = time_calls(fn, [()], cpu, warmup=4, runs=7, max_seconds=10.0)
    assert (fn.calls, t.runs) == (11, 7)
    fn = CountingCall(0.02)
    t = time_calls(fn, [()], cpu, warmup=1, runs=50, max_seconds=0.01, min_runs=3)
    assert (fn.calls, t.runs) == (4, 3)
    assert 15 < t.median_ms < 200


def test_run_case_compiled_is_warmed_and_memory_is_measured():
    """A case capped at no warm-up still compiles untimed; peak memory comes from the first
    timed call of each column."""
    from fastgan.bench.harness import Case, run_case

    calls = {name: CountingCall() for name in ("fused", "eager", "compiled")}

    def make_impl(name):
        def impl(inputs):
            calls[name](inputs)
            # 64 MiB touched and freed: the peak resident set grows by about that much.
            return torch.ones(16 * 2**20)

        return impl

    case = Case(
        "toy",
        "fwd",
        (4,),
        torch.float32,
        torch.device("cpu"),
        lambda: (),
        {name: make_impl(name) for name in calls},
        measure_memory=True,
        check_output=False,
        max_warmup=0,
        max_runs=3,
    )
    row = run_case(case, warmup=5, runs=50, max_seconds=0.0)
    assert {name: c.calls for name, c in calls.items()} == {"fused": 3, "eager": 3, "compiled": 4}
    assert all(t.runs == 3 for t in row.timings.values())
    if sys.platform.startswith("linux"):  # /proc/self/clear_refs
        assert row.peak_memory_mib is not None
    if row.peak_memory_mib is not None:
        assert set(row.peak_memory_mib) == {"fused", "eager", "compiled"}
        assert all(40 < mib < 200 for mib in row.peak_memory_mib.values()), row.peak_memory_mib


def test_time_interleaved_rounds_rotate_and_share_the_budget():
    """Implementations are timed in rounds of one call each, in a rotating order, so that a
    slow spell of the machine falls on all of them; the budget is per implementation."""
    from fastgan.bench.harness import time_interleaved

    order = []

    def recorder(name, seconds=0.0):
        def fn(inputs):
            order.append((name, inputs))
            if seconds:
                time.sleep(seconds)

        return fn

    cpu = torch.device("cpu")
    fns = {name: recorder(name) for name in "abc"}
    times = time_interleaved(fns, [(0,), (1,)], cpu, runs=4, max_seconds=10.0)
    assert "".join(name for name, _ in order) == "abc" + "bca" + "cab" + "abc"
    # Each round gives every implementation the same input set, rotating through the sets.
    assert [inputs[0] for _, inputs in order] == [0] * 3 + [1] * 3 + [0] * 3 + [1] * 3
    assert all(len(t) == 4 for t in times.values())
    # A slow implementation ends the rounds once max_seconds per implementation are spent,
    # after at least min_runs; the fast one is timed in the same rounds, and comes out faster.
    order.clear()
    fns = {"slow": recorder("slow", 0.02), "fast": recorder("fast")}
    times = time_interleaved(fns, [()], cpu, runs=100, max_seconds=0.01, min_runs=3)
    assert len(times["slow"]) == len(times["fast"]) == 3
    assert max(times["fast"]) < 5 < 15 < min(times["slow"])


def test_paired_speedup_cancels_a_slow_spell():
    """The speed-up is the median of the ratios within each round: a spell that slows every
    implementation alike does not move it, where the ratio of the medians would."""
    from fastgan.bench.harness import paired_speedup

    # Rounds 0-1 ran in a slow spell (10x), rounds 2-4 in a fast one; fused is 2x eager in each.
    times = {"fused": [10.0, 10.0, 1.0, 1.0, 1.0], "eager": [20.0, 20.0, 2.0, 2.0, 2.0]}
    assert paired_speedup(times, "eager") == pytest.approx(2.0)
    # A spell that caught fused's call of round 2 but not eager's: the ratio of the medians would
    # be 0.2x; the median of the ratios stays 2x.
    times = {"fused": [10.0, 10.0, 10.0, 1.0, 1.0], "eager": [20.0, 20.0, 2.0, 2.0, 2.0]}
    assert paired_speedup(times, "eager") == pytest.approx(2.0)
    assert paired_speedup({"fused": [1.0, 2.0, 3.0]}, "compiled") is None
