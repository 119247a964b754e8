// styled_bias_act CPU entry points: argument checks, layout, and the choice of kernel by
// instruction set (AVX2 + FMA where the CPU has them, else the baseline build).
#define CPU_CAPABILITY DEFAULT
#define CPU_CAPABILITY_DEFAULT
#include "styled_bias_act_cpu_kernel.h"
#include "styled_bias_act_cpu_grads_kernel.h"

#include <torch/library.h>

#include "../common/cpu_isa.h"

namespace fastgan::styled_bias_act {
namespace {

void launch(const Call& call) {
  if (use_avx2()) {
    AVX2::elementwise(call);
  } else {
    DEFAULT::elementwise(call);
  }
}

using CPUEntry = Entry<c10::DeviceType::CPU, launch>;

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, CPU, m) {
  m.impl("styled_bias_act", &CPUEntry::forward);
  m.impl("styled_bias_act_backward", &CPUEntry::backward);
}

}  // namespace fastgan::styled_bias_act
