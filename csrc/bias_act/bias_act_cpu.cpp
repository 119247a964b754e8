// bias_act CPU kernels: vectorised with at::vec, multi-threaded with at::parallel_for.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>

#include "../common/vec_math.h"
#include "bias_act_args.h"

namespace fastgan::bias_act {
namespace {

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

// Calls body(offset, count, channel, bias_is_vector) for the runs of [begin, end) on which the
// bias is one value (bias_is_vector = false) or the contiguous slice b[channel:] (true).
template <typename F>
void for_each_run(const ChannelLayout& layout, int64_t begin, int64_t end, F&& body) {
  int64_t i = begin;
  while (i < end) {
    int64_t channel, count;
    if (layout.inner == 1) {
      channel = i % layout.channels;
      count = std::min(end - i, layout.channels - channel);
    } else {
      channel = (i / layout.inner) % layout.channels;
      count = std::min(end - i, layout.inner - i % layout.inner);
    }
    body(i, count, channel, layout.inner == 1);
    i += count;
  }
}

// out = forward(x, b) when grad is null, else the order-p.order backward of grad.
template <typename scalar_t>
void elementwise(const scalar_t* grad, const scalar_t* x, const scalar_t* b, scalar_t* out,
                 const ChannelLayout& layout, const Params<double>& params) {
  using opmath_t = at::opmath_type<scalar_t>;
  using Vec = at::vec::Vectorized<opmath_t>;
  using VM = Math<Vec>;
  constexpr bool kSameType = std::is_same_v<scalar_t, opmath_t>;
  const Params<opmath_t> p = cast_params<opmath_t>(params);

  at::parallel_for(0, layout.numel, kGrain, [&](int64_t begin, int64_t end) {
    opmath_t x_buf[kBlock], b_buf[kBlock], g_buf[kBlock], out_buf[kBlock];
    for_each_run(layout, begin, end, [&](int64_t offset, int64_t count, int64_t channel,
                                         bool bias_is_vector) {
      for (int64_t j = 0; j < count; j += kBlock) {
        const int64_t m = std::min(kBlock, count - j);
        const opmath_t* xs = as_opmath(x + offset + j, x_buf, m);
        const opmath_t* gs = grad ? as_opmath(grad + offset + j, g_buf, m) : nullptr;
        const opmath_t* bs = (b && bias_is_vector) ? as_opmath(b + channel + j, b_buf, m) : nullptr;
        const Vec b_one(b && !bias_is_vector ? static_cast<opmath_t>(b[channel]) : opmath_t(0));
        opmath_t* os = kSameType ? reinterpret_cast<opmath_t*>(out + offset + j) : out_buf;
        for (int64_t k = 0; k < m; k += Vec::size()) {
          const int64_t n = std::min<int64_t>(Vec::size(), m - k);
          const Vec xv = Vec::loadu(xs + k, n);
          const Vec bv = bs ? Vec::loadu(bs + k, n) : b_one;
          const Vec r = gs ? backward<Vec, opmath_t, VM>(Vec::loadu(gs + k, n), xv, bv, p)
                           : forward<Vec, opmath_t, VM>(xv, bv, p);
          r.store(os + k, n);
        }
        if constexpr (!kSameType) {
          at::vec::convert(out_buf, out + offset + j, m);
        }
      }
    });
  });
}

// Shared body of both ops: grad is undefined for the forward.
at::Tensor run(const char* op, const at::Tensor& grad, const at::Tensor& x_in,
               const std::optional<at::Tensor>& b_in, int64_t dim, c10::string_view act,
               double alpha, double gain, double clamp, int64_t order) {
  const at::Tensor* grad_ptr = grad.defined() ? &grad : nullptr;
  const Params<double> params =
      check_args(op, x_in, b_in, dim, act, alpha, gain, clamp, order, grad_ptr);
  TORCH_CHECK(x_in.device().is_cpu(), op, ": expected x on the CPU, got ", x_in.device());

  const at::Tensor x = dense(x_in);
  const at::Tensor g = grad_ptr ? with_strides_of(grad, x) : at::Tensor();
  const at::Tensor b = b_in.has_value() ? b_in->contiguous() : at::Tensor();
  at::Tensor out = at::empty_like(x);
  if (x.numel() == 0) return out;
  const ChannelLayout layout = channel_layout(x, dim, b.defined());

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_cpu", [&] {
    elementwise<scalar_t>(g.defined() ? g.const_data_ptr<scalar_t>() : nullptr,
                          x.const_data_ptr<scalar_t>(),
                          b.defined() ? b.const_data_ptr<scalar_t>() : nullptr,
                          out.mutable_data_ptr<scalar_t>(), layout, params);
  });
  return out;
}

at::Tensor bias_act_cpu(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                        c10::string_view act, double alpha, double gain, double clamp) {
  return run("bias_act", at::Tensor(), x, b, dim, act, alpha, gain, clamp, 0);
}

at::Tensor bias_act_backward_cpu(const at::Tensor& grad, const at::Tensor& x,
                                 const std::optional<at::Tensor>& b, int64_t dim,
                                 c10::string_view act, double alpha, double gain, double clamp,
                                 int64_t order) {
  TORCH_CHECK(order >= 1, "bias_act_backward: expected order >= 1, got ", order);
  return run("bias_act_backward", grad, x, b, dim, act, alpha, gain, clamp, order);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, CPU, m) {
  m.impl("bias_act", &bias_act_cpu);
  m.impl("bias_act_backward", &bias_act_backward_cpu);
}

}  // namespace fastgan::bias_act
