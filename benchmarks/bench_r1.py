"""pytest-benchmark suite for the R1 penalty's fused part (per-sample squared gradient norm):
`pytest benchmarks/bench_r1.py --benchmark-only`."""

import pytest

from benchmarks._suite import case_params, run_case


@pytest.mark.parametrize("case, impl", case_params("r1"))
def test_r1(benchmark, case, impl):
    run_case(benchmark, case, impl)
