"""pytest-benchmark suite for bias_act: `pytest benchmarks/ --benchmark-only`.

The cases and the implementations (fused / eager reference / torch.compile(reference)) come from
fastgan.bench, the harness behind `fastgan bench`; pytest-benchmark groups each case's three rows.
"""

import itertools

import pytest
import torch

from fastgan.bench import CASES
from fastgan.bench.harness import input_sets_for, synchronize

DEVICES = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def _params():
    for device in DEVICES:
        dtypes = [torch.float32, torch.bfloat16] if device.type == "cuda" else [torch.float32]
        for dtype in dtypes:
            for case in CASES["bias_act"](device, dtype):
                shape = "x".join(map(str, case.shape))
                for impl in case.impls:
                    yield pytest.param(
                        case, impl, id=f"{device.type}-{case.mode}-{shape}-{dtype}-{impl}"
                    )


@pytest.mark.parametrize("case, impl", list(_params()))
def test_bias_act(benchmark, case, impl):
    input_sets = input_sets_for(case)
    fn = case.impls[impl]
    counter = itertools.count()

    def call():
        fn(input_sets[next(counter) % len(input_sets)])
        synchronize(case.device)

    benchmark.group = (
        f"bias_act {case.mode} {'x'.join(map(str, case.shape))} {case.dtype} {case.device}"
    )
    benchmark.pedantic(call, warmup_rounds=3, rounds=20, iterations=1)
