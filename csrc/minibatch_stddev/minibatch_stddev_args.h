// Argument checks, output assembly and the operator entry points of minibatch_stddev, shared by
// the CPU and CUDA kernels. Each device supplies two kernels on NCHW-contiguous tensors:
// `forward(x, out, geometry)` (fills out [N, C + F, H, W]: x, then the statistics channels, in
// one pass over x) and `backward(grad, x, geometry) -> grad_x` (NCHW-contiguous).
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/core/DeviceType.h>
#include <c10/util/Exception.h>

#include "../common/checks.h"
#include "../common/layout.h"
#include "minibatch_stddev.h"

namespace fastgan::minibatch_stddev {

inline Geometry check_args(const char* op, c10::DeviceType device, const at::Tensor& x,
                           int64_t group_size, int64_t num_channels) {
  TORCH_CHECK(x.dim() == 4, op, ": expected x of shape [N, C, H, W], got shape ", x.sizes());
  check_float_dtype(op, x);
  check_device_type(op, x, device);
  TORCH_CHECK(group_size >= 1, op, ": expected group_size >= 1, got ", group_size);
  TORCH_CHECK(num_channels >= 1, op, ": expected num_channels >= 1, got ", num_channels);
  const int64_t N = x.size(0), C = x.size(1);
  TORCH_CHECK(N >= 1, op, ": expected a batch of at least 1 sample, got x of shape ", x.sizes());
  const int64_t G = std::min(group_size, N);
  TORCH_CHECK(N % G == 0, op, ": expected the batch size N=", N,
              " to be divisible by the group size min(group_size, N)=", G);
  TORCH_CHECK(C % num_channels == 0, op, ": expected the channels C=", C,
              " to be divisible by num_channels=", num_channels);
  return Geometry{G, N / G, num_channels, C / num_channels, x.size(2) * x.size(3), C};
}

// The device's two kernels.
template <void (*Forward)(const at::Tensor&, const at::Tensor&, const Geometry&),
          at::Tensor (*Backward)(const at::Tensor&, const at::Tensor&, const Geometry&),
          c10::DeviceType kDevice>
struct Entry {
  static at::Tensor forward(const at::Tensor& x, int64_t group_size, int64_t num_channels) {
    const Geometry geo = check_args("minibatch_stddev", kDevice, x, group_size, num_channels);
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    if (x.numel() == 0) {
      return at::zeros({N, C + geo.F, H, W}, x.options().memory_format(output_format(x)));
    }
    at::Tensor out = at::empty({N, C + geo.F, H, W}, x.options());
    Forward(x.contiguous(), out, geo);
    return out.contiguous(output_format(x));
  }

  static at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, int64_t group_size,
                             int64_t num_channels) {
    constexpr const char* op = "minibatch_stddev_backward";
    const Geometry geo = check_args(op, kDevice, x, group_size, num_channels);
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    TORCH_CHECK(grad.dim() == 4 && grad.size(0) == N && grad.size(1) == C + geo.F &&
                    grad.size(2) == H && grad.size(3) == W,
                op, ": expected grad of shape [", N, ", ", C + geo.F, ", ", H, ", ", W,
                "] (the output's), got ", grad.sizes());
    TORCH_CHECK(grad.scalar_type() == x.scalar_type(), op, ": expected grad of dtype ",
                x.scalar_type(), " (the dtype of x), got ", grad.scalar_type());
    TORCH_CHECK(grad.device() == x.device(), op, ": expected grad on ", x.device(),
                " (the device of x), got ", grad.device());
    if (x.numel() == 0) return grad.narrow(1, 0, C).contiguous(output_format(x));
    return Backward(grad.contiguous(), x.contiguous(), geo).contiguous(output_format(x));
  }
};

}  // namespace fastgan::minibatch_stddev
