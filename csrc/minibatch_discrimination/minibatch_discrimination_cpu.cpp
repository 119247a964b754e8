// minibatch_discrimination CPU entry points: the choice of kernel by instruction set (AVX2 + FMA
// where the CPU has them, else the baseline build) and the registration.
#define CPU_CAPABILITY DEFAULT
#define CPU_CAPABILITY_DEFAULT
#include "minibatch_discrimination_cpu_kernel.h"

#include <torch/library.h>

#include "../common/cpu_isa.h"

namespace fastgan::minibatch_discrimination {
namespace {

void launch(Mode mode, const Geometry& geo, const Operands& ops) {
  if (use_avx2()) {
    AVX2::pairwise(mode, geo, ops);
  } else {
    DEFAULT::pairwise(mode, geo, ops);
  }
}

using CPUEntry = Entry<launch, c10::DeviceType::CPU>;

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, CPU, m) {
  m.impl("minibatch_similarity", &CPUEntry::forward);
  m.impl("minibatch_similarity_backward", &CPUEntry::backward);
  m.impl("minibatch_similarity_double_backward", &CPUEntry::double_backward);
}

}  // namespace fastgan::minibatch_discrimination
