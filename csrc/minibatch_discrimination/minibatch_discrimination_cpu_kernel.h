// minibatch_discrimination CPU kernel body, compiled once per instruction set (namespace
// CPU_CAPABILITY, defined by the including file). One task per kernel b: the task copies
// M[:, b, :] (and v) transposed into [D, N] buffers in the compute type, then visits each
// unordered pair once (e_ij = e_ji): for row i, the distances to every j > i are accumulated one
// coordinate c at a time along contiguous j, and each pair's term is added to both i and j. Every
// inner loop runs over contiguous j and vectorises (the sums through `omp simd` reductions, the
// exponentials through at::vec). Extra memory per task: a few [D, N] buffers.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/parallel.h"
#include "minibatch_discrimination_args.h"

namespace fastgan::minibatch_discrimination {

namespace DEFAULT {
void pairwise(Mode mode, const Geometry& geo, const Operands& ops);
}
namespace AVX2 {
void pairwise(Mode mode, const Geometry& geo, const Operands& ops);
}

namespace CPU_CAPABILITY {
namespace {

// d[k] = exp(-d[k]) for k < n.
template <typename T>
void exp_negative(T* d, int64_t n) {
  using V = at::vec::Vectorized<T>;
  int64_t k = 0;
  for (; k + V::size() <= n; k += V::size()) (-V::loadu(d + k)).exp().store(d + k);
  if (k < n) (-V::loadu(d + k, n - k)).exp().store(d + k, n - k);
}

template <Mode kMode, typename scalar_t>
void pairwise_kernel(const Geometry& geo, const Operands& ops) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr bool kGrad = kMode != Mode::kForward;
  constexpr bool kDouble = kMode == Mode::kDoubleBackward;
  const int64_t N = geo.N, B = geo.B, D = geo.D;
  const scalar_t* M = ops.M.const_data_ptr<scalar_t>();
  const scalar_t* grad = kGrad ? ops.grad.const_data_ptr<scalar_t>() : nullptr;
  const scalar_t* v = kDouble ? ops.v.const_data_ptr<scalar_t>() : nullptr;
  scalar_t* rows = kMode != Mode::kBackward ? ops.rows.mutable_data_ptr<scalar_t>() : nullptr;
  scalar_t* dM = kGrad ? ops.dM.mutable_data_ptr<scalar_t>() : nullptr;

  // Kernels per chunk: each does N^2 D pairwise work.
  at::parallel_for(0, B, grain_for(N * N * D), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> mt(D * N), vt(kDouble ? D * N : 0), acc(kGrad ? D * N : 0);
    std::vector<acc_t> g(kGrad ? N : 0), row(N), dist(N), weight(N);
    for (int64_t b = begin; b < end; ++b) {
      for (int64_t j = 0; j < N; ++j) {
        for (int64_t c = 0; c < D; ++c) {
          mt[c * N + j] = static_cast<acc_t>(M[(j * B + b) * D + c]);
          if constexpr (kDouble) vt[c * N + j] = static_cast<acc_t>(v[(j * B + b) * D + c]);
        }
        if constexpr (kGrad) g[j] = static_cast<acc_t>(grad[j * B + b]);
      }
      // e_ii = 1 adds 1 to o_i; a pair with itself has s = 0 and adds nothing to the gradients.
      std::fill(row.begin(), row.end(), kMode == Mode::kForward ? acc_t(1) : acc_t(0));
      std::fill(acc.begin(), acc.end(), acc_t(0));
      for (int64_t i = 0; i + 1 < N; ++i) {
        acc_t* d = dist.data() + i + 1;
        acc_t* w = weight.data() + i + 1;  // kDouble: u_ij, then the pair's weight
        const int64_t n = N - i - 1;
        std::fill_n(d, n, acc_t(0));
        if constexpr (kDouble) std::fill_n(w, n, acc_t(0));
        for (int64_t c = 0; c < D; ++c) {
          const acc_t* mc = mt.data() + c * N + i + 1;
          const acc_t mi = mt[c * N + i];
          for (int64_t k = 0; k < n; ++k) d[k] += std::abs(mi - mc[k]);
          if constexpr (kDouble) {
            const acc_t* vc = vt.data() + c * N + i + 1;
            const acc_t vi = vt[c * N + i];
            for (int64_t k = 0; k < n; ++k) w[k] += (vi - vc[k]) * sign_of(mi - mc[k]);
          }
        }
        exp_negative(d, n);  // e_ij
        acc_t row_i = 0;
        if constexpr (kMode == Mode::kForward) {
          acc_t* rj = row.data() + i + 1;
#pragma omp simd reduction(+ : row_i)
          for (int64_t k = 0; k < n; ++k) {
            row_i += d[k];
            rj[k] += d[k];
          }
        } else if constexpr (kMode == Mode::kBackward) {
          // dM_i -= t_ij s_ij and dM_j += t_ij s_ij, t_ij = (g_i + g_j) e_ij.
          const acc_t* gj = g.data() + i + 1;
          for (int64_t k = 0; k < n; ++k) w[k] = (g[i] + gj[k]) * d[k];
        } else {
          // d g_i, d g_j -= q_ij = e_ij u_ij; dM_i += t_ij s_ij and dM_j -= t_ij s_ij,
          // t_ij = (g_i + g_j) q_ij.
          acc_t* rj = row.data() + i + 1;
          const acc_t* gj = g.data() + i + 1;
#pragma omp simd reduction(+ : row_i)
          for (int64_t k = 0; k < n; ++k) {
            const acc_t q = d[k] * w[k];
            row_i -= q;
            rj[k] -= q;
            w[k] = (g[i] + gj[k]) * q;
          }
        }
        row[i] += row_i;
        if constexpr (kGrad) {
          const acc_t sign_i = kMode == Mode::kBackward ? acc_t(-1) : acc_t(1);
          for (int64_t c = 0; c < D; ++c) {
            const acc_t* mc = mt.data() + c * N + i + 1;
            const acc_t mi = mt[c * N + i];
            acc_t* ac = acc.data() + c * N + i + 1;
            acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
            for (int64_t k = 0; k < n; ++k) {
              const acc_t ts = w[k] * sign_of(mi - mc[k]);
              sum += ts;
              ac[k] -= sign_i * ts;
            }
            acc[c * N + i] += sign_i * sum;
          }
        }
      }
      for (int64_t i = 0; i < N; ++i) {
        if (rows != nullptr) rows[i * B + b] = static_cast<scalar_t>(row[i]);
        if constexpr (kGrad) {
          for (int64_t c = 0; c < D; ++c) {
            dM[(i * B + b) * D + c] = static_cast<scalar_t>(acc[c * N + i]);
          }
        }
      }
    }
  });
}

}  // namespace

void pairwise(Mode mode, const Geometry& geo, const Operands& ops) {
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, ops.M.scalar_type(), "minibatch_similarity", [&] {
        switch (mode) {
          case Mode::kForward:
            return pairwise_kernel<Mode::kForward, scalar_t>(geo, ops);
          case Mode::kBackward:
            return pairwise_kernel<Mode::kBackward, scalar_t>(geo, ops);
          case Mode::kDoubleBackward:
            return pairwise_kernel<Mode::kDoubleBackward, scalar_t>(geo, ops);
        }
      });
}

}  // namespace CPU_CAPABILITY
}  // namespace fastgan::minibatch_discrimination
