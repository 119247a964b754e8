"""pytest-benchmark suite for minibatch_stddev:
`pytest benchmarks/bench_minibatch_stddev.py --benchmark-only`."""

import pytest

from benchmarks._suite import case_params, run_case


@pytest.mark.parametrize("case, impl", case_params("minibatch_stddev"))
def test_minibatch_stddev(benchmark, case, impl):
    run_case(benchmark, case, impl)
