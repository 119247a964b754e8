"""pytest-benchmark suite for upfirdn2d (2x up, 2x down, blur; 4-tap filter):
`pytest benchmarks/bench_upfirdn2d.py --benchmark-only`."""

import pytest

from benchmarks._suite import case_params, run_case


@pytest.mark.parametrize("case, impl", case_params("upfirdn2d"))
def test_upfirdn2d(benchmark, case, impl):
    run_case(benchmark, case, impl)
