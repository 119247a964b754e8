// bias_act maths, shared by the CPU and CUDA kernels.
//
//   forward:  y = clamp(f(x + b) * gain, -clamp, clamp)
//   backward of order k >= 1 (an op of its own, so it can be differentiated again):
//             g_out = g * f^(k)(x + b) * gain * [ -clamp <= f(x + b) * gain <= clamp ]
//
// The clamp mask is piecewise constant, so d/dx of the order-k backward is the order-(k+1)
// backward: one formula covers every order up to kMaxOrder.
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

#include "../common/math.h"

namespace fastgan::bias_act {

enum class Act : int32_t {
  linear = 0,
  relu,
  lrelu,
  tanh,
  sigmoid,
  elu,
  selu,
  softplus,
  swish,
  gelu,
};

// Derivatives of f are implemented up to this order: second- and third-order gradients of the op
// (the gradient of the second-order backward op is what torch.library.opcheck verifies).
constexpr int64_t kMaxOrder = 3;

// Parameters of one call, in the compute type S (float for 16-bit inputs).
template <typename S>
struct Params {
  Act act;
  int order;  // 0: f itself; k >= 1: the k-th derivative
  S alpha;    // negative slope of lrelu; unused by the other activations
  S gain;
  S clamp;    // < 0: no clamp
};

// f^(order)(x) for order 0..kMaxOrder; softplus uses torch's threshold of 20 (linear above).
template <typename T, typename M = Math<T>>
FASTGAN_HD T activation(Act act, int order, T x, T alpha) {
  const T zero = M::cst(0.0);
  const T one = M::cst(1.0);
  const T two = M::cst(2.0);
  switch (act) {
    case Act::linear:
      return order == 0 ? x : (order == 1 ? one : zero);
    case Act::relu:
      if (order == 0) return M::select(M::lt(x, zero), zero, x);  // keeps NaN, like torch.relu
      return order == 1 ? M::select(M::gt(x, zero), one, zero) : zero;
    case Act::lrelu:
      if (order == 0) return M::select(M::gt(x, zero), x, x * alpha);
      return order == 1 ? M::select(M::gt(x, zero), one, alpha) : zero;
    case Act::tanh: {
      // t = tanh(x), d = 1 - t^2: derivatives d, -2 t d, -2 d (1 - 3 t^2)
      const T t = M::tanh(x);
      if (order == 0) return t;
      const T d = one - t * t;
      if (order == 1) return d;
      return order == 2 ? M::cst(-2.0) * t * d : M::cst(-2.0) * d * (one - M::cst(3.0) * t * t);
    }
    case Act::sigmoid:
    case Act::swish: {
      // s = sigmoid(x), d1 = s (1 - s): derivatives d1, d1 (1 - 2 s), d1 (1 - 6 s + 6 s^2).
      // swish = x s, whose k-th derivative is k s^(k-1) + x s^(k).
      const T s = one / (one + M::exp(zero - x));
      const T d1 = s * (one - s);
      const T d2 = d1 * (one - two * s);
      const T d3 = d1 * (one - M::cst(6.0) * s + M::cst(6.0) * s * s);
      if (act == Act::sigmoid) return order == 0 ? s : order == 1 ? d1 : order == 2 ? d2 : d3;
      if (order == 0) return x * s;
      if (order == 1) return s + x * d1;
      return order == 2 ? two * d1 + x * d2 : M::cst(3.0) * d2 + x * d3;
    }
    case Act::elu:
      if (order == 0) return M::select(M::gt(x, zero), x, M::expm1(x));
      return M::select(M::gt(x, zero), order == 1 ? one : zero, M::exp(x));
    case Act::selu: {
      const T scale = M::cst(1.0507009873554804934193349852946);
      const T neg = M::cst(1.0507009873554804934193349852946 * 1.6732632423543772848170429916717);
      if (order == 0) return M::select(M::gt(x, zero), scale * x, neg * M::expm1(x));
      return M::select(M::gt(x, zero), order == 1 ? scale : zero, neg * M::exp(x));
    }
    case Act::softplus: {
      // Below the threshold the k-th derivative of softplus is the (k-1)-th of sigmoid.
      const T above = M::cst(20.0);
      if (order == 0) return M::select(M::gt(x, above), x, M::log1p(M::exp(x)));
      const T s = one / (one + M::exp(zero - x));
      const T d1 = s * (one - s);
      const T below = order == 1 ? s : order == 2 ? d1 : d1 * (one - two * s);
      return M::select(M::gt(x, above), order == 1 ? one : zero, below);
    }
    case Act::gelu: {
      // Exact (erf) GELU: f = x Phi, f' = Phi + x phi, f'' = phi (2 - x^2), f''' = phi x (x^2 - 4)
      const T phi = M::cst(0.39894228040143267794) * M::exp(M::cst(-0.5) * x * x);
      if (order <= 1) {
        const T cdf = M::cst(0.5) * (one + M::erf(x * M::cst(0.70710678118654752440)));
        return order == 0 ? x * cdf : cdf + x * phi;
      }
      return order == 2 ? phi * (two - x * x) : phi * x * (x * x - M::cst(4.0));
    }
  }
  return x;
}

// Calls f(std::integral_constant<Act, A>{}) for the activation A = act: code inside f that passes
// the constant on as the `act` of forward / backward is compiled for that activation alone, so
// the switch over activations moves out of the kernels' inner loops.
#if defined(__CUDACC__)
#pragma nv_exec_check_disable  // f is a device lambda when called from a kernel
#endif
template <typename F>
FASTGAN_HD void with_act(Act act, F&& f) {
  switch (act) {
    case Act::linear: f(std::integral_constant<Act, Act::linear>{}); return;
    case Act::relu: f(std::integral_constant<Act, Act::relu>{}); return;
    case Act::lrelu: f(std::integral_constant<Act, Act::lrelu>{}); return;
    case Act::tanh: f(std::integral_constant<Act, Act::tanh>{}); return;
    case Act::sigmoid: f(std::integral_constant<Act, Act::sigmoid>{}); return;
    case Act::elu: f(std::integral_constant<Act, Act::elu>{}); return;
    case Act::selu: f(std::integral_constant<Act, Act::selu>{}); return;
    case Act::softplus: f(std::integral_constant<Act, Act::softplus>{}); return;
    case Act::swish: f(std::integral_constant<Act, Act::swish>{}); return;
    case Act::gelu: f(std::integral_constant<Act, Act::gelu>{}); return;
  }
}

// One element (or one SIMD vector) of the forward: clamp(f(x + b) * gain). `act` is an Act or,
// for specialised code, the std::integral_constant given by with_act.
template <typename T, typename S, typename M = Math<T>, typename ActT>
FASTGAN_HD T forward(T x, T b, const Params<S>& p, ActT act) {
  const T y = activation<T, M>(act, 0, x + b, M::cst(p.alpha)) * M::cst(p.gain);
  return p.clamp >= 0 ? clamp_symmetric<T, M>(y, M::cst(-p.clamp), M::cst(p.clamp)) : y;
}

// One element (or vector) of the order-k backward: g * f^(k)(x + b) * gain * clamp mask.
template <typename T, typename S, typename M = Math<T>, typename ActT>
FASTGAN_HD T backward(T g, T x, T b, const Params<S>& p, ActT act) {
  const T z = x + b;
  const T alpha = M::cst(p.alpha);
  const T gain = M::cst(p.gain);
  const T d = g * activation<T, M>(act, p.order, z, alpha) * gain;
  if (p.clamp < 0) return d;
  const T y = activation<T, M>(act, 0, z, alpha) * gain;
  return clamp_pass<T, M>(y, M::cst(-p.clamp), M::cst(p.clamp), d);
}

// Host-side: the activation named by the op's `act` argument; false if unknown.
inline bool parse_act(std::string_view name, Act* out) {
  constexpr std::string_view names[] = {"linear", "relu",     "lrelu", "tanh",  "sigmoid",
                                        "elu",    "selu",     "softplus", "swish", "gelu"};
  for (int32_t i = 0; i < static_cast<int32_t>(sizeof(names) / sizeof(names[0])); ++i) {
    if (name == names[i]) {
      *out = static_cast<Act>(i);
      return true;
    }
  }
  return false;
}

}  // namespace fastgan::bias_act
