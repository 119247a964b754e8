// Argument checks, output allocation and the operator entry point of upfirdn2d, shared by the
// CPU and CUDA kernels: each device supplies only a `launch(const Call&)`.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/flip.h>
#include <c10/core/DeviceType.h>
#include <c10/util/Exception.h>

#include "../common/checks.h"
#include "../common/layout.h"
#include "upfirdn2d.h"

namespace fastgan::upfirdn2d {

// One checked call: x as given (any strides), the correlation kernel k (float32, contiguous,
// [fh, fw] or [fw] when separable), the output, and the geometry of both axes.
struct Call {
  at::Tensor x, k, out;
  Axis ax, ay;
  bool separable;
  double gain;
};

inline Call prepare(c10::DeviceType device, const at::Tensor& x, const at::Tensor& f,
                    c10::IntArrayRef up, c10::IntArrayRef down, c10::IntArrayRef padding,
                    bool flip_filter, double gain) {
  constexpr const char* op = "upfirdn2d";
  TORCH_CHECK(x.dim() == 4, op, ": expected x of shape [N, C, H, W], got shape ", x.sizes());
  check_float_dtype(op, x);
  check_device_type(op, x, device);
  TORCH_CHECK((f.dim() == 1 || f.dim() == 2) && f.numel() > 0, op,
              ": expected f to be a non-empty 1-D [fw] or 2-D [fh, fw] filter, got shape ",
              f.sizes());
  TORCH_CHECK(f.scalar_type() == at::kFloat, op, ": expected f of dtype float32, got ",
              f.scalar_type());
  TORCH_CHECK(f.device() == x.device(), op, ": expected f on ", x.device(),
              " (the device of x), got ", f.device());
  TORCH_CHECK(up.size() == 2 && up[0] >= 1 && up[1] >= 1, op,
              ": expected up = [x, y] with both >= 1, got ", up);
  TORCH_CHECK(down.size() == 2 && down[0] >= 1 && down[1] >= 1, op,
              ": expected down = [x, y] with both >= 1, got ", down);
  TORCH_CHECK(padding.size() == 4, op, ": expected padding = [x0, x1, y0, y1], got ", padding);

  Call call;
  call.separable = f.dim() == 1;
  const int64_t fw = f.size(-1), fh = call.separable ? fw : f.size(0);
  const int64_t H = x.size(2), W = x.size(3);
  const int64_t span_y = H * up[1] + padding[2] + padding[3] - fh;
  const int64_t span_x = W * up[0] + padding[0] + padding[1] - fw;
  TORCH_CHECK(span_x >= 0 && span_y >= 0, op, ": the output would be empty: x of ", H, "x", W,
              " upsampled by ", up, " and padded by ", padding, " is smaller than the ", fh, "x",
              fw, " filter");
  call.ax = Axis{W, span_x / down[0] + 1, up[0], down[0], padding[0], fw};
  call.ay = Axis{H, span_y / down[1] + 1, up[1], down[1], padding[2], fh};
  call.gain = gain;
  call.x = x;
  // Kernels correlate; a true convolution (flip_filter false) correlates with the flipped filter.
  call.k = (flip_filter ? f : at::flip(f, call.separable ? at::IntArrayRef{0}
                                                         : at::IntArrayRef{0, 1}))
               .contiguous();
  call.out = at::empty({x.size(0), x.size(1), call.ay.out, call.ax.out}, x.options(),
                       output_format(x));
  return call;
}

// The operator entry point of one device; empty outputs never reach the launcher.
template <c10::DeviceType kDevice, void (*Launch)(const Call&)>
at::Tensor entry(const at::Tensor& x, const at::Tensor& f, c10::IntArrayRef up,
                 c10::IntArrayRef down, c10::IntArrayRef padding, bool flip_filter, double gain) {
  const Call call = prepare(kDevice, x, f, up, down, padding, flip_filter, gain);
  if (call.out.numel() > 0) Launch(call);
  return call.out;
}

}  // namespace fastgan::upfirdn2d
