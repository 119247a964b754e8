// The upfirdn2d CPU kernel, compiled once per instruction set (namespace CPU_CAPABILITY, defined
// by the including file). Work items are (plane, block of output rows), spread over threads with
// at::parallel_for. Per item, the input rows it reads are converted to the compute type once into
// a zero-padded buffer, split into `S` phases so that every read below is contiguous; each output
// row is then a sum of contiguous multiply-adds (axpy) over the taps that contribute to it
// (polyphase: taps that meet an inserted zero are never visited), accumulated into `P` phases of
// the output row, and finally scaled by the gain and stored in the output's layout.
//
// Along x, with g = gcd(up, down): outputs ox, ox + P, ox + 2P, ... (P = up / g) use the same taps
// and read inputs S = down / g apart. Storing input index i at phase (i % S), position i / S, and
// output ox at phase (ox % P), position ox / P, makes each (tap, phase) pair one contiguous axpy.
//
// A 1-D (separable) filter runs along x on every input row first, then along y on those rows.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "upfirdn2d_args.h"

namespace fastgan::upfirdn2d {

namespace DEFAULT {
void resample(const Call& call);
}
namespace AVX2 {
void resample(const Call& call);
}

namespace CPU_CAPABILITY {
namespace {

// One (tap, output phase) pair along x: out_phase[r][q] += k[tap] * row[src + q], q < count.
struct XTap {
  int64_t tap;
  int64_t phase;
  int64_t src;
  int64_t count;
};

// One contributing input row of an output row: its tap and its index.
struct YTap {
  int64_t tap;
  int64_t row;
};

template <typename acc_t>
inline void axpy(acc_t* __restrict dst, const acc_t* __restrict src, acc_t w, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += w * src[i];
}

// The per-call plan, shared by every work item.
struct Plan {
  int64_t P, S;              // output and input phases along x
  int64_t phase_len;         // QW: length of one output phase (ceil(out_w / P))
  int64_t x_lo, x_len;       // input columns [x_lo, x_lo + x_len) read, before clipping to [0, W)
  int64_t row_phase_len;     // SW: length of one input phase of a buffered row
  std::vector<XTap> xtaps;
  std::vector<YTap> ytaps;   // contributing input rows (inside [0, H)) of every output row ...
  std::vector<int64_t> ytap_start;  // ... output row oy owns ytaps[ytap_start[oy], [oy + 1])
};

inline Plan make_plan(const Axis& ax, const Axis& ay) {
  Plan plan;
  const int64_t g = std::gcd(ax.up, ax.down);
  plan.P = ax.up / g;
  plan.S = ax.down / g;
  plan.phase_len = (ax.out + plan.P - 1) / plan.P;
  plan.x_lo = ax.lowest_input(0);
  plan.x_len = ax.highest_input(ax.out) - plan.x_lo + 1;
  plan.row_phase_len = (plan.x_len + plan.S - 1) / plan.S;
  for (int64_t r = 0; r < std::min(plan.P, ax.out); ++r) {
    const Phase ph = phase_of(r, ax.up, ax.down, ax.pad0);
    const int64_t count = (ax.out - r + plan.P - 1) / plan.P;
    for (int64_t t = ph.tap, i = ph.input; t < ax.taps; t += ax.up, ++i) {
      const int64_t rel = i - plan.x_lo;
      plan.xtaps.push_back({t, r, (rel % plan.S) * plan.row_phase_len + rel / plan.S, count});
    }
  }
  plan.ytap_start.push_back(0);
  for (int64_t oy = 0; oy < ay.out; ++oy) {
    const Phase ph = phase_of(oy, ay.up, ay.down, ay.pad0);
    for (int64_t t = ph.tap, i = ph.input; t < ay.taps; t += ay.up, ++i) {
      if (i >= 0 && i < ay.in) plan.ytaps.push_back({t, i});
    }
    plan.ytap_start.push_back(static_cast<int64_t>(plan.ytaps.size()));
  }
  return plan;
}

template <typename scalar_t>
void run(const Call& call) {
  using acc_t = at::opmath_type<scalar_t>;
  const Axis ax = call.ax, ay = call.ay;
  const Plan plan = make_plan(ax, ay);
  const int64_t C = call.x.size(1), planes = call.x.size(0) * C;
  const int64_t W = ax.in;
  const int64_t xs[4] = {call.x.stride(0), call.x.stride(1), call.x.stride(2), call.x.stride(3)};
  const int64_t os[4] = {call.out.stride(0), call.out.stride(1), call.out.stride(2),
                         call.out.stride(3)};
  const scalar_t* const x = call.x.const_data_ptr<scalar_t>();
  scalar_t* const out = call.out.mutable_data_ptr<scalar_t>();
  const at::Tensor k_acc = call.k.to(c10::CppTypeToScalarType<acc_t>::value);
  const acc_t* const k = k_acc.const_data_ptr<acc_t>();
  const acc_t gain = static_cast<acc_t>(call.gain);
  const int64_t fw = ax.taps;
  const int64_t row_len = plan.S * plan.row_phase_len;  // a buffered input row
  const int64_t acc_len = plan.P * plan.phase_len;      // an output row, phase-major
  // Columns of x actually inside the image, relative to x_lo.
  const int64_t c0 = std::max<int64_t>(0, plan.x_lo), c1 = std::min(W, plan.x_lo + plan.x_len);

  // Enough work items for every thread even when there are few planes.
  const int64_t threads = at::get_num_threads();
  const int64_t blocks = std::clamp<int64_t>((4 * threads + planes - 1) / planes, 1, ay.out);
  const int64_t rows_per_block = (ay.out + blocks - 1) / blocks;

  at::parallel_for(0, planes * blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> rows, hrows, acc(acc_len);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t p = item / blocks, n = p / C, c = p % C;
      const int64_t oy0 = (item % blocks) * rows_per_block;
      const int64_t oy1 = std::min(ay.out, oy0 + rows_per_block);
      if (oy0 >= oy1) continue;
      const int64_t t0 = plan.ytap_start[oy0], t1 = plan.ytap_start[oy1];
      if (t0 == t1) {  // every output row of this block reads only padding
        for (int64_t oy = oy0; oy < oy1; ++oy) {
          scalar_t* dst = out + n * os[0] + c * os[1] + oy * os[2];
          for (int64_t ox = 0; ox < ax.out; ++ox) dst[ox * os[3]] = scalar_t(0);
        }
        continue;
      }
      // Input rows [y_lo, y_hi] of this block (ytaps rows increase with oy).
      int64_t y_lo = plan.ytaps[t0].row, y_hi = y_lo;
      for (int64_t t = t0; t < t1; ++t) {
        y_lo = std::min(y_lo, plan.ytaps[t].row);
        y_hi = std::max(y_hi, plan.ytaps[t].row);
      }
      const int64_t nrows = y_hi - y_lo + 1;
      rows.assign(nrows * row_len, acc_t(0));
      const scalar_t* src_plane = x + n * xs[0] + c * xs[1];
      for (int64_t r = 0; r < nrows; ++r) {
        const scalar_t* src = src_plane + (y_lo + r) * xs[2];
        acc_t* dst = rows.data() + r * row_len;
        if (plan.S == 1 && xs[3] == 1) {
          for (int64_t i = c0; i < c1; ++i) dst[i - plan.x_lo] = static_cast<acc_t>(src[i]);
        } else {
          // Phase s holds the columns x_lo + s, x_lo + s + S, ... (no division per element).
          for (int64_t s = 0; s < plan.S; ++s) {
            acc_t* dst_phase = dst + s * plan.row_phase_len;
            const int64_t first = std::max<int64_t>(0, (c0 - plan.x_lo - s + plan.S - 1) / plan.S);
            for (int64_t q = first, i = plan.x_lo + s + first * plan.S; i < c1; ++q, i += plan.S) {
              dst_phase[q] = static_cast<acc_t>(src[i * xs[3]]);
            }
          }
        }
      }
      if (call.separable) {  // along x once per input row
        hrows.assign(nrows * acc_len, acc_t(0));
        for (int64_t r = 0; r < nrows; ++r) {
          for (const XTap& t : plan.xtaps) {
            axpy(hrows.data() + r * acc_len + t.phase * plan.phase_len,
                 rows.data() + r * row_len + t.src, k[t.tap], t.count);
          }
        }
      }
      for (int64_t oy = oy0; oy < oy1; ++oy) {
        std::fill(acc.begin(), acc.end(), acc_t(0));
        for (int64_t t = plan.ytap_start[oy]; t < plan.ytap_start[oy + 1]; ++t) {
          const YTap& yt = plan.ytaps[t];
          if (call.separable) {
            axpy(acc.data(), hrows.data() + (yt.row - y_lo) * acc_len, k[yt.tap], acc_len);
            continue;
          }
          const acc_t* row = rows.data() + (yt.row - y_lo) * row_len;
          const acc_t* krow = k + yt.tap * fw;
          for (const XTap& xt : plan.xtaps) {
            axpy(acc.data() + xt.phase * plan.phase_len, row + xt.src, krow[xt.tap], xt.count);
          }
        }
        scalar_t* dst = out + n * os[0] + c * os[1] + oy * os[2];
        if (plan.P == 1 && os[3] == 1) {
          for (int64_t ox = 0; ox < ax.out; ++ox) dst[ox] = static_cast<scalar_t>(acc[ox] * gain);
        } else {
          // Output phase r holds the columns r, r + P, ... (no division per element).
          const int64_t step = plan.P * os[3];
          for (int64_t r = 0; r < std::min(plan.P, ax.out); ++r) {
            const acc_t* src = acc.data() + r * plan.phase_len;
            scalar_t* dst_phase = dst + r * os[3];
            const int64_t count = (ax.out - r + plan.P - 1) / plan.P;
            for (int64_t q = 0; q < count; ++q) {
              dst_phase[q * step] = static_cast<scalar_t>(src[q] * gain);
            }
          }
        }
      }
    }
  });
}

}  // namespace

void resample(const Call& call) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, call.x.scalar_type(), "upfirdn2d",
                                  [&] { run<scalar_t>(call); });
}

}  // namespace CPU_CAPABILITY
}  // namespace fastgan::upfirdn2d
