// Argument checks, layout and the operator entry points of bias_act, shared by the CPU and CUDA
// kernels: each device supplies only a `launch(const Call&)`.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <c10/core/DeviceType.h>
#include <c10/util/Exception.h>
#include <optional>
#include <string_view>

#include "../common/layout.h"
#include "../common/checks.h"
#include "bias_act.h"

namespace fastgan::bias_act {

// Validates the arguments of bias_act / bias_act_backward (`grad` may be undefined for the
// forward) and returns the parameters in double precision.
inline Params<double> check_args(const char* op, const at::Tensor& x,
                                 const std::optional<at::Tensor>& b, int64_t dim,
                                 std::string_view act, double alpha, double gain, double clamp,
                                 int64_t order, const at::Tensor* grad) {
  check_float_dtype(op, x);
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

// One call of either op, checked and laid out for a kernel: x dense, grad with x's strides (or
// undefined for the forward), b contiguous (or undefined), out allocated like x.
struct Call {
  at::Tensor grad, x, b, out;
  ChannelLayout layout;
  Params<double> params;
};

inline Call prepare(const char* op, c10::DeviceType device, const at::Tensor& grad,
                    const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                    std::string_view act, double alpha, double gain, double clamp, int64_t order) {
  Call call;
  call.params = check_args(op, x, b, dim, act, alpha, gain, clamp, order,
                           grad.defined() ? &grad : nullptr);
  check_device_type(op, x, device);
  call.x = dense(x);
  call.grad = grad.defined() ? with_strides_of(grad, call.x) : at::Tensor();
  call.b = b.has_value() ? b->contiguous() : at::Tensor();
  call.out = at::empty_like(call.x);
  call.layout = channel_layout(call.x, dim, call.b.defined());
  return call;
}

// The operator entry points of one device (registered with TORCH_LIBRARY_IMPL), around its
// kernel launcher; empty tensors never reach the launcher.
template <c10::DeviceType kDevice, void (*Launch)(const Call&)>
struct Entry {
  static at::Tensor forward(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                            c10::string_view act, double alpha, double gain, double clamp) {
    const Call call =
        prepare("bias_act", kDevice, at::Tensor(), x, b, dim, act, alpha, gain, clamp, 0);
    if (call.x.numel() > 0) Launch(call);
    return call.out;
  }

  static at::Tensor backward(const at::Tensor& grad, const at::Tensor& x,
                             const std::optional<at::Tensor>& b, int64_t dim,
                             c10::string_view act, double alpha, double gain, double clamp,
                             int64_t order) {
    TORCH_CHECK(order >= 1, "bias_act_backward: expected order >= 1, got ", order);
    const Call call =
        prepare("bias_act_backward", kDevice, grad, x, b, dim, act, alpha, gain, clamp, order);
    if (call.x.numel() > 0) Launch(call);
    return call.out;
  }
};

}  // namespace fastgan::bias_act
