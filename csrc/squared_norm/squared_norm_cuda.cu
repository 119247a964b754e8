// squared_norm CUDA kernel: one block per (sample, chunk), a grid-stride sum of squares and a
// block reduction into the partials.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>

#include "../common/cuda.h"
#include "squared_norm.h"

namespace fastgan::squared_norm {
namespace {

constexpr int kThreads = 256;

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    partials_kernel(const scalar_t* __restrict__ x, acc_t* __restrict__ partials,
                    int64_t per_sample, int64_t stride, int64_t chunks) {
  FASTGAN_SHARED(acc_t, shared, kThreads);
  const int64_t task = blockIdx.x;
  const int64_t n = task / chunks, first = (task % chunks) * kChunk;
  const int64_t count = min(kChunk, per_sample - first);
  const scalar_t* src = x + n * stride + first;
  acc_t sum = 0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) {
    const acc_t v = static_cast<acc_t>(src[i]);
    sum += v * v;
  }
  shared[threadIdx.x] = sum;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) partials[task] = shared[0];
}

// Samples of under 64 elements (a conv weight's kernels as rows, for the demodulation): one
// thread per sample, since a block per sample would leave all but a few of its threads idle.
constexpr int64_t kShortSample = 64;

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    short_samples_kernel(const scalar_t* __restrict__ x, acc_t* __restrict__ out, int64_t N,
                         int64_t per_sample, int64_t stride) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (n >= N) return;
  const scalar_t* src = x + n * stride;
  acc_t sum = 0;
  for (int64_t i = 0; i < per_sample; ++i) {
    const acc_t v = static_cast<acc_t>(src[i]);
    sum += v * v;
  }
  out[n] = sum;
}

void partials_cuda(const at::Tensor& x, const at::Tensor& partials, int64_t per_sample,
                   int64_t chunks) {
  const c10::cuda::CUDAGuard guard(x.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "squared_norm", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    if (chunks == 1 && per_sample < kShortSample) {
      const int64_t N = x.size(0);
      FASTGAN_LAUNCH((N + kThreads - 1) / kThreads, kThreads, 0, stream,
                     short_samples_kernel<scalar_t, acc_t>)(
          x.const_data_ptr<scalar_t>(), partials.mutable_data_ptr<acc_t>(), N, per_sample,
          x.stride(0));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      return;
    }
    FASTGAN_LAUNCH(x.size(0) * chunks, kThreads, 0, stream, partials_kernel<scalar_t, acc_t>)(
        x.const_data_ptr<scalar_t>(), partials.mutable_data_ptr<acc_t>(), per_sample,
        x.stride(0), chunks);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, FASTGAN_CUDA_KEY, m) {
  m.impl("squared_norm", &entry<partials_cuda, FASTGAN_CUDA_DEVICE>);
}

}  // namespace fastgan::squared_norm
