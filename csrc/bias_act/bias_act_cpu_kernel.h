// bias_act CPU kernel body, compiled once per instruction set: included by bias_act_cpu.cpp
// (baseline, CPU_CAPABILITY=DEFAULT) and bias_act_cpu_avx2.cpp (AVX2 + FMA), which define
// CPU_CAPABILITY first. at::vec::Vectorized is then the SIMD type of that instruction set.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../common/vec_math.h"
#include "bias_act_args.h"
#include "bias_act_cpu_block.h"

namespace fastgan::bias_act {

// The entry point of each instruction set's kernel: out = forward(x, b) when grad is undefined,
// else the order-params.order backward of grad. All tensors dense with the strides of x.
#define FASTGAN_BIAS_ACT_CPU_ENTRY                                                          \
  void elementwise(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& b,        \
                   const at::Tensor& out, const ChannelLayout& layout, const Params<double>& params)

namespace DEFAULT {
FASTGAN_BIAS_ACT_CPU_ENTRY;
}
namespace AVX2 {
FASTGAN_BIAS_ACT_CPU_ENTRY;
}

namespace CPU_CAPABILITY {
namespace {

// Runs of one bias value shorter than this (small H*W in NCHW) cost more in bookkeeping than in
// arithmetic; such tensors use a bias repeated per element over one period (channels * inner).
constexpr int64_t kShortRun = 64;
constexpr int64_t kMaxPeriod = 1 << 16;

// Calls body(offset, count, channel, bias_is_vector) for the runs of [begin, end) on which the
// bias is one value (bias_is_vector = false) or the contiguous slice b[channel:] (true). The
// position is found by division once and then advanced run by run.
template <typename F>
void for_each_run(const ChannelLayout& layout, int64_t begin, int64_t end, F&& body) {
  if (layout.inner == 1) {
    int64_t channel = begin % layout.channels;
    for (int64_t i = begin; i < end;) {
      const int64_t count = std::min(end - i, layout.channels - channel);
      body(i, count, channel, true);
      i += count;
      channel = 0;
    }
    return;
  }
  int64_t channel = (begin / layout.inner) % layout.channels;
  int64_t pos = begin % layout.inner;
  for (int64_t i = begin; i < end;) {
    const int64_t count = std::min(end - i, layout.inner - pos);
    body(i, count, channel, false);
    i += count;
    pos = 0;
    if (++channel == layout.channels) channel = 0;
  }
}

template <typename scalar_t>
void elementwise_typed(const scalar_t* grad, const scalar_t* x, const scalar_t* b, scalar_t* out,
                       const ChannelLayout& layout, const Params<double>& params) {
  using opmath_t = at::opmath_type<scalar_t>;
  constexpr bool kSameType = std::is_same_v<scalar_t, opmath_t>;
  const Params<opmath_t> p = cast_params<opmath_t>(params);

  ChannelLayout runs = layout;
  std::vector<scalar_t> repeated;
  if (b != nullptr && layout.inner > 1 && layout.inner < kShortRun &&
      layout.channels * layout.inner <= kMaxPeriod) {
    repeated.resize(layout.channels * layout.inner);
    for (int64_t c = 0; c < layout.channels; ++c) {
      std::fill_n(repeated.begin() + c * layout.inner, layout.inner, b[c]);
    }
    b = repeated.data();
    runs = ChannelLayout{layout.numel, layout.channels * layout.inner, 1};
  }

  at::parallel_for(0, runs.numel, kGrain, [&](int64_t begin, int64_t end) {
    opmath_t x_buf[kBlock], b_buf[kBlock], g_buf[kBlock], out_buf[kBlock];
    for_each_run(runs, begin, end, [&](int64_t offset, int64_t count, int64_t channel,
                                         bool bias_is_vector) {
      for (int64_t j = 0; j < count; j += kBlock) {
        const int64_t m = std::min(kBlock, count - j);
        const opmath_t* xs = as_opmath(x + offset + j, x_buf, m);
        const opmath_t* gs = grad ? as_opmath(grad + offset + j, g_buf, m) : nullptr;
        const opmath_t* bs = (b && bias_is_vector) ? as_opmath(b + channel + j, b_buf, m) : nullptr;
        const opmath_t b_value = b && !bias_is_vector ? static_cast<opmath_t>(b[channel]) : 0;
        opmath_t* os = kSameType ? reinterpret_cast<opmath_t*>(out + offset + j) : out_buf;
        apply_block(p, gs, xs, bs, b_value, os, m);
        if constexpr (!kSameType) {
          at::vec::convert(out_buf, out + offset + j, m);
        }
      }
    });
  });
}

}  // namespace

FASTGAN_BIAS_ACT_CPU_ENTRY {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_cpu", [&] {
    elementwise_typed<scalar_t>(grad.defined() ? grad.const_data_ptr<scalar_t>() : nullptr,
                                x.const_data_ptr<scalar_t>(),
                                b.defined() ? b.const_data_ptr<scalar_t>() : nullptr,
                                out.mutable_data_ptr<scalar_t>(), layout, params);
  });
}

}  // namespace CPU_CAPABILITY
}  // namespace fastgan::bias_act
