"""Builds the emulated CUDA libraries: the *_cuda.cu kernels compiled by g++ for the CPU with the
project's SIMT emulation (csrc/emu), into fastgan/_C_cuda_emu*.so, which `import fastgan` loads
in place of fastgan._C when FASTGAN_CUDA_EMU is set (plain: 1, tsan, asan).

    python scripts/build_cuda_emu.py [plain] [tsan] [asan]     (default: all three)

Every variant holds the op schemas, the C++ autograd and the CUDA kernels registered for the CPU
dispatch key, built with FASTGAN_SMALL_LIMITS (csrc/common/limits.h). The schemas and autograd
need no instrumentation and are compiled once; the kernels and the emulation runtime are
compiled per variant (-fsanitize=thread / address). Incremental through ninja, in build/emu.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shlex
import subprocess
import sys
import sysconfig

import torch
from torch.utils.cpp_extension import include_paths, library_paths

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "emu"
VARIANTS = {
    # -O1: the emulation's cost is its threads, not the arithmetic; it keeps compiles short.
    "plain": ["-O1"],
    # -Wno-tsan: TSan does not model __threadfence's fence (no kernel uses it).
    "tsan": ["-O1", "-fsanitize=thread", "-Wno-tsan"],
    "asan": ["-O1", "-fsanitize=address", "-fno-omit-frame-pointer"],
}


def module_name(variant: str) -> str:
    return "_C_cuda_emu" if variant == "plain" else f"_C_cuda_emu_{variant}"


def sources() -> tuple[list[pathlib.Path], list[pathlib.Path]]:
    """(sources compiled once, sources compiled per variant)."""
    csrc = ROOT / "csrc"
    common = [csrc / "fastgan.cpp", *sorted(csrc.glob("*/*_autograd.cpp"))]
    kernels = [*sorted(csrc.glob("*/*_cuda.cu")), csrc / "emu" / "cuda_emu.cpp"]
    return common, kernels


def ninja_file(variants: list[str]) -> str:
    cxx = os.environ.get("CXX", "g++")
    flags = [
        "-std=c++20",
        "-fPIC",
        "-g",
        "-fvisibility=hidden",
        "-Wall",
        "-Wno-unknown-pragmas",
        "-Wno-sign-compare",
        "-DFASTGAN_CUDA_EMU",
        "-DFASTGAN_SMALL_LIMITS",
        "-DTORCH_API_INCLUDE_EXTENSION_H",
        f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
        f"-DFASTGAN_BUILT_WITH_TORCH={torch.__version__.split('+')[0]}",
        *(f"-isystem{p}" for p in include_paths()),
        f"-isystem{sysconfig.get_paths()['include']}",
    ]
    libs = [f"-L{p}" for p in library_paths()] + [
        "-lc10",
        "-ltorch",
        "-ltorch_cpu",
        "-ltorch_python",
    ]
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    q = shlex.join
    lines = [
        f"cxx = {cxx}",
        f"flags = {q(flags)}",
        f"libs = {q(libs)}",
        "rule cxx",
        "  command = $cxx -MMD -MF $out.d $flags $extra -x c++ -c $in -o $out",
        "  depfile = $out.d",
        "  deps = gcc",
        "  description = c++ $in ($variant)",
        "rule link",
        "  command = $cxx -shared $extra $in $libs -o $out",
        "  description = link $out",
    ]
    common, kernels = sources()

    def obj(src: pathlib.Path, variant: str) -> str:
        rel = src.relative_to(ROOT / "csrc").with_suffix(".o")
        return str(BUILD / variant / rel)

    common_objs = []
    for src in common:
        common_objs.append(obj(src, "common"))
        lines += [f"build {common_objs[-1]}: cxx {src}", "  extra = -O1", "  variant = common"]
    for variant in variants:
        extra = q(VARIANTS[variant])
        objs = list(common_objs)
        for src in kernels:
            objs.append(obj(src, variant))
            lines += [
                f"build {objs[-1]}: cxx {src}",
                f"  extra = {extra}",
                f"  variant = {variant}",
            ]
        name = module_name(variant)
        # module.cpp carries the module's name and variant.
        module_obj = str(BUILD / variant / "module.o")
        defines = f"-DTORCH_EXTENSION_NAME={name} -DFASTGAN_CUDA_EMU_VARIANT={variant}"
        lines += [
            f"build {module_obj}: cxx {ROOT / 'csrc' / 'module.cpp'}",
            f"  extra = -O1 {defines}",
            f"  variant = {variant}",
        ]
        objs.append(module_obj)
        sanitizer = [f for f in VARIANTS[variant] if f.startswith("-fsanitize")]
        lines += [
            f"build {ROOT / 'fastgan' / (name + suffix)}: link {' '.join(objs)}",
            f"  extra = {q(sanitizer)}",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", help=f"any of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument(
        "-j", "--jobs", type=int, default=int(os.environ.get("MAX_JOBS", os.cpu_count() or 1))
    )
    args = parser.parse_args()
    variants = args.variants or list(VARIANTS)
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; expected {', '.join(VARIANTS)}")
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "build.ninja").write_text(ninja_file(variants))
    return subprocess.call(["ninja", "-C", str(BUILD), "-j", str(args.jobs)])


if __name__ == "__main__":
    sys.exit(main())
