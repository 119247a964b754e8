// The upfirdn2d CPU kernel, compiled once per instruction set (namespace CPU_CAPABILITY, defined
// by the including file). Work items are groups of planes (or, when there are few planes, blocks
// of output rows of one plane), spread over threads with at::parallel_for.
//
// Polyphase along both axes: with g = gcd(up, down), outputs o, o + P, o + 2P, ... (P = up / g)
// use the same taps and read inputs S = down / g apart. Per work item, the input rows it reads
// are converted to the compute type once into a zero-padded buffer, rows and columns split into
// S phases (input index i at phase i % S, position i / S) with a common row stride L. Outputs
// are accumulated the same way, one region per (row phase, column phase), position m * L + q.
// A group's planes are stacked in every buffer, plane stride rows * L. Every (tap, output phase)
// pair is then ONE contiguous multiply-add over the whole group, ending at row count_y - 1,
// column count_x - 1 of its last plane: the columns between rows are computed and never stored,
// which trades a little arithmetic for long vectorised loops instead of many short ones. Up to
// four taps go into each pass over a destination.
//
// A separable filter (1-D, or a 2-D filter that is the outer product of two 1-D ones up to the
// compute type's rounding, as setup_filter makes) runs along x on every buffered row first, then
// along y on those rows: fw + fh multiply-adds per output instead of fw * fh.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "../common/parallel.h"
#include "../common/row_gather.h"
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

// The polyphase plan of one axis for the outputs [o0, o1).
struct AxisPlan {
  struct Tap {
    int64_t tap;    // filter tap
    int64_t phase;  // output phase r: outputs o0 + r, o0 + r + P, ...
    int64_t src;    // phase-split input position its first output reads
    int64_t count;  // outputs in phase r
  };
  int64_t P = 1, S = 1;         // output and input phases
  int64_t lo = 0;               // inputs [lo, lo + len) are buffered (zeros outside the input)
  int64_t len = 0;
  int64_t phase_len = 0;        // ceil(len / S): one input phase
  int64_t out_phase_len = 0;    // ceil((o1 - o0) / P): one output phase
  std::vector<Tap> taps;        // grouped by output phase

  // Whether any tap reaches output phase r (not when up > taps: those outputs are zero).
  bool reaches(int64_t r) const {
    return std::any_of(taps.begin(), taps.end(), [r](const Tap& t) { return t.phase == r; });
  }
};

inline AxisPlan plan_axis(const Axis& a, int64_t o0, int64_t o1) {
  AxisPlan p;
  const int64_t g = std::gcd(a.up, a.down), n = o1 - o0;
  p.P = a.up / g;
  p.S = a.down / g;
  p.lo = a.lowest_input(o0);
  p.len = a.highest_input(o1) - p.lo + 1;
  p.phase_len = (p.len + p.S - 1) / p.S;
  p.out_phase_len = (n + p.P - 1) / p.P;
  // Output o + P reads the inputs of output o shifted by S, with the same taps.
  for (int64_t r = 0; r < std::min(p.P, n); ++r) {
    const Phase ph = phase_of(o0 + r, a.up, a.down, a.pad0);
    const int64_t count = (n - r + p.P - 1) / p.P;
    for (int64_t t = ph.tap, i = ph.input; t < a.taps; t += a.up, ++i) {
      const int64_t rel = i - p.lo;
      p.taps.push_back({t, r, (rel % p.S) * p.phase_len + rel / p.S, count});
    }
  }
  return p;
}

using fastgan::CPU_CAPABILITY::Gather;

// k as the outer product ky (rows) x kx (columns), when it is one up to a few roundings of acc_t.
template <typename acc_t>
bool factor_rank1(const acc_t* k, int64_t fh, int64_t fw, std::vector<acc_t>& ky,
                  std::vector<acc_t>& kx) {
  int64_t pi = 0, pj = 0;
  acc_t peak = 0;
  for (int64_t i = 0; i < fh; ++i) {
    for (int64_t j = 0; j < fw; ++j) {
      if (std::abs(k[i * fw + j]) > peak) peak = std::abs(k[i * fw + j]), pi = i, pj = j;
    }
  }
  if (peak == acc_t(0)) return false;
  ky.resize(fh);
  kx.resize(fw);
  for (int64_t i = 0; i < fh; ++i) ky[i] = k[i * fw + pj];
  for (int64_t j = 0; j < fw; ++j) kx[j] = k[pi * fw + j] / k[pi * fw + pj];
  const acc_t tol = 4 * std::numeric_limits<acc_t>::epsilon() * peak;
  for (int64_t i = 0; i < fh; ++i) {
    for (int64_t j = 0; j < fw; ++j) {
      if (std::abs(k[i * fw + j] - ky[i] * kx[j]) > tol) return false;
    }
  }
  return true;
}

