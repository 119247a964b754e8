// bias_act CPU entry points: argument checks, layout, and the choice of kernel by instruction
// set (AVX2 + FMA where the CPU has them, else the baseline build), multi-threaded with
// at::parallel_for.
#define CPU_CAPABILITY DEFAULT
#define CPU_CAPABILITY_DEFAULT
#include "bias_act_cpu_kernel.h"

#include <torch/library.h>

#include <cstdlib>
#include <cstring>

namespace fastgan::bias_act {
namespace {

// AVX2 + FMA + F16C unless the CPU lacks them or FASTGAN_CPU_ISA=default asks for the baseline.
bool use_avx2() {
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

void launch(const Call& call) {
  if (use_avx2()) {
    AVX2::elementwise(call.grad, call.x, call.b, call.out, call.layout, call.params);
  } else {
    DEFAULT::elementwise(call.grad, call.x, call.b, call.out, call.layout, call.params);
  }
}

using CPUEntry = Entry<c10::DeviceType::CPU, launch>;

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, CPU, m) {
  m.impl("bias_act", &CPUEntry::forward);
  m.impl("bias_act_backward", &CPUEntry::backward);
}

}  // namespace fastgan::bias_act
