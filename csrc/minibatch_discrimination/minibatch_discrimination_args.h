// Argument checks and the operator entry points of the minibatch_discrimination pairwise ops,
// shared by the CPU and CUDA kernels. Each device supplies one kernel, `pairwise(mode, geometry,
// operands)`, on contiguous tensors: forward fills rows (o, [N, B]); backward fills dM
// ([N, B, D]) from grad; double backward fills rows (d grad) and dM (d M) from v and grad.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/core/DeviceType.h>
#include <c10/util/Exception.h>

#include <tuple>

#include "../common/checks.h"
#include "minibatch_discrimination.h"

namespace fastgan::minibatch_discrimination {

struct Operands {
  at::Tensor M, grad, v;  // inputs (grad, v undefined where the mode does not use them)
  at::Tensor rows, dM;    // outputs [N, B] and [N, B, D] (undefined where not produced)
};

inline Geometry check_m(const char* op, c10::DeviceType device, const at::Tensor& M) {
  TORCH_CHECK(M.dim() == 3, op, ": expected M of shape [N, B, D] (x @ T), got shape ", M.sizes());
  check_float_dtype(op, M);
  check_device_type(op, M, device);
  return Geometry{M.size(0), M.size(1), M.size(2)};
}

inline void check_like(const char* op, const char* name, const at::Tensor& t, const at::Tensor& M,
                       at::IntArrayRef shape, const char* shape_text) {
  TORCH_CHECK(t.sizes() == shape, op, ": expected ", name, " of shape ", shape_text, " = ", shape,
              ", got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == M.scalar_type(), op, ": expected ", name, " of dtype ",
              M.scalar_type(), " (the dtype of M), got ", t.scalar_type());
  TORCH_CHECK(t.device() == M.device(), op, ": expected ", name, " on ", M.device(),
              " (the device of M), got ", t.device());
}

template <void (*Pairwise)(Mode, const Geometry&, const Operands&), c10::DeviceType kDevice>
struct Entry {
  static at::Tensor forward(const at::Tensor& M) {
    const Geometry geo = check_m("minibatch_similarity", kDevice, M);
    Operands ops{M.contiguous(), {}, {}, at::empty({geo.N, geo.B}, M.options()), {}};
    if (geo.N > 0 && geo.B > 0) Pairwise(Mode::kForward, geo, ops);
    return ops.rows;
  }

  static at::Tensor backward(const at::Tensor& grad, const at::Tensor& M) {
    constexpr const char* op = "minibatch_similarity_backward";
    const Geometry geo = check_m(op, kDevice, M);
    check_like(op, "grad", grad, M, {geo.N, geo.B}, "[N, B]");
    Operands ops{M.contiguous(), grad.contiguous(), {}, {}, at::empty(M.sizes(), M.options())};
    if (M.numel() > 0) Pairwise(Mode::kBackward, geo, ops);
    return ops.dM;
  }

  static std::tuple<at::Tensor, at::Tensor> double_backward(const at::Tensor& v,
                                                            const at::Tensor& grad,
                                                            const at::Tensor& M) {
    constexpr const char* op = "minibatch_similarity_double_backward";
    const Geometry geo = check_m(op, kDevice, M);
    check_like(op, "v", v, M, M.sizes(), "[N, B, D] (the shape of M)");
    check_like(op, "grad", grad, M, {geo.N, geo.B}, "[N, B]");
    Operands ops{M.contiguous(), grad.contiguous(), v.contiguous(),
                 at::empty({geo.N, geo.B}, M.options()), at::empty(M.sizes(), M.options())};
    if (M.numel() > 0) {
      Pairwise(Mode::kDoubleBackward, geo, ops);
    } else {
      ops.rows.zero_();  // D = 0: no pair differs anywhere, d grad = 0
    }
    return {ops.rows, ops.dM};
  }
};

}  // namespace fastgan::minibatch_discrimination
