// The instruction set of the CPU kernels, chosen once at run time.
#pragma once

#include <cstdlib>
#include <cstring>

namespace fastgan {

// AVX2 + FMA + F16C unless the CPU lacks them or FASTGAN_CPU_ISA=default asks for the baseline
// build (every op's *_cpu.cpp kernel; *_cpu_avx2.cpp is the AVX2 one).
inline bool use_avx2() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  static const bool avx2 = [] {
    const char* isa = std::getenv("FASTGAN_CPU_ISA");
    if (isa != nullptr && std::strcmp(isa, "default") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2");
  }();
  return avx2;
#else
  return false;
#endif
}

}  // namespace fastgan
