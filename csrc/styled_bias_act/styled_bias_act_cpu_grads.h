// The input gradients of styled_bias_act on the CPU in one pass, for its autograd backward.
#pragma once

#include <ATen/core/Tensor.h>

namespace fastgan::styled_bias_act {

// Which input gradients a backward wants, and what it gets.
struct GradsWanted {
  bool x = false, scale = false, noise = false, b = false;
};
struct Grads {
  at::Tensor x, scale, noise, b;
};

// From grad_z, the gradient with respect to z = x * scale + noise + b, in one pass over grad_z
// and x (instead of one einsum, two sums and a multiply):
//   grad_x = grad_z * scale,  grad_scale[n, c] = sum over pixels of grad_z * x,
//   grad_noise = grad_z summed over channels (to noise's shape),  grad_b = sum of grad_z over
//   N, H, W.
// Only for what it can do without a graph: plain (not fake, functional or batched) contiguous
// NCHW CPU tensors of one dtype, scale [N, C], a noise without a channel dimension, and autograd
// not recording. Returns false, and computes nothing, otherwise. `owned`: grad_z may be
// overwritten (it then becomes grad_x).
bool input_grads_cpu(const at::Tensor& grad_z, bool owned, const at::Tensor& x,
                     const at::Tensor& scale, const at::Tensor& noise, const GradsWanted& want,
                     Grads& out);

// grad_z, x, scale (contiguous, NCHW, one dtype) and the outputs wanted (undefined: not wanted):
// grad_x (may be grad_z itself), the noise gradient summed over channels [N, 1, H, W], scale's
// [N, C] and b's [C].
struct GradsPass {
  at::Tensor grad_z, x, scale;
  at::Tensor grad_x, grad_noise, grad_scale, grad_b;
  int64_t chunks = 1;  // chunks of pixels per sample
};

namespace DEFAULT {
void input_grads_pass(const GradsPass& a);
}
namespace AVX2 {
void input_grads_pass(const GradsPass& a);
}

}  // namespace fastgan::styled_bias_act
