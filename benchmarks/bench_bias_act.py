"""pytest-benchmark suite for bias_act: `pytest benchmarks/bench_bias_act.py --benchmark-only`."""

import pytest

from benchmarks._suite import case_params, run_case


@pytest.mark.parametrize("case, impl", case_params("bias_act"))
def test_bias_act(benchmark, case, impl):
    run_case(benchmark, case, impl)
