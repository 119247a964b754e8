// styled_bias_act CUDA kernel: one pass over memory; each thread loads kUnroll elements (and
// their gradients) before computing any, so several loads are in flight; 32-bit index maths when
// the tensor allows it. The element maths is bias_act's, applied to z = x * scale + noise.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "../common/cuda.h"
#include "styled_bias_act_args.h"

namespace fastgan::styled_bias_act {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

// Sizes of a call in the kernel's index type.
template <typename index_t>
struct Shape {
  index_t numel, C, HW, noise_batch_stride;
  bool channels_last, noise_per_channel;
};

template <typename scalar_t, typename index_t, bool kBackward>
__global__ void __launch_bounds__(kThreads)
    styled_kernel(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ x,
                  const scalar_t* __restrict__ scale, const scalar_t* __restrict__ noise,
                  const scalar_t* __restrict__ b, scalar_t* __restrict__ out,
                  const Shape<index_t> s, const Params<at::opmath_type<scalar_t>> p) {
  using S = at::opmath_type<scalar_t>;
  const index_t base = static_cast<index_t>(blockIdx.x) * (kThreads * kUnroll) + threadIdx.x;
  scalar_t xs[kUnroll], gs[kUnroll];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const index_t i = base + u * kThreads;
    if (i < s.numel) {
      xs[u] = x[i];
      if constexpr (kBackward) gs[u] = grad[i];
    }
  }
  bias_act::with_act(p.act, [&](auto act) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const index_t i = base + u * kThreads;
      if (i >= s.numel) continue;
      index_t n, c, hw;
      if (s.channels_last) {
        const index_t pixel = i / s.C;
        c = i - pixel * s.C, n = pixel / s.HW, hw = pixel - n * s.HW;
      } else {
        const index_t plane = i / s.HW;
        hw = i - plane * s.HW, n = plane / s.C, c = plane - n * s.C;
      }
      S z = static_cast<S>(xs[u]);
      if (scale) z *= static_cast<S>(scale[n * s.C + c]);
      if (noise) {
        const index_t offset = !s.noise_per_channel ? hw
                               : s.channels_last    ? hw * s.C + c
                                                    : c * s.HW + hw;
        z += static_cast<S>(noise[n * s.noise_batch_stride + offset]);
      }
      const S bias = b ? static_cast<S>(b[c]) : S(0);
      if constexpr (kBackward) {
        out[i] = static_cast<scalar_t>(
            bias_act::backward<S>(static_cast<S>(gs[u]), z, bias, p, act));
      } else {
        out[i] = static_cast<scalar_t>(bias_act::forward<S>(z, bias, p, act));
      }
    }
  });
}

template <typename scalar_t, typename index_t>
void launch_typed(const Call& call, cudaStream_t stream) {
  using S = at::opmath_type<scalar_t>;
  const Shape<index_t> shape{static_cast<index_t>(call.x.numel()), static_cast<index_t>(call.C),
                             static_cast<index_t>(call.HW),
                             static_cast<index_t>(call.noise_batch_stride), call.channels_last,
                             call.noise_per_channel};
  const Params<S> p = bias_act::cast_params<S>(call.params);
  const auto ptr = [](const at::Tensor& t) {
    return t.defined() ? t.const_data_ptr<scalar_t>() : nullptr;
  };
  const int64_t blocks = (call.x.numel() + kThreads * kUnroll - 1) / (kThreads * kUnroll);
  if (call.grad.defined()) {
    FASTGAN_LAUNCH(blocks, kThreads, 0, stream, styled_kernel<scalar_t, index_t, true>)(
        ptr(call.grad), ptr(call.x), ptr(call.scale), ptr(call.noise), ptr(call.b),
        call.out.mutable_data_ptr<scalar_t>(), shape, p);
  } else {
    FASTGAN_LAUNCH(blocks, kThreads, 0, stream, styled_kernel<scalar_t, index_t, false>)(
        nullptr, ptr(call.x), ptr(call.scale), ptr(call.noise), ptr(call.b),
        call.out.mutable_data_ptr<scalar_t>(), shape, p);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void launch(const Call& call) {
  const c10::cuda::CUDAGuard guard(call.x.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  // Indices up to numel + kThreads * kUnroll must fit the index type.
  const bool small = call.x.numel() + kThreads * kUnroll <
                     FASTGAN_LIMIT(static_cast<int64_t>(std::numeric_limits<uint32_t>::max()),
                                   int64_t{8192});
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, call.x.scalar_type(),
                                  "styled_bias_act", [&] {
                                    if (small) {
                                      launch_typed<scalar_t, uint32_t>(call, stream);
                                    } else {
                                      launch_typed<scalar_t, int64_t>(call, stream);
                                    }
                                  });
}

using CUDAEntry = Entry<FASTGAN_CUDA_DEVICE, launch>;

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, FASTGAN_CUDA_KEY, m) {
  m.impl("styled_bias_act", &CUDAEntry::forward);
  m.impl("styled_bias_act_backward", &CUDAEntry::backward);
}

}  // namespace fastgan::styled_bias_act
