// bias_act CUDA kernels: one pass over memory, 16-byte loads and stores where aligned, several
// independent loads in flight per thread, on the current stream; 64-bit indexing when needed.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "../common/cuda.h"
#include "bias_act_args.h"

namespace fastgan::bias_act {
namespace {

constexpr int kThreads = 256;
// Blocks of the grid-stride scalar kernel (small in the emulated build: the loop then iterates).
constexpr int64_t kMaxScalarBlocks = FASTGAN_LIMIT(1 << 16, 2);

// 16-byte vectors per thread, all loaded before the first is used: 64 bytes in flight per input
// (32 for 16-bit types, where four vectors of eight elements made ptxas spill registers).
template <int VEC>
constexpr int unroll() { return VEC >= 8 ? 2 : 4; }

template <typename scalar_t, int N>
struct alignas(sizeof(scalar_t) * N) Pack {
  scalar_t v[N];
};

// How the bias varies inside one vector of VEC consecutive elements.
enum class BiasMode : int {
  none,        // no bias
  uniform,     // one channel: b[0] everywhere
  per_vector,  // inner % VEC == 0: one channel for the whole vector
  contiguous,  // inner == 1 and channels % VEC == 0: channels c .. c + VEC - 1
};

template <typename scalar_t, typename S, bool kBackward, typename ActT>
__device__ __forceinline__ scalar_t apply(scalar_t g, scalar_t x, S b, const Params<S>& p,
                                          ActT act) {
  if constexpr (kBackward) {
    return static_cast<scalar_t>(backward<S>(static_cast<S>(g), static_cast<S>(x), b, p, act));
  } else {
    return static_cast<scalar_t>(forward<S>(static_cast<S>(x), b, p, act));
  }
}

template <typename scalar_t, typename index_t, int VEC, bool kBackward>
__global__ void __launch_bounds__(kThreads)
    vector_kernel(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ x,
                  const scalar_t* __restrict__ b, scalar_t* __restrict__ out, index_t n_vec,
                  index_t inner, index_t channels, BiasMode mode,
                  Params<at::opmath_type<scalar_t>> p) {
  using S = at::opmath_type<scalar_t>;
  using P = Pack<scalar_t, VEC>;
  const P* xv = reinterpret_cast<const P*>(x);
  const P* gv = reinterpret_cast<const P*>(grad);
  P* ov = reinterpret_cast<P*>(out);
  constexpr int kUnroll = unroll<VEC>();
  const index_t base = static_cast<index_t>(blockIdx.x) * (kThreads * kUnroll) + threadIdx.x;

  P xs[kUnroll], gs[kUnroll];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const index_t i = base + u * kThreads;
    if (i < n_vec) {
      xs[u] = xv[i];
      if constexpr (kBackward) gs[u] = gv[i];
    }
  }
  // The activation is a compile-time constant inside: no switch per element.
  with_act(p.act, [&](auto act) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const index_t i = base + u * kThreads;
      if (i >= n_vec) continue;
      const index_t e = i * VEC;
      S bias[VEC];
      if (mode == BiasMode::uniform || mode == BiasMode::per_vector) {
        const S bc = static_cast<S>(b[mode == BiasMode::uniform ? 0 : (e / inner) % channels]);
#pragma unroll
        for (int k = 0; k < VEC; ++k) bias[k] = bc;
      } else if (mode == BiasMode::contiguous) {
        const index_t c = e % channels;
#pragma unroll
        for (int k = 0; k < VEC; ++k) bias[k] = static_cast<S>(b[c + k]);
      } else {
#pragma unroll
        for (int k = 0; k < VEC; ++k) bias[k] = S(0);
      }
      P r;
#pragma unroll
      for (int k = 0; k < VEC; ++k) {
        r.v[k] = apply<scalar_t, S, kBackward>(kBackward ? gs[u].v[k] : scalar_t(0), xs[u].v[k],
                                               bias[k], p, act);
      }
      ov[i] = r;
    }
  });
}

