"""pytest-benchmark suite for minibatch_discrimination:
`pytest benchmarks/bench_minibatch_discrimination.py --benchmark-only`."""

import pytest

from benchmarks._suite import case_params, run_case


@pytest.mark.parametrize("case, impl", case_params("minibatch_discrimination"))
def test_minibatch_discrimination(benchmark, case, impl):
    run_case(benchmark, case, impl)
