// The one pass of styled_bias_act's CPU input gradients (styled_bias_act_cpu_grads.cpp),
// compiled once per instruction set like the op's kernel (namespace CPU_CAPABILITY, defined by
// the including file).
//
// Work items are (sample n, chunk of pixels): each walks the C planes of its chunk once, so that
// the noise gradient (a sum over channels) is its own, with no reduction across threads; the
// per-plane sums for scale and b are partial per chunk and added up at the end (N * C * chunks
// values).
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <vector>

#include "../common/parallel.h"
#include "styled_bias_act_cpu_grads.h"

namespace fastgan::styled_bias_act {

namespace CPU_CAPABILITY {
namespace {

// One plane's run of `len` pixels: its sum of g * x and of g, g added to `noise` (kNoise), and
// g * s written to `out` (kX), which may be g itself (the in-place grad_x), but nothing else.
template <typename scalar_t, bool kNoise, bool kX>
inline void plane_run(const scalar_t* g, const scalar_t* __restrict x,
                      at::opmath_type<scalar_t>* __restrict noise, scalar_t* out,
                      at::opmath_type<scalar_t> s, int64_t len, at::opmath_type<scalar_t>& dot,
                      at::opmath_type<scalar_t>& sum) {
  using acc_t = at::opmath_type<scalar_t>;
  // Eight partial sums each: one running sum is a serial chain that does not vectorise.
  acc_t d[8] = {0, 0, 0, 0, 0, 0, 0, 0}, u[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= len; i += 8) {
    acc_t gv[8];
    for (int j = 0; j < 8; ++j) gv[j] = static_cast<acc_t>(g[i + j]);
    for (int j = 0; j < 8; ++j) {
      d[j] += gv[j] * static_cast<acc_t>(x[i + j]);
      u[j] += gv[j];
      if constexpr (kNoise) noise[i + j] += gv[j];
    }
    if constexpr (kX) {
      for (int j = 0; j < 8; ++j) out[i + j] = static_cast<scalar_t>(gv[j] * s);
    }
  }
  acc_t dot_c = 0, sum_c = 0;
  for (; i < len; ++i) {
    const acc_t gv = static_cast<acc_t>(g[i]);
    dot_c += gv * static_cast<acc_t>(x[i]);
    sum_c += gv;
    if constexpr (kNoise) noise[i] += gv;
    if constexpr (kX) out[i] = static_cast<scalar_t>(gv * s);
  }
  for (int j = 0; j < 8; ++j) dot_c += d[j], sum_c += u[j];
  dot = dot_c;
  sum = sum_c;
}

template <typename scalar_t, bool kNoise, bool kX>
void one_pass(const scalar_t* gz, const scalar_t* x, const scalar_t* scale, scalar_t* gx,
              scalar_t* gnoise, at::opmath_type<scalar_t>* dot, at::opmath_type<scalar_t>* sum,
              int64_t N, int64_t C, int64_t HW, int64_t chunks) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t chunk = (HW + chunks - 1) / chunks;
  const int64_t items = N * chunks;
  at::parallel_for(0, items, grain_for(C * chunk), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> noise_acc(kNoise ? chunk : 0);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / chunks, h0 = (item % chunks) * chunk;
      const int64_t len = std::min(HW, h0 + chunk) - h0;
      if (len <= 0) continue;
      if constexpr (kNoise) std::fill_n(noise_acc.data(), len, acc_t(0));
      for (int64_t c = 0; c < C; ++c) {
        const int64_t at = (n * C + c) * HW + h0;
        plane_run<scalar_t, kNoise, kX>(gz + at, x + at, noise_acc.data(),
                                        kX ? gx + at : nullptr,
                                        static_cast<acc_t>(scale[n * C + c]), len,
                                        dot[item * C + c], sum[item * C + c]);
      }
      if constexpr (kNoise) {
        for (int64_t i = 0; i < len; ++i) {
          gnoise[n * HW + h0 + i] = static_cast<scalar_t>(noise_acc[i]);
        }
      }
    }
  });
}

template <typename scalar_t>
void input_grads_typed(const GradsPass& a) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t N = a.x.size(0), C = a.x.size(1), HW = a.x.size(2) * a.x.size(3);
  const int64_t chunks = a.chunks;
  std::vector<acc_t> dot(N * chunks * C), sum(N * chunks * C);
  const scalar_t* gz = a.grad_z.const_data_ptr<scalar_t>();
  const scalar_t* xp = a.x.const_data_ptr<scalar_t>();
  const scalar_t* sp = a.scale.const_data_ptr<scalar_t>();
  scalar_t* gx = a.grad_x.defined() ? a.grad_x.mutable_data_ptr<scalar_t>() : nullptr;
  scalar_t* gn = a.grad_noise.defined() ? a.grad_noise.mutable_data_ptr<scalar_t>() : nullptr;
  auto run = [&](auto kernel) {
    kernel(gz, xp, sp, gx, gn, dot.data(), sum.data(), N, C, HW, chunks);
  };
  if (gn && gx) {
    run(one_pass<scalar_t, true, true>);
  } else if (gn) {
    run(one_pass<scalar_t, true, false>);
  } else if (gx) {
    run(one_pass<scalar_t, false, true>);
  } else {
    run(one_pass<scalar_t, false, false>);
  }
  // The per-chunk partial sums: scale's per (n, c), b's per c.
  if (a.grad_scale.defined()) {
    scalar_t* gs = a.grad_scale.mutable_data_ptr<scalar_t>();
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t c = 0; c < C; ++c) {
        acc_t total = 0;
        for (int64_t k = 0; k < chunks; ++k) total += dot[(n * chunks + k) * C + c];
        gs[n * C + c] = static_cast<scalar_t>(total);
      }
    }
  }
  if (a.grad_b.defined()) {
    std::vector<acc_t> total(C, acc_t(0));
    for (int64_t item = 0; item < N * chunks; ++item) {
      for (int64_t c = 0; c < C; ++c) total[c] += sum[item * C + c];
    }
    scalar_t* gb = a.grad_b.mutable_data_ptr<scalar_t>();
    for (int64_t c = 0; c < C; ++c) gb[c] = static_cast<scalar_t>(total[c]);
  }
}

}  // namespace

void input_grads_pass(const GradsPass& a) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.x.scalar_type(),
                                  "styled_bias_act_input_grads",
                                  [&] { input_grads_typed<scalar_t>(a); });
}

}  // namespace CPU_CAPABILITY
}  // namespace fastgan::styled_bias_act
