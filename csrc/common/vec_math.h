// Math<T> for at::vec SIMD vectors (CPU only), so the op maths templates run vectorised.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include "math.h"

namespace fastgan {

template <typename S>
struct Math<at::vec::Vectorized<S>> {
  using V = at::vec::Vectorized<S>;
  using Mask = V;  // at::vec comparisons return all-ones / all-zeros lanes
  static V cst(double v) { return V(static_cast<S>(v)); }
  static V exp(const V& x) { return x.exp(); }
  static V expm1(const V& x) { return x.expm1(); }
  static V log1p(const V& x) { return x.log1p(); }
  static V tanh(const V& x) { return x.tanh(); }
  static V erf(const V& x) { return x.erf(); }
  static Mask gt(const V& a, const V& b) { return a > b; }
  static Mask lt(const V& a, const V& b) { return a < b; }
  static V select(const Mask& m, const V& a, const V& b) { return V::blendv(b, a, m); }
};

}  // namespace fastgan
