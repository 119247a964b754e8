// Argument checks, layout and the operator entry points of styled_bias_act, shared by the CPU and
// CUDA kernels: each device supplies only a `launch(const Call&)`.
//
//     z = x * scale[n, c] + noise + b[c],   y = clamp(act(z, alpha) * gain, -clamp, clamp)
//
// The activation maths is bias_act's (csrc/bias_act/bias_act.h), applied to z with bias b.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <c10/core/DeviceType.h>
#include <c10/util/Exception.h>

#include <optional>
#include <string_view>

#include "../common/checks.h"
#include "../bias_act/bias_act_args.h"

namespace fastgan::styled_bias_act {

using bias_act::Params;

// One checked call, laid out for a kernel: x NCHW-contiguous or channels_last, grad (backward
// only) and out with x's strides, scale [N, C] and b [C] contiguous, noise contiguous as
// [Nn, Cn, H, W] (Nn in {1, N}, Cn in {1, C}), channels_last too when x is and Cn == C.
struct Call {
  at::Tensor grad, x, scale, noise, b, out;
  bool channels_last = false;
  bool noise_per_channel = false;
  int64_t N = 0, C = 0, HW = 0;
  int64_t noise_batch_stride = 0;  // 0 when one noise image serves the whole batch
  Params<double> params;
};

inline void check_same(const char* op, const char* name, const at::Tensor& t,
                       const at::Tensor& x) {
  TORCH_CHECK(t.scalar_type() == x.scalar_type(), op, ": expected ", name, " of dtype ",
              x.scalar_type(), " (the dtype of x), got ", t.scalar_type());
  TORCH_CHECK(t.device() == x.device(), op, ": expected ", name, " on ", x.device(),
              " (the device of x), got ", t.device());
}

inline Call prepare(const char* op, c10::DeviceType device, const at::Tensor& grad,
                    const at::Tensor& x, const std::optional<at::Tensor>& scale,
                    const std::optional<at::Tensor>& noise, const std::optional<at::Tensor>& b,
                    std::string_view act, double alpha, double gain, double clamp,
                    int64_t order) {
  TORCH_CHECK(x.dim() == 4, op, ": expected x of shape [N, C, H, W], got shape ", x.sizes());
  Call call;
  call.params = bias_act::check_args(op, x, b, 1, act, alpha, gain, clamp, order,
                                     grad.defined() ? &grad : nullptr);
  check_device_type(op, x, device);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  call.N = N, call.C = C, call.HW = H * W;
  call.channels_last = output_format(x) == at::MemoryFormat::ChannelsLast;
  call.x = call.channels_last || x.is_contiguous() ? x : x.contiguous();
  if (scale.has_value()) {
    TORCH_CHECK(scale->dim() == 2 && scale->size(0) == N && scale->size(1) == C, op,
                ": expected scale of shape [", N, ", ", C, "] ([N, C] of x), got ",
                scale->sizes());
    check_same(op, "scale", *scale, x);
    call.scale = scale->contiguous();
  }
  if (noise.has_value()) {
    const at::Tensor& nz = *noise;
    TORCH_CHECK(nz.dim() >= 2 && nz.dim() <= 4, op,
                ": expected noise broadcastable to [N, 1, H, W] or [N, C, H, W], got shape ",
                nz.sizes());
    const int64_t nn = nz.dim() == 4 ? nz.size(0) : 1;
    const int64_t nc = nz.dim() >= 3 ? nz.size(-3) : 1;
    TORCH_CHECK((nn == 1 || nn == N) && (nc == 1 || nc == C) && nz.size(-2) == H &&
                    nz.size(-1) == W,
                op, ": expected noise broadcastable to [", N, ", 1, ", H, ", ", W, "] or [", N,
                ", ", C, ", ", H, ", ", W, "] (x is ", x.sizes(), "), got shape ", nz.sizes());
    check_same(op, "noise", nz, x);
    call.noise_per_channel = nc == C && C > 1;
    const at::Tensor nz4 = nz.reshape({nn, nc, H, W});
    call.noise = call.channels_last && call.noise_per_channel
                     ? nz4.contiguous(at::MemoryFormat::ChannelsLast)
                     : nz4.contiguous();
    call.noise_batch_stride = nn == 1 ? 0 : nc * H * W;
  }
  if (b.has_value()) call.b = b->contiguous();
  call.grad = grad.defined() ? with_strides_of(grad, call.x) : at::Tensor();
  call.out = at::empty_like(call.x);
  return call;
}

template <c10::DeviceType kDevice, void (*Launch)(const Call&)>
struct Entry {
  static at::Tensor forward(const at::Tensor& x, const std::optional<at::Tensor>& scale,
                            const std::optional<at::Tensor>& noise,
                            const std::optional<at::Tensor>& b, c10::string_view act,
                            double alpha, double gain, double clamp) {
    const Call call = prepare("styled_bias_act", kDevice, at::Tensor(), x, scale, noise, b, act,
                              alpha, gain, clamp, 0);
    if (call.x.numel() > 0) Launch(call);
    return call.out;
  }

  static at::Tensor backward(const at::Tensor& grad, const at::Tensor& x,
                             const std::optional<at::Tensor>& scale,
                             const std::optional<at::Tensor>& noise,
                             const std::optional<at::Tensor>& b, c10::string_view act,
                             double alpha, double gain, double clamp, int64_t order) {
    TORCH_CHECK(order >= 1, "styled_bias_act_backward: expected order >= 1, got ", order);
    const Call call = prepare("styled_bias_act_backward", kDevice, grad, x, scale, noise, b, act,
                              alpha, gain, clamp, order);
    if (call.x.numel() > 0) Launch(call);
    return call.out;
  }
};

}  // namespace fastgan::styled_bias_act
