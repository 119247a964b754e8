// The filtered_lrelu CPU kernel, compiled once per instruction set (namespace CPU_CAPABILITY,
// defined by the including file). A work item is a plane (or, with few planes, a block of output
// rows of one plane), spread over threads with at::parallel_for; the upsampled intermediate t
// lives one row at a time in per-thread buffers, never in memory as a tensor.
//
// Per work item, in the compute type:
//   1. the source rows it reads, bias added, into zero-margined row buffers;
//   2. stage 1 along x on each of them (separable filter): one pass per output phase r of the
//      upsampling (t columns r, r + up, ...), each a sum of ceil(taps / up) shifted copies of the
//      source row, i.e. polyphase, no zero-stuffed row;
//   3. per t row: stage 1 along y (a weighted sum of those rows), the activation (or the mask),
//      then stage 2 along x: the row split into `down` phases so that each tap is one contiguous
//      multiply-add over the output columns;
//   4. per output row: stage 2 along y, a weighted sum of those rows.
// Every step is a sum of up to four weighted contiguous rows per pass (accumulate), which the
// compiler vectorises. A 2-D filter runs each of its rows through the x passes instead.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <vector>

#include "../common/parallel.h"
#include "../common/row_gather.h"
#include "filtered_lrelu_args.h"

namespace fastgan::filtered_lrelu {

namespace DEFAULT {
void run_pass(const Call& call);
}
namespace AVX2 {
void run_pass(const Call& call);
}

namespace CPU_CAPABILITY {
namespace {

using fastgan::CPU_CAPABILITY::Gather;

// Stage 1 along x: t[j] = sum_k k[k] * up(s)[j + k - pad1] for j < mid, one pass per phase r.
struct UpPlan {
  struct PhasePlan {
    int64_t tap0;   // first tap
    int64_t src0;   // its source index
    int64_t taps;   // taps of this phase (tap0, tap0 + up, ...)
    int64_t count;  // t columns of this phase (r, r + up, ...)
  };
  std::vector<PhasePlan> phases;
  int64_t lpad = 0;  // source index s sits at s + lpad in a row buffer
  int64_t len = 0;   // row buffer length
};

inline UpPlan plan_up(const Axis& a) {
  UpPlan p;
  int64_t lo = 0, hi = a.in;  // buffer covers source indices [lo, hi)
  for (int64_t r = 0; r < std::min(a.up, a.mid); ++r) {
    UpPlan::PhasePlan ph;
    ph.tap0 = a.first_tap(r);
    ph.src0 = a.src_lo(r);
    ph.taps = ph.tap0 < a.taps1 ? (a.taps1 - ph.tap0 + a.up - 1) / a.up : 0;
    ph.count = (a.mid - r + a.up - 1) / a.up;
    if (ph.taps > 0) {
      lo = std::min(lo, ph.src0);
      hi = std::max(hi, ph.src0 + ph.taps - 1 + ph.count);
    }
    p.phases.push_back(ph);
  }
  p.lpad = -lo;
  p.len = hi - lo;
  return p;
}

// Stage 2 along x: o[i] = sum_k k[k] * a[i * down + k - pad2] for i < out, a = 0 outside
// [0, mid). The a row sits at offset lpad of a buffer of len (a multiple of down); split into
// `down` phases of len / down, tap k reads phase q_k from position i + e_k.
struct DownPlan {
  int64_t lpad = 0, len = 0, phase_len = 0;
  std::vector<int64_t> q, e;
};

inline DownPlan plan_down(const Axis& a) {
  DownPlan p;
  p.lpad = std::max<int64_t>(0, a.pad2);
  const int64_t hi = std::max(a.mid, (a.out - 1) * a.down + a.taps2 - a.pad2);
  p.len = (hi + p.lpad + a.down - 1) / a.down * a.down;
  p.phase_len = p.len / a.down;
  for (int64_t k = 0; k < a.taps2; ++k) {
    const int64_t pos = k - a.pad2 + p.lpad;
    p.q.push_back(pos % a.down);
    p.e.push_back(pos / a.down);
  }
  return p;
}

// out[j] (+)= sum_k k[k] * up(s)[j + k - pad1], for a padded source row s (plan.lpad).
template <typename acc_t>
void pass_up(const acc_t* s, const UpPlan& plan, const Axis& a, const acc_t* k, acc_t* out,
             bool accumulate_into, std::vector<acc_t>& tmp, Gather<acc_t>& gather) {
  const int64_t nph = static_cast<int64_t>(plan.phases.size());
  for (int64_t r = 0; r < nph; ++r) {
    const UpPlan::PhasePlan& ph = plan.phases[r];
    if (ph.taps == 0) {
      if (!accumulate_into) {
        for (int64_t m = 0; m < ph.count; ++m) out[r + m * a.up] = acc_t(0);
      }
      continue;
    }
    const acc_t* base = s + plan.lpad + ph.src0;
    acc_t* dst = out;
    if (a.up > 1 || accumulate_into) {
      tmp.resize(ph.count);
      dst = tmp.data();
    }
    gather.begin(dst, ph.count);
    for (int64_t q = 0; q < ph.taps; ++q) gather.add(base + q, k[ph.tap0 + q * a.up]);
    gather.finish();
    if (dst == out) continue;
    if (accumulate_into) {
      for (int64_t m = 0; m < ph.count; ++m) out[r + m * a.up] += dst[m];
    } else {
      for (int64_t m = 0; m < ph.count; ++m) out[r + m * a.up] = dst[m];
    }
  }
}

// out[i] (+)= sum_k k[k] * a[i * down + k - pad2], from a row already split into phases.
template <typename acc_t>
void pass_down(const acc_t* phases, const DownPlan& plan, const Axis& a, const acc_t* k,
               acc_t* out, bool accumulate_into, Gather<acc_t>& gather) {
  gather.begin(out, a.out);
  if (accumulate_into) gather.first = false;
  for (int64_t t = 0; t < a.taps2; ++t) {
    gather.add(phases + plan.q[t] * plan.phase_len + plan.e[t], k[t]);
  }
  if (accumulate_into) {
    gather.flush();
  } else {
    gather.finish();
  }
}

template <typename scalar_t>
void run(const Call& call) {
  using acc_t = at::opmath_type<scalar_t>;
  const Axis ax = call.ax, ay = call.ay;
  const int64_t C = call.src.size(1), planes = call.src.size(0) * C;
  const int64_t xs[4] = {call.src.stride(0), call.src.stride(1), call.src.stride(2),
                         call.src.stride(3)};
  const int64_t os[4] = {call.out.stride(0), call.out.stride(1), call.out.stride(2),
                         call.out.stride(3)};
  const scalar_t* const src = call.src.const_data_ptr<scalar_t>();
  scalar_t* const out = call.out.mutable_data_ptr<scalar_t>();
  const scalar_t* const bias = call.bias.defined() ? call.bias.const_data_ptr<scalar_t>() : nullptr;
  const bool forward = call.mode == Mode::kForward;
  int8_t* const mask_w = forward && call.mask.defined() ? call.mask.mutable_data_ptr<int8_t>()
                                                        : nullptr;
  const int8_t* const mask_r = forward ? nullptr : call.mask.const_data_ptr<int8_t>();

  // The taps in acc_t, gains folded in: k1x / k1y, k2x / k2y for separable filters (the 2-D
  // kernel is their outer product), else the 2-D kernels in k1x, k2x.
  auto taps = [](const at::Tensor& k, double gain, std::vector<acc_t>& kx, std::vector<acc_t>& ky) {
    const float* p = k.const_data_ptr<float>();
    kx.assign(k.numel(), acc_t(0));
    for (int64_t i = 0; i < k.numel(); ++i) kx[i] = static_cast<acc_t>(p[i]) * acc_t(gain);
    if (k.dim() == 1) {
      ky.assign(k.numel(), acc_t(0));
      for (int64_t i = 0; i < k.numel(); ++i) ky[i] = static_cast<acc_t>(p[i]);
    }
  };
  std::vector<acc_t> k1x, k1y, k2x, k2y;
  taps(call.k1, call.gain1, k1x, k1y);
  taps(call.k2, call.gain2, k2x, k2y);
  const bool sep1 = call.sep1, sep2 = call.sep2;
  const acc_t gain = acc_t(call.gain), slope_gain = acc_t(call.slope_gain);
  const acc_t clamp = acc_t(call.clamp);

  const UpPlan X1 = plan_up(ax);
  const DownPlan X2 = plan_down(ax);

  const int64_t threads = at::get_num_threads();
  const int64_t blocks = std::clamp<int64_t>((4 * threads + planes - 1) / planes, 1, ay.out);
  const int64_t rows_per_block = (ay.out + blocks - 1) / blocks;
  const int64_t items = planes * blocks;
  const int64_t per_item = rows_per_block * ay.down * ax.mid * (ax.taps1 + ay.taps1 + ax.taps2);
  const int64_t grain = grain_for(per_item, 2 * kMinParallelWork);
  const int64_t mid_plane = ay.mid * ax.mid;

  at::parallel_for(0, items, grain, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> srows, hx, trow, tmp, arow, rrows, orow;
    Gather<acc_t> gather;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t p = item / blocks, block = item % blocks;
      const int64_t oy0 = block * rows_per_block, oy1 = std::min(ay.out, oy0 + rows_per_block);
      if (oy0 >= oy1) continue;
      const int64_t n = p / C, c = p % C;
      scalar_t* plane_out = out + n * os[0] + c * os[1];
      const int64_t j0 = ay.mid_lo(oy0), j1 = ay.mid_hi(oy1);
      const int64_t nt = std::max<int64_t>(0, j1 - j0 + 1);
      // Per t row: stage 2 along x done (separable), or the a row split into phases (2-D).
      const int64_t rlen = sep2 ? ax.out : X2.len;
      rrows.assign(nt * rlen, acc_t(0));
      if (nt > 0) {
        const int64_t s0 = std::max<int64_t>(0, ay.src_lo(j0));
        const int64_t s1 = std::min(ay.in - 1, ay.src_hi(j1));
        const int64_t ns = std::max<int64_t>(0, s1 - s0 + 1);
        // 1. source rows, bias added, zero margins.
        srows.assign(ns * X1.len, acc_t(0));
        const scalar_t* plane_src = src + n * xs[0] + c * xs[1];
        const acc_t b = bias ? static_cast<acc_t>(bias[c]) : acc_t(0);
        for (int64_t i = 0; i < ns; ++i) {
          const scalar_t* row = plane_src + (s0 + i) * xs[2];
          acc_t* dst = srows.data() + i * X1.len + X1.lpad;
          if (xs[3] == 1) {
            for (int64_t q = 0; q < ax.in; ++q) dst[q] = static_cast<acc_t>(row[q]) + b;
          } else {
            for (int64_t q = 0; q < ax.in; ++q) dst[q] = static_cast<acc_t>(row[q * xs[3]]) + b;
          }
        }
        // 2. stage 1 along x (separable).
        if (sep1) {
          hx.resize(ns * ax.mid);
          for (int64_t i = 0; i < ns; ++i) {
            pass_up(srows.data() + i * X1.len, X1, ax, k1x.data(), hx.data() + i * ax.mid, false,
                    tmp, gather);
          }
        }
        trow.resize(ax.mid);
        arow.resize(X2.len);
        const int64_t own_lo = oy0 == 0 ? 0 : oy0 * ay.down - ay.pad2;
        const int64_t own_hi = oy1 == ay.out ? ay.mid : oy1 * ay.down - ay.pad2;
        for (int64_t j = j0; j <= j1; ++j) {
          // 3a. stage 1 along y.
          const int64_t tap0 = ay.first_tap(j);
          int64_t i = ay.src_lo(j) - s0;
          if (sep1) {
            gather.begin(trow.data(), ax.mid);
            for (int64_t t = tap0; t < ay.taps1; t += ay.up, ++i) {
              if (i >= 0 && i < ns) gather.add(hx.data() + i * ax.mid, k1y[t]);
            }
            gather.finish();
          } else {
            bool any = false;
            for (int64_t t = tap0; t < ay.taps1; t += ay.up, ++i) {
              if (i < 0 || i >= ns) continue;
              pass_up(srows.data() + i * X1.len, X1, ax, k1x.data() + t * ax.taps1, trow.data(),
                      any, tmp, gather);
              any = true;
            }
            if (!any) std::fill(trow.begin(), trow.end(), acc_t(0));
          }
          // 3b. the activation, or the mask.
          acc_t* a = arow.data() + X2.lpad;
          std::fill(arow.begin(), arow.end(), acc_t(0));
          if (forward) {
            int8_t* codes = mask_w && j >= own_lo && j < own_hi
                                ? mask_w + p * mid_plane + j * ax.mid
                                : nullptr;
            for (int64_t q = 0; q < ax.mid; ++q) {
              int8_t code;
              a[q] = activate(trow[q], gain, slope_gain, clamp, &code);
              if (codes) codes[q] = code;
            }
          } else {
            const int8_t* codes = mask_r + p * mid_plane + j * ax.mid;
            for (int64_t q = 0; q < ax.mid; ++q) {
              a[q] = trow[q] * mask_value(codes[q], gain, slope_gain);
            }
          }
          // 3c. split into phases; stage 2 along x (separable).
          acc_t* r = rrows.data() + (j - j0) * rlen;
          acc_t* ph = sep2 ? tmp.data() : r;
          if (sep2) tmp.resize(X2.len), ph = tmp.data();
          if (ax.down == 1) {
            std::copy(arow.begin(), arow.end(), ph);
          } else {
            for (int64_t q = 0; q < ax.down; ++q) {
              for (int64_t m = 0; m < X2.phase_len; ++m) {
                ph[q * X2.phase_len + m] = arow[q + m * ax.down];
              }
            }
          }
          if (sep2) pass_down(ph, X2, ax, k2x.data(), r, false, gather);
        }
      }
      // 4. stage 2 along y, and the store.
      orow.resize(ax.out);
      for (int64_t o = oy0; o < oy1; ++o) {
        const int64_t jb = o * ay.down - ay.pad2;
        if (sep2) {
          gather.begin(orow.data(), ax.out);
          for (int64_t t = 0; t < ay.taps2; ++t) {
            const int64_t j = jb + t;
            if (j >= j0 && j <= j1 && nt > 0) gather.add(rrows.data() + (j - j0) * rlen, k2y[t]);
          }
          gather.finish();
        } else {
          bool any = false;
          for (int64_t t = 0; t < ay.taps2; ++t) {
            const int64_t j = jb + t;
            if (j < j0 || j > j1 || nt == 0) continue;
            pass_down(rrows.data() + (j - j0) * rlen, X2, ax, k2x.data() + t * ax.taps2,
                      orow.data(), any, gather);
            any = true;
          }
          if (!any) std::fill(orow.begin(), orow.end(), acc_t(0));
        }
        scalar_t* dst = plane_out + o * os[2];
        if (os[3] == 1) {
          for (int64_t q = 0; q < ax.out; ++q) dst[q] = static_cast<scalar_t>(orow[q]);
        } else {
          for (int64_t q = 0; q < ax.out; ++q) dst[q * os[3]] = static_cast<scalar_t>(orow[q]);
        }
      }
    }
  });
}

}  // namespace

void run_pass(const Call& call) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, call.src.scalar_type(),
                                  "filtered_lrelu", [&] { run<scalar_t>(call); });
}

}  // namespace CPU_CAPABILITY
}  // namespace fastgan::filtered_lrelu
