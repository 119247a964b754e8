// Kernels that test the CUDA emulation itself (tests/emu): each does one thing the emulation
// must get right or must catch. They build for the real GPU too, where the launch-limit cases
// show that the hardware refuses what the emulation refuses. Not part of fastgan's API.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <cstdint>

#include "../common/cuda.h"

namespace fastgan::emu_selftest {
namespace {

// Touches its dynamic shared memory, so that a launch with shared_bytes > 0 uses it.
__global__ void configured_kernel(int64_t shared_bytes) {
  FASTGAN_DYNAMIC_SHARED(unsigned char, shared);
  const int64_t t = threadIdx.x + int64_t(blockDim.x) * (threadIdx.y + int64_t(blockDim.y) * threadIdx.z);
  if (t < shared_bytes) shared[t] = 0;
}

// out[t] = x[t] + x[(t + 1) % n] through shared memory: a race without the barrier.
template <bool kBarrier>
__global__ void neighbour_kernel(const float* __restrict__ x, float* __restrict__ out, int n) {
  FASTGAN_SHARED(float, values, 1024);
  const int t = threadIdx.x;
  values[t] = x[t];
  if constexpr (kBarrier) __syncthreads();
  out[t] = values[t] + values[(t + 1) % n];
}

// out[i] = x[i] for i < n: with n past x's end, reads out of bounds.
__global__ void copy_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = x[i];
}

// Each of 2 blocks of 4 threads reads its static and dynamic shared memory before writing it:
// out[block][0..3] static, [4..7] dynamic. Both blocks must read the emulation's NaN fill (the
// first block's writes must not reach the second).
__global__ void unwritten_shared_kernel(float* __restrict__ out) {
  FASTGAN_SHARED(float, fixed, 4);
  FASTGAN_DYNAMIC_SHARED(float, dynamic);
  const int t = threadIdx.x;
  float* o = out + blockIdx.x * 8;
  o[t] = fixed[t];
  o[4 + t] = dynamic[t];
  __syncthreads();
  fixed[t] = 1.0f;
  dynamic[t] = 1.0f;
}

// Half of a warp waits at __syncwarp, the other half at __syncthreads: neither barrier can
// complete (undefined behaviour on a GPU, which may hang). Emulated with fibers, it is reported
// as a deadlock; never run it on a GPU or with FASTGAN_EMU_THREADS=os.
__global__ void divergent_barrier_kernel() {
  if (threadIdx.x < 16) {
    __syncwarp();
  } else {
    __syncthreads();
  }
}

// out[0] += x (atomicAdd), out[1] = max(out[1], x), out[2] = min(out[2], x), over every thread
// of every block; out[3] counts the threads through atomicAdd's returned old values.
__global__ void atomics_kernel(const int* __restrict__ x, int* __restrict__ out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  atomicAdd(out, x[i]);
  atomicMax(out + 1, x[i]);
  atomicMin(out + 2, x[i]);
  const int before = atomicAdd(out + 3, 1);
  if (before >= n) atomicExch(out + 3, -1);  // an old value past the count: atomicAdd is broken
}

// Per warp of 32 threads: the sum of its values (shuffle-down tree), the ballot of value > 0,
// and per block the count of value > 0 (__syncthreads_count) and its prefix of sums via
// __shfl_up_sync. out: [warps, 4].
__global__ void warp_kernel(const float* __restrict__ x, float* __restrict__ out) {
  const int t = threadIdx.x, lane = t % 32, warp = t / 32;
  const float v = x[blockIdx.x * blockDim.x + t];
  float sum = v;
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  const unsigned ballot = __ballot_sync(0xffffffffu, v > 0.0f);
  float prefix = v;
  for (int offset = 1; offset < 32; offset *= 2) {
    const float other = __shfl_up_sync(0xffffffffu, prefix, offset);
    if (lane >= offset) prefix += other;
  }
  const float broadcast = __shfl_sync(0xffffffffu, sum, 0);
  const int positive = __syncthreads_count(v > 0.0f);
  __syncwarp();
  if (lane == 31) {
    float* o = out + (blockIdx.x * (blockDim.x / 32) + warp) * 5;
    o[0] = broadcast;
    o[1] = static_cast<float>(__popc(ballot));
    o[2] = prefix;  // lane 31's inclusive prefix: the warp's sum again
    o[3] = static_cast<float>(positive);
    o[4] = static_cast<float>(ballot & 1u);
  }
}

void launch(at::IntArrayRef grid, at::IntArrayRef block, int64_t shared_bytes, int64_t optin) {
  TORCH_CHECK(grid.size() == 3 && block.size() == 3, "expected grid and block of 3 dimensions");
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (optin > 0) {
    C10_CUDA_CHECK(cudaFuncSetAttribute(configured_kernel,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(optin)));
  }
  const dim3 g(grid[0], grid[1], grid[2]), b(block[0], block[1], block[2]);
  FASTGAN_LAUNCH(g, b, shared_bytes, stream, configured_kernel)(shared_bytes);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

at::Tensor neighbour_sum(const at::Tensor& x, bool barrier) {
  TORCH_CHECK(x.dim() == 1 && x.numel() >= 1 && x.numel() <= 1024 &&
                  x.scalar_type() == at::kFloat && x.is_contiguous(),
              "expected a contiguous float32 x of 1 to 1024 elements");
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::empty_like(x);
  const int n = static_cast<int>(x.numel());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (barrier) {
    FASTGAN_LAUNCH(1, n, 0, stream, neighbour_kernel<true>)(x.const_data_ptr<float>(),
                                                           out.mutable_data_ptr<float>(), n);
  } else {
    FASTGAN_LAUNCH(1, n, 0, stream, neighbour_kernel<false>)(x.const_data_ptr<float>(),
                                                            out.mutable_data_ptr<float>(), n);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor copy_n(const at::Tensor& x, int64_t n) {
  TORCH_CHECK(x.scalar_type() == at::kFloat && x.is_contiguous(), "expected contiguous float32 x");
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::empty({n}, x.options());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  FASTGAN_LAUNCH((n + 127) / 128, 128, 0, stream, copy_kernel)(x.const_data_ptr<float>(),
                                                              out.mutable_data_ptr<float>(), n);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor warp_stats(const at::Tensor& x, int64_t threads) {
  TORCH_CHECK(x.dim() == 1 && x.scalar_type() == at::kFloat && x.is_contiguous() &&
                  threads % 32 == 0 && threads >= 32 && threads <= 1024 &&
                  x.numel() % threads == 0 && x.numel() > 0,
              "expected contiguous float32 x whose size is a multiple of threads, a multiple of 32");
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::empty({x.numel() / 32, 5}, x.options());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  FASTGAN_LAUNCH(x.numel() / threads, threads, 0, stream, warp_kernel)(
      x.const_data_ptr<float>(), out.mutable_data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor unwritten_shared(const at::Tensor& like) {
  const c10::cuda::CUDAGuard guard(like.device());
  at::Tensor out = at::empty({2, 8}, like.options().dtype(at::kFloat));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  FASTGAN_LAUNCH(2, 4, 4 * sizeof(float), stream, unwritten_shared_kernel)(
      out.mutable_data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

void divergent_barrier() {
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  FASTGAN_LAUNCH(1, 32, 0, stream, divergent_barrier_kernel)();
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

at::Tensor atomics(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 1 && x.numel() > 0 && x.scalar_type() == at::kInt && x.is_contiguous(),
              "expected a contiguous non-empty int32 x");
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::empty({4}, x.options());
  out[0] = 0, out[1] = INT32_MIN, out[2] = INT32_MAX, out[3] = 0;
  const int n = static_cast<int>(x.numel());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  FASTGAN_LAUNCH((n + 255) / 256, 256, 0, stream, atomics_kernel)(
      x.const_data_ptr<int>(), out.mutable_data_ptr<int>(), n);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace

TORCH_LIBRARY(fastgan_emu, m) {
  m.def("launch(int[3] grid, int[3] block, int shared_bytes, int optin) -> ()");
  m.def("neighbour_sum(Tensor x, bool barrier) -> Tensor");
  m.def("copy_n(Tensor x, int n) -> Tensor");
  m.def("warp_stats(Tensor x, int threads) -> Tensor");
  m.def("unwritten_shared(Tensor like) -> Tensor");
  m.def("divergent_barrier() -> ()");
  m.def("atomics(Tensor x) -> Tensor");
}

TORCH_LIBRARY_IMPL(fastgan_emu, FASTGAN_CUDA_KEY, m) {
  m.impl("neighbour_sum", &neighbour_sum);
  m.impl("copy_n", &copy_n);
  m.impl("warp_stats", &warp_stats);
  m.impl("unwritten_shared", &unwritten_shared);
  m.impl("atomics", &atomics);
}

// `launch` has no tensor argument to dispatch on.
TORCH_LIBRARY_IMPL(fastgan_emu, CatchAll, m) {
  m.impl("launch", &launch);
  m.impl("divergent_barrier", &divergent_barrier);
}

}  // namespace fastgan::emu_selftest
