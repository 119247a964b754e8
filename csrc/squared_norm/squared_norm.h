// squared_norm: the per-sample squared L2 norm, out[n] = sum of x[n, ...]^2, the core of the
// gradient penalties (R1, R2, WGAN-GP); float32 (float64 for float64 x), since a sum of squares
// overflows float16 long before the gradients do. The input is split into `chunks` contiguous pieces per
// sample; each device sums the pieces into partials [N, chunks] (in double, float for CUDA
// 16/32-bit) that the entry point adds up, so the result does not depend on thread timing.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/DeviceType.h>
#include <c10/util/Exception.h>

#include <algorithm>

#include "../common/checks.h"
#include "../common/limits.h"

namespace fastgan::squared_norm {

// Elements per chunk: enough work per task, and enough tasks for small batches.
// (small in the emulated CUDA build, so that test inputs are summed in several chunks).
constexpr int64_t kChunk = FASTGAN_LIMIT(1 << 16, 256);

template <void (*Partials)(const at::Tensor& x, const at::Tensor& partials, int64_t per_sample,
                           int64_t chunks),
          c10::DeviceType kDevice>
at::Tensor entry(const at::Tensor& x) {
  constexpr const char* op = "squared_norm";
  TORCH_CHECK(x.dim() >= 1, op, ": expected x with a batch dimension, got a 0-d tensor");
  const at::ScalarType dtype = x.scalar_type();
  check_float_dtype(op, x);
  check_device_type(op, x, kDevice);
  const int64_t N = x.size(0);
  const int64_t per_sample = N > 0 ? x.numel() / N : 0;
  // Every sample one contiguous block (NCHW and channels_last both qualify).
  const bool blocks = x.is_non_overlapping_and_dense() && (N <= 1 || x.stride(0) == per_sample);
  const at::Tensor xs = blocks ? x : x.contiguous();
  const int64_t chunks = std::max<int64_t>(1, (per_sample + kChunk - 1) / kChunk);
  const at::ScalarType acc = dtype == at::kDouble ? at::kDouble : at::kFloat;
  // One chunk per sample (up to kChunk elements): the partials are the result, without a sum.
  const auto options = x.options().dtype(acc);
  at::Tensor partials = chunks == 1 ? at::empty({N}, options) : at::empty({N, chunks}, options);
  if (N > 0 && per_sample > 0) {
    Partials(xs, partials, per_sample, chunks);
  } else {
    partials.zero_();
  }
  return chunks == 1 ? partials : partials.sum(1);
}

}  // namespace fastgan::squared_norm
