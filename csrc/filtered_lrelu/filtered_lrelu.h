// filtered_lrelu maths shared by the CPU and CUDA kernels.
//
// Every call of the op, forward or gradient, is one pass of the same shape per plane:
//
//     t[j] = sum_k k1[k] * up(s)[j + k - pad1]          (stage 1: upsample + FIR, j in [0, mid))
//     a[j] = act(t[j])  or  mask_value(M[j]) * t[j]     (the pointwise stage, at the high rate)
//     o[i] = sum_k k2[k] * a[i * down + k - pad2]       (stage 2: FIR + downsample, a = 0 outside)
//
// along each axis (k1 and k2 correlation kernels with their gains folded in; up(s)[m] = s[m / up]
// where up divides m, else 0). The forward is (s = x + b, k1 = fu, k2 = fd, act); the gradient
// U^T(M * D^T(g)) is the same pass with the roles swapped (s = g, k1 = fd flipped with up = the
// forward's down, k2 = fu flipped with down = the forward's up, the mask), and the double backward
// is the forward's geometry with the mask instead of the activation.
#pragma once

#include <cstdint>

#include "../common/math.h"

namespace fastgan::filtered_lrelu {

// The activation's state per element of t, saved by the forward for the gradients.
enum MaskCode : int8_t {
  kClamped = 0,   // |gain * lrelu(t)| > clamp: the output is constant, the derivative 0
  kPositive = 1,  // t > 0: derivative gain
  kNegative = 2,  // t <= 0: derivative gain * slope
};

// floor(a / b) for b > 0.
FASTGAN_HD int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// One axis of a pass.
struct Axis {
  int64_t in;     // source size
  int64_t up;     // stage-1 upsampling factor
  int64_t pad1;   // stage-1 leading padding (negative: crop)
  int64_t taps1;  // stage-1 filter size
  int64_t mid;    // size of t
  int64_t taps2;  // stage-2 filter size
  int64_t down;   // stage-2 downsampling factor
  int64_t pad2;   // stage-2 leading padding
  int64_t out;    // output size

  // t indices [lo, hi] that outputs [o0, o1) read, clipped to [0, mid) (empty when lo > hi).
  FASTGAN_HD int64_t mid_lo(int64_t o0) const {
    const int64_t v = o0 * down - pad2;
    return v < 0 ? 0 : v;
  }
  FASTGAN_HD int64_t mid_hi(int64_t o1) const {
    const int64_t v = (o1 - 1) * down - pad2 + taps2 - 1;
    return v >= mid ? mid - 1 : v;
  }
  // Source indices [lo, hi] that t indices [j0, j1] read (before clipping to the source).
  FASTGAN_HD int64_t src_lo(int64_t j0) const { return floor_div(j0 - pad1 + up - 1, up); }
  FASTGAN_HD int64_t src_hi(int64_t j1) const { return floor_div(j1 - pad1 + taps1 - 1, up); }
  // The first stage-1 tap that meets a source sample for t index j, and that sample's index;
  // the next ones are tap + up, tap + 2 up, ... reading index + 1, index + 2, ...
  FASTGAN_HD int64_t first_tap(int64_t j) const { return src_lo(j) * up - (j - pad1); }
};

// Activation of the forward: clamp(lrelu(t, slope) * gain, -clamp, clamp), clamp < 0: none.
template <typename T>
FASTGAN_HD T activate(T t, T gain, T slope_gain, T clamp, int8_t* code) {
  T v = t > T(0) ? t * gain : t * slope_gain;
  int8_t c = t > T(0) ? kPositive : kNegative;
  if (clamp >= T(0) && (v > clamp || v < -clamp)) {
    v = v > T(0) ? clamp : -clamp;
    c = kClamped;
  }
  *code = c;
  return v;
}

// The derivative of the activation that a mask code stands for.
template <typename T>
FASTGAN_HD T mask_value(int8_t code, T gain, T slope_gain) {
  return code == kPositive ? gain : (code == kNegative ? slope_gain : T(0));
}

}  // namespace fastgan::filtered_lrelu
