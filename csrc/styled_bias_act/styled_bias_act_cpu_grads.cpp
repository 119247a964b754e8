// styled_bias_act's input gradients on the CPU in one pass (see styled_bias_act_cpu_grads.h):
// the checks of what the pass can do, the outputs, and the choice of kernel by instruction set
// (styled_bias_act_cpu_grads_kernel.h, compiled with the op's kernels).
#include "styled_bias_act_cpu_grads.h"

#include <ATen/Parallel.h>
#include <ATen/TensorSubclassLikeUtils.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <algorithm>

#include "../common/cpu_isa.h"

namespace fastgan::styled_bias_act {

bool input_grads_cpu(const at::Tensor& grad_z, bool owned, const at::Tensor& x,
                     const at::Tensor& scale, const at::Tensor& noise, const GradsWanted& want,
                     Grads& out) {
  if (at::GradMode::is_enabled() || !scale.defined()) return false;
  const bool with_noise = want.noise && noise.defined();
  // Real tensors first: fake or functional ones (torch.compile, opcheck) may have symbolic sizes,
  // which must not be read here.
  for (const at::Tensor* t : {&grad_z, &x, &scale, with_noise ? &noise : &x}) {
    if (!t->device().is_cpu() || t->layout() != at::kStrided || at::isTensorSubclassLike(*t)) {
      return false;
    }
  }
  for (const at::Tensor* t : {&grad_z, &x, &scale}) {
    if (!t->is_contiguous() || t->scalar_type() != x.scalar_type()) return false;
  }
  if (x.dim() != 4 || x.numel() == 0 || grad_z.sizes() != x.sizes()) return false;
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  if (scale.dim() != 2 || scale.size(0) != N || scale.size(1) != C ||
      (with_noise && noise.dim() >= 3 && noise.size(-3) != 1)) {
    return false;
  }
  GradsPass pass{grad_z, x, scale};
  if (want.x) pass.grad_x = owned ? grad_z : at::empty_like(grad_z);
  if (with_noise) pass.grad_noise = at::empty({N, 1, x.size(2), x.size(3)}, x.options());
  if (want.scale) pass.grad_scale = at::empty({N, C}, x.options());
  if (want.b) pass.grad_b = at::empty({C}, x.options());
  // Enough items for every thread, each chunk at least 64 pixels long.
  const int64_t threads = at::get_num_threads();
  pass.chunks = std::clamp<int64_t>((4 * threads + N - 1) / N, 1, std::max<int64_t>(1, HW / 64));
  if (use_avx2()) {
    AVX2::input_grads_pass(pass);
  } else {
    DEFAULT::input_grads_pass(pass);
  }
  out.x = pass.grad_x;
  out.scale = pass.grad_scale;
  out.b = pass.grad_b;
  if (with_noise) out.noise = pass.grad_noise.sum_to_size(noise.sizes());
  return true;
}

}  // namespace fastgan::styled_bias_act
