// minibatch_discrimination (Salimans et al. 2016): the pairwise part. For M [N, B, D] (M = x @ T
// with T [A, B, D]), e_ij[b] = exp(-sum_c |M_ibc - M_jbc|) and o[i, b] = sum_j e_ij[b], j over
// the whole batch (e_ii = 1). With s_ijc = sign(M_ic - M_jc) (per b; sign(0) = 0, as torch's
// gradient of abs):
//   backward, from g = dL/do [N, B]:
//     dM_ic = -sum_j (g_i + g_j) e_ij s_ijc
//   double backward, from v = dL'/d(dM) [N, B, D], with u_ij = sum_c (v_ic - v_jc) s_ijc:
//     d g_i  = -sum_j e_ij u_ij
//     d M_ic =  sum_j (g_i + g_j) e_ij u_ij s_ijc
// (the derivative of sign is zero almost everywhere). Every term is a function of one pair
// (i, j), so each kernel runs over pairs with O(N * B * D) memory, never the [N, N, B, D] tensor.
#pragma once

#include <c10/macros/Macros.h>

#include <cstdint>

namespace fastgan::minibatch_discrimination {

enum class Mode { kForward, kBackward, kDoubleBackward };

struct Geometry {
  int64_t N, B, D;  // batch, kernels, kernel dimension
};

template <typename T>
C10_HOST_DEVICE inline T sign_of(T d) {
  return static_cast<T>((d > T(0)) - (d < T(0)));
}

}  // namespace fastgan::minibatch_discrimination
