"""The `fastgan` command: info, and bench on tiny shapes (JSON and Markdown written)."""

import json
import subprocess
import sys

import pytest

from fastgan.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fastgan", *args], capture_output=True, text=True, timeout=600
    )


def test_info_lists_ops_and_build():
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    assert "bias_act" in result.stdout and "torch" in result.stdout
    info = json.loads(run_cli("info", "--json").stdout)
    assert info["build"]["loaded"] is True
    assert info["ops"]["bias_act"]["cpu"] is True
    assert info["ops"]["bias_act_backward"]["cpu"] is True
    assert isinstance(info["build"]["cuda_archs"], list)


def test_bench_tiny_shape_writes_json_and_markdown(tmp_path, capsys):
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    code = main(
        [
            "bench",
            "bias_act",
            "--device",
            "cpu",
            "--shape",
            "2x8x16x16",
            "--runs",
            "5",
            "--warmup",
            "1",
            "--json",
            str(out_json),
            "--markdown",
            str(out_md),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "bias_act" in table and "fwd+bwd" in table
    data = json.loads(out_json.read_text())
    assert data["environment"]["torch"] and data["environment"]["date"]
    rows = data["rows"]
    assert [r["mode"] for r in rows] == ["fwd", "fwd+bwd"]
    for row in rows:
        assert row["shape"] == [2, 8, 16, 16] and row["dtype"] == "float32"
        assert set(row["timings"]) == {"fused", "eager", "compiled"}
        assert all(t["median_ms"] > 0 and t["runs"] >= 5 for t in row["timings"].values())
        assert row["speedup_vs_eager"] > 0 and row["speedup_vs_compiled"] > 0
        assert row["rel_error_vs_eager"] < 1e-5
        assert row["bytes_moved"] == (2 if row["mode"] == "fwd" else 6) * 2 * 8 * 16 * 16 * 4
    assert "| bias_act | fwd |" in out_md.read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["bench", "nope"], "unknown op(s) nope"),
        (["bench", "--shape", "3"], "expected a shape"),
        (["bench", "--dtype", "int8"], "expected one of"),
    ],
)
def test_bench_bad_arguments(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
