// upfirdn2d CPU entry point: argument checks, output allocation, and the choice of kernel by
// instruction set (AVX2 + FMA where the CPU has them, else the baseline build).
#define CPU_CAPABILITY DEFAULT
#define CPU_CAPABILITY_DEFAULT
#include "upfirdn2d_cpu_kernel.h"

#include <torch/library.h>

#include "../common/cpu_isa.h"

namespace fastgan::upfirdn2d {
namespace {

void launch(const Call& call) {
  if (use_avx2()) {
    AVX2::resample(call);
  } else {
    DEFAULT::resample(call);
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, CPU, m) {
  m.impl("upfirdn2d", &entry<c10::DeviceType::CPU, launch>);
}

}  // namespace fastgan::upfirdn2d
