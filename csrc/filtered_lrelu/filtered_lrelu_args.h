// Argument checks, output allocation and the operator entry points of filtered_lrelu, shared by
// the CPU and CUDA kernels: each device supplies only a `launch(const Call&)` that runs one pass
// (filtered_lrelu.h).
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/flip.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>
#include <c10/core/DeviceType.h>
#include <c10/util/Exception.h>

#include <optional>
#include <tuple>

#include "../common/checks.h"
#include "../common/layout.h"
#include "filtered_lrelu.h"

namespace fastgan::filtered_lrelu {

enum class Mode : int {
  kForward = 0,  // a = act(t); writes the mask codes when `mask` is defined
  kLinear = 1,   // a = mask_value(mask) * t
};

// One checked pass: the source (any strides), an optional bias added to it, the correlation
// kernels k1, k2 (float32, contiguous, [taps] when separable or [fh, fw]) with their gains, the
// mask [N, C, mid_y, mid_x] (int8, contiguous; undefined in a forward that does not save it) and
// the output.
struct Call {
  Mode mode;
  at::Tensor src, bias, k1, k2, mask, out;
  bool sep1, sep2;
  double gain1, gain2;  // stage gains (folded into the taps by the kernels)
  double gain, slope_gain, clamp;
  Axis ax, ay;
};

// The correlation kernel of an optional filter f: [1] for None, f flipped unless flip_filter
// (the kernels correlate; a true convolution correlates with the flipped filter).
inline at::Tensor corr_kernel(const std::optional<at::Tensor>& f, bool flip_filter,
                              const at::Tensor& x) {
  if (!f.has_value() || !f->defined()) return at::ones({1}, x.options().dtype(at::kFloat));
  const at::Tensor& t = *f;
  return (flip_filter ? t : at::flip(t, t.dim() == 1 ? at::IntArrayRef{0} : at::IntArrayRef{0, 1}))
      .contiguous();
}

inline void check_filter(const char* name, const std::optional<at::Tensor>& f,
                         const at::Tensor& x) {
  constexpr const char* op = "filtered_lrelu";
  if (!f.has_value() || !f->defined()) return;
  TORCH_CHECK((f->dim() == 1 || f->dim() == 2) && f->numel() > 0, op, ": expected ", name,
              " to be a non-empty 1-D [taps] or 2-D [fh, fw] filter, got shape ", f->sizes());
  TORCH_CHECK(f->size(0) <= 32 && f->size(-1) <= 32, op, ": expected ", name,
              " of at most 32 taps per dimension, got shape ", f->sizes());
  TORCH_CHECK(f->scalar_type() == at::kFloat, op, ": expected ", name,
              " of dtype float32, got ", f->scalar_type());
  TORCH_CHECK(f->device() == x.device(), op, ": expected ", name, " on ", x.device(),
              " (the device of x), got ", f->device());
}

// (fw, fh) of a correlation kernel.
inline std::pair<int64_t, int64_t> taps_of(const at::Tensor& k) {
  return {k.size(-1), k.size(0)};  // [taps] or [fh, fw]
}

inline void check_common(const at::Tensor& x, c10::DeviceType device, int64_t up, int64_t down,
                         c10::IntArrayRef padding) {
  constexpr const char* op = "filtered_lrelu";
  TORCH_CHECK(x.dim() == 4, op, ": expected x of shape [N, C, H, W], got shape ", x.sizes());
  check_float_dtype(op, x);
  check_device_type(op, x, device);
  TORCH_CHECK(up >= 1 && up <= 4, op, ": expected up in [1, 4], got ", up);
  TORCH_CHECK(down >= 1 && down <= 4, op, ": expected down in [1, 4], got ", down);
  TORCH_CHECK(padding.size() == 4, op, ": expected padding = [x0, x1, y0, y1], got ", padding);
}

// The forward geometry of one axis: source of `in` samples, filters of t1 and t2 taps.
inline Axis forward_axis(int64_t in, int64_t up, int64_t down, int64_t p0, int64_t p1, int64_t t1,
                         int64_t t2) {
  const int64_t mid = in * up + p0 + p1 - t1 + 1;
  return Axis{in, up, p0, t1, mid, t2, down, 0, mid >= t2 ? (mid - t2) / down + 1 : 0};
}

// The gradient's geometry of one axis: from the forward's output (fwd.out) back to its input.
inline Axis transpose_axis(const Axis& fwd) {
  return Axis{fwd.out,  fwd.down,  fwd.taps2 - 1,           fwd.taps2, fwd.mid,
              fwd.taps1, fwd.up, fwd.taps1 - fwd.pad1 - 1, fwd.in};
}

inline std::tuple<at::Tensor, at::Tensor> forward_entry_impl(
    c10::DeviceType device, void (*launch)(const Call&), const at::Tensor& x,
    const std::optional<at::Tensor>& fu, const std::optional<at::Tensor>& fd,
    const std::optional<at::Tensor>& b, int64_t up, int64_t down, c10::IntArrayRef padding,
    double gain, double slope, double clamp, bool flip_filter, bool save_mask) {
  constexpr const char* op = "filtered_lrelu";
  check_common(x, device, up, down, padding);
  check_filter("fu", fu, x);
  check_filter("fd", fd, x);
  Call call;
  call.mode = Mode::kForward;
  if (b.has_value() && b->defined()) {
    TORCH_CHECK(b->dim() == 1 && b->size(0) == x.size(1), op, ": expected b of shape [",
                x.size(1), "] (the channels of x), got ", b->sizes());
    TORCH_CHECK(b->scalar_type() == x.scalar_type(), op, ": expected b of dtype ",
                x.scalar_type(), " (the dtype of x), got ", b->scalar_type());
    TORCH_CHECK(b->device() == x.device(), op, ": expected b on ", x.device(),
                " (the device of x), got ", b->device());
    call.bias = b->contiguous();
  }
  call.k1 = corr_kernel(fu, flip_filter, x);
  call.k2 = corr_kernel(fd, flip_filter, x);
  call.sep1 = call.k1.dim() == 1;
  call.sep2 = call.k2.dim() == 1;
  const auto [fuw, fuh] = taps_of(call.k1);
  const auto [fdw, fdh] = taps_of(call.k2);
  call.ax = forward_axis(x.size(3), up, down, padding[0], padding[1], fuw, fdw);
  call.ay = forward_axis(x.size(2), up, down, padding[2], padding[3], fuh, fdh);
  TORCH_CHECK(call.ax.out >= 1 && call.ay.out >= 1, op, ": the output would be empty: x of ",
              x.size(2), "x", x.size(3), " upsampled by ", up, " and padded by ", padding,
              " is smaller than the filters need");
  call.gain1 = double(up * up);
  call.gain2 = 1.0;
  call.gain = gain;
  call.slope_gain = gain * slope;
  call.clamp = clamp;
  call.src = x;
  call.out = at::empty({x.size(0), x.size(1), call.ay.out, call.ax.out}, x.options(),
                       output_format(x));
  if (save_mask) {
    // Zeros: t elements that no output reads are never computed, and their gradient is 0.
    call.mask = at::zeros({x.size(0), x.size(1), call.ay.mid, call.ax.mid},
                          x.options().dtype(at::kChar));
  }
  if (call.out.numel() > 0) launch(call);
  return {call.out, save_mask ? call.mask : at::empty({0}, x.options().dtype(at::kChar))};
}

inline at::Tensor linear_entry_impl(c10::DeviceType device, void (*launch)(const Call&),
                                    const at::Tensor& v, const at::Tensor& mask,
                                    const std::optional<at::Tensor>& fu,
                                    const std::optional<at::Tensor>& fd, int64_t up, int64_t down,
                                    c10::IntArrayRef padding, double gain, double slope,
                                    bool flip_filter, bool transpose) {
  constexpr const char* op = "filtered_lrelu_linear";
  check_common(v, device, up, down, padding);
  check_filter("fu", fu, v);
  check_filter("fd", fd, v);
  TORCH_CHECK(mask.dim() == 4 && mask.scalar_type() == at::kChar && mask.device() == v.device() &&
                  mask.size(0) == v.size(0) && mask.size(1) == v.size(1),
              op, ": expected mask of shape [", v.size(0), ", ", v.size(1),
              ", H, W], int8, on ", v.device(), " (from filtered_lrelu), got shape ", mask.sizes(),
              " ", mask.scalar_type());
  Call call;
  call.mode = Mode::kLinear;
  call.k1 = corr_kernel(fu, flip_filter, v);
  call.k2 = corr_kernel(fd, flip_filter, v);
  const auto [fuw, fuh] = taps_of(call.k1);
  const auto [fdw, fdh] = taps_of(call.k2);
  const int64_t mid_h = mask.size(2), mid_w = mask.size(3);
  // The forward's input size, from the mask: mid = in * up + p0 + p1 - taps + 1.
  const int64_t num_w = mid_w - 1 + fuw - padding[0] - padding[1];
  const int64_t num_h = mid_h - 1 + fuh - padding[2] - padding[3];
  TORCH_CHECK(num_w >= up && num_h >= up && num_w % up == 0 && num_h % up == 0, op,
              ": the mask of shape ", mask.sizes(), " does not match up=", up, ", padding ",
              padding, " and filters of ", fuh, "x", fuw, " taps");
  const Axis fx = forward_axis(num_w / up, up, down, padding[0], padding[1], fuw, fdw);
  const Axis fy = forward_axis(num_h / up, up, down, padding[2], padding[3], fuh, fdh);
  if (!transpose) {
    TORCH_CHECK(v.size(2) == fy.in && v.size(3) == fx.in, op, ": expected v of ", fy.in, "x",
                fx.in, " (the forward's input), got ", v.sizes());
    call.ax = fx, call.ay = fy;
    call.gain1 = double(up * up), call.gain2 = 1.0;
  } else {
    TORCH_CHECK(v.size(2) == fy.out && v.size(3) == fx.out, op, ": expected v of ", fy.out, "x",
                fx.out, " (the forward's output), got ", v.sizes());
    call.ax = transpose_axis(fx), call.ay = transpose_axis(fy);
    // The adjoint of a correlation is the correlation with the flipped kernel.
    std::swap(call.k1, call.k2);
    call.k1 = at::flip(call.k1, call.k1.dim() == 1 ? at::IntArrayRef{0} : at::IntArrayRef{0, 1});
    call.k2 = at::flip(call.k2, call.k2.dim() == 1 ? at::IntArrayRef{0} : at::IntArrayRef{0, 1});
    // Axis of the transpose: stage 1 uses fd's taps, stage 2 fu's; 2-D kernels are [fh, fw].
    call.gain1 = 1.0, call.gain2 = double(up * up);
  }
  call.k1 = call.k1.contiguous();
  call.k2 = call.k2.contiguous();
  call.sep1 = call.k1.dim() == 1;
  call.sep2 = call.k2.dim() == 1;
  call.gain = gain;
  call.slope_gain = gain * slope;
  call.clamp = -1.0;
  call.src = v;
  call.mask = mask.contiguous();
  call.out = at::empty({v.size(0), v.size(1), call.ay.out, call.ax.out}, v.options(),
                       output_format(v));
  if (call.out.numel() > 0) launch(call);
  return call.out;
}

template <c10::DeviceType kDevice, void (*Launch)(const Call&)>
std::tuple<at::Tensor, at::Tensor> forward_entry(
    const at::Tensor& x, const std::optional<at::Tensor>& fu, const std::optional<at::Tensor>& fd,
    const std::optional<at::Tensor>& b, int64_t up, int64_t down, c10::IntArrayRef padding,
    double gain, double slope, double clamp, bool flip_filter, bool save_mask) {
  return forward_entry_impl(kDevice, Launch, x, fu, fd, b, up, down, padding, gain, slope, clamp,
                            flip_filter, save_mask);
}

template <c10::DeviceType kDevice, void (*Launch)(const Call&)>
at::Tensor linear_entry(const at::Tensor& v, const at::Tensor& mask,
                        const std::optional<at::Tensor>& fu, const std::optional<at::Tensor>& fd,
                        int64_t up, int64_t down, c10::IntArrayRef padding, double gain,
                        double slope, bool flip_filter, bool transpose) {
  return linear_entry_impl(kDevice, Launch, v, mask, fu, fd, up, down, padding, gain, slope,
                           flip_filter, transpose);
}

}  // namespace fastgan::filtered_lrelu
