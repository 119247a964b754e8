// styled_bias_act CPU kernel body, compiled once per instruction set (namespace CPU_CAPABILITY,
// defined by the including file). One pass over memory: blocks of x are converted to the compute
// type, turned into z = x * scale + noise in a small buffer, and finished by bias_act's block
// computation (bias, activation, gain, clamp; or the order-k derivative times grad).
//
// NCHW: runs are planes, where scale[n, c] and b[c] are one value and noise is contiguous.
// channels_last: runs are pixels, where scale[n, :], b and a per-channel noise are contiguous
// vectors, and a [N, 1, H, W] noise is one value.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <type_traits>

#include "../bias_act/bias_act_cpu_block.h"
#include "styled_bias_act_args.h"

namespace fastgan::styled_bias_act {

namespace DEFAULT {
void elementwise(const Call& call);
}
namespace AVX2 {
void elementwise(const Call& call);
}

namespace CPU_CAPABILITY {
namespace {

using bias_act::CPU_CAPABILITY::apply_block;
using bias_act::CPU_CAPABILITY::as_opmath;
using bias_act::CPU_CAPABILITY::kBlock;

// Elements per parallel task: a quarter of bias_act's, since an element costs more here (the
// scale, noise and bias of short runs are staged). On 2 threads, 4x512x4x4 forward 37 -> 20 us;
// bias_act's own crossover lies between 32768 and 65536 elements.
constexpr int64_t kGrain = 8192;

// One run of `count` elements from `offset`: scale, noise and bias each either a contiguous
// vector (pointer) or one value.
template <typename scalar_t>
struct Run {
  int64_t offset, count;
  const scalar_t* scale;  // null: scale_value
  const scalar_t* noise;  // null: noise_value
  const scalar_t* bias;   // null: bias_value
  double scale_value, noise_value, bias_value;
};

template <typename scalar_t>
void run_typed(const Call& call) {
  using opmath_t = at::opmath_type<scalar_t>;
  constexpr bool kSameType = std::is_same_v<scalar_t, opmath_t>;
  const Params<opmath_t> p = bias_act::cast_params<opmath_t>(call.params);
  const scalar_t* const x = call.x.const_data_ptr<scalar_t>();
  const scalar_t* const grad = call.grad.defined() ? call.grad.const_data_ptr<scalar_t>() : nullptr;
  const scalar_t* const scale =
      call.scale.defined() ? call.scale.const_data_ptr<scalar_t>() : nullptr;
  const scalar_t* const noise =
      call.noise.defined() ? call.noise.const_data_ptr<scalar_t>() : nullptr;
  const scalar_t* const b = call.b.defined() ? call.b.const_data_ptr<scalar_t>() : nullptr;
  scalar_t* const out = call.out.mutable_data_ptr<scalar_t>();
  const int64_t C = call.C, HW = call.HW;
  const int64_t numel = call.x.numel();

  // Element i is (n, mid, inner) with sizes (N, M, I): (n, c, hw) for NCHW, (n, hw, c) for
  // channels_last. A run is the rest of one `inner` row; the next starts at inner = 0, so the
  // position advances without the integer divisions that cost more than a short run itself
  // (a 4x4 plane is 16 elements).
  const int64_t M = call.channels_last ? HW : C, I = call.channels_last ? C : HW;
  const auto run_at = [&](int64_t i, int64_t end, int64_t n, int64_t mid, int64_t inner) {
    Run<scalar_t> r{i, std::min(end - i, I - inner), nullptr, nullptr, nullptr, 1.0, 0.0, 0.0};
    if (!call.channels_last) {
      const int64_t c = mid, hw = inner, plane = n * C + c;
      if (scale) r.scale_value = static_cast<double>(scale[plane]);
      if (b) r.bias_value = static_cast<double>(b[c]);
      if (noise) {
        r.noise = noise + n * call.noise_batch_stride + (call.noise_per_channel ? c * HW : 0) + hw;
      }
    } else {
      const int64_t hw = mid, c = inner;
      if (scale) r.scale = scale + n * C + c;
      if (b) r.bias = b + c;
      if (noise && call.noise_per_channel) {
        r.noise = noise + n * call.noise_batch_stride + hw * C + c;
      } else if (noise) {
        r.noise_value = static_cast<double>(noise[n * call.noise_batch_stride + hw]);
      }
    }
    return r;
  };

  at::parallel_for(0, numel, kGrain, [&](int64_t begin, int64_t end) {
    opmath_t x_buf[kBlock], z_buf[kBlock], s_buf[kBlock], n_buf[kBlock], b_buf[kBlock],
        g_buf[kBlock], out_buf[kBlock];
    int64_t inner = begin % I, mid = (begin / I) % M, n = begin / I / M;
    // Blocks of up to kBlock elements. A block may hold several runs (a 4x4 plane is a run of
    // 16): z and, then, a per-element bias are staged run by run and one apply_block finishes
    // the block, since a call per short run cost more than its arithmetic.
    for (int64_t at = begin; at < end;) {
      const int64_t m = std::min(kBlock, end - at);
      const opmath_t* __restrict__ xs = as_opmath(x + at, x_buf, m);
      bool one_run = false;
      opmath_t b_value = 0;
      const scalar_t* run_bias = nullptr;
      for (int64_t k0 = 0; k0 < m;) {
        const Run<scalar_t> r = run_at(at + k0, at + m, n, mid, inner);
        const int64_t len = r.count;
        one_run = len == m;
        const opmath_t* __restrict__ xr = xs + k0;
        opmath_t* __restrict__ z = z_buf + k0;
        if (r.scale) {
          const opmath_t* __restrict__ ss = as_opmath(r.scale, s_buf + k0, len);
          for (int64_t k = 0; k < len; ++k) z[k] = xr[k] * ss[k];
        } else {
          const opmath_t sv = static_cast<opmath_t>(r.scale_value);
          for (int64_t k = 0; k < len; ++k) z[k] = xr[k] * sv;
        }
        if (r.noise) {
          const opmath_t* __restrict__ ns = as_opmath(r.noise, n_buf + k0, len);
          for (int64_t k = 0; k < len; ++k) z[k] += ns[k];
        } else if (r.noise_value != 0.0) {
          const opmath_t v = static_cast<opmath_t>(r.noise_value);
          for (int64_t k = 0; k < len; ++k) z[k] += v;
        }
        b_value = static_cast<opmath_t>(r.bias_value);
        run_bias = r.bias;
        if (b && !one_run) {
          opmath_t* __restrict__ bb = b_buf + k0;
          if (r.bias) {
            at::vec::convert(r.bias, bb, len);
          } else {
            for (int64_t k = 0; k < len; ++k) bb[k] = b_value;
          }
        }
        k0 += len;
        inner += len;
        if (inner == I) {
          inner = 0;
          if (++mid == M) mid = 0, ++n;
        }
      }
      // The bias: staged per element, or for a block that is one run, that run's bias vector
      // (channels_last) or value (NCHW).
      const opmath_t* bs = nullptr;
      if (b && !one_run) {
        bs = b_buf;
      } else if (run_bias) {
        bs = as_opmath(run_bias, b_buf, m);
      }
      const opmath_t* gs = grad ? as_opmath(grad + at, g_buf, m) : nullptr;
      opmath_t* os = kSameType ? reinterpret_cast<opmath_t*>(out + at) : out_buf;
      apply_block(p, gs, z_buf, bs, b_value, os, m);
      if constexpr (!kSameType) at::vec::convert(out_buf, out + at, m);
      at += m;
    }
  });
}

}  // namespace

void elementwise(const Call& call) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, call.x.scalar_type(),
                                  "styled_bias_act", [&] { run_typed<scalar_t>(call); });
}

}  // namespace CPU_CAPABILITY
}  // namespace fastgan::styled_bias_act
