// bias_act CPU entry points: argument checks, layout, and the choice of kernel by instruction
// set (AVX2 + FMA where the CPU has them, else the baseline build), multi-threaded with
// at::parallel_for.
#define CPU_CAPABILITY DEFAULT
#define CPU_CAPABILITY_DEFAULT
#include "bias_act_cpu_kernel.h"

#include <ATen/ops/empty_like.h>
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

// Shared body of both ops: grad is undefined for the forward.
at::Tensor run(const char* op, const at::Tensor& grad, const at::Tensor& x_in,
               const std::optional<at::Tensor>& b_in, int64_t dim, c10::string_view act,
               double alpha, double gain, double clamp, int64_t order) {
  const at::Tensor* grad_ptr = grad.defined() ? &grad : nullptr;
  const Params<double> params =
      check_args(op, x_in, b_in, dim, act, alpha, gain, clamp, order, grad_ptr);
  TORCH_CHECK(x_in.device().is_cpu(), op, ": expected x on the CPU, got ", x_in.device());

  const at::Tensor x = dense(x_in);
  const at::Tensor g = grad_ptr ? with_strides_of(grad, x) : at::Tensor();
  const at::Tensor b = b_in.has_value() ? b_in->contiguous() : at::Tensor();
  at::Tensor out = at::empty_like(x);
  if (x.numel() == 0) return out;
  const ChannelLayout layout = channel_layout(x, dim, b.defined());

  if (use_avx2()) {
    AVX2::elementwise(g, x, b, out, layout, params);
  } else {
    DEFAULT::elementwise(g, x, b, out, layout, params);
  }
  return out;
}

at::Tensor bias_act_cpu(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                        c10::string_view act, double alpha, double gain, double clamp) {
  return run("bias_act", at::Tensor(), x, b, dim, act, alpha, gain, clamp, 0);
}

at::Tensor bias_act_backward_cpu(const at::Tensor& grad, const at::Tensor& x,
                                 const std::optional<at::Tensor>& b, int64_t dim,
                                 c10::string_view act, double alpha, double gain, double clamp,
                                 int64_t order) {
  TORCH_CHECK(order >= 1, "bias_act_backward: expected order >= 1, got ", order);
  return run("bias_act_backward", grad, x, b, dim, act, alpha, gain, clamp, order);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, CPU, m) {
  m.impl("bias_act", &bias_act_cpu);
  m.impl("bias_act_backward", &bias_act_backward_cpu);
}

}  // namespace fastgan::bias_act