// Any layout and alignment: elements [begin, end), the channel computed per element.
template <typename scalar_t, typename index_t, bool kBackward>
__global__ void __launch_bounds__(kThreads)
    scalar_kernel(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ x,
                  const scalar_t* __restrict__ b, scalar_t* __restrict__ out, index_t begin,
                  index_t end, index_t inner, index_t channels,
                  Params<at::opmath_type<scalar_t>> p) {
  using S = at::opmath_type<scalar_t>;
  const index_t stride = static_cast<index_t>(gridDim.x) * kThreads;
  for (index_t i = begin + static_cast<index_t>(blockIdx.x) * kThreads + threadIdx.x; i < end;
       i += stride) {
    const S bias = b ? static_cast<S>(b[(i / inner) % channels]) : S(0);
    out[i] = apply<scalar_t, S, kBackward>(kBackward ? grad[i] : scalar_t(0), x[i], bias, p,
                                           p.act);
  }
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

template <typename scalar_t, typename index_t, bool kBackward>
void launch(const scalar_t* grad, const scalar_t* x, const scalar_t* b, scalar_t* out,
            const ChannelLayout& layout, const Params<at::opmath_type<scalar_t>>& p,
            cudaStream_t stream) {
  constexpr int VEC = 16 / sizeof(scalar_t);
  const int64_t n = layout.numel;
  BiasMode mode = BiasMode::none;
  bool vectorizable = aligned16(x) && aligned16(out) && (!kBackward || aligned16(grad));
  if (b != nullptr && layout.channels == 1) {
    mode = BiasMode::uniform;
  } else if (b != nullptr) {
    if (layout.inner % VEC == 0) {
      mode = BiasMode::per_vector;
    } else if (layout.inner == 1 && layout.channels % VEC == 0) {
      mode = BiasMode::contiguous;
    } else {
      vectorizable = false;
    }
  }
  const int64_t n_vec = vectorizable ? n / VEC : 0;
  if (n_vec > 0) {
    constexpr int64_t kPerBlock = kThreads * unroll<VEC>();
    const int64_t blocks = (n_vec + kPerBlock - 1) / kPerBlock;
    FASTGAN_LAUNCH(blocks, kThreads, 0, stream, vector_kernel<scalar_t, index_t, VEC, kBackward>)(
        grad, x, b, out, static_cast<index_t>(n_vec), static_cast<index_t>(layout.inner),
        static_cast<index_t>(layout.channels), mode, p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  const int64_t begin = n_vec * VEC;
  if (begin < n) {
    const int64_t blocks = std::min<int64_t>((n - begin + kThreads - 1) / kThreads, kMaxScalarBlocks);
    FASTGAN_LAUNCH(blocks, kThreads, 0, stream, scalar_kernel<scalar_t, index_t, kBackward>)(
        grad, x, b, out, static_cast<index_t>(begin), static_cast<index_t>(n),
        static_cast<index_t>(layout.inner), static_cast<index_t>(layout.channels), p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

void launch_cuda(const Call& call) {
  const c10::cuda::CUDAGuard guard(call.x.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  // 32-bit indices while every index the kernels form (up to numel plus one block's reach) fits.
  const bool small =
      call.layout.numel < FASTGAN_LIMIT(std::numeric_limits<int32_t>::max() - (1 << 20), 4096);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, call.x.scalar_type(), "bias_act_cuda", [&] {
    const auto p = cast_params<at::opmath_type<scalar_t>>(call.params);
    const scalar_t* gp = call.grad.defined() ? call.grad.const_data_ptr<scalar_t>() : nullptr;
    const scalar_t* xp = call.x.const_data_ptr<scalar_t>();
    const scalar_t* bp = call.b.defined() ? call.b.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* op = call.out.mutable_data_ptr<scalar_t>();
    if (gp != nullptr) {
      if (small) launch<scalar_t, uint32_t, true>(gp, xp, bp, op, call.layout, p, stream);
      else launch<scalar_t, int64_t, true>(gp, xp, bp, op, call.layout, p, stream);
    } else {
      if (small) launch<scalar_t, uint32_t, false>(gp, xp, bp, op, call.layout, p, stream);
      else launch<scalar_t, int64_t, false>(gp, xp, bp, op, call.layout, p, stream);
    }
  });
}

using CUDAEntry = Entry<FASTGAN_CUDA_DEVICE, launch_cuda>;

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, FASTGAN_CUDA_KEY, m) {
  m.impl("bias_act", &CUDAEntry::forward);
  m.impl("bias_act_backward", &CUDAEntry::backward);
}

}  // namespace fastgan::bias_act
