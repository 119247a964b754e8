// Autograd of squared_norm (see common/autograd.h for why it is C++): d/dx of sum(x[n]^2) is
// 2 * grad[n] * x[n], written in ATen ops, so it is differentiable again (the penalties
// differentiate through it).
#include <torch/library.h>

#include "../common/autograd.h"

namespace fastgan::squared_norm {
namespace {

using ForwardSig = at::Tensor(const at::Tensor&);

struct SquaredNorm : torch::autograd::Function<SquaredNorm> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor out = op_handle<ForwardSig>("fastgan::squared_norm").call(x);
    ctx->save_for_backward({x});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    // One pass over x: the per-sample factor 2 * grad[n] is applied by broadcasting.
    std::vector<int64_t> shape(x.dim(), 1);
    shape[0] = -1;
    return {x * (grads[0] * 2).to(x.scalar_type()).reshape(shape)};
  }
};

at::Tensor squared_norm_autograd(const at::Tensor& x) { return SquaredNorm::apply(x); }

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, Autograd, m) { m.impl("squared_norm", &squared_norm_autograd); }

}  // namespace fastgan::squared_norm
