// minibatch_stddev CUDA kernels: one block per (group, channel group). The block's threads
// split the c * H * W elements of the group; each computes the statistics of its elements over
// the G samples (and forward copies them to the output), and a block reduction sums what the
// block needs (the standard deviations forward, the gradient of s backward).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "../common/cuda.h"
#include "minibatch_stddev_args.h"

namespace fastgan::minibatch_stddev {
namespace {

constexpr int kThreads = 256;

// Sum of v over the block (every thread gets it); `shared` holds kThreads values.
template <typename acc_t>
__device__ acc_t block_sum(acc_t v, acc_t* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
    __syncthreads();
  }
  const acc_t total = shared[0];
  __syncthreads();
  return total;
}

template <typename scalar_t, typename acc_t>
__device__ void group_stats(const scalar_t* x, const Geometry& geo, int64_t m, int64_t f,
                            int64_t ch, int64_t p, acc_t* mean, acc_t* std) {
  acc_t sum = 0;
  for (int64_t g = 0; g < geo.G; ++g) sum += static_cast<acc_t>(x[geo.offset(g, m, f, ch, p, geo.C)]);
  const acc_t mu = sum / static_cast<acc_t>(geo.G);
  acc_t sq = 0;
  for (int64_t g = 0; g < geo.G; ++g) {
    const acc_t d = static_cast<acc_t>(x[geo.offset(g, m, f, ch, p, geo.C)]) - mu;
    sq += d * d;
  }
  *mean = mu;
  *std = sqrt(sq / static_cast<acc_t>(geo.G) + static_cast<acc_t>(kEpsilon));
}

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(const scalar_t* __restrict__ x, scalar_t* __restrict__ out, const Geometry geo) {
  FASTGAN_SHARED(acc_t, shared, kThreads);
  const int64_t m = blockIdx.x / geo.F, f = blockIdx.x % geo.F;
  const int64_t elements = geo.c * geo.HW, out_channels = geo.C + geo.F;
  acc_t total = 0;
  for (int64_t e = threadIdx.x; e < elements; e += kThreads) {
    const int64_t ch = e / geo.HW, p = e % geo.HW;
    acc_t mean, std;
    group_stats(x, geo, m, f, ch, p, &mean, &std);
    total += std;
    for (int64_t g = 0; g < geo.G; ++g) {
      out[geo.offset(g, m, f, ch, p, out_channels)] = x[geo.offset(g, m, f, ch, p, geo.C)];
    }
  }
  total = block_sum(total, shared);
  const scalar_t s = static_cast<scalar_t>(total / static_cast<acc_t>(elements));
  for (int64_t i = threadIdx.x; i < geo.G * geo.HW; i += kThreads) {
    const int64_t g = i / geo.HW, p = i % geo.HW;
    out[((g * geo.M + m) * out_channels + geo.C + f) * geo.HW + p] = s;
  }
}

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    backward_kernel(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ x,
                    scalar_t* __restrict__ grad_x, const Geometry geo) {
  FASTGAN_SHARED(acc_t, shared, kThreads);
  const int64_t m = blockIdx.x / geo.F, f = blockIdx.x % geo.F;
  const int64_t out_channels = geo.C + geo.F;
  acc_t gs = 0;  // the gradient of s[m, f]: its channel, over the group and the pixels
  for (int64_t i = threadIdx.x; i < geo.G * geo.HW; i += kThreads) {
    const int64_t g = i / geo.HW, p = i % geo.HW;
    gs += static_cast<acc_t>(grad[((g * geo.M + m) * out_channels + geo.C + f) * geo.HW + p]);
  }
  gs = block_sum(gs, shared);
  const acc_t k = gs / static_cast<acc_t>(geo.c * geo.HW * geo.G);
  for (int64_t e = threadIdx.x; e < geo.c * geo.HW; e += kThreads) {
    const int64_t ch = e / geo.HW, p = e % geo.HW;
    acc_t mean, std;
    group_stats(x, geo, m, f, ch, p, &mean, &std);
    for (int64_t g = 0; g < geo.G; ++g) {
      const int64_t at = geo.offset(g, m, f, ch, p, geo.C);
      const acc_t gy = static_cast<acc_t>(grad[geo.offset(g, m, f, ch, p, out_channels)]);
      grad_x[at] = static_cast<scalar_t>(gy + k * (static_cast<acc_t>(x[at]) - mean) / std);
    }
  }
}

void forward(const at::Tensor& x, const at::Tensor& out, const Geometry& geo) {
  const c10::cuda::CUDAGuard guard(x.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "minibatch_stddev", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    FASTGAN_LAUNCH(geo.M * geo.F, kThreads, 0, stream, forward_kernel<scalar_t, acc_t>)(
        x.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), geo);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, const Geometry& geo) {
  const c10::cuda::CUDAGuard guard(x.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  at::Tensor grad_x = at::empty(x.sizes(), x.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "minibatch_stddev_backward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    FASTGAN_LAUNCH(geo.M * geo.F, kThreads, 0, stream, backward_kernel<scalar_t, acc_t>)(
        grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
        grad_x.mutable_data_ptr<scalar_t>(), geo);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return grad_x;
}

using CUDAEntry = Entry<forward, backward, FASTGAN_CUDA_DEVICE>;

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, FASTGAN_CUDA_KEY, m) {
  m.impl("minibatch_stddev", &CUDAEntry::forward);
  m.impl("minibatch_stddev_backward", &CUDAEntry::backward);
}

}  // namespace fastgan::minibatch_stddev
