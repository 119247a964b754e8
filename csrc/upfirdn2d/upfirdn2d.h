// upfirdn2d maths shared by the CPU and CUDA kernels: the polyphase geometry of one axis.
//
// Along one axis, with upsampling factor u, downsampling factor d, leading padding p0 and a
// correlation kernel k of n taps (the filter, flipped unless flip_filter), output o is
//
//     y[o] = sum_t k[t] * up(x)[o*d + t - p0],   up(x)[j] = x[j / u] if u divides j, else 0
//
// so only the taps t with u | (o*d + t - p0) contribute: t = t0, t0 + u, t0 + 2u, ... reading the
// consecutive inputs i0, i0 + 1, ... This is the polyphase form: no zero-stuffed or padded
// intermediate, and about n / u multiply-adds per output instead of n.
#pragma once

#include <cstdint>

#include "../common/math.h"

namespace fastgan::upfirdn2d {

// floor(a / b) for b > 0 (C++ division truncates towards zero).
FASTGAN_HD int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// The first tap and input index that contribute to output o along one axis.
struct Phase {
  int64_t tap;    // t0 in [0, up): the first contributing tap
  int64_t input;  // i0: the input index that tap t0 reads
};

FASTGAN_HD Phase phase_of(int64_t o, int64_t up, int64_t down, int64_t pad0) {
  const int64_t j = o * down - pad0;                 // up(x) index under tap 0
  const int64_t input = floor_div(j + up - 1, up);   // first input index at or after j
  return Phase{input * up - j, input};
}

// Geometry of one axis of a call.
struct Axis {
  int64_t in;    // input size
  int64_t out;   // output size
  int64_t up;
  int64_t down;
  int64_t pad0;  // leading padding (negative: crop)
  int64_t taps;  // filter size along this axis

  // Input indices [lo, hi] that the outputs [o0, o1) can read (before clipping to the input).
  FASTGAN_HD int64_t lowest_input(int64_t o0) const { return floor_div(o0 * down - pad0, up); }
  FASTGAN_HD int64_t highest_input(int64_t o1) const {
    return floor_div((o1 - 1) * down + taps - 1 - pad0, up);
  }
};

}  // namespace fastgan::upfirdn2d
