// Autograd of upfirdn2d (see common/autograd.h for why it is C++). upfirdn2d is linear in x, and
// its adjoint is upfirdn2d again: up and down swapped, the filter flipped, and the padding
// mirrored so that exactly the input's H x W comes out (fastgan.ops.upfirdn2d.gradient_args is
// the same formula, checked there as an adjoint). The backward applies this Function itself, so
// gradients of every order go through the same kernel. The filter gets no gradient.
#include <torch/library.h>

#include <array>
#include <vector>

#include "../common/autograd.h"

namespace fastgan::upfirdn2d {
namespace {

using OpSig = at::Tensor(const at::Tensor&, const at::Tensor&, c10::IntArrayRef, c10::IntArrayRef,
                         c10::IntArrayRef, bool, double);

struct UpFirDn2d : torch::autograd::Function<UpFirDn2d> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& f,
                            c10::IntArrayRef up, c10::IntArrayRef down, c10::IntArrayRef padding,
                            bool flip_filter, double gain) {
    at::Tensor out;
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      out = op_handle<OpSig>("fastgan::upfirdn2d")
                .call(x, f, up, down, padding, flip_filter, gain);
    }
    // The gradient's call (sizes along x first, then y, as in up / down / padding).
    const int64_t fw = f.size(-1), fh = f.dim() == 1 ? fw : f.size(0);
    const std::array<int64_t, 2> in{x.size(3), x.size(2)}, o{out.size(3), out.size(2)},
        taps{fw, fh};
    std::vector<int64_t> pad;
    for (int a = 0; a < 2; ++a) {
      const int64_t p0 = padding[2 * a];
      pad.push_back(taps[a] - p0 - 1);
      pad.push_back(in[a] * up[a] - o[a] * down[a] + p0 - up[a] + 1);
    }
    ctx->save_for_backward({f});
    ctx->saved_data["up"] = down.vec();
    ctx->saved_data["down"] = up.vec();
    ctx->saved_data["padding"] = pad;
    ctx->saved_data["flip_filter"] = !flip_filter;
    ctx->saved_data["gain"] = gain;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    at::Tensor grad_x;
    if (ctx->needs_input_grad(0)) {
      const at::Tensor f = ctx->get_saved_variables()[0];
      const std::vector<int64_t> up = ctx->saved_data["up"].toIntVector();
      const std::vector<int64_t> down = ctx->saved_data["down"].toIntVector();
      const std::vector<int64_t> pad = ctx->saved_data["padding"].toIntVector();
      grad_x = UpFirDn2d::apply(grads[0], f, up, down, pad, ctx->saved_data["flip_filter"].toBool(),
                                ctx->saved_data["gain"].toDouble());
    }
    // x, f, then the five non-tensor arguments.
    return {grad_x, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

at::Tensor upfirdn2d_autograd(const at::Tensor& x, const at::Tensor& f, c10::IntArrayRef up,
                              c10::IntArrayRef down, c10::IntArrayRef padding, bool flip_filter,
                              double gain) {
  return UpFirDn2d::apply(x, f, up, down, padding, flip_filter, gain);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, Autograd, m) { m.impl("upfirdn2d", &upfirdn2d_autograd); }

}  // namespace fastgan::upfirdn2d
