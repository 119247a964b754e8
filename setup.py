"""Builds fastgan._C: C++ CPU kernels always, CUDA kernels when torch has CUDA and nvcc is found.

Environment:
  FASTGAN_CUDA=0|1       force the CUDA kernels off / on (default: auto-detect)
  TORCH_CUDA_ARCH_LIST   CUDA architectures (default: the visible GPUs, or 9.0 when none is visible)
  MAX_JOBS               parallel compile jobs (ninja)
  FASTGAN_BUILD_TEMP     where object files go (default build/temp; scripts/cuda_build.sh keeps
                         the CUDA build's apart from the CPU build's)
"""

import glob
import os

import torch
from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def with_cuda() -> bool:
    forced = os.environ.get("FASTGAN_CUDA")
    available = torch.version.cuda is not None and CUDA_HOME is not None
    if forced not in (None, "", "0", "1"):
        raise SystemExit(f"FASTGAN_CUDA must be 0 or 1, got {forced!r}")
    if forced == "1" and not available:
        raise SystemExit(
            f"FASTGAN_CUDA=1 but torch {torch.__version__} has no CUDA support "
            f"(torch.version.cuda={torch.version.cuda}) or nvcc was not found "
            f"(CUDA_HOME={CUDA_HOME})"
        )
    return available if forced in (None, "") else forced == "1"


def cuda_arch_list() -> str:
    if not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
        # No GPU to detect: build for Hopper (H100/H200).
        os.environ["TORCH_CUDA_ARCH_LIST"] = "9.0"
    if os.environ.get("TORCH_CUDA_ARCH_LIST"):
        archs = os.environ["TORCH_CUDA_ARCH_LIST"].replace(";", " ").split()
    else:
        archs = sorted(
            {
                "{}.{}".format(*torch.cuda.get_device_capability(i))
                for i in range(torch.cuda.device_count())
            }
        )
    return ",".join("sm_" + a.replace(".", "").replace("+PTX", "") for a in archs)


class FixedBuildDir(BuildExtension):
    """Keeps object files in build/ so that an editable reinstall recompiles only what changed."""

    def finalize_options(self) -> None:
        super().finalize_options()
        default = os.path.join(ROOT, "build", "temp")
        self.build_temp = os.environ.get("FASTGAN_BUILD_TEMP") or default


def extension():
    cuda = with_cuda()
    # Every baseline-ISA source links before every *_avx2.cpp: the linker keeps the first copy of
    # an inline function that several files define, which must be a baseline one.
    cpu = sorted(
        glob.glob("csrc/*.cpp")
        + glob.glob("csrc/*/*_cpu*.cpp")
        + glob.glob("csrc/*/*_autograd.cpp")
    )
    sources = [s for s in cpu if not s.endswith("_avx2.cpp")]
    sources += [s for s in cpu if s.endswith("_avx2.cpp")]
    # -fopenmp: at::parallel_for is inline OpenMP code (libgomp resolves to the one torch loaded).
    # -fno-math-errno: sqrt and friends never set errno, so loops over them vectorise (the
    # minibatch_stddev statistics).
    cxx = ["-O3", "-fvisibility=hidden", "-fopenmp", "-fno-math-errno"]
    nvcc = ["-O3", "-lineinfo"]
    macros = [("FASTGAN_BUILT_WITH_TORCH", torch.__version__.split("+")[0])]
    if cuda:
        sources += sorted(glob.glob("csrc/*/*_cuda.cu"))
        macros += [("FASTGAN_WITH_CUDA", None), ("FASTGAN_CUDA_ARCHS", cuda_arch_list())]
        return CUDAExtension(
            "fastgan._C",
            sources,
            define_macros=macros,
            extra_link_args=["-fopenmp"],
            extra_compile_args={"cxx": cxx, "nvcc": nvcc},
        )
    return CppExtension(
        "fastgan._C",
        sources,
        define_macros=macros,
        extra_link_args=["-fopenmp"],
        extra_compile_args={"cxx": cxx},
    )


setup(
    ext_modules=[extension()],
    cmdclass={"build_ext": FixedBuildDir.with_options(use_ninja=True)},
)
