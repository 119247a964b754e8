// The block-level CPU computation of bias_act, shared by the kernels that end in a bias +
// activation (bias_act, styled_bias_act): compiled once per instruction set, inside the including
// file's CPU_CAPABILITY namespace.
#pragma once

#include <ATen/OpMathType.h>
#include <ATen/cpu/vec/vec.h>

#include <type_traits>

#include "../common/vec_math.h"
#include "bias_act.h"

namespace fastgan::bias_act {
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

template <typename scalar_t, typename opmath_t>
const opmath_t* as_opmath(const scalar_t* src, opmath_t* buf, int64_t n) {
  if constexpr (std::is_same_v<scalar_t, opmath_t>) {
    return src;
  } else {
    at::vec::convert(src, buf, n);
    return buf;
  }
}

// The SIMD loop of apply_block for one combination of operands. Everything the loop reads is a
// by-value parameter (restrict pointers, a copy of the params): a closure capturing by reference
// made the compiler reload the pointers and params through the closure after every store, which
// ran 3-4x slower than a memory-bound copy.
template <bool kGrad, bool kBias, typename opmath_t, typename ActT>
inline void apply_vectors(const Params<opmath_t> p, const opmath_t* __restrict__ gs,
                          const opmath_t* __restrict__ xs, const opmath_t* __restrict__ bs,
                          opmath_t b_value, opmath_t* __restrict__ os, int64_t m, ActT act) {
  using Vec = at::vec::Vectorized<opmath_t>;
  using VM = Math<Vec>;
  constexpr int64_t kWidth = Vec::size();
  const Vec b_one(b_value);
  const auto compute = [&](const Vec& xv, const Vec& bv, const Vec& gv) {
    if constexpr (kGrad) {
      return backward<Vec, opmath_t, VM>(gv, xv, bv, p, act);
    } else {
      return forward<Vec, opmath_t, VM>(xv, bv, p, act);
    }
  };
  int64_t k = 0;
  for (; k + kWidth <= m; k += kWidth) {
    const Vec xv = Vec::loadu(xs + k);
    const Vec bv = kBias ? Vec::loadu(bs + k) : b_one;
    const Vec gv = kGrad ? Vec::loadu(gs + k) : xv;
    compute(xv, bv, gv).store(os + k);
  }
  if (k < m) {  // one partial vector (the counted load / store is the slow path)
    const int64_t n = m - k;
    const Vec xv = Vec::loadu(xs + k, n);
    const Vec bv = kBias ? Vec::loadu(bs + k, n) : b_one;
    const Vec gv = kGrad ? Vec::loadu(gs + k, n) : xv;
    compute(xv, bv, gv).store(os + k, n);
  }
}

// os[0, m) = forward(xs[k], b) when gs is null, else backward(gs[k], xs[k], b) (order p.order),
// where b is bs[k], or b_value when bs is null. All in the compute type.
template <typename opmath_t>
void apply_block(const Params<opmath_t>& p, const opmath_t* gs, const opmath_t* xs,
                 const opmath_t* bs, opmath_t b_value, opmath_t* os, int64_t m) {
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
    return;
  }
  with_act(p.act, [&](auto act) {
    if (gs && bs) {
      apply_vectors<true, true>(p, gs, xs, bs, b_value, os, m, act);
    } else if (gs) {
      apply_vectors<true, false>(p, gs, xs, bs, b_value, os, m, act);
    } else if (bs) {
      apply_vectors<false, true>(p, gs, xs, bs, b_value, os, m, act);
    } else {
      apply_vectors<false, false>(p, gs, xs, bs, b_value, os, m, act);
    }
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY
}  // namespace fastgan::bias_act
