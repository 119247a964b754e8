"""pytest-benchmark suite for styled_bias_act:
`pytest benchmarks/bench_styled_bias_act.py --benchmark-only`."""

import pytest

from benchmarks._suite import case_params, run_case


@pytest.mark.parametrize("case, impl", case_params("styled_bias_act"))
def test_styled_bias_act(benchmark, case, impl):
    run_case(benchmark, case, impl)
