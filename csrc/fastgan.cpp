// Every fastgan operator schema, in one place. Kernels register per device with
// TORCH_LIBRARY_IMPL next to their sources; fake (meta) kernels are registered from Python in
// fastgan/ops/<op>.py, and so is autograd, except for bias_act, styled_bias_act, squared_norm
// and upfirdn2d (csrc/<op>/<op>_autograd.cpp, see csrc/common/autograd.h); set_python_module
// names that module before each op's schemas so torch can import it on demand (and checks that
// the fake kernels live there).
#include <torch/library.h>

TORCH_LIBRARY(fastgan, m) {
  m.set_python_module("fastgan.ops.bias_act");
  // y = clamp(act(x + b, alpha) * gain, -clamp, clamp), b broadcast along dim; clamp < 0: none.
  m.def("bias_act(Tensor x, Tensor? b, int dim, str act, float alpha, float gain, float clamp)"
        " -> Tensor");
  // grad * act^(order)(x + b) * gain * [output not clamped]; order >= 1. Its own gradient is
  // the same op at order + 1, which makes bias_act differentiable twice.
  m.def("bias_act_backward(Tensor grad, Tensor x, Tensor? b, int dim, str act, float alpha,"
        " float gain, float clamp, int order) -> Tensor");

  m.set_python_module("fastgan.ops.upfirdn2d");
  // Per plane of x [N, C, H, W]: insert up-1 zeros after every sample, pad by padding
  // [x0, x1, y0, y1] (negative crops), correlate with f ([fh, fw], or [fw] along x then y;
  // flipped first unless flip_filter), keep every down-th sample from 0, multiply by gain.
  // up, down: [x, y]. Its gradient is the same op with up and down swapped.
  m.def("upfirdn2d(Tensor x, Tensor f, int[2] up, int[2] down, int[4] padding, bool flip_filter,"
        " float gain) -> Tensor");

  m.set_python_module("fastgan.ops.filtered_lrelu");
  // StyleGAN3's filtered leaky ReLU per plane of x [N, C, H, W]: t = upfirdn2d(x + b, fu, up,
  // padding [x0, x1, y0, y1], gain up^2), y = upfirdn2d(clamp(lrelu(t, slope) * gain, -clamp,
  // clamp), fd, down); fu, fd: None (identity), [taps] (separable) or [fh, fw]; clamp < 0: none.
  // Returns y and, when save_mask, the activation's state per element of t (int8 [N, C, th, tw]:
  // 0 clamped, 1 positive, 2 negative; else an empty tensor) for the gradients.
  m.def("filtered_lrelu(Tensor x, Tensor? fu, Tensor? fd, Tensor? b, int up, int down,"
        " int[4] padding, float gain, float slope, float clamp, bool flip_filter, bool save_mask)"
        " -> (Tensor, Tensor)");
  // The derivative of filtered_lrelu with its mask M fixed, a linear map: D(M * U(v)) for v
  // shaped as x (transpose false), or its adjoint U^T(M * D^T(v)) for v shaped as y (transpose
  // true: the gradient with respect to x + b). Its gradient is the same op, transposed.
  m.def("filtered_lrelu_linear(Tensor v, Tensor mask, Tensor? fu, Tensor? fd, int up, int down,"
        " int[4] padding, float gain, float slope, bool flip_filter, bool transpose) -> Tensor");

  m.set_python_module("fastgan.ops.styled_bias_act");
  // The epilogue of a StyleGAN2 generator layer, x [N, C, H, W]: z = x * scale[n, c] + noise +
  // b[c], y = clamp(act(z, alpha) * gain, -clamp, clamp); noise [Nn, Cn, H, W] with Nn in {1, N},
  // Cn in {1, C} (or fewer leading dims). Each of scale, noise, b optional.
  m.def("styled_bias_act(Tensor x, Tensor? scale, Tensor? noise, Tensor? b, str act, float alpha,"
        " float gain, float clamp) -> Tensor");
  // grad * act^(order)(z) * gain * [output not clamped] = the gradient with respect to z; its own
  // gradient is the same op at order + 1.
  m.def("styled_bias_act_backward(Tensor grad, Tensor x, Tensor? scale, Tensor? noise, Tensor? b,"
        " str act, float alpha, float gain, float clamp, int order) -> Tensor");

  m.set_python_module("fastgan.ops.minibatch_stddev");
  // x [N, C, H, W] -> [N, C + num_channels, H, W]: x, then per group of G = min(group_size, N)
  // samples (n = g * N/G + m) and channel group, the mean over channels and pixels of the
  // standard deviation over the group, sqrt(var + 1e-8), as constant channels.
  m.def("minibatch_stddev(Tensor x, int group_size, int num_channels) -> Tensor");
  // The gradient with respect to x from the output's gradient.
  m.def("minibatch_stddev_backward(Tensor grad, Tensor x, int group_size, int num_channels)"
        " -> Tensor");

  m.set_python_module("fastgan.ops.squared_norm");
  // Per-sample squared L2 norm: out[n] = sum over x[n, ...] of x^2 (the gradient penalties).
  m.def("squared_norm(Tensor x) -> Tensor");

  m.set_python_module("fastgan.ops.minibatch_discrimination");
  // The pairwise part of minibatch discrimination, M [N, B, D] -> o [N, B]:
  // o[i, b] = sum_j exp(-sum_c |M[i, b, c] - M[j, b, c]|), j over the batch (itself included).
  m.def("minibatch_similarity(Tensor M) -> Tensor");
  // dL/dM from grad = dL/do (csrc/minibatch_discrimination/minibatch_discrimination.h).
  m.def("minibatch_similarity_backward(Tensor grad, Tensor M) -> Tensor");
  // The gradients of <v, minibatch_similarity_backward(grad, M)> with respect to grad and M.
  m.def("minibatch_similarity_double_backward(Tensor v, Tensor grad, Tensor M)"
        " -> (Tensor, Tensor)");
}
