import os
import random
import subprocess
import sys

import pytest
import torch

from fastgan import _native

# Pillow is a dependency of fastgan's data, image and training code; where it cannot be installed
# (an offline machine), those tests are left out rather than failing to import.
try:
    import PIL  # noqa: F401
except ImportError:
    collect_ignore = [
        "data",
        "metrics",
        "train",
        "utils/test_images.py",
        "utils/test_tensorboard.py",
    ]

CUDA_READY = torch.cuda.is_available() and _native.has_kernel("bias_act", "cuda")
CUDA_SKIP_REASON = (
    "no CUDA device" if not torch.cuda.is_available() else "fastgan was built without CUDA kernels"
)


# The emulated CUDA build is loaded (FASTGAN_CUDA_EMU): the CPU kernels are the CUDA code.
CUDA_EMULATED = bool(_native.build_info().get("cuda_emulation"))
# ... instrumented by ThreadSanitizer or AddressSanitizer (one OS thread per CUDA thread, every
# access checked): tests may shrink sizes that only add volume, keeping each launch path.
SANITIZED = CUDA_EMULATED and os.environ.get("FASTGAN_CUDA_EMU", "") in ("tsan", "asan")


def cuda_param(value="cuda", emulated=True):
    """A parameter value that runs only where a GPU and fastgan's CUDA kernels are present.

    Under the emulated CUDA build it runs on CPU tensors instead (id 'cuda-emu'), unless
    `emulated` is False: for tests that need the GPU itself (streams, memory, sizes beyond the
    CPU's reach) or that compare the CUDA kernels with the CPU ones (both emulated there)."""
    if CUDA_EMULATED and emulated:
        return pytest.param("cpu", id="cuda-emu", marks=[pytest.mark.cuda_emu])
    return pytest.param(
        value, marks=[pytest.mark.cuda, pytest.mark.skipif(not CUDA_READY, reason=CUDA_SKIP_REASON)]
    )


# Under the emulated CUDA build, "cpu" would run the same (emulated) kernels a second time.
DEVICES = [cuda_param()] if CUDA_EMULATED else ["cpu", cuda_param()]


@pytest.fixture(autouse=True)
def fresh_seed():
    """Fresh random inputs on every run; the seed is printed so a failure can be replayed with
    FASTGAN_TEST_SEED=<seed>."""
    seed = int(os.environ.get("FASTGAN_TEST_SEED", random.randrange(2**31)))
    torch.manual_seed(seed)
    print(f"FASTGAN_TEST_SEED={seed}")
    yield


def rel_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref||, in float64; NaN anywhere gives inf (never passes)."""
    out, ref = out.double().cpu(), ref.double().cpu()
    if out.shape != ref.shape:
        raise AssertionError(f"shape {tuple(out.shape)} != reference shape {tuple(ref.shape)}")
    if torch.isnan(out).any() or torch.isnan(ref).any():
        return float("inf")
    denom = ref.norm().item()
    return (out - ref).norm().item() / (denom if denom > 0 else 1.0)


# ||out - ref|| / ||ref|| bounds against a float64 reference, per dtype (DESIGN.md, Measuring).
TOLERANCE = {
    torch.float64: 1e-12,
    torch.float32: 1e-5,
    torch.float16: 5e-3,
    torch.bfloat16: 1e-2,
}


def run_with_baseline_cpu_kernels(test_file: str, selection: str) -> None:
    """Runs the tests of test_file matching `-k selection` in a fresh process whose CPU kernels
    are the baseline x86-64 build (FASTGAN_CPU_ISA=default, what CPUs without AVX2 run); fails
    with their output unless they all pass."""
    if CUDA_EMULATED:
        pytest.skip(
            "the emulated CUDA build replaces the CPU kernels: no baseline CPU kernel to run"
        )
    env = dict(os.environ, FASTGAN_CPU_ISA="default")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            test_file,
            "-k",
            selection,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
