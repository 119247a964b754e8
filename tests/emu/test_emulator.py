"""The CUDA emulation checks what it claims to: launch limits, shared memory filled with NaN,
warp intrinsics, and that its sanitizer builds catch a missing __syncthreads (ThreadSanitizer)
and an out-of-bounds global read (AddressSanitizer).

Each test runs a script in a fresh process that loads an emulated build (FASTGAN_CUDA_EMU); the
sanitizer builds run under LD_PRELOAD of their runtime. A build that is absent is skipped with
the command that makes it (`python scripts/build_cuda_emu.py`); CI builds all three first.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

from fastgan._native import EMULATED_MODULES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def built(variant: str) -> bool:
    return importlib.util.find_spec(f"fastgan.{EMULATED_MODULES[variant]}") is not None


def needs(variant: str):
    return pytest.mark.skipif(
        not built(variant),
        reason=f"the {variant} emulated CUDA build is absent: "
        f"python scripts/build_cuda_emu.py {variant}",
    )


def sanitizer_runtime(name: str) -> str:
    """Path of the compiler's sanitizer runtime, e.g. libtsan.so."""
    cxx = os.environ.get("CXX", "g++")
    return subprocess.run(
        [cxx, f"-print-file-name={name}"], capture_output=True, text=True, check=True
    ).stdout.strip()


def run_emulated(script: str, variant: str = "plain", **env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, FASTGAN_CUDA_EMU=variant, OMP_NUM_THREADS="1", **env)
    environment.pop("FASTGAN_EMU_LAUNCH_LOG", None)
    if variant == "tsan":
        environment["LD_PRELOAD"] = sanitizer_runtime("libtsan.so")
        environment["TSAN_OPTIONS"] = "halt_on_error=0 exitcode=66"
    elif variant == "asan":
        environment["LD_PRELOAD"] = sanitizer_runtime("libasan.so")
        environment["ASAN_OPTIONS"] = "detect_leaks=0"
    prelude = "import torch, fastgan\nops = torch.ops.fastgan_emu\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=600,
    )


# --- launch checks (plain build) --------------------------------------------------------------

# (grid, block, dynamic shared bytes, opt-in bytes) -> a phrase of the error, or None: accepted.
LAUNCHES = {
    "largest block": ([1, 1, 1], [1024, 1, 1], 0, 0, None),
    "2048-thread block": ([1, 1, 1], [2048, 1, 1], 0, 0, "has 2048 threads"),
    "block.z 128": ([1, 1, 1], [2, 2, 128], 0, 0, "block.z <= 64"),
    "grid.y 70000": ([1, 70000, 1], [32, 1, 1], 0, 0, "65535 for grid.y and grid.z"),
    "grid.z 65535": ([1, 1, 65535], [1, 1, 1], 0, 0, None),
    "grid.x 2^32 + 1": ([2**32 + 1, 1, 1], [32, 1, 1], 0, 0, "grid.x was negative or above"),
    "grid.x 0": ([0, 1, 1], [32, 1, 1], 0, 0, "has no blocks"),
    "48 KiB dynamic shared": ([1, 1, 1], [32, 1, 1], 48 * 1024, 0, None),
    "64 KiB without opt-in": ([1, 1, 1], [32, 1, 1], 64 * 1024, 0, "must opt in"),
    "64 KiB with opt-in": ([1, 1, 1], [32, 1, 1], 64 * 1024, 64 * 1024, None),
    "opt-in above 227 KiB": ([1, 1, 1], [32, 1, 1], 0, 228 * 1024, "cudaFuncSetAttribute"),
}


@needs("plain")
def test_launch_limits():
    result = run_emulated(
        f"""
        import json
        results = {{}}
        for name, (grid, block, shared, optin, _) in {LAUNCHES!r}.items():
            try:
                ops.launch(grid, block, shared, optin)
                results[name] = None
            except RuntimeError as error:
                results[name] = str(error)
        print(json.dumps(results))
        """
    )
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout.splitlines()[-1])
    for name, (*_, expected) in LAUNCHES.items():
        if expected is None:
            assert results[name] is None, f"{name}: refused: {results[name]}"
        else:
            assert results[name] is not None, f"{name}: accepted"
            assert expected in results[name], f"{name}: {results[name]}"
            if "cudaFuncSetAttribute" not in expected:
                # A refused launch names the kernel and its launch site.
                assert "configured_kernel" in results[name], results[name]
                assert "emu_selftest_cuda.cu" in results[name], results[name]


@needs("plain")
def test_unknown_thread_mode_is_an_error():
    result = run_emulated("ops.launch([1, 1, 1], [32, 1, 1], 0, 0)", FASTGAN_EMU_THREADS="green")
    assert result.returncode != 0
    assert "FASTGAN_EMU_THREADS must be os or fibers" in result.stderr


