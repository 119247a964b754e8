// Autograd of styled_bias_act and styled_bias_act_backward (see common/autograd.h for why it is
// C++). With z = x * scale + noise + b and g_z = styled_bias_act_backward(grad, ..., order 1), the
// gradient with respect to z:
//
//   d/dx = g_z * scale,  d/dscale = sum over pixels of g_z * x,  d/dnoise = g_z summed to noise's
//   shape,  d/db = sum of g_z over N, H, W.
//
// On the CPU, when no graph is recorded, these four come from one pass over g_z and x
// (styled_bias_act_cpu_grads.cpp); otherwise, and on the GPU, from stock differentiable ops.
//
// styled_bias_act_backward is linear in grad (its gradient there is the same op at the same
// order); its gradient with respect to z is the op at order + 1 applied to grad_out * grad, which
// then reaches x, scale, noise and b as above.
#include <ATen/ops/einsum.h>
#include <torch/library.h>

#include <string>

#include "../bias_act/bias_act.h"
#include "../bias_act/bias_act_autograd.h"
#include "../common/autograd.h"
#include "styled_bias_act_cpu_grads.h"

namespace fastgan::styled_bias_act {
namespace {

using OptionalTensor = std::optional<at::Tensor>;
using ForwardSig = at::Tensor(const at::Tensor&, const OptionalTensor&, const OptionalTensor&,
                              const OptionalTensor&, c10::string_view, double, double, double);
using BackwardSig = at::Tensor(const at::Tensor&, const at::Tensor&, const OptionalTensor&,
                               const OptionalTensor&, const OptionalTensor&, c10::string_view,
                               double, double, double, int64_t);

const auto& forward_op() { return op_handle<ForwardSig>("fastgan::styled_bias_act"); }
const auto& backward_op() {
  return op_handle<BackwardSig>("fastgan::styled_bias_act_backward");
}

// x, scale, noise and b as saved (absent ones undefined).
struct Inputs {
  at::Tensor x, scale, noise, b;
};

// The activation arguments of both ops, kept in the autograd context.
struct Args : bias_act::ActArgs {
  explicit Args(const bias_act::ActArgs& a) : bias_act::ActArgs(a) {}
  static Args load(AutogradContext* ctx) { return Args(bias_act::ActArgs::load(ctx)); }
  at::Tensor backward(const at::Tensor& grad, const Inputs& in, int64_t order) const {
    return backward_op().call(grad, in.x, optional(in.scale), optional(in.noise), optional(in.b),
                              act, alpha, gain, clamp, order);
  }
};

// The gradients with respect to (x, scale, noise, b) from grad_z, the gradient with respect to z;
// `owned`: grad_z is a new tensor this code may overwrite. needs(i) says whether input i needs one.
template <typename Needs>
variable_list input_grads(at::Tensor grad_z, bool owned, const Inputs& in, const Needs& needs) {
#ifndef FASTGAN_CUDA_EMU  // there the CPU tensors stand for CUDA ones: take the GPU's path
  const GradsWanted want{needs(0), needs(1) && in.scale.defined(), needs(2) && in.noise.defined(),
                         needs(3) && in.b.defined()};
  Grads fused;
  if (input_grads_cpu(grad_z, owned, in.x, in.scale, in.noise, want, fused)) {
    return {fused.x, fused.scale, fused.noise, fused.b};
  }
#endif
  at::Tensor grad_x, grad_scale, grad_noise, grad_b;
  if (needs(1) && in.scale.defined()) {
    // One pass over grad_z and x, without their [N, C, H, W] product.
    grad_scale = at::einsum("nchw,nchw->nc", {grad_z, in.x});
  }
  if (needs(2) && in.noise.defined()) grad_noise = grad_z.sum_to_size(in.noise.sizes());
  if (needs(3) && in.b.defined()) grad_b = grad_z.sum({0, 2, 3});
  if (needs(0)) {
    if (!in.scale.defined()) {
      grad_x = grad_z;
    } else if (owned && !at::GradMode::is_enabled() &&
               !(grad_noise.defined() && grad_noise.is_same(grad_z))) {
      // Last use of grad_z (no double backward records it): scale it in place.
      grad_x = grad_z.mul_(in.scale.unsqueeze(-1).unsqueeze(-1));
    } else {
      grad_x = grad_z * in.scale.unsqueeze(-1).unsqueeze(-1);
    }
  }
  // Two inputs must not share one gradient tensor.
  if (grad_noise.defined() && grad_x.defined() && grad_noise.is_same(grad_x)) {
    grad_noise = grad_noise.clone();
  }
  return {grad_x, grad_scale, grad_noise, grad_b};
}

struct StyledBiasAct : torch::autograd::Function<StyledBiasAct> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const OptionalTensor& scale,
                            const OptionalTensor& noise, const OptionalTensor& b,
                            c10::string_view act, double alpha, double gain, double clamp) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor out = forward_op().call(x, scale, noise, b, act, alpha, gain, clamp);
    ctx->save_for_backward(
        {x, value_or_undefined(scale), value_or_undefined(noise), value_or_undefined(b)});
    bias_act::ActArgs{std::string(act), alpha, gain, clamp}.save(ctx);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Inputs in{saved[0], saved[1], saved[2], saved[3]};
    const Args args = Args::load(ctx);
    const InputGrads edges(
        ctx, {true, in.scale.defined(), in.noise.defined(), in.b.defined()});
    const at::Tensor& grad = grads[0];
    at::Tensor grad_z;
    bool owned = true;
    if (args.act == "linear" && args.clamp < 0) {
      // f' = 1: no kernel pass for a pure scale / noise layer (the input modulation).
      owned = args.gain != 1;
      grad_z = owned ? grad * args.gain : grad;
    } else {
      grad_z = args.backward(grad, in, 1);
    }
    variable_list out =
        input_grads(grad_z, owned, in, [&](size_t i) { return edges.needs(i); });
    out.resize(8);
    return out;
  }
};

