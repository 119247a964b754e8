"""Benchmark harness shared by `fastgan bench` and the pytest-benchmark suites in benchmarks/."""

from fastgan.bench.cases import CASES, DEFAULT_SHAPES
from fastgan.bench.harness import Case, Row, copy_bandwidth_gbps, format_table, run_case

__all__ = [
    "CASES",
    "DEFAULT_SHAPES",
    "Case",
    "Row",
    "copy_bandwidth_gbps",
    "format_table",
    "run_case",
]
