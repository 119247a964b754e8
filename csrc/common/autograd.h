// Helpers for the ops whose autograd is registered in C++ (TORCH_LIBRARY_IMPL(fastgan, Autograd)):
// the per-layer elementwise ops, called dozens of times per training iteration on tensors small
// enough that the ~30 us of a Python autograd.Function per call (torch.library.register_autograd)
// cost more than their kernels. A C++ torch::autograd::Function costs a few microseconds; its
// backward calls the ops' backward operators, which have C++ autograd of their own, so gradients
// of every order go through the same kernels.
#pragma once

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>

#include <initializer_list>
#include <optional>
#include <vector>

namespace fastgan {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The dispatcher handle of the operator `name` ("fastgan::..."), looked up on first use. Calls
// through it from an autograd kernel go below autograd to the device kernels (or, under
// torch.compile, to the fake kernels registered from Python).
template <typename Signature>
const c10::TypedOperatorHandle<Signature>& op_handle(const char* name) {
  static const auto handle =
      c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
  return handle;
}

inline std::optional<at::Tensor> optional(const at::Tensor& t) {
  return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt;
}

inline at::Tensor value_or_undefined(const std::optional<at::Tensor>& t) {
  return t.has_value() ? *t : at::Tensor();
}

// needs_input_grad by argument position. The autograd graph has an edge only for the tensor
// arguments that were given (an absent optional tensor has none), so an argument's edge index is
// the number of given tensors before it.
class InputGrads {
 public:
  // `given[i]`: whether argument i of the op's tensor arguments, in order, was a tensor.
  InputGrads(AutogradContext* ctx, std::initializer_list<bool> given) : ctx_(ctx) {
    int64_t edge = 0;
    for (const bool g : given) edges_.push_back(g ? edge++ : -1);
  }
  bool needs(size_t arg) const {
    return edges_[arg] >= 0 && ctx_->needs_input_grad(static_cast<size_t>(edges_[arg]));
  }

 private:
  AutogradContext* ctx_;
  std::vector<int64_t> edges_;
};

// The sum of t over every dimension but dim (a new tensor). The dimensions after dim are summed
// first, then those before: for 16-bit tensors that is over 10x faster on the CPU than one
// reduction over all of them (torch 2.13), at the cost of one extra rounding of partial sums.
inline at::Tensor sum_except(const at::Tensor& t, int64_t dim) {
  std::vector<int64_t> after, before;
  for (int64_t d = dim + 1; d < t.dim(); ++d) after.push_back(d);
  for (int64_t d = 0; d < dim; ++d) before.push_back(d);
  at::Tensor out = t;
  if (!after.empty()) out = out.sum(after);
  if (!before.empty()) out = out.sum(before);
  return out.is_same(t) ? t.clone() : out;
}

}  // namespace fastgan
