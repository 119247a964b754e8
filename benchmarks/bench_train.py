"""pytest-benchmark suite for training iterations (16 per call, the amortised regularisation
included) of the default preset: `pytest benchmarks/bench_train.py --benchmark-only`."""

import pytest

from benchmarks._suite import case_params, run_case


@pytest.mark.parametrize("case, impl", case_params("train"))
def test_train(benchmark, case, impl):
    run_case(benchmark, case, impl)
