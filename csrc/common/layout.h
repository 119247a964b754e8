// Host-side helpers for elementwise kernels over dense tensors of any memory format.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>

namespace fastgan {

// A dense tensor seen in memory as [outer, channels, inner], where `channels` runs along one
// logical dim. This holds for every non-overlapping dense layout (contiguous, channels_last, any
// permutation), with inner = stride(dim): element p of the storage has channel (p / inner) % channels.
struct ChannelLayout {
  int64_t numel;
  int64_t channels;
  int64_t inner;
};

// `t` itself when it is non-overlapping and dense, otherwise a copy in its suggested memory format
// (the layout at::empty_like gives the output, so input and output strides always agree).
inline at::Tensor dense(const at::Tensor& t) {
  return t.is_non_overlapping_and_dense() ? t : t.contiguous(t.suggest_memory_format());
}

// `t` with exactly the strides of the dense tensor `like` (same shape), copying only if needed.
inline at::Tensor with_strides_of(const at::Tensor& t, const at::Tensor& like) {
  if (t.strides() == like.strides()) return t;
  at::Tensor out = at::empty_like(like);
  out.copy_(t);
  return out;
}

// The memory format of an op's output: channels_last when x is (and is not also contiguous), else
// contiguous. The fake kernels apply the same rule (fastgan.ops._dispatch.memory_format_of).
inline at::MemoryFormat output_format(const at::Tensor& x) {
  return x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous()
             ? at::MemoryFormat::ChannelsLast
             : at::MemoryFormat::Contiguous;
}

// The channel layout of dense `t` along `dim`; without a per-channel operand the whole tensor is
// one channel.
inline ChannelLayout channel_layout(const at::Tensor& t, int64_t dim, bool per_channel) {
  const int64_t n = t.numel();
  if (!per_channel || t.size(dim) == 1) return {n, 1, n > 0 ? n : 1};
  return {n, t.size(dim), t.stride(dim)};
}

}  // namespace fastgan