@needs("plain")
def test_unknown_block_order_is_an_error():
    result = run_emulated(
        "ops.launch([2, 1, 1], [32, 1, 1], 0, 0)", FASTGAN_EMU_BLOCK_ORDER="sideways"
    )
    assert result.returncode != 0
    assert "FASTGAN_EMU_BLOCK_ORDER must be forward, reverse or random" in result.stderr


@needs("plain")
def test_fastgan_info_says_emulated():
    result = run_emulated("from fastgan.cli import main; main(['info'])")
    assert result.returncode == 0, result.stderr
    assert "EMULATED CUDA (plain)" in result.stdout


def test_unknown_emulation_variant_is_an_error():
    result = run_emulated("pass", variant="no-such-build")
    assert result.returncode != 0
    assert "FASTGAN_CUDA_EMU: expected one of" in result.stderr


# --- shared memory and warps (plain build) ----------------------------------------------------


THREAD_MODES = ["fibers", "os"]


@needs("plain")
@pytest.mark.parametrize("mode", THREAD_MODES)
@pytest.mark.parametrize("order", ["forward", "reverse", "random"])
def test_shared_memory_is_nan_before_every_block(order, mode):
    result = run_emulated(
        """
        out = ops.unwritten_shared(torch.empty(0))
        print(out.isnan().all().item())
        """,
        FASTGAN_EMU_BLOCK_ORDER=order,
        FASTGAN_EMU_THREADS=mode,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "True"


@needs("plain")
@pytest.mark.parametrize("mode", THREAD_MODES)
@pytest.mark.parametrize("threads", [32, 256, 1024])
def test_warp_shuffles_and_votes(threads, mode):
    result = run_emulated(
        f"""
        torch.manual_seed(0)
        x = torch.randn(4 * {threads})
        out = ops.warp_stats(x, {threads})
        warps = x.view(-1, 32)
        blocks = x.view(-1, {threads})
        expected = torch.stack([
            warps.sum(1),
            (warps > 0).sum(1).float(),
            warps.sum(1),
            (blocks > 0).sum(1).float().repeat_interleave({threads} // 32),
            (warps[:, 0] > 0).float(),
        ], 1)
        print(torch.allclose(out, expected, rtol=1e-5, atol=1e-5))
        """,
        FASTGAN_EMU_THREADS=mode,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "True"


@needs("plain")
@pytest.mark.parametrize("mode", THREAD_MODES)
def test_atomics(mode):
    result = run_emulated(
        """
        x = torch.randint(-1000, 1000, (700,), dtype=torch.int32)
        out = ops.atomics(x)
        expected = [x.sum().item(), x.max().item(), x.min().item(), 700]
        print(out.tolist() == expected, out.tolist(), expected)
        """,
        FASTGAN_EMU_THREADS=mode,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "True", result.stdout


@needs("plain")
def test_divergent_barriers_are_reported_as_a_deadlock():
    result = run_emulated(
        """
        try:
            ops.divergent_barrier()
        except RuntimeError as error:
            print(error)
        else:
            print("no error")
        """,
        FASTGAN_EMU_THREADS="fibers",
    )
    assert result.returncode == 0, result.stderr
    assert "divergent_barrier_kernel" in result.stdout and "deadlocked" in result.stdout, (
        result.stdout
    )


# --- sanitizers -------------------------------------------------------------------------------


@needs("tsan")
def test_thread_sanitizer_catches_a_missing_barrier():
    script = """
        x = torch.randn(256)
        y = ops.neighbour_sum(x, {barrier})
        if {barrier}:
            assert torch.equal(y, x + x.roll(-1)), "wrong result with the barrier"
        print("done")
        """
    clean = run_emulated(script.format(barrier=True), variant="tsan")
    assert clean.returncode == 0, clean.stderr
    assert "ThreadSanitizer" not in clean.stderr, clean.stderr
    racy = run_emulated(script.format(barrier=False), variant="tsan")
    assert "WARNING: ThreadSanitizer: data race" in racy.stderr, racy.stderr
    assert "neighbour_kernel" in racy.stderr
    assert racy.returncode == 66


@needs("asan")
def test_address_sanitizer_catches_an_out_of_bounds_read():
    script = """
        x = torch.randn(1000)
        y = ops.copy_n(x, {n})
        assert torch.equal(y[:1000], x)
        print("done")
        """
    clean = run_emulated(script.format(n=1000), variant="asan")
    assert clean.returncode == 0, clean.stderr
    assert "AddressSanitizer" not in clean.stderr
    overrun = run_emulated(script.format(n=1001), variant="asan")
    assert overrun.returncode != 0
    assert "AddressSanitizer: heap-buffer-overflow" in overrun.stderr, overrun.stderr
    assert "copy_kernel" in overrun.stderr
