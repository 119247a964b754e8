// minibatch_stddev CPU entry points: the kernels of minibatch_stddev_cpu_kernel.h, chosen by
// instruction set (AVX2 + FMA where the CPU has them, else the baseline build).
#define CPU_CAPABILITY DEFAULT
#define CPU_CAPABILITY_DEFAULT
#include "minibatch_stddev_cpu_kernel.h"

#include <torch/library.h>

#include "../common/cpu_isa.h"

namespace fastgan::minibatch_stddev {
namespace {

void forward(const at::Tensor& x, const at::Tensor& out, const Geometry& geo) {
  (use_avx2() ? AVX2::forward : DEFAULT::forward)(x, out, geo);
}

at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, const Geometry& geo) {
  return (use_avx2() ? AVX2::backward : DEFAULT::backward)(grad, x, geo);
}

using CPUEntry = Entry<forward, backward, c10::DeviceType::CPU>;

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, CPU, m) {
  m.impl("minibatch_stddev", &CPUEntry::forward);
  m.impl("minibatch_stddev_backward", &CPUEntry::backward);
}

}  // namespace fastgan::minibatch_stddev
