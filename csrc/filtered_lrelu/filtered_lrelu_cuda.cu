// filtered_lrelu CUDA kernel: one pass (filtered_lrelu.h) per tile of output, through shared
// memory, without writing the upsampled intermediate t to global memory.
//
// A block owns a TILE x TILE tile of output of one plane at a time (looping over planes and, past
// the grid's limit, over tile rows). Per plane it stages in shared memory, in the compute type:
//   S   the source region the tile reads (bias added, zero outside the image),
//   H   stage 1 along x on every row of S (separable filters only),
//   T   the t region: stage 1 along y (or the 2-D filter on S), then the activation or the mask,
//   R   stage 2 along x on every row of T (separable filters only),
// and writes the tile's outputs (stage 2 along y, or the 2-D filter on T). Each step is polyphase:
// only the taps that meet a real sample run. The forward writes the mask codes of the t elements
// its tile owns (t rows and columns [o0 * down, o1 * down) of its outputs [o0, o1), the last
// tile up to the end), so that no element is written by two blocks. The filters arrive as
// tensors (no __constant__ state), any strides are read and written directly.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>

#include "../common/cuda.h"
#include "filtered_lrelu_args.h"

namespace fastgan::filtered_lrelu {
namespace {

constexpr int kThreads = 256;
// Planes beyond grid.z and tile rows beyond grid.y loop inside a block; small in the emulated
// build, so that test inputs reach both loops.
constexpr int64_t kMaxGridZ = FASTGAN_LIMIT(65535, 3);
constexpr int64_t kMaxGridY = FASTGAN_LIMIT(65535, 2);
// Dynamic shared memory a block may use without opting in.
constexpr int64_t kDefaultShared = 48 * 1024;

// Everything a kernel needs about a call, passed by value.
struct Args {
  Axis ax, ay;
  int64_t planes, channels, tiles_y;
  int64_t xs[4], os[4];
  int tile;                     // outputs per tile along each axis
  int s_w, s_h, t_w, t_h;       // largest S and T regions of a tile
  int k1_len, k2_len;           // taps in shared memory per filter (kx then ky when separable)
  bool sep1, sep2, forward, write_mask, has_bias;
  double gain1, gain2, gain, slope_gain, clamp;
};

// Upper bound of the t extent that `tile` consecutive outputs read along one axis.
__host__ __device__ constexpr int64_t t_extent(int64_t tile, const Axis& a) {
  return (tile - 1) * a.down + a.taps2;
}
// Upper bound of the source extent that `t` consecutive t elements read along one axis.
__host__ __device__ constexpr int64_t s_extent(int64_t t, const Axis& a) {
  return (t + a.taps1 - 2) / a.up + 2;
}

template <typename acc_t>
int64_t shared_elements(const Args& a) {
  return int64_t(a.k1_len) + a.k2_len + int64_t(a.s_h) * a.s_w +
         (a.sep1 ? int64_t(a.s_h) * a.t_w : 0) + int64_t(a.t_h) * a.t_w +
         (a.sep2 ? int64_t(a.t_h) * a.tile : 0);
}

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    pass_kernel(const scalar_t* __restrict__ src, const scalar_t* __restrict__ bias,
                const float* __restrict__ k1, const float* __restrict__ k2,
                int8_t* __restrict__ mask, scalar_t* __restrict__ out, const Args a) {
  FASTGAN_DYNAMIC_SHARED(unsigned char, shared_raw);
  acc_t* const K1 = reinterpret_cast<acc_t*>(shared_raw);
  acc_t* const K2 = K1 + a.k1_len;
  acc_t* const S = K2 + a.k2_len;
  acc_t* const H = S + a.s_h * a.s_w;
  acc_t* const T = H + (a.sep1 ? a.s_h * a.t_w : 0);
  acc_t* const R = T + a.t_h * a.t_w;
  const Axis ax = a.ax, ay = a.ay;

  // The taps, gains folded in: [kx (gain), ky] when separable, else [fh, fw] (gain).
  const int n1 = a.sep1 ? int(ax.taps1) : int(ax.taps1 * ay.taps1);
  const int n2 = a.sep2 ? int(ax.taps2) : int(ax.taps2 * ay.taps2);
  for (int i = threadIdx.x; i < a.k1_len; i += blockDim.x) {
    K1[i] = static_cast<acc_t>(k1[i < n1 ? i : i - n1]) * (i < n1 ? acc_t(a.gain1) : acc_t(1));
  }
  for (int i = threadIdx.x; i < a.k2_len; i += blockDim.x) {
    K2[i] = static_cast<acc_t>(k2[i < n2 ? i : i - n2]) * (i < n2 ? acc_t(a.gain2) : acc_t(1));
  }
  const acc_t* const K1y = a.sep1 ? K1 + ax.taps1 : K1;
  const acc_t* const K2y = a.sep2 ? K2 + ax.taps2 : K2;
  const acc_t gain = acc_t(a.gain), slope_gain = acc_t(a.slope_gain), clamp = acc_t(a.clamp);
  const int64_t mid_plane = ay.mid * ax.mid;

  // Along x, the same for every tile row and plane.
  const int64_t ox0 = int64_t(blockIdx.x) * a.tile, ox1 = (ox0 + a.tile < ax.out ? ox0 + a.tile : ax.out);
  const int64_t tx0 = ax.mid_lo(ox0), tx1 = ax.mid_hi(ox1);
  const int nx = int(tx1 - tx0 + 1);  // t columns (<= 0: none)
  const int64_t sx0 = ax.src_lo(tx0);
  const int sw = nx > 0 ? int(ax.src_hi(tx1) - sx0 + 1) : 0;
  const int cols = int(ox1 - ox0);
  const int64_t own_x0 = ox0 == 0 ? 0 : ox0 * ax.down - ax.pad2;
  const int64_t own_x1 = ox1 == ax.out ? ax.mid : ox1 * ax.down - ax.pad2;

  for (int64_t by = blockIdx.y; by < a.tiles_y; by += gridDim.y) {
    const int64_t oy0 = by * a.tile, oy1 = (oy0 + a.tile < ay.out ? oy0 + a.tile : ay.out);
    const int64_t ty0 = ay.mid_lo(oy0), ty1 = ay.mid_hi(oy1);
    const int ny = nx > 0 ? int(ty1 - ty0 + 1) : 0;  // t rows (<= 0: none)
    const int64_t sy0 = ay.src_lo(ty0);
    const int sh = ny > 0 ? int(ay.src_hi(ty1) - sy0 + 1) : 0;
    const int rows = int(oy1 - oy0);
    const int64_t own_y0 = oy0 == 0 ? 0 : oy0 * ay.down - ay.pad2;
    const int64_t own_y1 = oy1 == ay.out ? ay.mid : oy1 * ay.down - ay.pad2;

    for (int64_t p = blockIdx.z; p < a.planes; p += gridDim.z) {
      const int64_t n = p / a.channels, c = p % a.channels;
      __syncthreads();  // the previous plane is done with the shared regions (and K1, K2 set)
      // S: the source region.
      const scalar_t* sp = src + n * a.xs[0] + c * a.xs[1];
      const acc_t b = a.has_bias ? static_cast<acc_t>(bias[c]) : acc_t(0);
      for (int i = threadIdx.x; i < sh * sw; i += blockDim.x) {
        const int r = i / sw, q = i - r * sw;
        const int64_t iy = sy0 + r, ix = sx0 + q;
        const bool inside = iy >= 0 && iy < ay.in && ix >= 0 && ix < ax.in;
        S[i] = inside ? static_cast<acc_t>(sp[iy * a.xs[2] + ix * a.xs[3]]) + b : acc_t(0);
      }
      __syncthreads();
      // H: stage 1 along x.
      if (a.sep1) {
        for (int i = threadIdx.x; i < sh * nx; i += blockDim.x) {
          const int r = i / nx, q = i - r * nx;
          const int64_t j = tx0 + q;
          const acc_t* row = S + r * sw + (ax.src_lo(j) - sx0);
          acc_t acc = 0;
          for (int64_t t = ax.first_tap(j), m = 0; t < ax.taps1; t += ax.up, ++m) {
            acc += K1[t] * row[m];
          }
          H[r * a.t_w + q] = acc;
        }
        __syncthreads();
      }
      // T: stage 1 along y, then the activation or the mask.
      for (int i = threadIdx.x; i < ny * nx; i += blockDim.x) {
        const int r = i / nx, q = i - r * nx;
        const int64_t jy = ty0 + r, jx = tx0 + q;
        const int sr = int(ay.src_lo(jy) - sy0);
        acc_t acc = 0;
        if (a.sep1) {
          for (int64_t t = ay.first_tap(jy), m = 0; t < ay.taps1; t += ay.up, ++m) {
            acc += K1y[t] * H[(sr + m) * a.t_w + q];
          }
        } else {
          const int sc = int(ax.src_lo(jx) - sx0);
          const int64_t tx_first = ax.first_tap(jx);
          for (int64_t t = ay.first_tap(jy), m = 0; t < ay.taps1; t += ay.up, ++m) {
            const acc_t* row = S + (sr + m) * sw + sc;
            const acc_t* krow = K1 + t * ax.taps1;
            for (int64_t u = tx_first, e = 0; u < ax.taps1; u += ax.up, ++e) acc += krow[u] * row[e];
          }
        }
        const int64_t mi = p * mid_plane + jy * ax.mid + jx;
        acc_t v;
        if (a.forward) {
          int8_t code;
          v = activate(acc, gain, slope_gain, clamp, &code);
          if (a.write_mask && jy >= own_y0 && jy < own_y1 && jx >= own_x0 && jx < own_x1) {
            mask[mi] = code;
          }
        } else {
          v = acc * mask_value(mask[mi], gain, slope_gain);
        }
        T[r * a.t_w + q] = v;
      }
      __syncthreads();
      // R: stage 2 along x.
      if (a.sep2) {
        for (int i = threadIdx.x; i < ny * cols; i += blockDim.x) {
          const int r = i / cols, q = i - r * cols;
          const int64_t jb = (ox0 + q) * ax.down - ax.pad2 - tx0;
          acc_t acc = 0;
          for (int64_t t = 0; t < ax.taps2; ++t) {
            const int64_t e = jb + t;
            if (e >= 0 && e < nx) acc += K2[t] * T[r * a.t_w + e];
          }
          R[r * a.tile + q] = acc;
        }
        __syncthreads();
      }
      // The outputs: stage 2 along y.
      scalar_t* op = out + n * a.os[0] + c * a.os[1];
      for (int i = threadIdx.x; i < rows * cols; i += blockDim.x) {
        const int r = i / cols, q = i - r * cols;
        const int64_t oy = oy0 + r, ox = ox0 + q;
        const int64_t jb = oy * ay.down - ay.pad2 - ty0;
        acc_t acc = 0;
        if (a.sep2) {
          for (int64_t t = 0; t < ay.taps2; ++t) {
            const int64_t e = jb + t;
            if (e >= 0 && e < ny) acc += K2y[t] * R[e * a.tile + q];
          }
        } else {
          const int64_t xb = ox * ax.down - ax.pad2 - tx0;
          for (int64_t t = 0; t < ay.taps2; ++t) {
            const int64_t e = jb + t;
            if (e < 0 || e >= ny) continue;
            const acc_t* krow = K2 + t * ax.taps2;
            for (int64_t u = 0; u < ax.taps2; ++u) {
              const int64_t f = xb + u;
              if (f >= 0 && f < nx) acc += krow[u] * T[e * a.t_w + f];
            }
          }
        }
        op[oy * a.os[2] + ox * a.os[3]] = static_cast<scalar_t>(acc);
      }
    }
  }
}

template <typename scalar_t>
void run(const Call& call, cudaStream_t stream) {
  using acc_t = at::opmath_type<scalar_t>;
  Args a{};
  a.ax = call.ax, a.ay = call.ay;
  a.channels = call.src.size(1);
  a.planes = call.src.size(0) * a.channels;
  for (int d = 0; d < 4; ++d) a.xs[d] = call.src.stride(d), a.os[d] = call.out.stride(d);
  a.sep1 = call.sep1, a.sep2 = call.sep2;
  a.k1_len = int(call.sep1 ? call.ax.taps1 * 2 : call.k1.numel());
  a.k2_len = int(call.sep2 ? call.ax.taps2 * 2 : call.k2.numel());
  a.forward = call.mode == Mode::kForward;
  a.write_mask = a.forward && call.mask.defined();
  a.has_bias = call.bias.defined();
  a.gain1 = call.gain1, a.gain2 = call.gain2;
  a.gain = call.gain, a.slope_gain = call.slope_gain, a.clamp = call.clamp;

  int device = 0, optin = 0;
  C10_CUDA_CHECK(cudaGetDevice(&device));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  int64_t bytes = 0;
  for (int tile : {16, 8, 4}) {
    a.tile = tile;
    a.t_w = int(t_extent(tile, a.ax)), a.t_h = int(t_extent(tile, a.ay));
    a.s_w = int(s_extent(a.t_w, a.ax)), a.s_h = int(s_extent(a.t_h, a.ay));
    bytes = shared_elements<acc_t>(a) * int64_t(sizeof(acc_t));
    if (bytes <= kDefaultShared) break;
  }
  TORCH_CHECK(bytes <= optin, "filtered_lrelu: needs ", bytes,
              " bytes of shared memory per block on CUDA; this device has ", optin);
  if (bytes > kDefaultShared) {
    C10_CUDA_CHECK(cudaFuncSetAttribute(pass_kernel<scalar_t, acc_t>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(bytes)));
  }
  const int64_t tiles_x = (a.ax.out + a.tile - 1) / a.tile;
  a.tiles_y = (a.ay.out + a.tile - 1) / a.tile;
  TORCH_CHECK(tiles_x <= INT32_MAX, "filtered_lrelu: the output is too wide for CUDA (",
              a.ax.out, " columns)");
  const dim3 grid(static_cast<unsigned>(tiles_x),
                  static_cast<unsigned>(std::min(a.tiles_y, kMaxGridY)),
                  static_cast<unsigned>(std::min(a.planes, kMaxGridZ)));
  FASTGAN_LAUNCH(grid, kThreads, bytes, stream, pass_kernel<scalar_t, acc_t>)(
      call.src.const_data_ptr<scalar_t>(),
      a.has_bias ? call.bias.const_data_ptr<scalar_t>() : nullptr, call.k1.const_data_ptr<float>(),
      call.k2.const_data_ptr<float>(),
      call.mask.defined() ? call.mask.data_ptr<int8_t>() : nullptr,
      call.out.mutable_data_ptr<scalar_t>(), a);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void launch(const Call& call) {
  const c10::cuda::CUDAGuard guard(call.src.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, call.src.scalar_type(),
                                  "filtered_lrelu", [&] { run<scalar_t>(call, stream); });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, FASTGAN_CUDA_KEY, m) {
  m.impl("filtered_lrelu", &forward_entry<FASTGAN_CUDA_DEVICE, launch>);
  m.impl("filtered_lrelu_linear", &linear_entry<FASTGAN_CUDA_DEVICE, launch>);
}

}  // namespace fastgan::filtered_lrelu
