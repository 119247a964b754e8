// bias_act CPU entry points: argument checks, layout, and the choice of kernel by instruction
// set (AVX2 + FMA where the CPU has them, else the baseline build), multi-threaded with
// at::parallel_for.
#define CPU_CAPABILITY DEFAULT
#define CPU_CAPABILITY_DEFAULT
#include "bias_act_cpu_kernel.h"

#include <torch/library.h>

#include "../common/cpu_isa.h"

namespace fastgan::bias_act {
namespace {

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
