"""pytest-benchmark suite for styledconv:
`pytest benchmarks/bench_styledconv.py --benchmark-only`."""

import pytest

from benchmarks._suite import case_params, run_case


@pytest.mark.parametrize("case, impl", case_params("styledconv"))
def test_styledconv(benchmark, case, impl):
    run_case(benchmark, case, impl)