struct StyledBiasActBackward : torch::autograd::Function<StyledBiasActBackward> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& x,
                            const OptionalTensor& scale, const OptionalTensor& noise,
                            const OptionalTensor& b, c10::string_view act, double alpha,
                            double gain, double clamp, int64_t order) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor out = backward_op().call(grad, x, scale, noise, b, act, alpha, gain, clamp, order);
    ctx->save_for_backward({grad, x, value_or_undefined(scale), value_or_undefined(noise),
                            value_or_undefined(b)});
    bias_act::ActArgs{std::string(act), alpha, gain, clamp}.save(ctx);
    ctx->saved_data["order"] = order;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& grad = saved[0];
    const Inputs in{saved[1], saved[2], saved[3], saved[4]};
    const Args args = Args::load(ctx);
    const int64_t order = ctx->saved_data["order"].toInt();
    const InputGrads edges(
        ctx, {true, true, in.scale.defined(), in.noise.defined(), in.b.defined()});
    const at::Tensor& grad_out = grads[0];
    variable_list out{args.backward(grad_out, in, order)};
    if (!edges.needs(0)) out[0] = at::Tensor();
    bool any = false;
    for (size_t i = 1; i < 5; ++i) any = any || edges.needs(i);
    if (any) {
      TORCH_CHECK_NOT_IMPLEMENTED(order < bias_act::kMaxOrder, "styled_bias_act: gradients of order ",
                                  order + 1, " are not implemented (up to ",
                                  bias_act::kMaxOrder, " are)");
      const at::Tensor grad_z = args.backward(grad_out * grad, in, order + 1);
      const variable_list rest =
          input_grads(grad_z, true, in, [&](size_t i) { return edges.needs(i + 1); });
      out.insert(out.end(), rest.begin(), rest.end());
    }
    out.resize(10);
    return out;
  }
};

at::Tensor styled_bias_act_autograd(const at::Tensor& x, const OptionalTensor& scale,
                                    const OptionalTensor& noise, const OptionalTensor& b,
                                    c10::string_view act, double alpha, double gain,
                                    double clamp) {
  return StyledBiasAct::apply(x, scale, noise, b, act, alpha, gain, clamp);
}

at::Tensor styled_bias_act_backward_autograd(const at::Tensor& grad, const at::Tensor& x,
                                             const OptionalTensor& scale,
                                             const OptionalTensor& noise, const OptionalTensor& b,
                                             c10::string_view act, double alpha, double gain,
                                             double clamp, int64_t order) {
  return StyledBiasActBackward::apply(grad, x, scale, noise, b, act, alpha, gain, clamp, order);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, Autograd, m) {
  m.impl("styled_bias_act", &styled_bias_act_autograd);
  m.impl("styled_bias_act_backward", &styled_bias_act_backward_autograd);
}

}  // namespace fastgan::styled_bias_act