// One input row into the buffer: its columns [c0, c1) (the ones inside the image), relative to
// lo, split into S phases of phase_len (phase s holds the columns lo + s, lo + s + S, ...) and
// converted to acc_t. Everything by value, so that the loops keep them in registers.
template <typename scalar_t, typename acc_t>
void load_row(const scalar_t* __restrict src, int64_t stride, acc_t* __restrict dst, int64_t lo,
              int64_t c0, int64_t c1, int64_t S, int64_t phase_len) {
  if (c1 <= c0) return;  // every column read is padding
  if (S == 1 && stride == 1) {
    for (int64_t i = c0; i < c1; ++i) dst[i - lo] = static_cast<acc_t>(src[i]);
  } else {
    for (int64_t s = 0; s < S; ++s) {
      acc_t* dst_phase = dst + s * phase_len;
      const int64_t first = std::max<int64_t>(0, (c0 - lo - s + S - 1) / S);
      for (int64_t q = first, i = lo + s + first * S; i < c1; ++q, i += S) {
        dst_phase[q] = static_cast<acc_t>(src[i * stride]);
      }
    }
  }
}

template <typename scalar_t>
void run(const Call& call) {
  using acc_t = at::opmath_type<scalar_t>;
  const Axis ax = call.ax, ay = call.ay;
  // Pure downsampling along x (up 1, down d > 1): filter at every input column (axc) and keep
  // every d-th result when storing, instead of splitting the columns into d phases: the input
  // rows are then plain copies, and the passes are as long either way (rows of stride L).
  const int64_t xdec = ax.up == 1 && ax.down > 1 ? ax.down : 1;
  Axis axc = ax;
  if (xdec > 1) {
    axc.down = 1;
    axc.out = (ax.out - 1) * xdec + 1;
  }
  const AxisPlan X = plan_axis(axc, 0, axc.out);
  const int64_t C = call.x.size(1), planes = call.x.size(0) * C;
  const int64_t H = ay.in, W = ax.in;
  const int64_t xs[4] = {call.x.stride(0), call.x.stride(1), call.x.stride(2), call.x.stride(3)};
  const int64_t os[4] = {call.out.stride(0), call.out.stride(1), call.out.stride(2),
                         call.out.stride(3)};
  const scalar_t* const x = call.x.const_data_ptr<scalar_t>();
  scalar_t* const out = call.out.mutable_data_ptr<scalar_t>();
  const at::Tensor k_acc = call.k.to(c10::CppTypeToScalarType<acc_t>::value);
  const acc_t* const k = k_acc.const_data_ptr<acc_t>();
  const acc_t gain = static_cast<acc_t>(call.gain);
  const int64_t fw = ax.taps, fh = ay.taps;
  std::vector<acc_t> kx, ky;
  bool separable = call.separable;
  if (separable) {
    kx.assign(k, k + fw);
    ky.assign(k, k + fh);
  } else {
    separable = factor_rank1(k, fh, fw, ky, kx);
  }
  // The row stride of every buffer: a phase-split input row, at least one output phase long.
  const int64_t L = std::max(X.S * X.phase_len, X.out_phase_len);
  // Columns of x inside the image, relative to X.lo.
  const int64_t c0 = std::max<int64_t>(0, X.lo), c1 = std::min(W, X.lo + X.len);

  // Enough work items for every thread even when there are few planes: blocks of output rows
  // of one plane then; otherwise groups of planes, whose buffers are stacked (plane stride
  // rows * L) so that each pass runs over the whole group at once.
  const int64_t threads = at::get_num_threads();
  const int64_t blocks = std::clamp<int64_t>((4 * threads + planes - 1) / planes, 1, ay.out);
  const int64_t rows_per_block = (ay.out + blocks - 1) / blocks;
  std::vector<AxisPlan> block_plans;  // along y, per block of output rows
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t oy0 = b * rows_per_block, oy1 = std::min(ay.out, oy0 + rows_per_block);
    block_plans.push_back(oy0 < oy1 ? plan_axis(ay, oy0, oy1) : AxisPlan{});
  }
  int64_t group = 1;
  if (blocks == 1) {
    const AxisPlan& Y = block_plans[0];
    // Buffers per plane: the input, h (X.P regions) and acc (Y.P * X.P regions), in acc_t; a
    // group's should stay well inside a core's L2.
    const int64_t per_plane = Y.S * Y.phase_len * L * (1 + X.P + Y.P * X.P);
    const int64_t fit = std::max<int64_t>(1, (int64_t{48} << 10) / per_plane);
    group = std::clamp<int64_t>((planes + 4 * threads - 1) / (4 * threads), 1, fit);
  }
  const int64_t items = blocks == 1 ? (planes + group - 1) / group : planes * blocks;
  // Items per chunk, by their multiply-adds: at least 64K per chunk.
  const int64_t per_item = (blocks == 1 ? group : 1) * rows_per_block * ax.out *
                           (separable ? fw + fh : fw * fh);
  const int64_t grain = grain_for(per_item, 2 * kMinParallelWork);

  at::parallel_for(0, items, grain, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> in, h, acc;
    std::vector<char> reached;  // per (row phase, column phase): whether any tap reaches it
    Gather<acc_t> gather;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t block = item % blocks;
      const int64_t p0 = blocks == 1 ? item * group : item / blocks;
      const int64_t np = blocks == 1 ? std::min(group, planes - p0) : 1;
      const int64_t oy0 = block * rows_per_block;
      const int64_t oy1 = std::min(ay.out, oy0 + rows_per_block);
      if (oy0 >= oy1) continue;
      const AxisPlan& Y = block_plans[block];
      const int64_t rows = Y.S * Y.phase_len;  // buffered rows per plane, phase-split
      const int64_t PS = rows * L;              // plane stride of every buffer
      in.assign(np * PS, acc_t(0));
      for (int64_t g = 0; g < np; ++g) {
        const int64_t n = (p0 + g) / C, c = (p0 + g) % C;
        const scalar_t* src_plane = x + n * xs[0] + c * xs[1];
        // Row phase sy holds the rows Y.lo + sy, Y.lo + sy + S, ... (no division per row).
        for (int64_t sy = 0; sy < Y.S; ++sy) {
          for (int64_t pos = 0, rel = sy; rel < Y.len; ++pos, rel += Y.S) {
            const int64_t y = Y.lo + rel;
            if (y < 0 || y >= H) continue;
            load_row(src_plane + y * xs[2], xs[3],
                     in.data() + g * PS + (sy * Y.phase_len + pos) * L, X.lo, c0, c1, X.S,
                     X.phase_len);
          }
        }
      }
      // acc: one region per (row phase, column phase), np planes of stride PS each, output row
      // m of a plane at m * L.
      const int64_t region = np * PS;
      acc.resize(Y.P * X.P * region);
      const int64_t ny = static_cast<int64_t>(Y.taps.size());
      const int64_t nx = static_cast<int64_t>(X.taps.size());
      // The length of a pass over the group whose last plane ends at row count_y - 1, column
      // count_x - 1.
      auto span = [&](int64_t count_y, int64_t count_x) {
        return (np - 1) * PS + (count_y - 1) * L + count_x;
      };
      if (separable) {
        // Along x on every buffered row: h holds one region (np planes) per column phase.
        h.resize(X.P * region);
        for (int64_t a = 0; a < nx;) {
          const AxisPlan::Tap& head = X.taps[a];
          gather.begin(h.data() + head.phase * region, span(rows, head.count));
          for (; a < nx && X.taps[a].phase == head.phase; ++a) {
            gather.add(in.data() + X.taps[a].src, kx[X.taps[a].tap]);
          }
          gather.flush();
        }
        // Along y: every (row phase, column phase) from the rows of its column phase.
        for (int64_t rx = 0; rx < std::min(X.P, axc.out); ++rx) {
          if (!X.reaches(rx)) continue;
          const int64_t count_x = (axc.out - rx + X.P - 1) / X.P;
          for (int64_t b = 0; b < ny;) {
            const AxisPlan::Tap& head = Y.taps[b];
            gather.begin(acc.data() + (head.phase * X.P + rx) * region, span(head.count, count_x));
            for (; b < ny && Y.taps[b].phase == head.phase; ++b) {
              gather.add(h.data() + rx * region + Y.taps[b].src * L, ky[Y.taps[b].tap]);
            }
            gather.flush();
          }
        }
      } else {
        for (int64_t b0 = 0; b0 < ny;) {
          int64_t b1 = b0;
          while (b1 < ny && Y.taps[b1].phase == Y.taps[b0].phase) ++b1;
          for (int64_t a0 = 0; a0 < nx;) {
            int64_t a1 = a0;
            while (a1 < nx && X.taps[a1].phase == X.taps[a0].phase) ++a1;
            gather.begin(acc.data() + (Y.taps[b0].phase * X.P + X.taps[a0].phase) * region,
                         span(Y.taps[b0].count, X.taps[a0].count));
            for (int64_t b = b0; b < b1; ++b) {
              const acc_t* row = in.data() + Y.taps[b].src * L;
              const acc_t* krow = k + Y.taps[b].tap * fw;
              for (int64_t a = a0; a < a1; ++a) {
                gather.add(row + X.taps[a].src, krow[X.taps[a].tap]);
              }
            }
            gather.flush();
            a0 = a1;
          }
          b0 = b1;
        }
      }
      // Store: output row oy0 + ry + m * P_y, column rx + q * P_x, times the gain.
      const bool pairs = X.P == 2 && os[3] == 1;
      reached.resize(Y.P * X.P);
      for (int64_t ry = 0; ry < Y.P; ++ry) {
        for (int64_t rx = 0; rx < X.P; ++rx) {
          reached[ry * X.P + rx] = Y.reaches(ry) && X.reaches(rx);
        }
      }
      for (int64_t g = 0; g < np; ++g) {
        const int64_t n = (p0 + g) / C, c = (p0 + g) % C;
        scalar_t* plane_out = out + n * os[0] + c * os[1];
        for (int64_t ry = 0; ry < std::min(Y.P, oy1 - oy0); ++ry) {
          const int64_t count_y = (oy1 - oy0 - ry + Y.P - 1) / Y.P;
          for (int64_t rx = 0; rx < std::min(X.P, ax.out); ++rx) {
            const int64_t count_x = (ax.out - rx + X.P - 1) / X.P;
            const bool reach = reached[ry * X.P + rx];
            const acc_t* src = acc.data() + (ry * X.P + rx) * region + g * PS;
            if (pairs && rx == 0 && reach && reached[ry * X.P + 1]) {
              // Both column phases of a 2x upsampled row in one interleaving pass.
              for (int64_t m = 0; m < count_y; ++m) {
                scalar_t* __restrict dst = plane_out + (oy0 + ry + m * Y.P) * os[2];
                const acc_t* __restrict a = src + m * L;
                const acc_t* __restrict b = src + region + m * L;
                for (int64_t q = 0; q < ax.out / 2; ++q) {
                  dst[2 * q] = static_cast<scalar_t>(a[q] * gain);
                  dst[2 * q + 1] = static_cast<scalar_t>(b[q] * gain);
                }
                if (ax.out % 2) dst[ax.out - 1] = static_cast<scalar_t>(a[ax.out / 2] * gain);
              }
              break;
            }
            for (int64_t m = 0; m < count_y; ++m) {
              scalar_t* dst = plane_out + (oy0 + ry + m * Y.P) * os[2] + rx * os[3];
              const acc_t* row = src + m * L;
              const int64_t step = X.P * os[3];
              if (!reach) {
                for (int64_t q = 0; q < count_x; ++q) dst[q * step] = scalar_t(0);
              } else if (xdec > 1) {
                for (int64_t q = 0; q < count_x; ++q) {
                  dst[q * step] = static_cast<scalar_t>(row[q * xdec] * gain);
                }
              } else if (step == 1) {
                for (int64_t q = 0; q < count_x; ++q) dst[q] = static_cast<scalar_t>(row[q] * gain);
              } else {
                for (int64_t q = 0; q < count_x; ++q) {
                  dst[q * step] = static_cast<scalar_t>(row[q] * gain);
                }
              }
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
