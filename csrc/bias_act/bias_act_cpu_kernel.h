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

// In the baseline x86-64 build at::vec's generic Vectorized is an array whose operations the
// compiler does not inline; plain loops over scalars, which it vectorises itself where it can, are
// several times faster there. Other builds (AVX2; NEON on ARM) use at::vec.
#if defined(CPU_CAPABILITY_DEFAULT) && defined(__x86_64__)
constexpr bool kScalarLoops = true;
#else
constexpr bool kScalarLoops = false;
#endif

// Elements converted to the compute type at a time (16-bit inputs are computed in float32).
constexpr int64_t kBlock = 1024;
// Elements per parallel task: large enough to amortise the task, small enough to balance.
constexpr int64_t kGrain = 32768;
// Runs of one bias value shorter than this (small H*W in NCHW) cost more in bookkeeping than in
// arithmetic; such tensors use a bias repeated per element over one period (channels * inner).
constexpr int64_t kShortRun = 64;
constexpr int64_t kMaxPeriod = 1 << 16;

template <typename scalar_t, typename opmath_t>
const opmath_t* as_opmath(const scalar_t* src, opmath_t* buf, int64_t n) {
  if constexpr (std::is_same_v<scalar_t, opmath_t>) {
    return src;
  } else {
    at::vec::convert(src, buf, n);
    return buf;
  }
}

// Calls body(offset, count, channel, bias_is_vector) for the runs of [begin, end) on which the
// bias is one value (bias_is_vector = false) or the contiguous slice b[channel:] (true).
template <typename F>
void for_each_run(const ChannelLayout& layout, int64_t begin, int64_t end, F&& body) {
  int64_t i = begin;
  while (i < end) {
    int64_t channel, count;
    if (layout.inner == 1) {
      channel = i % layout.channels;
      count = std::min(end - i, layout.channels - channel);
    } else {
      channel = (i / layout.inner) % layout.channels;
      count = std::min(end - i, layout.inner - i % layout.inner);
    }
    body(i, count, channel, layout.inner == 1);
    i += count;
  }
}

template <typename scalar_t>
void elementwise_typed(const scalar_t* grad, const scalar_t* x, const scalar_t* b, scalar_t* out,
                       const ChannelLayout& layout, const Params<double>& params) {
  using opmath_t = at::opmath_type<scalar_t>;
  using Vec = at::vec::Vectorized<opmath_t>;
  using VM = Math<Vec>;
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
        if constexpr (kScalarLoops) {
          with_act(p.act, [&](auto act) {
            // Local copies and restrict: the stores cannot alias them, so the loops vectorise.
            const Params<opmath_t> q = p;
            opmath_t* __restrict__ o = os;
            const opmath_t* __restrict__ xr = xs;
            const opmath_t* __restrict__ br = bs;
            const opmath_t* __restrict__ gr = gs;
            if (gr && br) {
              for (int64_t k = 0; k < m; ++k) o[k] = backward<opmath_t>(gr[k], xr[k], br[k], q, act);
            } else if (gr) {
              for (int64_t k = 0; k < m; ++k) o[k] = backward<opmath_t>(gr[k], xr[k], b_value, q, act);
            } else if (br) {
              for (int64_t k = 0; k < m; ++k) o[k] = forward<opmath_t>(xr[k], br[k], q, act);
            } else {
              for (int64_t k = 0; k < m; ++k) o[k] = forward<opmath_t>(xr[k], b_value, q, act);
            }
          });
          if constexpr (!kSameType) at::vec::convert(out_buf, out + offset + j, m);
          continue;
        }
        const Vec b_one(b_value);
        const auto compute = [&](int64_t k, int64_t n, auto act) {
          const bool full = n == Vec::size();
          const Vec xv = full ? Vec::loadu(xs + k) : Vec::loadu(xs + k, n);
          const Vec bv = !bs ? b_one : full ? Vec::loadu(bs + k) : Vec::loadu(bs + k, n);
          if (gs) {
            const Vec gv = full ? Vec::loadu(gs + k) : Vec::loadu(gs + k, n);
            return backward<Vec, opmath_t, VM>(gv, xv, bv, p, act);
          }
          return forward<Vec, opmath_t, VM>(xv, bv, p, act);
        };
        // Whole vectors, then one partial vector (the counted load/store is the slow path).
        with_act(p.act, [&](auto act) {
          int64_t k = 0;
          for (; k + Vec::size() <= m; k += Vec::size()) compute(k, Vec::size(), act).store(os + k);
          if (k < m) compute(k, m - k, act).store(os + k, m - k);
        });
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
