// Autograd of bias_act and bias_act_backward (see common/autograd.h for why it is C++).
//
//   d bias_act / dx       = bias_act_backward(grad, x, b, ..., order 1); d/db = its sum over
//                           every dim but `dim`
//   d bias_act_backward   = linear in grad: the same op at the same order; with respect to x
//                           (and b) the op at order + 1 applied to grad_out * grad
#include <torch/library.h>

#include <string>

#include "../common/autograd.h"
#include "bias_act.h"
#include "bias_act_autograd.h"

namespace fastgan::bias_act {
namespace {

using ForwardSig = at::Tensor(const at::Tensor&, const std::optional<at::Tensor>&, int64_t,
                              c10::string_view, double, double, double);
using BackwardSig = at::Tensor(const at::Tensor&, const at::Tensor&,
                               const std::optional<at::Tensor>&, int64_t, c10::string_view, double,
                               double, double, int64_t);

const auto& forward_op() { return op_handle<ForwardSig>("fastgan::bias_act"); }
const auto& backward_op() { return op_handle<BackwardSig>("fastgan::bias_act_backward"); }

// The non-tensor arguments shared by both ops, kept in the autograd context.
struct Args : ActArgs {
  int64_t dim;

  Args(int64_t dim, c10::string_view act, double alpha, double gain, double clamp)
      : ActArgs{std::string(act), alpha, gain, clamp}, dim(dim) {}
  void save(AutogradContext* ctx) const {
    ActArgs::save(ctx);
    ctx->saved_data["dim"] = dim;
  }
  static Args load(AutogradContext* ctx) {
    const ActArgs a = ActArgs::load(ctx);
    return Args(ctx->saved_data["dim"].toInt(), a.act, a.alpha, a.gain, a.clamp);
  }
  at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& b,
                      int64_t order) const {
    return backward_op().call(grad, x, optional(b), dim, act, alpha, gain, clamp, order);
  }
};

struct BiasAct : torch::autograd::Function<BiasAct> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x,
                            const std::optional<at::Tensor>& b, int64_t dim, c10::string_view act,
                            double alpha, double gain, double clamp) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor out = forward_op().call(x, b, dim, act, alpha, gain, clamp);
    ctx->save_for_backward({x, value_or_undefined(b)});
    Args(dim, act, alpha, gain, clamp).save(ctx);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &b = saved[1];
    const Args args = Args::load(ctx);
    const InputGrads needs(ctx, {true, b.defined()});
    at::Tensor grad_x = args.backward(grads[0], x, b, 1);
    at::Tensor grad_b = needs.needs(1) ? sum_except(grad_x, args.dim) : at::Tensor();
    if (!needs.needs(0)) grad_x = at::Tensor();
    return {grad_x, grad_b, {}, {}, {}, {}, {}};
  }
};

struct BiasActBackward : torch::autograd::Function<BiasActBackward> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& x,
                            const std::optional<at::Tensor>& b, int64_t dim, c10::string_view act,
                            double alpha, double gain, double clamp, int64_t order) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor out = backward_op().call(grad, x, b, dim, act, alpha, gain, clamp, order);
    ctx->save_for_backward({grad, x, value_or_undefined(b)});
    Args(dim, act, alpha, gain, clamp).save(ctx);
    ctx->saved_data["order"] = order;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &grad = saved[0], &x = saved[1], &b = saved[2];
    const Args args = Args::load(ctx);
    const int64_t order = ctx->saved_data["order"].toInt();
    const InputGrads needs(ctx, {true, true, b.defined()});
    const at::Tensor& grad_out = grads[0];
    at::Tensor d_grad, d_x, d_b;
    if (needs.needs(0)) d_grad = args.backward(grad_out, x, b, order);
    if (needs.needs(1) || needs.needs(2)) {
      TORCH_CHECK_NOT_IMPLEMENTED(order < kMaxOrder, "bias_act: gradients of order ", order + 1,
                  " are not implemented (up to ", kMaxOrder, " are)");
      d_x = args.backward(grad_out * grad, x, b, order + 1);
      if (needs.needs(2)) d_b = sum_except(d_x, args.dim);
      if (!needs.needs(1)) d_x = at::Tensor();
    }
    return {d_grad, d_x, d_b, {}, {}, {}, {}, {}, {}};
  }
};

at::Tensor bias_act_autograd(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                             c10::string_view act, double alpha, double gain, double clamp) {
  return BiasAct::apply(x, b, dim, act, alpha, gain, clamp);
}

at::Tensor bias_act_backward_autograd(const at::Tensor& grad, const at::Tensor& x,
                                      const std::optional<at::Tensor>& b, int64_t dim,
                                      c10::string_view act, double alpha, double gain,
                                      double clamp, int64_t order) {
  return BiasActBackward::apply(grad, x, b, dim, act, alpha, gain, clamp, order);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, Autograd, m) {
  m.impl("bias_act", &bias_act_autograd);
  m.impl("bias_act_backward", &bias_act_backward_autograd);
}

}  // namespace fastgan::bias_act
