// filtered_lrelu CPU entry points: argument checks, output allocation, and the choice of kernel
// by instruction set (AVX2 + FMA where the CPU has them, else the baseline build).
#define CPU_CAPABILITY DEFAULT
#define CPU_CAPABILITY_DEFAULT
#include "filtered_lrelu_cpu_kernel.h"

#include <torch/library.h>

#include "../common/cpu_isa.h"

namespace fastgan::filtered_lrelu {
namespace {

void launch(const Call& call) {
  if (use_avx2()) {
    AVX2::run_pass(call);
  } else {
    DEFAULT::run_pass(call);
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, CPU, m) {
  m.impl("filtered_lrelu", &forward_entry<c10::DeviceType::CPU, launch>);
  m.impl("filtered_lrelu_linear", &linear_entry<c10::DeviceType::CPU, launch>);
}

}  // namespace fastgan::filtered_lrelu
