"""Shared pytest-benchmark plumbing: one parametrised test per op, from fastgan.bench's cases.

The cases and the implementations (fused / eager reference / torch.compile(reference)) come from
fastgan.bench, the harness behind `fastgan bench`; pytest-benchmark groups each case's three rows.
"""

import itertools

import pytest
import torch

from fastgan.bench import CASES
from fastgan.bench.harness import input_sets_for, synchronize

DEVICES = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def case_params(op: str) -> list:
    """(case, impl) pairs of `op` on every device: float32, plus bfloat16 on the GPU."""
    params = []
    for device in DEVICES:
        dtypes = [torch.float32, torch.bfloat16] if device.type == "cuda" else [torch.float32]
        for dtype in dtypes:
            for case in CASES[op](device, dtype):
                shape = "x".join(map(str, case.shape))
                label = f"{device.type}-{case.mode}-{case.params}-{shape}-{dtype}"
                params += [pytest.param(case, impl, id=f"{label}-{impl}") for impl in case.impls]
    return params


def run_case(benchmark, case, impl: str) -> None:
    """Times one implementation of one case, rotating input sets so caches do not serve them."""
    input_sets = input_sets_for(case)
    fn = case.impls[impl]
    counter = itertools.count()

    def call():
        fn(input_sets[next(counter) % len(input_sets)])
        synchronize(case.device)

    shape = "x".join(map(str, case.shape))
    benchmark.group = f"{case.op} {case.mode} {case.params} {shape} {case.dtype} {case.device}"
    benchmark.pedantic(
        call,
        warmup_rounds=min(3, case.max_warmup or 3),
        rounds=min(20, case.max_runs or 20),
        iterations=1,
    )
