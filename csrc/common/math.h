// Numeric primitives shared by the CPU and CUDA kernels.
//
// The op maths (csrc/<op>/<op>.h) is written once as templates over a value type T and calls
// only the primitives of Math<T>. T is a scalar (float, double) in CUDA kernels and in scalar
// CPU loops; the CPU kernels add Math<at::vec::Vectorized<...>> (csrc/common/vec_math.h) so the
// very same templates run on SIMD vectors.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define FASTGAN_HD __host__ __device__ __forceinline__
#else
#define FASTGAN_HD inline
#endif

namespace fastgan {

template <typename T>
struct Math;

template <>
struct Math<float> {
  using Mask = bool;
  static FASTGAN_HD float cst(double v) { return static_cast<float>(v); }
  static FASTGAN_HD float exp(float x) { return ::expf(x); }
  static FASTGAN_HD float expm1(float x) { return ::expm1f(x); }
  static FASTGAN_HD float log1p(float x) { return ::log1pf(x); }
  static FASTGAN_HD float tanh(float x) { return ::tanhf(x); }
  static FASTGAN_HD float erf(float x) { return ::erff(x); }
  static FASTGAN_HD bool gt(float a, float b) { return a > b; }
  static FASTGAN_HD bool lt(float a, float b) { return a < b; }
  static FASTGAN_HD float select(bool m, float a, float b) { return m ? a : b; }
};

template <>
struct Math<double> {
  using Mask = bool;
  static FASTGAN_HD double cst(double v) { return v; }
  static FASTGAN_HD double exp(double x) { return ::exp(x); }
  static FASTGAN_HD double expm1(double x) { return ::expm1(x); }
  static FASTGAN_HD double log1p(double x) { return ::log1p(x); }
  static FASTGAN_HD double tanh(double x) { return ::tanh(x); }
  static FASTGAN_HD double erf(double x) { return ::erf(x); }
  static FASTGAN_HD bool gt(double a, double b) { return a > b; }
  static FASTGAN_HD bool lt(double a, double b) { return a < b; }
  static FASTGAN_HD double select(bool m, double a, double b) { return m ? a : b; }
};

// clamp(y, -c, c) that keeps NaN (a comparison with NaN is false, so NaN passes through).
template <typename T, typename M = Math<T>>
FASTGAN_HD T clamp_symmetric(T y, T lo, T hi) {
  return M::select(M::gt(y, hi), hi, M::select(M::lt(y, lo), lo, y));
}

// The gradient of clamp_symmetric: `grad` where lo <= y <= hi, zero where y was clamped.
template <typename T, typename M = Math<T>>
FASTGAN_HD T clamp_pass(T y, T lo, T hi, T grad) {
  const T zero = M::cst(0.0);
  return M::select(M::gt(y, hi), zero, M::select(M::lt(y, lo), zero, grad));
}

}  // namespace fastgan
