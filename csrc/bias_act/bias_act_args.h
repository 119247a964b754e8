// Argument checks and parameter set-up of bias_act, shared by the CPU and CUDA entry points.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <optional>
#include <string_view>

#include "../common/layout.h"
#include "bias_act.h"

namespace fastgan::bias_act {

// Validates the arguments of bias_act / bias_act_backward (`grad` may be undefined for the
// forward) and returns the parameters in double precision.
inline Params<double> check_args(const char* op, const at::Tensor& x,
                                 const std::optional<at::Tensor>& b, int64_t dim,
                                 std::string_view act, double alpha, double gain, double clamp,
                                 int64_t order, const at::Tensor* grad) {
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), op,
              ": expected x of a floating-point dtype (float16, bfloat16, float32, float64), got ",
              x.scalar_type());
  Act code;
  TORCH_CHECK(parse_act(act, &code), op,
              ": unknown act '", act, "'; expected one of linear, relu, lrelu, tanh, sigmoid, elu, "
              "selu, softplus, swish, gelu");
  TORCH_CHECK(order >= 0 && order <= kMaxOrder, op, ": expected order in [0, ", kMaxOrder,
              "], got ", order);
  if (b.has_value()) {
    TORCH_CHECK(dim >= 0 && dim < x.dim(), op, ": expected dim in [0, ", x.dim(),
                ") for x of shape ", x.sizes(), ", got ", dim);
    TORCH_CHECK(b->dim() == 1 && b->size(0) == x.size(dim), op, ": expected b of shape [",
                x.size(dim), "] (x.shape[", dim, "]), got ", b->sizes());
    TORCH_CHECK(b->scalar_type() == x.scalar_type(), op, ": expected b of dtype ",
                x.scalar_type(), " (the dtype of x), got ", b->scalar_type());
    TORCH_CHECK(b->device() == x.device(), op, ": expected b on ", x.device(),
                " (the device of x), got ", b->device());
  }
  if (grad != nullptr) {
    TORCH_CHECK(grad->sizes() == x.sizes(), op, ": expected grad of shape ", x.sizes(),
                " (the shape of x), got ", grad->sizes());
    TORCH_CHECK(grad->scalar_type() == x.scalar_type(), op, ": expected grad of dtype ",
                x.scalar_type(), " (the dtype of x), got ", grad->scalar_type());
    TORCH_CHECK(grad->device() == x.device(), op, ": expected grad on ", x.device(),
                " (the device of x), got ", grad->device());
  }
  return Params<double>{code, static_cast<int>(order), alpha, gain, clamp};
}

// Params in the kernel's compute type.
template <typename S>
Params<S> cast_params(const Params<double>& p) {
  return Params<S>{p.act, p.order, static_cast<S>(p.alpha), static_cast<S>(p.gain),
                   static_cast<S>(p.clamp)};
}

}  // namespace fastgan::bias_act
