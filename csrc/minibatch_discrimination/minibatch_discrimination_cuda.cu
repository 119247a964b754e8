// minibatch_discrimination CUDA kernel: a block per (kernel b, tile of rows i), one thread per
// row i, looping over every j (no atomics: each thread owns its row's outputs). Row i's M (and
// v) and its dM accumulator sit in shared memory as [D][threads], so that consecutive threads
// hit consecutive banks; the j side is staged a tile at a time, read by all threads at once
// (a broadcast). The thread count shrinks as D grows, to keep the shared memory per block small.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "../common/cuda.h"
#include "minibatch_discrimination_args.h"

namespace fastgan::minibatch_discrimination {
namespace {

constexpr int kTileJ = 32;

// Shared memory of a block of `threads` rows, in acc_t elements.
constexpr int64_t shared_elements(Mode mode, int64_t threads, int64_t D) {
  const int64_t per_row = mode == Mode::kForward ? D : mode == Mode::kBackward ? 2 * D : 3 * D;
  const int64_t per_j = mode == Mode::kForward ? D : mode == Mode::kBackward ? D + 1 : 2 * D + 1;
  return per_row * threads + per_j * kTileJ;
}

template <Mode kMode, typename scalar_t, typename acc_t>
__global__ void pairwise_kernel(const scalar_t* __restrict__ M, const scalar_t* __restrict__ grad,
                                const scalar_t* __restrict__ v, scalar_t* __restrict__ rows,
                                scalar_t* __restrict__ dM, const Geometry geo) {
  constexpr bool kGrad = kMode != Mode::kForward;
  constexpr bool kDouble = kMode == Mode::kDoubleBackward;
  FASTGAN_DYNAMIC_SHARED(unsigned char, shared_bytes);
  acc_t* shared = reinterpret_cast<acc_t*>(shared_bytes);
  const int64_t N = geo.N, B = geo.B, D = geo.D;
  const int T = blockDim.x, tid = threadIdx.x;
  const int64_t b = blockIdx.y;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * T + tid;
  const bool active = i < N;
  acc_t* mi = shared;                             // [D][T]
  acc_t* acc = mi + D * T;                        // [D][T], kGrad
  acc_t* vi = acc + (kGrad ? D * T : 0);          // [D][T], kDouble
  acc_t* mj = vi + (kDouble ? D * T : 0);         // [kTileJ][D]
  acc_t* vj = mj + kTileJ * D;                    // [kTileJ][D], kDouble
  acc_t* gj = vj + (kDouble ? kTileJ * D : 0);    // [kTileJ], kGrad
  for (int64_t c = 0; c < D; ++c) {
    const int64_t at = (i * B + b) * D + c;
    mi[c * T + tid] = active ? static_cast<acc_t>(M[at]) : acc_t(0);
    if constexpr (kGrad) acc[c * T + tid] = acc_t(0);
    if constexpr (kDouble) vi[c * T + tid] = active ? static_cast<acc_t>(v[at]) : acc_t(0);
  }
  const acc_t gi = kGrad && active ? static_cast<acc_t>(grad[i * B + b]) : acc_t(0);
  acc_t row = 0;
  for (int64_t j0 = 0; j0 < N; j0 += kTileJ) {
    const int64_t tile = min(static_cast<int64_t>(kTileJ), N - j0);
    __syncthreads();  // the previous tile is no longer read
    for (int64_t e = tid; e < tile * D; e += T) {
      const int64_t at = ((j0 + e / D) * B + b) * D + e % D;
      mj[e] = static_cast<acc_t>(M[at]);
      if constexpr (kDouble) vj[e] = static_cast<acc_t>(v[at]);
    }
    if constexpr (kGrad) {
      for (int64_t e = tid; e < tile; e += T) gj[e] = static_cast<acc_t>(grad[(j0 + e) * B + b]);
    }
    __syncthreads();
    if (!active) continue;
    for (int64_t jj = 0; jj < tile; ++jj) {
      const acc_t* m = mj + jj * D;
      acc_t dist = 0, u = 0;
      for (int64_t c = 0; c < D; ++c) {
        const acc_t diff = mi[c * T + tid] - m[c];
        dist += abs(diff);
        if constexpr (kDouble) u += (vi[c * T + tid] - vj[jj * D + c]) * sign_of(diff);
      }
      const acc_t e_ij = exp(-dist);
      if constexpr (kMode == Mode::kForward) {
        row += e_ij;
      } else {
        // backward: dM_i -= (g_i + g_j) e_ij s_ij; double: dM_i += (g_i + g_j) e_ij u_ij s_ij,
        // d g_i -= e_ij u_ij.
        acc_t t = (gi + gj[jj]) * e_ij;
        if constexpr (kDouble) {
          row -= e_ij * u;
          t *= u;
        } else {
          t = -t;
        }
        for (int64_t c = 0; c < D; ++c) acc[c * T + tid] += t * sign_of(mi[c * T + tid] - m[c]);
      }
    }
  }
  if (!active) return;
  if constexpr (kMode != Mode::kBackward) rows[i * B + b] = static_cast<scalar_t>(row);
  if constexpr (kGrad) {
    for (int64_t c = 0; c < D; ++c) dM[(i * B + b) * D + c] = static_cast<scalar_t>(acc[c * T + tid]);
  }
}

template <Mode kMode, typename scalar_t>
void launch(const Geometry& geo, const Operands& ops) {
  using acc_t = at::opmath_type<scalar_t>;
  // Shared memory a block may use without opting in (smaller in the emulated build, so that
  // small D reaches the shrinking thread count and the opt-in).
  constexpr int64_t kDefaultShared = FASTGAN_LIMIT(48 * 1024, 4 * 1024);
  int device = 0, optin = 0;
  C10_CUDA_CHECK(cudaGetDevice(&device));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  int threads = 128;
  while (threads > 32 &&
         shared_elements(kMode, threads, geo.D) * static_cast<int64_t>(sizeof(acc_t)) > kDefaultShared) {
    threads /= 2;
  }
  const int64_t bytes = shared_elements(kMode, threads, geo.D) * static_cast<int64_t>(sizeof(acc_t));
  TORCH_CHECK(bytes <= optin, "minibatch_similarity: kernel dimension D=", geo.D,
              " needs ", bytes, " bytes of shared memory per block on CUDA; this device has ",
              optin);
  TORCH_CHECK(geo.B <= 65535, "minibatch_similarity: expected at most 65535 kernels B on CUDA, got ",
              geo.B);
  if (bytes > kDefaultShared) {
    C10_CUDA_CHECK(cudaFuncSetAttribute(pairwise_kernel<kMode, scalar_t, acc_t>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(bytes)));
  }
  const dim3 grid(static_cast<unsigned>((geo.N + threads - 1) / threads),
                  static_cast<unsigned>(geo.B));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  FASTGAN_LAUNCH(grid, threads, bytes, stream, pairwise_kernel<kMode, scalar_t, acc_t>)(
      ops.M.const_data_ptr<scalar_t>(),
      kMode != Mode::kForward ? ops.grad.const_data_ptr<scalar_t>() : nullptr,
      kMode == Mode::kDoubleBackward ? ops.v.const_data_ptr<scalar_t>() : nullptr,
      kMode != Mode::kBackward ? ops.rows.mutable_data_ptr<scalar_t>() : nullptr,
      kMode != Mode::kForward ? ops.dM.mutable_data_ptr<scalar_t>() : nullptr, geo);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void pairwise(Mode mode, const Geometry& geo, const Operands& ops) {
  const c10::cuda::CUDAGuard guard(ops.M.device());
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, ops.M.scalar_type(), "minibatch_similarity", [&] {
        switch (mode) {
          case Mode::kForward:
            return launch<Mode::kForward, scalar_t>(geo, ops);
          case Mode::kBackward:
            return launch<Mode::kBackward, scalar_t>(geo, ops);
          case Mode::kDoubleBackward:
            return launch<Mode::kDoubleBackward, scalar_t>(geo, ops);
        }
      });
}

using CUDAEntry = Entry<pairwise, FASTGAN_CUDA_DEVICE>;

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, FASTGAN_CUDA_KEY, m) {
  m.impl("minibatch_similarity", &CUDAEntry::forward);
  m.impl("minibatch_similarity_backward", &CUDAEntry::backward);
  m.impl("minibatch_similarity_double_backward", &CUDAEntry::double_backward);
}

}  // namespace fastgan::minibatch_discrimination
